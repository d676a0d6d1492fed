//! `.htaccess` files: read with the same directive code as the main
//! configuration ([`HtaccessContext`] is the site's
//! [`OverrideParser`]), each directive checked against the
//! `AllowOverride` class Apache gives it ([`class`]) and
//! `AllowOverrideList`.
//!
//! A module whose directive may be written in `.htaccess` adds one line
//! to [`class`].

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::state::{Block, HostSel, Scope};
use super::Loader;
use crate::config::error::ConfigError;
use crate::config::lexer;
use crate::config::options::{IncludePolicy, LoadOptions};
use crate::config::values::Res;
use mpm_site::config::Origin;
use mpm_site::pipeline::htaccess::HtaccessRules;
use mpm_site::pipeline::{DirConfig, OverrideError, OverrideParser, Overrides};

/// The `AllowOverride` class a directive needs in a `.htaccess` file
/// (`Some(Overrides::NONE)`: any class allows it, Apache's `OR_ALL`);
/// `None` for a directive a `.htaccess` file may not hold.
pub(super) fn class(lower: &str) -> Option<Overrides> {
    Some(match lower {
        // AuthConfig: authentication and authorisation.
        "require" | "authtype" | "authname" | "authuserfile" | "authgroupfile"
        | "authbasicprovider" | "authmerging" | "cgipassauth" => Overrides::AUTH_CONFIG,
        // FileInfo: how documents are typed and handled.
        "sethandler"
        | "addhandler"
        | "removehandler"
        | "addtype"
        | "removetype"
        | "forcetype"
        | "addencoding"
        | "removeencoding"
        | "addcharset"
        | "removecharset"
        | "addlanguage"
        | "removelanguage"
        | "defaultlanguage"
        | "adddefaultcharset"
        | "errordocument"
        | "setenv"
        | "unsetenv"
        | "passenv"
        | "setenvif"
        | "setenvifnocase"
        | "browsermatch"
        | "browsermatchnocase"
        | "fileetag"
        | "redirect"
        | "redirectmatch"
        | "redirectpermanent"
        | "redirecttemp"
        | "rewriteengine"
        | "rewriterule"
        | "rewritecond"
        | "rewritebase"
        | "rewriteoptions"
        | "header"
        | "requestheader"
        | "addoutputfilter"
        | "removeoutputfilter"
        | "addoutputfilterbytype"
        | "setoutputfilter"
        | "acceptpathinfo"
        | "proxyfcgisetenvif" => Overrides::FILE_INFO,
        // Indexes: directory indexing and what goes with it.
        "directoryindex" | "directoryslash" | "fallbackresource" | "indexoptions"
        | "indexignore" | "headername" | "readmename" | "expiresactive" | "expiresbytype"
        | "expiresdefault" => Overrides::INDEXES,
        // Options.
        "options" => Overrides::OPTIONS,
        // AuthConfig: the Require containers; Indexes: IndexOrderDefault.
        "requireall" | "requireany" | "requirenone" => Overrides::AUTH_CONFIG,
        "indexorderdefault" => Overrides::INDEXES,
        // Any class.
        "serversignature" => Overrides::NONE,
        _ => return None,
    })
}

/// What a `.htaccess` file being read may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rules {
    pub(super) overrides: Overrides,
    pub(super) list: Vec<String>,
}

/// Whether the directive `name` (`lower`) may be written in a `.htaccess`
/// file read under `rules`; else Apache's "not allowed here".
pub(super) fn allowed(rules: &Rules, name: &str, lower: &str) -> Res<()> {
    if rules.list.iter().any(|allowed| allowed == lower) {
        return Ok(());
    }
    match class(lower) {
        Some(Overrides::NONE) if rules.overrides != Overrides::NONE => Ok(()),
        Some(class) if class != Overrides::NONE && rules.overrides.contains(class) => Ok(()),
        _ => Err(format!("{name} not allowed here")),
    }
}

/// What reading a `.htaccess` file needs of the main configuration: the
/// defines and variables, the strategy (for `<IfModule>`), `ServerRoot`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HtaccessContext {
    pub(super) server_root: PathBuf,
    pub(super) defined: Vec<String>,
    pub(super) vars: Vec<(String, OsString)>,
    pub(super) compiled_mpms: Vec<&'static str>,
    pub(super) mpm_name: Option<String>,
}

