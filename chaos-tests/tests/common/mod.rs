//! Shared by the real-process tests of this package.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The cargo profile this test was built with, read from where its
/// executable is (`<target>/debug/deps/…` for `dev`).
fn profile() -> String {
    let exe = std::env::current_exe().expect("the test's executable");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .and_then(|d| d.file_name())
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_else(|| "debug".into());
    if dir == "debug" { "dev".into() } else { dir }
}

/// The `rampart` binary, built once by cargo for these tests with their
/// profile (a test of another package cannot name it with
/// `CARGO_BIN_EXE_`).
pub fn rampart_exe() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let profile = profile();
        let out = Command::new(env!("CARGO"))
            .args([
                "build",
                "--offline",
                "--profile",
                &profile,
                "-p",
                "rampart-node",
                "--bin",
                "rampart",
                "--message-format",
                "json",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo build -p rampart-node: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"]["name"] == "rampart")
            .find_map(|v| v["executable"].as_str().map(PathBuf::from))
            .expect("cargo names the rampart executable")
    })
    .clone()
}
