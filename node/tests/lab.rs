//! `rampart lab --json` end to end: the asymmetric topology, two node
//! processes, real traffic; before state sync exists the outcome is the
//! honest one (DESIGN.md): symmetric inspected and asymmetric bypass flows
//! pass, asymmetric inspected flows and asymmetric UDP fail. Needs root.
#![cfg(target_os = "linux")]

use std::process::Command;

use rampart_chaos_tests::netns::is_root;

#[test]
fn lab_json_reports_the_pre_sync_outcome() {
    if !is_root() {
        eprintln!("skipped: rampart lab needs root");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["lab", "--json"])
        .output()
        .expect("run the lab");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(
        json.starts_with("{\"kinds\":[") && json.ends_with("]}\n"),
        "only JSON on stdout: {json}"
    );
    for expected in [
        "{\"kind\":\"tcp_symmetric_inspected\",\"attempted\":10,\"succeeded\":10,\"failed\":0,\"bytes_verified\":655360}",
        "{\"kind\":\"tcp_asymmetric_inspected\",\"attempted\":10,\"succeeded\":0,\"failed\":10,\"bytes_verified\":0}",
        "{\"kind\":\"tcp_asymmetric_bypass\",\"attempted\":10,\"succeeded\":10,\"failed\":0,\"bytes_verified\":655360}",
        "{\"kind\":\"udp_asymmetric\",\"attempted\":10,\"succeeded\":0,\"failed\":10,\"bytes_verified\":0}",
    ] {
        assert!(json.contains(expected), "missing {expected} in {json}");
    }
    assert!(
        json.contains("tcp-not-syn="),
        "node B counts the SYN-ACKs it had no state for: {json}"
    );
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    assert!(
        !left.lines().any(|l| l.starts_with("rp-lab")),
        "the lab removed its namespaces: {left}"
    );
}
