//! An independent, brute-force reference for when a time-range is active,
//! built on chrono's calendar, compared with `rampart_asa::time` over
//! random configurations (as text, through the parser) and instants dense
//! around the boundaries (docs/asa-behaviour.md §2.10); then odd inputs
//! and extreme instants.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Weekday as W};
use proptest::prelude::*;
use rampart_asa::parse_config;
use rampart_asa::time::{active_at, next_transition};

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn wd(i: u8) -> W {
    [W::Mon, W::Tue, W::Wed, W::Thu, W::Fri, W::Sat, W::Sun][usize::from(i)]
}

#[derive(Debug, Clone)]
enum RDays {
    Daily,
    Weekdays,
    Weekend,
    List(Vec<u8>),
}

impl RDays {
    fn text(&self) -> String {
        match self {
            RDays::Daily => "daily".into(),
            RDays::Weekdays => "weekdays".into(),
            RDays::Weekend => "weekend".into(),
            RDays::List(l) => l
                .iter()
                .map(|&d| DAYS[usize::from(d)])
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
    fn has(&self, w: W) -> bool {
        let i = w.num_days_from_monday() as u8;
        match self {
            RDays::Daily => true,
            RDays::Weekdays => i < 5,
            RDays::Weekend => i >= 5,
            RDays::List(l) => l.contains(&i),
        }
    }
}

#[derive(Debug, Clone)]
struct RPeriodic {
    days: RDays,
    start: (u32, u32),
    end_day: Option<u8>,
    end: (u32, u32),
}

#[derive(Debug, Clone, Copy)]
struct RPoint {
    week: u8, // 1..=4, 5 = last
    weekday: u8,
    month: u32,
    time: (u32, u32),
}

#[derive(Debug, Clone)]
enum RSummer {
    Us,
    Rec(RPoint, RPoint),
    Date(NaiveDateTime, NaiveDateTime),
}

#[derive(Debug, Clone)]
struct Case {
    tz: Option<(i32, u32)>,
    summer: Option<(RSummer, Option<u32>)>,
    abs: Option<(Option<NaiveDateTime>, Option<NaiveDateTime>)>,
    periodic: Vec<RPeriodic>,
}

fn hm((h, m): (u32, u32)) -> String {
    format!("{h}:{m:02}")
}

fn dt_text(t: &NaiveDateTime) -> String {
    format!(
        "{}:{:02} {} {} {}",
        t.hour(),
        t.minute(),
        t.day(),
        MONTHS[t.month0() as usize],
        t.year()
    )
}

impl Case {
    fn text(&self) -> String {
        let mut s = String::new();
        if let Some((h, m)) = self.tz {
            s += &format!("clock timezone Z {h} {m}\n");
        }
        if let Some((rule, off)) = &self.summer {
            s += "clock summer-time S ";
            match rule {
                RSummer::Us => s += "recurring",
                RSummer::Rec(a, b) => {
                    let p = |p: &RPoint| {
                        format!(
                            "{} {} {} {}",
                            if p.week == 5 {
                                "last".to_string()
                            } else {
                                p.week.to_string()
                            },
                            DAYS[usize::from(p.weekday)],
                            MONTHS[p.month as usize - 1],
                            hm(p.time)
                        )
                    };
                    s += &format!("recurring {} {}", p(a), p(b));
                }
                RSummer::Date(a, b) => {
                    let d = |t: &NaiveDateTime| {
                        format!(
                            "{} {} {} {}",
                            t.day(),
                            MONTHS[t.month0() as usize],
                            t.year(),
                            hm((t.hour(), t.minute()))
                        )
                    };
                    s += &format!("date {} {}", d(a), d(b));
                }
            }
            if let Some(o) = off {
                s += &format!(" {o}");
            }
            s += "\n";
        }
        s += "time-range R\n";
        if let Some((a, b)) = &self.abs {
            s += " absolute";
            if let Some(a) = a {
                s += &format!(" start {}", dt_text(a));
            }
            if let Some(b) = b {
                s += &format!(" end {}", dt_text(b));
            }
            s += "\n";
        }
        for p in &self.periodic {
            s += &format!(
                " periodic {} {} to {}{}\n",
                p.days.text(),
                hm(p.start),
                p.end_day
                    .map_or(String::new(), |d| format!("{} ", DAYS[usize::from(d)])),
                hm(p.end)
            );
        }
        s += "access-list A extended permit ip any any time-range R\n";
        s
    }

    fn std_offset(&self) -> i64 {
        match self.tz {
            None => 0,
            Some((h, m)) => {
                let h = i64::from(h);
                let m = i64::from(m);
                if h < 0 { h * 60 - m } else { h * 60 + m }
            }
        }
    }
}

fn point_at(year: i32, p: &RPoint) -> NaiveDateTime {
    let mut days: Vec<NaiveDate> = Vec::new();
    let mut d = NaiveDate::from_ymd_opt(year, p.month, 1).unwrap();
    while d.month() == p.month {
        if d.weekday() == wd(p.weekday) {
            days.push(d);
        }
        d = d.succ_opt().unwrap();
    }
    let day = if p.week == 5 {
        *days.last().unwrap()
    } else {
        days[usize::from(p.week) - 1]
    };
    day.and_hms_opt(p.time.0, p.time.1, 0).unwrap()
}

fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
}

/// Local wall-clock time at UTC minute `utc`, by the reference.
fn ref_local(c: &Case, utc: i64) -> NaiveDateTime {
    let std = epoch() + Duration::minutes(utc + c.std_offset());
    let Some((rule, off)) = &c.summer else {
        return std;
    };
    let off = Duration::minutes(i64::from(off.unwrap_or(60)));
    let summer = match rule {
        RSummer::Date(a, b) => *a <= std && std < *b - off,
        RSummer::Us | RSummer::Rec(..) => {
            let (a, b) = match rule {
                RSummer::Rec(a, b) => (*a, *b),
                _ => (
                    RPoint {
                        week: 2,
                        weekday: 6,
                        month: 3,
                        time: (2, 0),
                    },
                    RPoint {
                        week: 1,
                        weekday: 6,
                        month: 11,
                        time: (2, 0),
                    },
                ),
            };
            let y = std.year();
            let from = point_at(y, &a);
            let to = point_at(y, &b) - off;
            if from <= to {
                from <= std && std < to
            } else {
                std >= from || std < to
            }
        }
    };
    if summer { std + off } else { std }
}

/// The UTC minutes the `absolute` bounds run from and through, by
/// search: the start is the first minute whose local time is the start or
/// later, the end the minute before the first whose local time is after
/// the end (so a bound in a repeated hour is crossed once, and one in a
/// skipped hour is the new hour's start).
fn ref_bounds(c: &Case) -> (Option<i64>, Option<i64>) {
    let summer = c
        .summer
        .as_ref()
        .map_or(0, |(_, off)| i64::from(off.unwrap_or(60)));
    let first = |t: NaiveDateTime| {
        let hi = (t - epoch()).num_minutes() - c.std_offset();
        (hi - summer..=hi)
            .find(|&u| ref_local(c, u) >= t)
            .expect("local time at hi is at least t")
    };
    match &c.abs {
        None => (None, None),
        Some((a, b)) => (a.map(first), b.map(|b| first(b + Duration::minutes(1)) - 1)),
    }
}

fn ref_active(c: &Case, bounds: (Option<i64>, Option<i64>), utc: i64) -> bool {
    if bounds.0.is_some_and(|s| utc < s) || bounds.1.is_some_and(|e| utc > e) {
        return false;
    }
    let local = ref_local(c, utc);
    if c.periodic.is_empty() {
        return true;
    }
    let t = (local.hour(), local.minute());
    c.periodic.iter().any(|p| match p.end_day {
        None => p.days.has(local.weekday()) && p.start <= t && t <= p.end,
        Some(ed) => (0..=7).any(|k| {
            let d = local.date() - Duration::days(k);
            if !p.days.has(d.weekday()) {
                return false;
            }
            let s = d.and_hms_opt(p.start.0, p.start.1, 0).unwrap();
            if s > local {
                return false;
            }
            // The first end_day@end at or after s.
            let mut e = None;
            for j in 0..=7 {
                let ed_date = d + Duration::days(j);
                if ed_date.weekday() == wd(ed) {
                    let cand = ed_date.and_hms_opt(p.end.0, p.end.1, 0).unwrap();
                    if cand >= s {
                        e = Some(cand);
                        break;
                    }
                }
            }
            local <= e.unwrap()
        }),
    })
}

fn ndt(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
    let d = d.min(28);
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_opt(h, mi, 0)
        .unwrap()
}

fn any_ndt(years: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = NaiveDateTime> {
    (years, 1u32..=12, 1u32..=31, 0u32..24, 0u32..60).prop_map(|(y, mo, d, h, mi)| {
        let last = NaiveDate::from_ymd_opt(y, mo, 1)
            .unwrap()
            .checked_add_months(chrono::Months::new(1))
            .unwrap()
            .pred_opt()
            .unwrap()
            .day();
        NaiveDate::from_ymd_opt(y, mo, d.min(last))
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    })
}

fn hhmm() -> impl Strategy<Value = (u32, u32)> {
    prop_oneof![
        (0u32..24, 0u32..60),
        Just((0, 0)),
        Just((23, 59)),
        Just((2, 0)),
        Just((2, 30)),
        Just((1, 59)),
        Just((3, 0))
    ]
}

fn periodic() -> impl Strategy<Value = RPeriodic> {
    let days = prop_oneof![
        Just(RDays::Daily),
        Just(RDays::Weekdays),
        Just(RDays::Weekend),
        proptest::sample::subsequence((0u8..7).collect::<Vec<_>>(), 1..=3)
            .prop_shuffle()
            .prop_map(RDays::List),
    ];
    prop_oneof![
        (days, hhmm(), hhmm()).prop_map(|(days, a, b)| {
            let (start, end) = if a <= b { (a, b) } else { (b, a) };
            RPeriodic {
                days,
                start,
                end_day: None,
                end,
            }
        }),
        (0u8..7, hhmm(), 0u8..7, hhmm())
            .prop_filter("a day to another", |(d, _, e, _)| d != e)
            .prop_map(|(d, start, e, end)| RPeriodic {
                days: RDays::List(vec![d]),
                start,
                end_day: Some(e),
                end,
            }),
    ]
}

fn rpoint() -> impl Strategy<Value = RPoint> {
    (1u8..=5, 0u8..7, 1u32..=12, hhmm()).prop_map(|(week, weekday, month, time)| RPoint {
        week,
        weekday,
        month,
        time,
    })
}

fn case() -> impl Strategy<Value = Case> {
    let tz = proptest::option::of(prop_oneof![
        (-23i32..=23, 0u32..60).prop_filter("sign", |(h, m)| *h != 0 || *m == 0),
        Just((-5, 0)),
        Just((10, 0)),
        Just((-3, 30)),
        Just((5, 45)),
    ]);
    let summer = proptest::option::of((
        prop_oneof![
            Just(RSummer::Us),
            (rpoint(), rpoint()).prop_map(|(a, b)| RSummer::Rec(a, b)),
            (any_ndt(1993..=2040), 1i64..400 * 24 * 60).prop_map(|(a, len)| {
                let b = a + Duration::minutes(len);
                RSummer::Date(a, b)
            }),
        ],
        proptest::option::of(prop_oneof![1u32..=1440, Just(60), Just(30), Just(120)]),
    ))
    .prop_filter("summer date years within 1993-2099", |s| match s {
        Some((RSummer::Date(_, b), _)) => b.year() <= 2099,
        _ => true,
    });
    let abs = proptest::option::of(
        (
            proptest::option::of(any_ndt(1993..=2035)),
            proptest::option::of(any_ndt(1993..=2035)),
        )
            .prop_filter("end after start", |(a, b)| match (a, b) {
                (Some(a), Some(b)) => b > a,
                _ => true,
            }),
    );
    (
        tz,
        summer,
        abs,
        proptest::collection::vec(periodic(), 0..=3),
    )
        .prop_map(|(tz, summer, abs, periodic)| Case {
            tz,
            summer,
            abs,
            periodic,
        })
}

/// UTC minutes near the case's interesting instants.
fn anchors(c: &Case, year: i32) -> Vec<i64> {
    let to_utc = |t: NaiveDateTime| (t - epoch()).num_minutes() - c.std_offset();
    let mut v = Vec::new();
    if let Some((a, b)) = &c.abs {
        v.extend(a.iter().chain(b.iter()).map(|t| to_utc(*t)));
    }
    match &c.summer {
        Some((RSummer::Rec(a, b), _)) => {
            v.push(to_utc(point_at(year, a)));
            v.push(to_utc(point_at(year, b)));
        }
        Some((RSummer::Us, _)) => {
            v.push(to_utc(ndt(year, 3, 8, 2, 0)));
            v.push(to_utc(ndt(year, 11, 1, 2, 0)));
        }
        Some((RSummer::Date(a, b), _)) => {
            v.push(to_utc(*a));
            v.push(to_utc(*b));
        }
        None => {}
    }
    v.push(to_utc(ndt(year, 1, 1, 0, 0)));
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn active_at_agrees_with_a_brute_force_reference(
        c in case(),
        year in 1993i32..=2036,
        pick in 0usize..8,
        jitter in -4000i64..4000,
    ) {
        let text = c.text();
        let cfg = match parse_config(&text) {
            Ok(p) => p.config,
            Err(e) => return Err(TestCaseError::fail(format!("refused:\n{text}\n{e}"))),
        };
        let a = anchors(&c, year);
        let centre = a[pick % a.len()] + jitter;
        let bounds = ref_bounds(&c);
        for utc in centre - 90..centre + 90 {
            let local = ref_local(&c, utc);
            let want = ref_active(&c, bounds, utc);
            let got = active_at(&cfg.time_ranges[0], &cfg.clock, utc * 60 + 17);
            prop_assert_eq!(got, want, "{}\nUTC minute {} ({}), reference local {}", text, utc,
                epoch() + Duration::minutes(utc), local);
        }
    }

    #[test]
    fn next_transition_agrees_with_stepping_minute_by_minute(
        c in case(),
        at in any_ndt(1993..=2035),
    ) {
        let text = c.text();
        let cfg = parse_config(&text).unwrap().config;
        let r = &cfg.time_ranges[0];
        let start = (at - epoch()).num_minutes();
        let was = active_at(r, &cfg.clock, start * 60);
        let next = next_transition(r, &cfg.clock, start * 60);
        let horizon = start + 15 * 24 * 60;
        let mut first_change = None;
        for m in start + 1..=horizon {
            if active_at(r, &cfg.clock, m * 60) != was {
                first_change = Some(m * 60);
                break;
            }
        }
        match (next, first_change) {
            (Some(n), Some(f)) => prop_assert_eq!(n, f, "{}", text),
            (Some(n), None) => prop_assert!(n > horizon * 60, "{}: said {} but nothing changes", text, n),
            (None, Some(f)) => prop_assert!(false, "{}: None, but it changes at {}", text, f),
            (None, None) => {}
        }
    }
}

// === robustness: odd inputs through parse_config, extreme instants ===

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("time-range".to_string()),
        Just("absolute".to_string()),
        Just("periodic".to_string()),
        Just("start".to_string()),
        Just("end".to_string()),
        Just("to".to_string()),
        Just("no".to_string()),
        Just("daily".to_string()),
        Just("weekdays".to_string()),
        Just("WEEKEND".to_string()),
        Just("recurring".to_string()),
        Just("date".to_string()),
        Just("last".to_string()),
        Just("first".to_string()),
        Just("clock".to_string()),
        Just("timezone".to_string()),
        Just("summer-time".to_string()),
        (0usize..7).prop_map(|i| DAYS[i].to_string()),
        (0usize..7).prop_map(|i| DAYS[i][..3].to_string()),
        (0usize..12).prop_map(|i| MONTHS[i].to_string()),
        (0usize..12).prop_map(|i| MONTHS[i][..3].to_uppercase()),
        (-3000i64..3000).prop_map(|n| n.to_string()),
        Just("-0".to_string()),
        Just("99999999999999999999".to_string()),
        (0u32..30, 0u32..70).prop_map(|(h, m)| format!("{h}:{m:02}")),
        "[0-9:+-]{1,6}",
        "\\PC{1,4}",
    ]
}

