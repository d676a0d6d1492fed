//! A rule's conditions and the expansion of its templates: Apache's
//! `apply_rewrite_cond` and `do_expand` (code moved from `mod.rs`
//! unchanged).

use super::*;

impl<'a> Pass<'a> {
    /// One condition: whether it holds, and the request headers it read.
    /// A regex that matches leaves its input and groups in `cond_text`
    /// and `cond_groups` (the `%N` of what follows).
    pub(super) fn apply_cond(
        &self,
        c: &Cond,
        rule_caps: &Caps<'_>,
        cond_text: &mut String,
        cond_groups: &mut Groups,
    ) -> (bool, Vec<String>) {
        let ov = self.overlay();
        let rc = if let CondTest::Expr(e) = &c.kind {
            e.eval(&ov)
        } else {
            let cond_caps = Caps {
                text: cond_text,
                groups: *cond_groups,
            };
            let input = self.cond_input(&ov, &c.test, rule_caps, &cond_caps);
            let file = || (!input.is_empty()).then(|| ov.file(&input)).flatten();
            let cmp = |p: &str| {
                if c.nocase {
                    compare_nocase(&input, p)
                } else {
                    compare_lexicography(&input, p)
                }
            };
            match &c.kind {
                CondTest::Regex(re) if c.negate => re.is_match(&input),
                CondTest::Regex(re) => match matched(re, &input) {
                    Some(groups) => {
                        *cond_groups = groups;
                        *cond_text = input.into_owned();
                        true
                    }
                    None => false,
                },
                CondTest::StrEq(p) => {
                    if c.nocase {
                        input.eq_ignore_ascii_case(p)
                    } else {
                        input == *p
                    }
                }
                CondTest::StrLt(p) => cmp(p) == Ordering::Less,
                CondTest::StrLe(p) => cmp(p) != Ordering::Greater,
                CondTest::StrGt(p) => cmp(p) == Ordering::Greater,
                CondTest::StrGe(p) => cmp(p) != Ordering::Less,
                CondTest::IntEq(n) => atoi(&input) == *n,
                CondTest::IntNe(n) => atoi(&input) != *n,
                CondTest::IntLt(n) => atoi(&input) < *n,
                CondTest::IntLe(n) => atoi(&input) <= *n,
                CondTest::IntGt(n) => atoi(&input) > *n,
                CondTest::IntGe(n) => atoi(&input) >= *n,
                CondTest::File => file().is_some_and(|f| f.is_file),
                CondTest::NonEmptyFile => file().is_some_and(|f| f.is_file && f.size > 0),
                CondTest::Dir => file().is_some_and(|f| f.is_dir),
                CondTest::Symlink => file().is_some_and(|f| f.is_symlink),
                CondTest::Executable => file().is_some_and(|f| f.is_executable),
                CondTest::SubreqFile => !input.is_empty() && ov.subrequest_ok(&input, false),
                CondTest::SubreqUrl => !input.is_empty() && ov.subrequest_ok(&input, true),
                CondTest::Expr(_) => false,
            }
        };
        let seen = ov.seen.into_inner();
        (rc != c.negate, seen)
    }

    pub(super) fn expand(
        &self,
        t: &Template,
        rule_caps: &Caps<'_>,
        cond_caps: &Caps<'_>,
        flags: Option<&RuleFlags>,
    ) -> String {
        let ov = self.overlay();
        self.expand_with(&ov, t, rule_caps, cond_caps, flags)
    }

    /// A condition's test string: borrowed when the template is one
    /// variable (`%{REQUEST_FILENAME}`) or plain text, so the usual
    /// condition copies nothing.
    pub(super) fn cond_input<'o>(
        &self,
        ov: &'o Overlay<'_, '_>,
        t: &'o Template,
        rule_caps: &Caps<'_>,
        cond_caps: &Caps<'_>,
    ) -> Cow<'o, str> {
        match t.pieces.as_slice() {
            [Piece::Lit(text)] => Cow::Borrowed(text),
            [Piece::Var(name)] => vars::lookup(ov, var_name(name)),
            _ => Cow::Owned(self.expand_with(ov, t, rule_caps, cond_caps, None)),
        }
    }

    /// Fills a template in one pass (a value that comes from the request
    /// is never expanded again).
    pub(super) fn expand_with(
        &self,
        ov: &Overlay<'_, '_>,
        t: &Template,
        rule_caps: &Caps<'_>,
        cond_caps: &Caps<'_>,
        flags: Option<&RuleFlags>,
    ) -> String {
        // Room for the literal text and a path-sized value per reference,
        // so a usual result is made without growing.
        let room = t
            .pieces
            .iter()
            .map(|piece| match piece {
                Piece::Lit(s) => s.len(),
                _ => 64,
            })
            .sum();
        let mut out = String::with_capacity(room);
        for piece in &t.pieces {
            match piece {
                Piece::Lit(s) => out.push_str(s),
                Piece::RuleRef(n) | Piece::CondRef(n) => {
                    let caps = if matches!(piece, Piece::RuleRef(_)) {
                        rule_caps
                    } else {
                        cond_caps
                    };
                    if let Some(v) = caps.group(usize::from(*n)) {
                        match flags.filter(|f| f.escape_backrefs) {
                            Some(f) => out.push_str(&escape_backref(
                                v,
                                f.escape_only.as_deref(),
                                f.escape_no_plus,
                            )),
                            None => out.push_str(v),
                        }
                    }
                }
                Piece::Var(name) => out.push_str(&vars::lookup(ov, var_name(name))),
                Piece::Map { name, key, default } => {
                    let k = self.expand_with(ov, key, rule_caps, cond_caps, flags);
                    let found = self.maps.get(name).and_then(|m| m.lookup(&k));
                    if found.is_none() && !self.maps.contains_key(name) {
                        log::warn!("mod_rewrite: map lookup FAILED: map {name} is not defined (RewriteMap)");
                    }
                    match (found, default) {
                        (Some(v), _) => out.push_str(&v),
                        (None, Some(d)) => {
                            out.push_str(&self.expand_with(ov, d, rule_caps, cond_caps, flags))
                        }
                        (None, None) => {}
                    }
                }
            }
        }
        out
    }
}
