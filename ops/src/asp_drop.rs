//! `show asp drop`: frame drops by reason, as the ASA lists them.

use rampart_dataplane::DropReason;
use rampart_dataplane::counters::Counters;

use crate::model;

/// Render the non-zero drop counters, one line per reason:
/// `  TCP packet SEQ past window (tcp-seq-past-win)            12`.
pub fn render_asp_drop(counters: &Counters) -> String {
    let mut out = String::from("\nFrame drop:\n");
    let mut any = false;
    for &reason in DropReason::ALL {
        let n = counters.dropped(reason);
        if n == 0 {
            continue;
        }
        any = true;
        let name = format!("{} ({})", reason.description(), reason.label());
        out.push_str(&format!("  {name:<66}{n:>12}\n"));
    }
    if !any {
        out.push_str("  (none)\n");
    }
    out
}

/// `show counters`: the same listing from the admin API's answer.
pub fn render_counters(c: &model::Counters) -> String {
    let mut out = String::from("\nFrame drop:\n");
    let mut any = false;
    for d in c.drops.iter().filter(|d| d.count > 0) {
        any = true;
        let name = format!("{} ({})", d.description, d.reason);
        out.push_str(&format!("  {name:<66}{:>12}\n", d.count));
    }
    if !any {
        out.push_str("  (none)\n");
    }
    // A metrics listener that waits for its address cannot say so through
    // itself: the admin API does (docs/ops.md §1).
    if !c.ops_listeners.is_empty() {
        out.push_str("\nOps listeners:\n");
        for l in &c.ops_listeners {
            let state = if l.up {
                "up".to_string()
            } else {
                format!(
                    "DOWN, waiting for its address ({} failed binds)",
                    l.bind_failures
                )
            };
            out.push_str(&format!(
                "  {:<8} {state}; answers held {} bytes, reserved slots in use {}, \
                 requests waiting for a handler {}\n",
                crate::echo::echo(&l.listener).to_string(),
                l.answer_bytes_held,
                l.reserved_slots_in_use,
                l.handlers_waiting
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_counters_says_which_ops_listener_is_down() {
        let listener = |name: &str, up| model::OpsListenerStatus {
            listener: name.into(),
            up,
            bind_failures: 7,
            answer_bytes_held: 0,
            reserved_slots_in_use: 0,
            handlers_waiting: 2,
        };
        let c = model::Counters {
            drops: Vec::new(),
            forwarded_packets: 0,
            conns_in_use: 0,
            ops_listeners: vec![listener("metrics", false), listener("admin", true)],
        };
        let out = render_counters(&c);
        assert!(
            out.contains("  metrics  DOWN, waiting for its address (7 failed binds)"),
            "{out}"
        );
        assert!(out.contains("  admin    up;"), "{out}");
        assert!(out.contains("requests waiting for a handler 2"), "{out}");
    }

    #[test]
    fn lists_only_nonzero_reasons() {
        let mut c = Counters::default();
        c.drops[DropReason::TcpNotSyn.index()] = 3;
        let out = render_asp_drop(&c);
        assert_eq!(
            out,
            format!(
                "\nFrame drop:\n  {:<66}{:>12}\n",
                "First TCP packet not SYN (tcp-not-syn)", 3
            )
        );
        assert!(render_asp_drop(&Counters::default()).contains("(none)"));
    }
}
