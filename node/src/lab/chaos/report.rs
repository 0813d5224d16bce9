//! What a chaos scenario reports: one typed row per scenario (connections,
//! lost, corrupted, UDP and ICMP echo requests lost, longest stall, resync
//! time, verdict and notes), and
//! the table of `rampart lab chaos` (or its JSON).

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A scenario's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check of the scenario held.
    Pass,
    /// At least one check failed (the notes say which).
    Fail,
}

/// One scenario's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRow {
    /// The scenario's name (`kill-a`, …).
    pub scenario: String,
    /// Connections opened: long streams and short connections.
    pub connections: u64,
    /// Established connections that did not complete (a stream that
    /// stopped, a short connection that failed after its handshake).
    pub lost: u64,
    /// Connections whose bytes came back different from what was sent.
    pub corrupted: u64,
    /// New connections whose handshake never completed.
    pub failed_connects: u64,
    /// UDP requests made (each once, however often resent).
    #[serde(default)]
    pub udp_requests: u64,
    /// UDP requests unanswered within the datagram streams' retry window
    /// (or answered with other bytes).
    #[serde(default)]
    pub udp_lost: u64,
    /// ICMP echo requests made.
    #[serde(default)]
    pub icmp_requests: u64,
    /// ICMP echo requests unanswered within the retry window (or answered
    /// with other data).
    #[serde(default)]
    pub icmp_lost: u64,
    /// The longest time a long stream went without a completed round trip
    /// (milliseconds).
    pub longest_stall_ms: u64,
    /// The longest stall of the streams on the symmetric route, whose
    /// node sees both directions (milliseconds; none when the scenario ran
    /// none).
    #[serde(default)]
    pub longest_symmetric_stall_ms: Option<u64>,
    /// How long the failed or cut node took to be in sync again
    /// (milliseconds; none when the scenario has no such moment).
    pub resync_ms: Option<u64>,
    /// Pass or fail.
    pub verdict: Verdict,
    /// What was measured beyond the numbers, and every failed check.
    pub notes: Vec<String>,
    /// How long the scenario ran, set-up and teardown included
    /// (milliseconds).
    pub wall_ms: u64,
}

impl ScenarioRow {
    /// A row for `scenario` with nothing counted yet, passing until a
    /// check fails.
    pub fn new(scenario: &str) -> Self {
        ScenarioRow {
            scenario: scenario.to_string(),
            connections: 0,
            lost: 0,
            corrupted: 0,
            failed_connects: 0,
            udp_requests: 0,
            udp_lost: 0,
            icmp_requests: 0,
            icmp_lost: 0,
            longest_stall_ms: 0,
            longest_symmetric_stall_ms: None,
            resync_ms: None,
            verdict: Verdict::Pass,
            notes: Vec::new(),
            wall_ms: 0,
        }
    }

    /// Record a check: when `ok` is false the verdict is FAIL and `what`
    /// is noted as the failure.
    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.verdict = Verdict::Fail;
            self.notes.push(format!("FAILED: {}", what.into()));
        }
    }

    /// Add a note (a measurement).
    pub fn note(&mut self, what: impl Into<String>) {
        self.notes.push(what.into());
    }

    /// Set the resync time.
    pub fn resync(&mut self, d: Duration) {
        self.resync_ms = Some(ms(d));
    }
}

/// Whole milliseconds of `d`.
pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The report of `rampart lab chaos`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaosReport {
    /// `ci` or `full`.
    pub size: String,
    /// One row per scenario run, in order.
    pub rows: Vec<ScenarioRow>,
}

impl ChaosReport {
    /// Whether every scenario passed.
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.verdict == Verdict::Pass)
    }

    /// As JSON, one line.
    pub fn json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self).map(|s| s + "\n")
    }

    /// As a table for people, each row's notes below it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Rampart lab chaos ({} size): real node processes, real traffic, real faults\n",
            self.size
        );
        let _ = writeln!(
            out,
            "{:<16} {:>11} {:>5} {:>9} {:>15} {:>14} {:>14} {:>13} {:>9} {:>7} {:>6}",
            "scenario",
            "connections",
            "lost",
            "corrupted",
            "failed connects",
            "UDP lost",
            "ICMP lost",
            "longest stall",
            "resync",
            "verdict",
            "wall"
        );
        for r in &self.rows {
            let resync = r
                .resync_ms
                .map_or_else(|| "-".to_string(), |v| format!("{v} ms"));
            let _ = writeln!(
                out,
                "{:<16} {:>11} {:>5} {:>9} {:>15} {:>14} {:>14} {:>10} ms {:>9} {:>7} {:>5}s",
                r.scenario,
                r.connections,
                r.lost,
                r.corrupted,
                r.failed_connects,
                format!("{}/{}", r.udp_lost, r.udp_requests),
                format!("{}/{}", r.icmp_lost, r.icmp_requests),
                r.longest_stall_ms,
                resync,
                match r.verdict {
                    Verdict::Pass => "PASS",
                    Verdict::Fail => "FAIL",
                },
                r.wall_ms / 1000,
            );
        }
        for r in &self.rows {
            let _ = writeln!(out, "\n{}:", r.scenario);
            for n in &r.notes {
                let _ = writeln!(out, "  - {n}");
            }
        }
        let failed: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .map(|r| r.scenario.as_str())
            .collect();
        if failed.is_empty() {
            let _ = writeln!(out, "\nall {} scenarios passed", self.rows.len());
        } else {
            let _ = writeln!(
                out,
                "\n{} of {} scenarios FAILED: {}",
                failed.len(),
                self.rows.len(),
                failed.join(", ")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_fails_the_row_and_the_report() {
        let mut ok = ScenarioRow::new("kill-a");
        ok.check(true, "never noted");
        let mut bad = ScenarioRow::new("cut-link");
        bad.check(false, "tables differ");
        assert_eq!(ok.verdict, Verdict::Pass);
        assert!(ok.notes.is_empty());
        assert_eq!(bad.verdict, Verdict::Fail);
        assert_eq!(bad.notes, vec!["FAILED: tables differ".to_string()]);
        let report = ChaosReport {
            size: "ci".into(),
            rows: vec![ok, bad],
        };
        assert!(!report.passed());
        let text = report.text();
        assert!(text.contains("FAIL"), "{text}");
        assert!(text.contains("1 of 2 scenarios FAILED: cut-link"), "{text}");
        let json = report.json().unwrap();
        assert!(json.contains("\"verdict\":\"fail\""), "{json}");
        assert_eq!(serde_json::from_str::<ChaosReport>(&json).unwrap(), report);
    }
}
