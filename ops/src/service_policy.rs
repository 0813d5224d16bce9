//! `show service-policy`, as the ASA prints the connection-settings part of
//! it, with each class's hit count (connections it created).

use std::time::Duration;

use crate::duration::hms;
use crate::model::{ClassStats, PolicyScope, ServicePolicy};

fn class_lines(out: &mut String, c: &ClassStats) {
    out.push_str(&format!("    Class-map: {}\n", c.class));
    let mut limits = String::new();
    for (name, v) in [
        ("conn-max", c.conn_max),
        ("embryonic-conn-max", c.embryonic_conn_max),
        ("per-client-max", c.per_client_max),
        ("per-client-embryonic-max", c.per_client_embryonic_max),
    ] {
        if v > 0 {
            limits.push_str(&format!(" {name} {v}"));
        }
    }
    if !c.random_sequence_number {
        limits.push_str(" random-sequence-number disable");
    }
    if limits.is_empty() {
        out.push_str(&format!(
            "      Set connection policy: drop {}\n",
            c.limit_drops
        ));
    } else {
        out.push_str(&format!("      Set connection policy:{limits}\n"));
        out.push_str(&format!(
            "        current embryonic conns {}, current conns {}, drop {}\n",
            c.current_embryonic, c.current_conns, c.limit_drops
        ));
    }
    let mut timeouts = String::new();
    for (name, v) in [
        ("embryonic", c.timeout_embryonic_s),
        ("half-closed", c.timeout_half_closed_s),
        ("idle", c.timeout_idle_s),
    ] {
        if let Some(s) = v {
            timeouts.push_str(&format!(" {name} {}", hms(Duration::from_secs(s))));
            if name == "idle" && c.idle_reset {
                timeouts.push_str(" reset");
            }
        }
    }
    if !timeouts.is_empty() || c.dcd.is_some() {
        out.push_str("      Set connection timeout policy:\n");
        if !timeouts.is_empty() {
            out.push_str(&format!("       {timeouts}\n"));
        }
        if let Some((retry, max)) = c.dcd {
            let [client, server, expired] = c.dcd_counts;
            out.push_str(&format!(
                "        DCD: enabled, retry-interval {}, max-retries {max}\n",
                hms(Duration::from_secs(retry))
            ));
            out.push_str(&format!(
                "        DCD: client-probe {client}, server-probe {server}, conn-expiration {expired}\n"
            ));
        }
    }
    if c.tcp_state_bypass {
        out.push_str("      Set connection advanced-options: tcp-state-bypass\n");
    }
    out.push_str(&format!("      Connection hits: {}\n", c.created));
}

/// The ASA text.
pub fn render_service_policy(sp: &ServicePolicy) -> String {
    let mut out = String::new();
    if sp.bindings.is_empty() {
        out.push_str("No service-policy with connection settings is applied.\n");
        return out;
    }
    let mut bindings: Vec<_> = sp.bindings.iter().collect();
    bindings.sort_by(|a, b| a.scope.cmp(&b.scope));
    let mut last: Option<&PolicyScope> = None;
    for b in bindings {
        if last != Some(&b.scope) {
            match &b.scope {
                PolicyScope::Global => out.push_str("Global policy:\n"),
                PolicyScope::Interface(i) => out.push_str(&format!("Interface {i}:\n")),
            }
            last = Some(&b.scope);
        }
        out.push_str(&format!("  Service-policy: {}\n", b.policy_map));
        for c in &b.classes {
            class_lines(&mut out, c);
        }
    }
    out
}
