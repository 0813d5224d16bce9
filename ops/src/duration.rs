//! Durations as the ASA prints them.

use std::time::Duration;

/// `H:MM:SS`, as in `show conn`'s `idle 0:00:28` (hours are not capped).
pub fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The compact form of `show conn detail`: `21s`, `2m0s`, `1h0m`, `3D4h`, `1Y25D`.
pub fn compact(d: Duration) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    const YEAR: u64 = 365 * DAY;
    let s = d.as_secs();
    match s {
        s if s < MIN => format!("{s}s"),
        s if s < HOUR => format!("{}m{}s", s / MIN, s % MIN),
        s if s < DAY => format!("{}h{}m", s / HOUR, s % HOUR / MIN),
        s if s < YEAR => format!("{}D{}h", s / DAY, s % DAY / HOUR),
        s => format!("{}Y{}D", s / YEAR, s % YEAR / DAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_asa() {
        let s = Duration::from_secs;
        assert_eq!(hms(s(28)), "0:00:28");
        assert_eq!(hms(s(3600 + 61)), "1:01:01");
        assert_eq!(hms(s(100 * 3600)), "100:00:00");
        assert_eq!(compact(s(21)), "21s");
        assert_eq!(compact(s(120)), "2m0s");
        assert_eq!(compact(s(3600)), "1h0m");
        assert_eq!(compact(s(3 * 86_400 + 4 * 3600)), "3D4h");
        assert_eq!(compact(s(400 * 86_400)), "1Y35D");
    }
}
