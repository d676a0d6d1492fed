//! What a `<Directory>` or `<Location>` block sets: `Options`,
//! `AllowOverride` (read, never used: mpmd reads no `.htaccess`) and
//! `SetHandler` (`Require` is [`super::auth`]'s). Apache 2.2's access
//! control (`Order`, `Allow`, `Deny`) is refused with the `Require` to
//! write instead.

use super::state::{Allowed, Block, Directive, State};
use crate::config::values::{one_arg, parse_options, Res};
use mpm_site::config::SetHandler;

/// The access directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "options" => options(l, d),
        "allowoverride" | "allowoverridelist" => {
            l.allow(d.name, Allowed::Directory, d.scope).map(|()| {
                if !(d.args.len() == 1 && d.args[0].eq_ignore_ascii_case("none")) {
                    l.warn(
                        d.origin,
                        format_args!(
                            ".htaccess files are never read by mpmd; {} {} has no effect",
                            d.name,
                            d.args.join(" ")
                        ),
                    );
                }
            })
        }
        "order" | "allow" | "deny" | "satisfy" => Err(format!(
            "{} is Apache 2.2 access control (mod_access_compat), not in mpmd; use Require (mod_authz_host), e.g. `Require all granted` or `Require ip 10.0.0.0/8`",
            d.name
        )),
        "sethandler" => set_handler(l, d),
        _ => return None,
    })
}

/// `Options [+|-]option…` in a `<Directory>`: a second line in one block
/// applies on top of the first.
fn options(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::Directory, d.scope)?;
    let Block::Directory(i) = d.scope.block else {
        return Ok(());
    };
    let (options, warnings) = parse_options(d.args)?;
    for w in warnings {
        l.warn(d.origin, w);
    }
    let slot = &mut l.host(d.scope.host).directories[i].options;
    *slot = Some(match *slot {
        Some(before) => before.then(options),
        None => options,
    });
    Ok(())
}

/// `SetHandler server-status|metrics|balancer-manager|none` in a `<Location>`.
fn set_handler(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::Location, d.scope)?;
    let Block::Location(i) = d.scope.block else {
        return Ok(());
    };
    let handler = match one_arg(d.name, d.args)?.to_ascii_lowercase().as_str() {
        "server-status" => SetHandler::ServerStatus,
        "metrics" => SetHandler::Metrics,
        "balancer-manager" => SetHandler::BalancerManager,
        "none" => SetHandler::None,
        other => {
            return Err(format!(
                "SetHandler {other}: mpmd's handlers are server-status, metrics, balancer-manager and none"
            ))
        }
    };
    l.host(d.scope.host).locations[i].handler = Some(handler);
    Ok(())
}
