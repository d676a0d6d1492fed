//! The sections: the conditionals (`<IfModule>`, `<IfDefine>`,
//! `<IfVersion>`), which read their contents or not, and the blocks
//! (`<VirtualHost>`, `<Directory>`, `<Location>`, the `.ht*` `<Files>`
//! idiom), which read them in their own scope. Sections mpmd does not have
//! are refused with what to write instead.

use std::ffi::OsString;

use super::{where_, Block, DirectoryBlock, Host, HostSel, Loader, LocationBlock, Scope};
use crate::config::lexer::Node;
use crate::config::modules;
use crate::config::values::{if_version, negation, one_arg, parse_vhost_addr, Res};
use crate::config::{ConfigError, Origin};

impl Loader<'_> {
    /// One section (`<name args>` … `</name>`): a conditional reads its
    /// children or not, a block reads them in its own scope.
    pub(super) fn section(
        &mut self,
        name: &str,
        args: &[String],
        raw: &[OsString],
        origin: &Origin,
        children: &[Node],
        scope: Scope,
    ) -> Result<(), ConfigError> {
        let fail = |message: String| ConfigError {
            origin: Some(origin.clone()),
            message,
        };
        match name.to_ascii_lowercase().as_str() {
            "ifmodule" => {
                let (negate, module) = negation(one_arg("<IfModule>", args).map_err(fail)?);
                let present = modules::is_present(module, &self.opts.compiled_mpms, self.mpm_name.as_deref());
                if present != negate {
                    self.walk(children, scope)?;
                }
                Ok(())
            }
            "ifdefine" => {
                let (negate, param) = negation(one_arg("<IfDefine>", args).map_err(fail)?);
                if self.defined.contains(param) != negate {
                    self.walk(children, scope)?;
                }
                Ok(())
            }
            "ifversion" => {
                if if_version(args).map_err(fail)? {
                    self.walk(children, scope)?;
                }
                Ok(())
            }
            "virtualhost" => {
                if scope.host != HostSel::Main || scope.block != Block::None {
                    return Err(fail(format!(
                        "<VirtualHost> cannot occur within {}; it belongs in the main server configuration",
                        where_(scope)
                    )));
                }
                if args.is_empty() {
                    return Err(fail("<VirtualHost> requires at least one address (e.g. *:80)".into()));
                }
                let addrs = args
                    .iter()
                    .map(|a| parse_vhost_addr(a))
                    .collect::<Res<Vec<_>>>()
                    .map_err(fail)?;
                self.vhosts.push(Host {
                    addrs,
                    origin: origin.clone(),
                    ..Host::default()
                });
                let host = HostSel::Vhost(self.vhosts.len() - 1);
                self.walk(children, Scope {
                    host,
                    block: Block::None,
                })
            }
            "directory" => {
                self.block_allowed("<Directory>", scope).map_err(fail)?;
                let dir = one_arg("<Directory>", args).map_err(fail)?;
                if dir == "~" || args.len() > 1 {
                    return Err(fail(
                        "<Directory ~ regex> is not supported by mpmd; give a directory path".into(),
                    ));
                }
                if dir.contains(['*', '?', '[']) {
                    return Err(fail(format!(
                        "<Directory {dir}>: wildcards are not supported by mpmd; give a directory path"
                    )));
                }
                let block = DirectoryBlock {
                    path: self.path(&raw[0]),
                    options: None,
                    require: None,
                    index: None,
                    origin: origin.clone(),
                };
                let host = self.host(scope.host);
                host.directories.push(block);
                let index = host.directories.len() - 1;
                self.walk(children, Scope {
                    host: scope.host,
                    block: Block::Directory(index),
                })
            }
            "location" => {
                self.block_allowed("<Location>", scope).map_err(fail)?;
                let path = one_arg("<Location>", args).map_err(fail)?;
                if path == "~" || args.len() > 1 {
                    return Err(fail("<Location ~ regex> is not supported by mpmd; give a URL path".into()));
                }
                let block = LocationBlock {
                    path: path.to_string(),
                    handler: None,
                    require: None,
                    origin: origin.clone(),
                };
                let host = self.host(scope.host);
                host.locations.push(block);
                let index = host.locations.len() - 1;
                self.walk(children, Scope {
                    host: scope.host,
                    block: Block::Location(index),
                })
            }
            "files" | "filesmatch" => {
                if matches!(scope.block, Block::Location(_) | Block::HtFiles) {
                    return Err(fail(format!("<{name}> cannot occur within {}", where_(scope))));
                }
                let is_ht_idiom = match (name.eq_ignore_ascii_case("files"), args) {
                    (true, [pattern]) => pattern == ".ht*",
                    (true, [tilde, re]) if tilde == "~" => re == "^\\.ht",
                    (false, [re]) => re == "^\\.ht",
                    _ => false,
                };
                if !is_ht_idiom {
                    return Err(fail(format!(
                        "<{name} {}> is not supported by mpmd; only the `<Files \".ht*\">` / \
                         `<FilesMatch \"^\\.ht\">` deny idiom is accepted",
                        args.join(" ")
                    )));
                }
                self.walk(children, Scope {
                    host: scope.host,
                    block: Block::HtFiles,
                })
            }
            "directorymatch" | "locationmatch" | "requireall" | "requireany" | "requirenone" | "limit"
            | "limitexcept" | "if" | "elseif" | "else" | "proxy" | "proxymatch" | "macro" => Err(fail(format!(
                "<{name}> is not supported by mpmd{}",
                match name.to_ascii_lowercase().as_str() {
                    "directorymatch" => "; use <Directory path>",
                    "locationmatch" => "; use <Location path>",
                    "requireall" | "requireany" | "requirenone" => {
                        "; several Require lines in a block mean any of them"
                    }
                    _ => "",
                }
            ))),
            _ => Err(fail(format!(
                "Invalid command '<{name}>', perhaps misspelled or defined by a module not included in the server configuration"
            ))),
        }
    }

    /// A block section (`what`) may not be written inside another block.
    fn block_allowed(&self, what: &str, scope: Scope) -> Res<()> {
        if scope.block != Block::None {
            return Err(format!(
                "{what} cannot occur within {}; it belongs at server level or in <VirtualHost>",
                where_(scope)
            ));
        }
        Ok(())
    }
}
