//! [`Expr`] as the pipeline's [`Condition`]: what `<If>`/`<ElseIf>`
//! (and `Header … expr=`) evaluate, reading the request's state through
//! [`HttpVars`], the same variables mod_rewrite reads.

use std::os::unix::ffi::OsStrExt;

use super::Expr;
use crate::pipeline::expr::Condition;
use crate::pipeline::request::RequestState;
use crate::vars::HttpVars;

impl Condition for Expr {
    fn evaluate(&self, r: &RequestState<'_>, vary: &mut Vec<String>) -> Result<bool, String> {
        let (holds, read) = self.holds_for(r, r.user.as_deref());
        for name in &read {
            super::note_header(vary, name);
        }
        Ok(holds)
    }

    fn source(&self) -> &str {
        &self.source
    }
}

impl Expr {
    /// Whether the expression holds for `r` with `user` as
    /// `REMOTE_USER` (`Require expr` is judged again once a user
    /// authenticated, before the request records who), and the request
    /// headers the answer depended on (for `Vary`).
    pub(crate) fn holds_for(
        &self,
        r: &RequestState<'_>,
        user: Option<&str>,
    ) -> (bool, Vec<String>) {
        let path = r.uri_text();
        let filename = String::from_utf8_lossy(r.filename.as_os_str().as_bytes());
        let path_info = String::from_utf8_lossy(&r.path_info);
        // The root the URL was mapped under (`DocumentRoot` or an `Alias`
        // target) is the start of the file name.
        let root = filename.get(..r.root_len).unwrap_or("");
        let handler = r.handler.as_ref().map(|h| h.name().to_string());
        let vars = HttpVars {
            method: r.method(),
            target: r.original_uri(),
            version: r.version(),
            headers: r.headers(),
            conn: r.conn,
            path: &path,
            query: Some(r.query.as_deref()),
            filename: (!filename.is_empty()).then_some(&*filename),
            path_info: Some(&path_info),
            document_root: root,
            server_name: &r.server_name,
            server_admin: "",
            server_software: "",
            remote_user: user,
            handler: handler.as_deref(),
            env: &r.subprocess_env,
            response: None,
            is_subrequest: false,
        };
        self.eval_noting_vary(&vars)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::pipeline::DirConfig;

    #[test]
    fn an_expression_reads_the_request_state_as_an_if_section_sees_it() {
        let conn = mpm_core::ConnInfo {
            peer: "192.0.2.9:4000".parse().expect("peer"),
            local: "127.0.0.1:80".parse().expect("local"),
            listener: 0,
            listen_addr: Arc::from("*:80"),
            tls: None,
            proxied: None,
        };
        let mut req = mpm_core::Request::new(mpm_core::RequestBody::empty());
        *req.uri_mut() = "/shop/item?id=7".parse().expect("uri");
        req.headers_mut()
            .insert("host", http::HeaderValue::from_static("shop.example"));
        let mut r = RequestState::new(
            req,
            &conn,
            0,
            Arc::from("example.org"),
            b"/shop/item".to_vec(),
            Arc::new(DirConfig::default()),
        );
        r.subprocess_env.set("STAGE", "prod");
        let holds = |text: &str, r: &RequestState<'_>| {
            let e = Expr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            e.evaluate(r, &mut Vec::new()).expect("evaluates")
        };
        assert!(holds(
            "%{REQUEST_URI} =~ m#^/shop/# && %{QUERY_STRING} == 'id=7'",
            &r
        ));
        assert!(holds(
            "%{HTTP_HOST} == 'shop.example' && %{SERVER_NAME} == 'shop.example'",
            &r
        ));
        assert!(holds("-R '192.0.2.0/24' && env('STAGE') == 'prod'", &r));
        assert!(!holds("%{REQUEST_METHOD} == 'POST'", &r));
        let e = Expr::parse("true").expect("parses");
        assert_eq!(Condition::source(&e), "true");
    }
}
