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
    fn evaluate(&self, r: &RequestState<'_>) -> Result<bool, String>;

    /// The expression as written, for messages and comparison.
    fn source(&self) -> &str;
}

impl PartialEq for dyn Condition {
    fn eq(&self, other: &dyn Condition) -> bool {
        self.source() == other.source()
    }
}

impl Eq for dyn Condition {}
