//! The layout of mpmd's executable in release builds (benches/layout/README.md).
//!
//! - `layout/mpmd.order` lists the functions mpmd runs while it serves,
//!   hottest first, as the linker names them; lld places them together at
//!   the start of `.text`. A child process then maps the ~1.3 MiB of code it
//!   runs instead of pages spread over all 5.3 MiB (the kernel maps 64 KiB
//!   around each page it faults in), which is what each prefork child costs
//!   in memory beyond its own heap and stack.
//! - `-z pack-relative-relocs` (RELR) packs the 560 KiB of relative
//!   relocations, which the dynamic loader reads once in the master and
//!   which then stay mapped in it, into 7 KiB.
//!
//! Each is used only when a probe program links with it (lld, Rust's linker
//! on x86-64 Linux since 1.90: GNU ld would refuse the ordering option) and,
//! for RELR, also starts (glibc 2.36 and later); otherwise the executable is
//! linked as before, with a warning. `MPMD_PLAIN_LINK=1` turns both off.
//! Debug builds are left alone: their symbol names are not the release's.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=layout/mpmd.order");
    println!("cargo:rerun-if-env-changed=MPMD_PLAIN_LINK");
    if env::var_os("MPMD_PLAIN_LINK").is_some_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    if env::var("OPT_LEVEL").is_ok_and(|o| o == "0") {
        return;
    }
    let (Ok(target), Ok(host)) = (env::var("TARGET"), env::var("HOST")) else {
        return;
    };
    // The order file names x86-64 Linux symbols; RELR's probe must run here.
    if target != "x86_64-unknown-linux-gnu" || host != target {
        return;
    }
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let order = manifest.join("layout").join("mpmd.order");
    let mut args = vec![
        format!("-Wl,--symbol-ordering-file={}", order.display()),
        "-Wl,--no-warn-symbol-ordering".to_string(),
    ];
    if !order.is_file() || !probe(&out, &args, false) {
        println!(
            "cargo:warning=mpmd is linked without its function order (server-bin/layout/mpmd.order): the linker is not lld or refused it"
        );
        return;
    }
    let relr = "-Wl,-z,pack-relative-relocs".to_string();
    let mut with_relr = args.clone();
    with_relr.push(relr.clone());
    if probe(&out, &with_relr, true) {
        args.push(relr);
    }
    for a in args {
        println!("cargo:rustc-link-arg-bin=mpmd={a}");
    }
}

/// Whether an empty program links with `link_args` (and, when `run`, starts
/// and exits 0), built by the same rustc with the same flags and linker as
/// the executable.
fn probe(out: &Path, link_args: &[String], run: bool) -> bool {
    let src = out.join("layout_probe.rs");
    let exe = out.join("layout_probe");
    if std::fs::write(&src, "fn main() {}\n").is_err() {
        return false;
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut cmd = Command::new(rustc);
    cmd.arg("--crate-type=bin").arg("-o").arg(&exe).arg(&src);
    if let Ok(flags) = env::var("CARGO_ENCODED_RUSTFLAGS") {
        cmd.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    }
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        let mut a = std::ffi::OsString::from("-Clinker=");
        a.push(linker);
        cmd.arg(a);
    }
    for a in link_args {
        cmd.arg(format!("-Clink-arg={a}"));
    }
    let linked = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let ok = linked
        && (!run
            || Command::new(&exe)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()));
    let _ = std::fs::remove_file(&exe);
    let _ = std::fs::remove_file(&src);
    ok
}