fn odd_line() -> impl Strategy<Value = String> {
    (any::<bool>(), proptest::collection::vec(token(), 0..9))
        .prop_map(|(indent, t)| format!("{}{}", if indent { " " } else { "" }, t.join(" ")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn odd_time_lines_never_panic_and_what_parses_evaluates(
        lines in proptest::collection::vec(odd_line(), 1..8),
        now in any::<i64>(),
    ) {
        let text = format!("time-range T\n{}\n", lines.join("\n"));
        if let Ok(p) = parse_config(&text) {
            let cfg = p.config;
            // Round trip through show running-config.
            let shown = rampart_asa::render(&cfg);
            let again = parse_config(&shown).map_err(|e| TestCaseError::fail(format!("{text}\n---\n{shown}\n{e}")))?;
            prop_assert_eq!(&again.config.time_ranges, &cfg.time_ranges, "{}", shown);
            prop_assert_eq!(&again.config.clock, &cfg.clock, "{}", shown);
            for r in &cfg.time_ranges {
                for t in [now, i64::MIN, i64::MAX, 0, -1, now / 7] {
                    let _ = active_at(r, &cfg.clock, t);
                }
                let _ = rampart_asa::time::active_ranges(&cfg, now);
                let _ = next_transition(r, &cfg.clock, now.clamp(-(1 << 50), 1 << 50));
            }
        }
    }
}

#[test]
fn extreme_instants_do_not_overflow() {
    let text = "clock timezone Z 23 59\nclock summer-time S recurring last Sun Dec 23:59 1 Mon Jan 0:00 1440\n\
                time-range T\n absolute start 0:00 1 January 1993 end 23:59 31 December 2035\n periodic sunday 23:59 to monday 0:00\n";
    let cfg = parse_config(text).unwrap().config;
    let r = &cfg.time_ranges[0];
    for t in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
        let _ = active_at(r, &cfg.clock, t);
    }
    for t in [i64::MIN / 2, i64::MAX / 2, i64::MAX - 60, i64::MIN] {
        let _ = next_transition(r, &cfg.clock, t);
    }
}

/// Seconds since the epoch of a UTC date and time.
fn utc_secs(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    (NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_opt(h, mi, 0)
        .unwrap()
        - epoch())
    .num_seconds()
}

/// An `absolute` bound inside the hour that summer time's end repeats is
/// crossed once (comparing local times, it was crossed twice). New York, 2026-11-01: 1:30 EDT is 5:30
/// UTC; at 6:00 UTC the clock falls back to 1:00 EST, before the bound
/// again. A deny that has started stops again for half an hour; a permit
/// that has ended comes back for half an hour.
#[test]
fn an_absolute_bound_in_the_repeated_hour_is_not_crossed_twice() {
    let clock = "clock timezone EST -5\nclock summer-time EDT recurring\n";
    let start = format!("{clock}time-range R\n absolute start 1:30 1 November 2026\n");
    let end = format!("{clock}time-range R\n absolute end 1:30 1 November 2026\n");
    let (s, e) = (
        parse_config(&start).unwrap().config,
        parse_config(&end).unwrap().config,
    );
    let at = |c: &rampart_asa::ast::Config, h, m| {
        active_at(&c.time_ranges[0], &c.clock, utc_secs(2026, 11, 1, h, m))
    };
    assert!(!at(&s, 5, 29));
    assert!(at(&s, 5, 30), "started at 1:30 EDT");
    assert!(at(&e, 5, 30) && !at(&e, 5, 31), "ended after 1:30 EDT");
    let mut wrong = Vec::new();
    for m in 0..30 {
        if !at(&s, 6, m) {
            wrong.push(format!(
                "start: inactive again at 06:{m:02} UTC (1:{m:02} EST)"
            ));
        }
        if at(&e, 6, m) {
            wrong.push(format!("end: active again at 06:{m:02} UTC (1:{m:02} EST)"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} minutes wrong, e.g. {:?}",
        wrong.len(),
        &wrong[..4.min(wrong.len())]
    );
}

/// `clock timezone Z -0 30` is half an hour west, not +0:30 (the sign of
/// a zero hour was lost, an hour off).
#[test]
fn a_negative_zero_hour_keeps_its_sign() {
    let cfg = parse_config("clock timezone Z -0 30\n").unwrap().config;
    let tz = cfg.clock.timezone.unwrap();
    assert_eq!(tz.offset_minutes(), -30, "{tz:?}");
}
