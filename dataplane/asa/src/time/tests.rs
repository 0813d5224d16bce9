use proptest::prelude::*;

use super::*;
use crate::parse_config;

/// Seconds since the Unix epoch of a UTC date and time.
fn utc(year: i64, month: u8, day: u8, hour: i64, minute: i64) -> i64 {
    (days_from_civil(year, month, day) * DAY_MINUTES + hour * 60 + minute) * 60
}

/// The first time-range and the clock of a configuration text.
fn range(text: &str) -> (TimeRange, Clock) {
    let c = parse_config(text)
        .unwrap_or_else(|e| panic!("{text}\n{e}"))
        .config;
    (c.time_ranges[0].clone(), c.clock)
}

fn active(text: &str, at: i64) -> bool {
    let (r, c) = range(text);
    active_at(&r, &c, at)
}

// === the calendar ===

#[test]
fn the_civil_calendar_round_trips_and_knows_its_weekdays() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(days_from_civil(1969, 12, 31), -1);
    assert_eq!(civil_from_days(days_from_civil(2028, 2, 29)), (2028, 2, 29));
    assert_eq!(weekday_of(0), Weekday::Thursday);
    assert_eq!(weekday_of(days_from_civil(2026, 12, 7)), Weekday::Monday);
    assert_eq!(weekday_of(days_from_civil(2024, 2, 29)), Weekday::Thursday);
    for d in -800_000..800_000i64 {
        let (y, m, day) = civil_from_days(d);
        assert!((1..=12).contains(&m) && day >= 1 && day <= days_in_month(y, m));
        assert_eq!(days_from_civil(y, m, day), d, "{y}-{m}-{day}");
    }
}

#[test]
fn recurring_points_fall_on_their_days() {
    let p = |week, weekday, month| RecurringPoint {
        week,
        weekday,
        month,
        time: HhMm { hour: 0, minute: 0 },
    };
    // March 2026: the 1st is a Sunday.
    assert_eq!(
        nth_weekday(2026, &p(WeekOfMonth::Nth(2), Weekday::Sunday, 3)),
        8
    );
    assert_eq!(
        nth_weekday(2026, &p(WeekOfMonth::Last, Weekday::Sunday, 3)),
        29
    );
    assert_eq!(
        nth_weekday(2026, &p(WeekOfMonth::Nth(1), Weekday::Sunday, 11)),
        1
    );
    assert_eq!(
        nth_weekday(2026, &p(WeekOfMonth::Last, Weekday::Sunday, 10)),
        25
    );
    assert_eq!(
        nth_weekday(2024, &p(WeekOfMonth::Last, Weekday::Thursday, 2)),
        29
    );
}

// === periodic and absolute ===

#[test]
fn a_periodic_span_crosses_midnight_and_the_week_s_end() {
    let text = "time-range B\n periodic friday 22:00 to monday 6:00";
    // Friday 2026-12-11.
    assert!(!active(text, utc(2026, 12, 11, 21, 59)));
    assert!(active(text, utc(2026, 12, 11, 22, 0)));
    assert!(active(text, utc(2026, 12, 12, 12, 0)));
    assert!(active(text, utc(2026, 12, 13, 23, 59)));
    assert!(active(text, utc(2026, 12, 14, 0, 0)));
    // The end minute is in the range (the ASA's end time is inclusive).
    assert!(active(text, utc(2026, 12, 14, 6, 0) + 59));
    assert!(!active(text, utc(2026, 12, 14, 6, 1)));
    assert!(!active(text, utc(2026, 12, 16, 12, 0)));
}

