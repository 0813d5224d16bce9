//! The shipped dashboard and alert rules against the exporter: every
//! metric they name exists, the rules pass `promtool check rules`, and the
//! exposition passes `promtool check metrics` (Prometheus's own linter for
//! names, units and `_total` suffixes). promtool comes with the Debian
//! package `prometheus` (scripts/deps.sh installs it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rampart_ops::backend::Backend;
use rampart_ops::fixture;
use rampart_ops::metrics::{Metrics, process, specs};

fn file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn exported() -> BTreeSet<String> {
    specs::ALL
        .iter()
        .chain(process::ALL)
        .map(|s| s.name.to_string())
        .collect()
}

/// Metric names in a PromQL text: identifiers starting `rampart_` or
/// `process_`, histogram series suffixes folded onto their family.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let starts = (rest.starts_with("rampart_") || rest.starts_with("process_"))
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        if starts {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| f.ends_with("_seconds"))
                .unwrap_or(name);
            out.insert(family.to_string());
            i += end;
        } else {
            i += 1;
        }
    }
    out
}

fn promtool() -> Option<&'static str> {
    let ok = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: promtool not installed (Debian package prometheus; scripts/deps.sh)");
    }
    ok.then_some("promtool")
}

#[test]
fn the_dashboard_names_only_exported_metrics() {
    let text = std::fs::read_to_string(file("dashboards/rampart.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut exprs = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(exprs.len() > 20);
    let known = exported();
    for e in &exprs {
        let names = names_in(e);
        assert!(!names.is_empty(), "{e}");
        for n in names {
            assert!(known.contains(&n), "dashboard names {n}, not exported: {e}");
        }
    }
}

#[test]
fn the_alert_rules_name_only_exported_metrics_and_pass_promtool() {
    let path = file("alerts/rampart.rules.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let known = exported();
    let exprs: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .collect();
    assert!(exprs.len() >= 5);
    for e in exprs {
        for n in names_in(e) {
            assert!(known.contains(&n), "rule names {n}, not exported: {e}");
        }
    }
    for alert in [
        "RampartNodeDown",
        "RampartSyncLagHigh",
        "RampartHeldPacketsExpiring",
        "RampartConntrackNearFull",
        "RampartNoRaftLeader",
        "RampartRaftStopped",
        "RampartDataLinkDown",
        "RampartClusterLinkLoss",
    ] {
        assert!(text.contains(&format!("alert: {alert}")), "{alert}");
    }
    let Some(tool) = promtool() else { return };
    passes(
        Command::new(tool)
            .args(["check", "rules"])
            .arg(&path)
            .output(),
    );
}

#[test]
fn the_exposition_passes_promtool_check_metrics() {
    let backend: std::sync::Arc<dyn Backend> =
        std::sync::Arc::new(fixture::admin(fixture::cluster_status()));
    let b = backend.clone();
    let text = Metrics::new(std::sync::Arc::new(move || b.snapshot()), None).render();
    let Some(tool) = promtool() else { return };
    let mut child = Command::new(tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    passes(child.wait_with_output());
}

#[test]
fn the_cluster_link_alerts_fire_for_the_bad_link_only() {
    let Some(tool) = promtool() else { return };
    passes(
        Command::new(tool)
            .args(["test", "rules"])
            .arg(file("alerts/tests/cluster_link.test.yml"))
            .output(),
    );
}

/// A promtool run succeeded; else its output is the failure.
fn passes(out: std::io::Result<std::process::Output>) {
    let out = out.expect("run promtool");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
