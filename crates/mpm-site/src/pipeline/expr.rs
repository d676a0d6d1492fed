//! The condition of an `<If>` / `<ElseIf>` section: a trait the
//! expression language (Apache's `ap_expr`) implements, so the sections
//! and their place in the merge do not depend on how expressions are
//! parsed.

use std::fmt::Debug;

use crate::pipeline::request::RequestState;

/// A parsed expression that says yes or no about a request (`<If>`,
/// `<ElseIf>`; `Header … expr=`). Two conditions are equal when their
/// texts are.
pub trait Condition: Send + Sync + Debug {
    /// Whether the expression holds for `r` (its variables read from the
    /// request, the environment and the file system). An error (a
    /// function that failed at request time) is logged by the caller and
    /// counts as false, as Apache does.
    /// The request headers the answer read are added to `vary` (each
    /// once), for the response's `Vary`, as Apache's expressions add them.
    fn evaluate(&self, r: &RequestState<'_>, vary: &mut Vec<String>) -> Result<bool, String>;

    /// The expression as written, for messages and comparison.
    fn source(&self) -> &str;
}

impl PartialEq for dyn Condition {
    fn eq(&self, other: &dyn Condition) -> bool {
        self.source() == other.source()
    }
}

impl Eq for dyn Condition {}

/// Parse `text`, the expression of an `<If>` or `<ElseIf>` section, into a
/// [`Condition`]: Apache's expression language ([`crate::expr::Expr`],
/// the one `Header … expr=` and `RewriteCond expr` use too). This is the
/// one place the configuration loader gets these expressions from.
pub fn parse(text: &str) -> Result<std::sync::Arc<dyn Condition>, String> {
    let expr = crate::expr::Expr::parse(text).map_err(|e| e.to_string())?;
    Ok(std::sync::Arc::new(expr))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn if_expressions_are_apaches_and_mistakes_say_where() {
        for ok in [
            "%{REQUEST_URI} == '/x'",
            "%{HTTP_HOST} =~ /^www\\./i && !(%{QUERY_STRING} == '')",
            "-f %{REQUEST_FILENAME} || %{REQUEST_METHOD} != 'POST'",
            "req('X-Forwarded-Proto') == 'https'",
            "'%{HTTPS}-x' == 'on-x'",
            "true",
            "-z %{ENV:missing}",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok).err());
        }
        for bad in ["%{REQUEST_URI} == ", "%{REQUEST_URI} =~ /(/", "(true"] {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
    }
}
