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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