#[test]
fn weekdays_weekend_daily_and_named_days() {
    let cases = [
        (
            "weekdays 8:00 to 18:00",
            [true, true, true, true, true, false, false],
        ),
        (
            "weekend 8:00 to 18:00",
            [false, false, false, false, false, true, true],
        ),
        ("daily 8:00 to 18:00", [true; 7]),
        (
            "monday wednesday 8:00 to 18:00",
            [true, false, true, false, false, false, false],
        ),
        (
            "sunday 8:00 to 18:00",
            [false, false, false, false, false, false, true],
        ),
    ];
    for (line, want) in cases {
        let text = format!("time-range R\n periodic {line}");
        // Monday 2026-12-07 onwards, at noon and at 7:59 and 18:01.
        for (i, w) in want.into_iter().enumerate() {
            let day = 7 + i as u8;
            assert_eq!(
                active(&text, utc(2026, 12, day, 12, 0)),
                w,
                "{line} day {i}"
            );
            assert!(!active(&text, utc(2026, 12, day, 7, 59)), "{line}");
            assert_eq!(active(&text, utc(2026, 12, day, 18, 0)), w, "{line}");
            assert!(!active(&text, utc(2026, 12, day, 18, 1)), "{line}");
        }
    }
    // Every line counts; a range without lines is active.
    let two = "time-range R\n periodic monday 1:00 to 2:00\n periodic tuesday 3:00 to 4:00";
    assert!(active(two, utc(2026, 12, 7, 1, 30)) && active(two, utc(2026, 12, 8, 3, 30)));
    assert!(!active(two, utc(2026, 12, 7, 3, 30)));
    assert!(active("time-range R", 0));
}

#[test]
fn absolute_bounds_include_the_start_and_the_end_minute() {
    let text = "time-range P\n absolute start 8:00 1 January 2026 end 17:30 31 March 2026";
    assert!(!active(text, utc(2026, 1, 1, 7, 59) + 59));
    assert!(active(text, utc(2026, 1, 1, 8, 0)));
    assert!(active(text, utc(2026, 3, 31, 17, 30) + 59));
    assert!(!active(text, utc(2026, 3, 31, 17, 31)));
    // Periodic lines count only within the absolute bounds.
    let both = format!("{text}\n periodic weekdays 9:00 to 10:00");
    assert!(active(&both, utc(2026, 1, 5, 9, 30)));
    assert!(!active(&both, utc(2026, 1, 5, 10, 30)));
    assert!(!active(&both, utc(2026, 4, 6, 9, 30)));
    assert!(!active(&both, utc(2025, 12, 29, 9, 30)));
    let open_end = "time-range P\n absolute start 8:00 1 January 2026";
    assert!(active(open_end, utc(2099, 1, 1, 0, 0)));
    let open_start = "time-range P\n absolute end 8:00 1 January 2026";
    assert!(active(open_start, 0) && !active(open_start, utc(2026, 1, 1, 8, 1)));
}

// === clocks ===

#[test]
fn timezones_shift_the_local_time_by_hours_and_minutes() {
    let r = "time-range R\n periodic daily 8:00 to 8:59";
    // UTC-3:30: 11:30 UTC is 8:00 there.
    let nst = format!("clock timezone NST -3 30\n{r}");
    assert!(!active(&nst, utc(2026, 12, 7, 11, 29)));
    assert!(active(&nst, utc(2026, 12, 7, 11, 30)));
    assert!(active(&nst, utc(2026, 12, 7, 12, 29)));
    assert!(!active(&nst, utc(2026, 12, 7, 12, 30)));
    // UTC+5:30: 2:30 UTC.
    let ist = format!("clock timezone IST 5 30\n{r}");
    assert!(active(&ist, utc(2026, 12, 7, 2, 30)) && !active(&ist, utc(2026, 12, 7, 2, 29)));
    // Without a timezone, UTC.
    assert!(active(r, utc(2026, 12, 7, 8, 0)));
    // A day boundary in local time: Monday 1:00 UTC is Sunday 20:00 at -5.
    let est = "clock timezone EST -5\ntime-range R\n periodic sunday 20:00 to 20:59";
    assert!(active(est, utc(2026, 12, 7, 1, 0)));
}

const US_EAST: &str = "clock timezone EST -5\nclock summer-time EDT recurring\n";

