//! `show running-config` lines of `clock timezone`, `clock summer-time`
//! and `time-range` blocks (docs/asa-behaviour.md §2.10).

use std::fmt::Write as _;

use crate::ast::*;

const MONTH_ABBREVIATIONS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAY_ABBREVIATIONS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn hh_mm(t: HhMm) -> String {
    format!("{}:{:02}", t.hour, t.minute)
}

/// Month `m` (1-12) from `names`.
fn month(m: u8, names: &'static [&'static str; 12]) -> &'static str {
    names[usize::from(m.clamp(1, 12) - 1)]
}

/// `HH:MM DAY MONTH YEAR`.
fn date_time(t: &LocalDateTime) -> String {
    format!(
        "{} {} {} {}",
        hh_mm(t.time),
        t.day,
        month(t.month, &MONTH_NAMES),
        t.year
    )
}

fn recurring_point(p: &RecurringPoint) -> String {
    let week = match p.week {
        WeekOfMonth::Nth(n) => n.to_string(),
        WeekOfMonth::Last => "last".into(),
    };
    format!(
        "{week} {} {} {}",
        DAY_ABBREVIATIONS[usize::from(p.weekday.index())],
        month(p.month, &MONTH_ABBREVIATIONS),
        hh_mm(p.time)
    )
}

fn days(d: &Days) -> String {
    match d {
        Days::Daily => "daily".into(),
        Days::Weekdays => "weekdays".into(),
        Days::Weekend => "weekend".into(),
        Days::List(l) => l.iter().map(|d| d.name()).collect::<Vec<_>>().join(" "),
    }
}

/// A `periodic` line after `periodic `.
pub fn periodic(p: &Periodic) -> String {
    let end_day = p
        .end_day
        .map_or(String::new(), |d| format!("{} ", d.name()));
    format!(
        "{} {} to {end_day}{}",
        days(&p.days),
        hh_mm(p.start),
        hh_mm(p.end)
    )
}

/// An `absolute` line after `absolute` (empty, or starting with a space).
pub fn absolute(a: &Absolute) -> String {
    let mut s = String::new();
    if let Some(t) = &a.start {
        let _ = write!(s, " start {}", date_time(t));
    }
    if let Some(t) = &a.end {
        let _ = write!(s, " end {}", date_time(t));
    }
    s
}

/// The `clock` lines.
pub(super) fn clock(out: &mut String, c: &Clock) {
    if let Some(z) = &c.timezone {
        let sign = if z.negative { "-" } else { "" };
        let _ = write!(out, "clock timezone {} {sign}{}", z.zone, z.hours);
        if z.minutes != 0 {
            let _ = write!(out, " {}", z.minutes);
        }
        out.push('\n');
    }
    if let Some(s) = &c.summer_time {
        let _ = write!(out, "clock summer-time {} ", s.zone);
        let _ = match &s.rule {
            SummerRule::Recurring(None) => write!(out, "recurring"),
            SummerRule::Recurring(Some((a, b))) => write!(
                out,
                "recurring {} {}",
                recurring_point(a),
                recurring_point(b)
            ),
            SummerRule::Date { start, end } => {
                let d = |t: &LocalDateTime| {
                    format!(
                        "{} {} {} {}",
                        t.day,
                        month(t.month, &MONTH_ABBREVIATIONS),
                        t.year,
                        hh_mm(t.time)
                    )
                };
                write!(out, "date {} {}", d(start), d(end))
            }
        };
        if s.offset_minutes != SUMMER_OFFSET_DEFAULT_MINUTES {
            let _ = write!(out, " {}", s.offset_minutes);
        }
        out.push('\n');
    }
}

/// The `time-range` blocks.
pub(super) fn time_ranges(out: &mut String, ranges: &[TimeRange]) {
    for r in ranges {
        let _ = writeln!(out, "time-range {}", r.name);
        if let Some(a) = &r.absolute {
            let _ = writeln!(out, " absolute{}", absolute(a));
        }
        for p in &r.periodic {
            let _ = writeln!(out, " periodic {}", periodic(p));
        }
        out.push_str("!\n");
    }
}
