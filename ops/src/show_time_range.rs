//! `show time-range`: the time-ranges of the policy in force, each with
//! whether this node runs it active now, in the ASA's layout
//! (docs/asa-behaviour.md §2.10), and the body of `GET /v1/time-range`
//! that carries it (docs/ops.md §1):
//!
//! ```text
//! time-range entry: WORK (active)
//!    periodic weekdays 8:00 to 18:00
//!    used in: IP ACL entry
//! ```

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// `show time-range`: the time-ranges of the policy in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRanges {
    /// In the order configured.
    pub ranges: Vec<TimeRangeView>,
}

/// One time-range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRangeView {
    /// Its name.
    pub name: String,
    /// Whether the policy in force was compiled with it active.
    pub active: bool,
    /// Its `absolute` and `periodic` lines, as `show running-config`
    /// prints them.
    pub lines: Vec<String>,
    /// Whether an access-list entry names it.
    pub used: bool,
}

/// The ASA's `show time-range` text.
pub fn render_time_ranges(t: &TimeRanges) -> String {
    let mut out = String::new();
    for r in &t.ranges {
        let state = if r.active { "active" } else { "inactive" };
        let _ = writeln!(out, "time-range entry: {} ({state})", r.name);
        for l in &r.lines {
            let _ = writeln!(out, "   {l}");
        }
        if r.used {
            out.push_str("   used in: IP ACL entry\n");
        }
    }
    out
}