#[test]
fn the_us_rules_are_the_default_summer_time() {
    let (_, c) = range(&format!("{US_EAST}time-range R"));
    // 2026: from Sunday March 8 at 2:00 EST (7:00 UTC) to Sunday November
    // 1 at 2:00 EDT (6:00 UTC).
    assert_eq!(offset_at(&c, utc(2026, 3, 8, 6, 59) / 60), -300);
    assert_eq!(offset_at(&c, utc(2026, 3, 8, 7, 0) / 60), -240);
    assert_eq!(offset_at(&c, utc(2026, 11, 1, 5, 59) / 60), -240);
    assert_eq!(offset_at(&c, utc(2026, 11, 1, 6, 0) / 60), -300);
    assert_eq!(offset_at(&c, utc(2026, 7, 1, 0, 0) / 60), -240);
    assert_eq!(offset_at(&c, utc(2026, 1, 1, 0, 0) / 60), -300);
}

#[test]
fn the_skipped_hour_never_comes_and_the_repeated_hour_comes_twice() {
    // 2:30-2:44 does not exist on 2026-03-08 in New York.
    let skipped = format!("{US_EAST}time-range R\n periodic daily 2:30 to 2:44");
    let (r, c) = range(&skipped);
    for m in (6 * 60..8 * 60).step_by(5) {
        assert!(!active_at(&r, &c, utc(2026, 3, 8, 0, m)), "minute {m}");
    }
    // From noon on the 7th the next start is on the 9th, at 2:30 EDT.
    let t = next_transition(&r, &c, utc(2026, 3, 7, 17, 0));
    assert_eq!(t, Some(utc(2026, 3, 9, 6, 30)));
    // A range that begins inside the skipped hour begins at 3:00 EDT.
    let into = format!("{US_EAST}time-range R\n periodic daily 2:30 to 4:00");
    let (r, c) = range(&into);
    assert!(!active_at(&r, &c, utc(2026, 3, 8, 6, 59)));
    assert!(active_at(&r, &c, utc(2026, 3, 8, 7, 0)));
    assert_eq!(
        next_transition(&r, &c, utc(2026, 3, 8, 6, 0)),
        Some(utc(2026, 3, 8, 7, 0))
    );
    // 1:30-1:44 comes twice on 2026-11-01: at 5:30 UTC (EDT) and 6:30 UTC (EST).
    let repeated = format!("{US_EAST}time-range R\n periodic daily 1:30 to 1:44");
    let (r, c) = range(&repeated);
    assert!(active_at(&r, &c, utc(2026, 11, 1, 5, 30)));
    assert!(!active_at(&r, &c, utc(2026, 11, 1, 5, 45)));
    assert!(!active_at(&r, &c, utc(2026, 11, 1, 6, 0)));
    assert!(active_at(&r, &c, utc(2026, 11, 1, 6, 30)));
    assert_eq!(
        next_transition(&r, &c, utc(2026, 11, 1, 5, 45)),
        Some(utc(2026, 11, 1, 6, 30))
    );
}

/// An `absolute` bound is an instant, crossed once. In the hour repeated
/// on 2026-11-01 in New York, 1:30 comes at 5:30 UTC (EDT) and again at
/// 6:30 UTC (EST); the bound is the first: a start there stays started
/// through the repeat, an end there stays ended.
#[test]
fn an_absolute_bound_in_the_repeated_hour_is_its_first_coming() {
    let start = format!("{US_EAST}time-range R\n absolute start 1:30 1 November 2026");
    let end = format!("{US_EAST}time-range R\n absolute end 1:30 1 November 2026");
    assert!(!active(&start, utc(2026, 11, 1, 5, 29)));
    assert!(active(&end, utc(2026, 11, 1, 5, 30)));
    for m in (5 * 60 + 30..7 * 60).step_by(5) {
        assert!(
            active(&start, utc(2026, 11, 1, 0, m)),
            "start, UTC minute {m}"
        );
        assert!(
            !active(&end, utc(2026, 11, 1, 0, m + 1)),
            "end, UTC minute {m}"
        );
    }
    let (r, c) = range(&start);
    assert_eq!(
        next_transition(&r, &c, utc(2026, 11, 1, 0, 0)),
        Some(utc(2026, 11, 1, 5, 30))
    );
    assert_eq!(next_transition(&r, &c, utc(2026, 11, 1, 5, 30)), None);
    let (r, c) = range(&end);
    assert_eq!(
        next_transition(&r, &c, utc(2026, 11, 1, 0, 0)),
        Some(utc(2026, 11, 1, 5, 31))
    );
    assert_eq!(next_transition(&r, &c, utc(2026, 11, 1, 5, 31)), None);
}

