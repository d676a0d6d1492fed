//! The `fcgid-script` handler: a request's script, or the wrapper its
//! extension names (`FcgidWrapper /usr/bin/php-cgi .php`), answered by a
//! process of the [pool](super::pool).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use http::header::CONTENT_LENGTH;
use mpm_core::Response;

use super::config::FcgidConfig;
use super::pool::{Class, Pool};
use crate::cgi_script::handler::{cgi_env, check_script};
use crate::pipeline::handler::ContentHandler;
use crate::pipeline::request::{Exit, RequestState};
use crate::script::ScriptCommand;

/// mod_fcgid's handler for a site.
#[derive(Debug)]
pub struct FcgidHandler {
    cfg: FcgidConfig,
    pool: Arc<Pool>,
    server_software: Arc<str>,
    document_roots: Vec<PathBuf>,
}

impl FcgidHandler {
    /// The handler serving from `pool` with `cfg`'s wrappers.
    pub fn new(
        cfg: FcgidConfig,
        pool: Arc<Pool>,
        server_software: &str,
        document_roots: Vec<PathBuf>,
    ) -> FcgidHandler {
        FcgidHandler {
            cfg,
            pool,
            server_software: server_software.into(),
            document_roots,
        }
    }

    /// The class of the request's script: its extension's wrapper, else
    /// the script itself as a FastCGI program. Its processes start in the
    /// script's directory, with `FcgidInitialEnv` and `PATH`.
    fn class(&self, r: &RequestState<'_>) -> (Class, bool) {
        let file_name = r
            .filename
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = r
            .filename
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| "/".into());
        let env = vec![(
            OsString::from("PATH"),
            OsString::from(crate::cgi::env::DEFAULT_PATH),
        )];
        match self.cfg.wrapper_for(&file_name) {
            Some(wrapper) => {
                let mut name = wrapper.program.display().to_string();
                for arg in &wrapper.args {
                    name.push(' ');
                    name.push_str(arg);
                }
                let command = ScriptCommand {
                    args: wrapper.args.iter().map(OsString::from).collect(),
                    env,
                    dir,
                    ..ScriptCommand::new(wrapper.program.clone())
                };
                (Class::new(name, command), wrapper.virtual_script)
            }
            None => {
                let command = ScriptCommand {
                    env,
                    dir,
                    ..ScriptCommand::new(r.filename.clone())
                };
                (Class::new(r.filename.display().to_string(), command), false)
            }
        }
    }
}

impl ContentHandler for FcgidHandler {
    fn handle(&self, r: &mut RequestState<'_>) -> Result<Response, Exit> {
        let (class, virtual_script) = self.class(r);
        check_script(r, virtual_script)?;
        let mut env = cgi_env(r, &self.server_software, &self.document_roots);
        let declared = r
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let mut request = r.take_request();
        Ok(self
            .pool
            .handle(&class, &mut env, request.body_mut(), declared))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::SystemTime;

    use http::{Method, StatusCode};
    use mpm_core::{Body, ConnInfo, Handler, RequestBody};

    use super::*;
    use crate::config::{Options, OptionsSetting, SiteConfig, VirtualHost};
    use crate::fcgid::testing::{program, Plain};
    use crate::fcgid::Wrapper;
    use crate::pipeline::{MimeAttr, MimeEdit};
    use crate::site::Site;

    fn get(site: &Site, uri: &str) -> (StatusCode, String) {
        let conn = ConnInfo {
            peer: "127.0.0.1:50000".parse().unwrap(),
            local: "127.0.0.1:80".parse().unwrap(),
            listener: 0,
            listen_addr: Arc::from("*:80"),
            tls: None,
            proxied: None,
        };
        let req = http::Request::builder()
            .method(Method::GET)
            .uri(uri)
            .body(RequestBody::empty())
            .unwrap();
        let response = site.handle(req, &conn);
        let status = response.status();
        let mut text = Vec::new();
        match response.into_body() {
            Body::Bytes(b) => text.extend_from_slice(&b),
            Body::Reader { mut reader, .. } => {
                reader.read_to_end(&mut text).unwrap();
            }
            _ => {}
        }
        (status, String::from_utf8_lossy(&text).into_owned())
    }

    #[test]
    fn a_php_file_runs_through_its_extensions_wrapper_where_exec_cgi_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let docroot = dir.path().join("htdocs");
        std::fs::create_dir_all(docroot.join("noexec")).unwrap();
        std::fs::write(docroot.join("app.php"), "<?php echo 1;").unwrap();
        std::fs::write(docroot.join("noexec/app.php"), "<?php echo 1;").unwrap();
        let mut main = VirtualHost::new(&docroot);
        main.dir.mime.push(MimeEdit {
            attr: MimeAttr::Handler,
            ext: "php".into(),
            value: Some("fcgid-script".into()),
        });
        main.dir.options = Some(OptionsSetting::Set(Options {
            exec_cgi: true,
            ..Options::DEFAULT
        }));
        let noexec = crate::pipeline::DirConfig {
            options: Some(OptionsSetting::Set(Options::DEFAULT)),
            ..crate::pipeline::DirConfig::default()
        };
        main.sections.push(
            crate::pipeline::Section::new(crate::pipeline::SectionKind::Directory(
                docroot.join("noexec"),
            ))
            .with(noexec),
        );
        let wrapper = program(0);
        let mut cfg = SiteConfig::new(main);
        cfg.fcgid.ipc_dir = Some(dir.path().join("sockets"));
        cfg.fcgid.wrappers.push(Wrapper {
            program: wrapper.program.clone(),
            args: wrapper
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            extension: Some("php".into()),
            virtual_script: false,
        });
        let status = crate::site::tests::status_info();
        let scoreboard = mpm_core::Scoreboard::new(1, 1).unwrap();
        let site = Site::new(&cfg, scoreboard.clone(), status.clone())
            .unwrap()
            .with_fcgid(&cfg, Arc::new(Plain))
            .unwrap();
        let (code, text) = get(&site, "/app.php");
        assert_eq!(code, StatusCode::OK, "{text}");
        assert!(
            text.starts_with("pid "),
            "the wrapper did not answer: {text}"
        );
        assert_eq!(get(&site, "/missing.php").0, StatusCode::NOT_FOUND);
        assert_eq!(get(&site, "/noexec/app.php").0, StatusCode::FORBIDDEN);
        // The status page shows the process, idle again with one request.
        let pid = text
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let (_, page) = crate::status::render(&scoreboard, &status, false, SystemTime::now());
        let row = format!("<td>{pid}</td><td>Ready</td><td>1</td>");
        assert!(
            page.contains("mod_fcgid status") && page.contains(&row),
            "no row {row:?} on the status page:\n{page}"
        );
        let (_, auto) = crate::status::render(&scoreboard, &status, true, SystemTime::now());
        assert!(auto.contains(&format!(" {pid} Ready 1 ")), "{auto}");
    }
}