impl HtaccessContext {
    /// The context of a configuration read with `opts`, with `defined`
    /// and `vars` at its end.
    pub(super) fn new(
        server_root: PathBuf,
        defined: Vec<String>,
        vars: &HashMap<String, OsString>,
        opts: &LoadOptions,
        mpm_name: Option<String>,
    ) -> HtaccessContext {
        let mut vars: Vec<_> = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.sort();
        let mut defined = defined;
        defined.sort();
        HtaccessContext {
            server_root,
            defined,
            vars,
            compiled_mpms: opts.compiled_mpms.clone(),
            mpm_name,
        }
    }

    /// This context as the site's parser.
    pub fn parser(&self) -> Arc<dyn OverrideParser> {
        Arc::new(self.clone())
    }
}

impl OverrideParser for HtaccessContext {
    fn parse(
        &self,
        text: &[u8],
        file: &Path,
        _dir: &Path,
        rules: &HtaccessRules<'_>,
    ) -> Result<DirConfig, OverrideError> {
        let opts = LoadOptions {
            defines: self.defined.clone(),
            compiled_mpms: self.compiled_mpms.clone(),
            ..LoadOptions::default()
        };
        let fail = |e: ConfigError| OverrideError {
            origin: e.origin.unwrap_or_else(|| Origin {
                file: file.to_path_buf(),
                line: 0,
            }),
            message: e.message,
        };
        let mut loader = Loader::new(&opts, self.server_root.clone(), file, IncludePolicy::Refuse);
        for (name, value) in &self.vars {
            loader.define(name, value);
        }
        loader.state.mpm_name = self.mpm_name.clone();
        loader.state.htaccess = Some(Rules {
            overrides: rules.overrides,
            list: rules.list.to_vec(),
        });
        let nodes = lexer::parse(text, file, 1, 0).map_err(fail)?;
        loader
            .walk(
                &nodes,
                Scope {
                    host: HostSel::Main,
                    block: Block::Htaccess,
                },
            )
            .map_err(fail)?;
        let main = std::mem::take(&mut loader.state.main);
        let mut dir = main.dir;
        dir.nested.extend(main.sections.into_iter().map(Arc::new));
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, overrides: Overrides, list: &[String]) -> Result<DirConfig, String> {
        let rules = HtaccessRules { overrides, list };
        HtaccessContext::default()
            .parse(
                text.as_bytes(),
                Path::new("/srv/www/.htaccess"),
                Path::new("/srv/www"),
                &rules,
            )
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_directive_is_read_when_its_class_is_allowed_and_refused_with_its_line_when_not() {
        let config = parse("DirectoryIndex start.html\n", Overrides::INDEXES, &[]).unwrap();
        assert_eq!(config.directory_index(), ["start.html"]);
        assert_eq!(
            parse("# comment\nOptions +Indexes\n", Overrides::INDEXES, &[]).unwrap_err(),
            "/srv/www/.htaccess:2: Options not allowed here"
        );
        let all = parse(
            "Options +Indexes\nRequire all denied\nAddType text/x-a .a\n",
            Overrides::ALL,
            &[],
        );
        assert!(all.is_ok(), "{all:?}");
        assert_eq!(
            parse("Listen 80\n", Overrides::ALL, &[]).unwrap_err(),
            "/srv/www/.htaccess:1: Listen not allowed here"
        );
        assert_eq!(
            parse("<Directory /x>\n</Directory>\n", Overrides::ALL, &[]).unwrap_err(),
            "/srv/www/.htaccess:1: <Directory> cannot occur within .htaccess; it belongs at server level or in <VirtualHost>"
        );
    }

    #[test]
    fn allow_override_list_lets_a_named_directive_in_whatever_the_classes_say() {
        let list = ["directoryindex".to_string()];
        assert!(parse("DirectoryIndex a.html\n", Overrides::NONE, &list).is_ok());
        assert!(parse("Require all denied\n", Overrides::NONE, &list)
            .unwrap_err()
            .ends_with("Require not allowed here"));
    }

    #[test]
    fn files_sections_in_a_htaccess_file_are_nested_in_its_config() {
        let config = parse(
            "<Files wp-config.php>\nRequire all denied\n</Files>\n<IfModule mod_nothing.c>\nBogus\n</IfModule>\n",
            Overrides::ALL,
            &[],
        )
        .unwrap();
        assert_eq!(config.nested.len(), 1);
        assert!(config.nested[0].kind.matches_file(b"wp-config.php"));
    }
}
