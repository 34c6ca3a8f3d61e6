//! Builds the interposer (`interposer/`, a cdylib) into `OUT_DIR`, so that `replay` carries it
//! inside (`include_bytes!` in `src/record.rs`) and an installed binary alone can record: see
//! "Where the interposer comes from" in the docs of `src/record.rs`.
//!
//! A nested `cargo build --release` of the workspace's `replay-interposer` package, with its own
//! target directory under `OUT_DIR` (the outer build holds the lock of its own), stripped and
//! without debug information (a few hundred kilobytes instead of four megabytes). Without the
//! interposer's sources (a packaged crate), an empty file is written instead, and `replay record`
//! then looks for the library next to the binary only.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let dest = out.join("libreplay_interposer.so");
    let manifest = root.join("interposer").join("Cargo.toml");
    for watched in ["interposer/src", "interposer/Cargo.toml", "src/tsc.rs", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    if !manifest.is_file() {
        println!(
            "cargo:warning=no interposer sources: `replay record` will need {} beside it",
            name()
        );
        std::fs::write(&dest, b"").expect("OUT_DIR is writable");
        return;
    }
    let target_dir = out.join("interposer-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "-p", "replay-interposer", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    let target = std::env::var("TARGET").unwrap_or_default();
    let cross = !target.is_empty() && std::env::var("HOST").is_ok_and(|host| host != target);
    if cross {
        command.args(["--target", &target]);
    }
    let status = command.status().expect("cargo runs");
    assert!(status.success(), "building the interposer failed: {status}");
    let built = if cross { target_dir.join(&target) } else { target_dir }.join("release");
    copy(&built.join(name()), &dest);
}

fn name() -> &'static str {
    "libreplay_interposer.so"
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
}