/// A bound inside the hour skipped on 2026-03-08 in New York (2:00 EST is
/// 3:00 EDT, at 7:00 UTC) is the first instant at or after it: a start at
/// 2:30 starts at 3:00 EDT; an end at 2:30 ends after 1:59 EST, the last
/// minute at or before it.
#[test]
fn an_absolute_bound_in_the_skipped_hour_is_the_new_hour_s_start() {
    let start = format!("{US_EAST}time-range R\n absolute start 2:30 8 March 2026");
    let end = format!("{US_EAST}time-range R\n absolute end 2:30 8 March 2026");
    assert!(!active(&start, utc(2026, 3, 8, 6, 59)));
    assert!(active(&start, utc(2026, 3, 8, 7, 0)));
    assert!(active(&end, utc(2026, 3, 8, 6, 59)));
    assert!(!active(&end, utc(2026, 3, 8, 7, 0)));
    let (r, c) = range(&start);
    assert_eq!(
        next_transition(&r, &c, utc(2026, 3, 8, 0, 0)),
        Some(utc(2026, 3, 8, 7, 0))
    );
    let (r, c) = range(&end);
    assert_eq!(
        next_transition(&r, &c, utc(2026, 3, 8, 0, 0)),
        Some(utc(2026, 3, 8, 7, 0))
    );
    // With a whole day's summer offset the window is a day wide.
    let long = "clock summer-time S date 8 Mar 2026 2:00 1 Nov 2026 2:00 1440\n\
                time-range R\n absolute start 12:00 8 March 2026";
    assert!(!active(long, utc(2026, 3, 8, 1, 59)));
    assert!(active(long, utc(2026, 3, 8, 2, 0)));
}

#[test]
fn a_southern_summer_spans_the_new_year() {
    let text = "clock timezone AEST 10\nclock summer-time AEDT recurring 1 Sun Oct 2:00 1 Sun Apr 3:00\ntime-range R";
    let (_, c) = range(text);
    assert_eq!(offset_at(&c, utc(2026, 1, 15, 0, 0) / 60), 660);
    assert_eq!(offset_at(&c, utc(2026, 7, 15, 0, 0) / 60), 600);
    assert_eq!(offset_at(&c, utc(2026, 12, 15, 0, 0) / 60), 660);
    // Sunday 2026-04-05, 3:00 AEDT = 16:00 UTC on the 4th.
    assert_eq!(offset_at(&c, utc(2026, 4, 4, 15, 59) / 60), 660);
    assert_eq!(offset_at(&c, utc(2026, 4, 4, 16, 0) / 60), 600);
    // A `date` summer time, once, with its own offset.
    let once = "clock summer-time X date 1 Jun 2026 0:00 1 Jul 2026 0:30 30\ntime-range R";
    let (_, c) = range(once);
    assert_eq!(offset_at(&c, utc(2026, 5, 31, 23, 59) / 60), 0);
    assert_eq!(offset_at(&c, utc(2026, 6, 1, 0, 0) / 60), 30);
    assert_eq!(offset_at(&c, utc(2026, 6, 30, 23, 59) / 60), 30);
    assert_eq!(offset_at(&c, utc(2026, 7, 1, 0, 0) / 60), 0);
    assert_eq!(offset_at(&c, utc(2027, 6, 15, 0, 0) / 60), 0);
}

// === next transition ===

#[test]
fn the_next_transition_is_the_next_boundary_that_changes_anything() {
    let (r, c) = range("time-range B\n periodic friday 22:00 to monday 6:00");
    let thu = utc(2026, 12, 10, 12, 0);
    assert_eq!(next_transition(&r, &c, thu), Some(utc(2026, 12, 11, 22, 0)));
    assert_eq!(
        next_transition(&r, &c, utc(2026, 12, 11, 22, 0)),
        Some(utc(2026, 12, 14, 6, 1))
    );
    // Two adjoining lines are one active stretch.
    let (r, c) =
        range("time-range R\n periodic daily 8:00 to 11:59\n periodic daily 12:00 to 13:00");
    assert_eq!(
        next_transition(&r, &c, utc(2026, 12, 7, 9, 0)),
        Some(utc(2026, 12, 7, 13, 1))
    );
    // Always or never again: none.
    let (r, c) = range("time-range R\n periodic daily 0:00 to 23:59");
    assert_eq!(next_transition(&r, &c, thu), None);
    let (r, c) =
        range("time-range R\n absolute end 0:00 1 January 2026\n periodic daily 8:00 to 9:00");
    assert_eq!(next_transition(&r, &c, thu), None);
    // An absolute start years away, with summer time on the way.
    let (r, c) = range(&format!(
        "{US_EAST}time-range R\n absolute start 8:00 1 July 2030"
    ));
    assert_eq!(next_transition(&r, &c, thu), Some(utc(2030, 7, 1, 12, 0)));
}

/// A time-range and clock from small choices.
fn arb_case() -> impl Strategy<Value = String> {
    let time = (0u8..24, 0u8..60).prop_map(|(h, m)| format!("{h}:{m:02}"));
    let day = prop::sample::select(vec![
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]);
    let group = prop::sample::select(vec!["daily", "weekdays", "weekend", "monday friday"]);
    let periodic = prop_oneof![
        (day.clone(), time.clone(), day, time.clone())
            .prop_map(|(a, s, b, e)| format!(" periodic {a} {s} to {b} {e}\n")),
        (group, 0u8..12, 12u8..24)
            .prop_map(|(g, s, e)| format!(" periodic {g} {s}:00 to {e}:00\n")),
    ];
    let absolute = prop_oneof![
        Just(String::new()),
        (1u8..28, 1u8..28).prop_map(|(a, b)| format!(
            " absolute start 6:00 {a} March 2026 end 7:00 {b} May 2026\n"
        )),
    ];
    let clock = prop::sample::select(vec![
        "",
        "clock timezone EST -5\nclock summer-time EDT recurring\n",
        "clock timezone NST -3 30\n",
        "clock timezone AEST 10\nclock summer-time AEDT recurring 1 Sun Oct 2:00 1 Sun Apr 3:00\n",
        "clock timezone CET 1\nclock summer-time CEST recurring last Sun Mar 2:00 last Sun Oct 3:00 120\n",
    ]);
    (clock, absolute, prop::collection::vec(periodic, 0..3))
        .prop_map(|(c, a, p)| format!("{c}time-range R\n{a}{}", p.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Between T and next_transition(T) the activity is that at T, and at
    /// the transition it differs.
    #[test]
    fn activity_is_constant_until_the_next_transition(
        text in arb_case(),
        start in utc(2026, 1, 1, 0, 0)..utc(2026, 12, 31, 0, 0),
        steps in prop::collection::vec(0u64..u64::MAX, 24),
    ) {
        // A same-day span ending before it starts is refused.
        let parsed = parse_config(&text);
        prop_assume!(parsed.is_ok());
        let (r, c) = range(&text);
        let was = active_at(&r, &c, start);
        let Some(next) = next_transition(&r, &c, start) else {
            // Constant from here: every minute for 9 days agrees.
            for m in (0..9 * DAY_MINUTES).step_by(7) {
                prop_assert_eq!(active_at(&r, &c, start + m * 60), was);
            }
            return Ok(());
        };
        prop_assert!(next > start && next % 60 == 0);
        prop_assert_ne!(active_at(&r, &c, next), was);
        prop_assert_eq!(active_at(&r, &c, next - 1), was);
        let span = (next - start) as u64;
        for s in steps {
            let at = start + (s % span) as i64;
            prop_assert_eq!(active_at(&r, &c, at), was, "at {}", at);
        }
        // Within short spans, minute by minute.
        if span < 3 * 86_400 {
            for at in (start..next).step_by(60) {
                prop_assert_eq!(active_at(&r, &c, at), was);
            }
        }
    }
}
