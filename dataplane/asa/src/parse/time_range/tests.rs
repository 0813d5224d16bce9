use crate::ast::*;
use crate::parse::test_support::*;
use crate::render::render;

fn t(hour: u8, minute: u8) -> HhMm {
    HhMm { hour, minute }
}

fn at(year: u16, month: u8, day: u8, hour: u8, minute: u8) -> LocalDateTime {
    LocalDateTime {
        year,
        month,
        day,
        time: t(hour, minute),
    }
}

const FULL: &str = "clock timezone CET 1\n\
clock summer-time CEST recurring last Sun Mar 2:00 last Sun Oct 3:00\n\
time-range WORK\n periodic weekdays 8:00 to 18:00\n\
time-range BACKUP\n periodic friday 22:00 to monday 6:00\n periodic daily 1:00 to 3:59\n\
time-range PROJECT\n absolute start 8:00 1 January 2026 end 17:30 31 March 2026\n periodic monday wednesday 9:00 to 17:00\n\
time-range EMPTY\n\
access-list OUT extended permit tcp any host 198.18.0.10 eq www time-range WORK\n\
access-list OUT extended permit tcp any host 198.18.0.11 eq 22 log time-range BACKUP inactive\n\
access-list OUT extended deny ip any any time-range PROJECT\n";

#[test]
fn every_form_parses_to_its_value() {
    let c = cfg(FULL);
    assert_eq!(
        c.clock.timezone,
        Some(Timezone {
            zone: "CET".into(),
            negative: false,
            hours: 1,
            minutes: 0
        })
    );
    let eu_end = RecurringPoint {
        week: WeekOfMonth::Last,
        weekday: Weekday::Sunday,
        month: 10,
        time: t(3, 0),
    };
    assert_eq!(
        c.clock
            .summer_time
            .as_ref()
            .map(|s| (s.rule, s.offset_minutes)),
        Some((
            SummerRule::Recurring(Some((
                RecurringPoint {
                    month: 3,
                    time: t(2, 0),
                    ..eu_end
                },
                eu_end
            ))),
            60
        ))
    );
    let names: Vec<&str> = c.time_ranges.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["WORK", "BACKUP", "PROJECT", "EMPTY"]);
    assert_eq!(
        c.time_ranges[1].periodic,
        vec![
            Periodic {
                days: Days::List(vec![Weekday::Friday]),
                start: t(22, 0),
                end_day: Some(Weekday::Monday),
                end: t(6, 0),
            },
            Periodic {
                days: Days::Daily,
                start: t(1, 0),
                end_day: None,
                end: t(3, 59),
            },
        ]
    );
    assert_eq!(
        c.time_ranges[2].absolute,
        Some(Absolute {
            start: Some(at(2026, 1, 1, 8, 0)),
            end: Some(at(2026, 3, 31, 17, 30)),
        })
    );
    assert_eq!(
        c.time_ranges[2].periodic[0].days,
        Days::List(vec![Weekday::Monday, Weekday::Wednesday])
    );
    assert!(c.time_ranges[3].absolute.is_none() && c.time_ranges[3].periodic.is_empty());
    let aces: Vec<(Option<&str>, bool, AceLog)> = c.access_lists[0]
        .lines
        .iter()
        .map(|l| match l {
            AclLine::Ace(a) => (a.time_range.as_deref(), a.inactive, a.log),
            AclLine::Remark(_) => unreachable!(),
        })
        .collect();
    assert_eq!(
        aces,
        [
            (Some("WORK"), false, AceLog::Default),
            (Some("BACKUP"), true, AceLog::On),
            (Some("PROJECT"), false, AceLog::Default),
        ]
    );
}

#[test]
fn the_options_may_come_in_any_order_and_render_in_the_asa_s() {
    let text = "time-range W\n periodic daily 0:00 to 23:59\n\
                access-list A permit ip any any inactive time-range W log\n";
    let shown = render(&cfg(text));
    assert!(
        shown.contains("access-list A extended permit ip any any log time-range W inactive\n"),
        "{shown}"
    );
}

#[test]
fn show_running_config_reads_back_as_the_same_configuration() {
    let more = "clock summer-time EDT date 9 Mar 2025 2:00 Nov 2 2025 2:00 30\n\
                clock timezone NST -3 30\n\
                time-range ABS\n absolute end 23:59 31 December 2035\n\
                time-range START\n absolute start 0:00 29 February 2028\n";
    for text in [FULL.to_string(), format!("{FULL}{more}")] {
        let c = cfg(&text);
        let shown = render(&c);
        assert_eq!(cfg(&shown), c, "{shown}");
        assert_eq!(render(&cfg(&shown)), shown);
    }
    let shown = render(&cfg(FULL));
    for line in [
        "clock timezone CET 1\n",
        "clock summer-time CEST recurring last Sun Mar 2:00 last Sun Oct 3:00\n",
        "time-range BACKUP\n periodic friday 22:00 to monday 6:00\n periodic daily 1:00 to 3:59\n!\n",
        " absolute start 8:00 1 January 2026 end 17:30 31 March 2026\n",
        "time-range EMPTY\n!\n",
    ] {
        assert!(shown.contains(line), "{line:?} in\n{shown}");
    }
    let us = render(&cfg(
        "clock timezone EST -5\nclock summer-time EDT recurring",
    ));
    assert!(
        us.contains("clock timezone EST -5\nclock summer-time EDT recurring\n"),
        "{us}"
    );
}

#[test]
fn the_summer_time_forms_and_their_defaults() {
    let rule = |text: &str| {
        cfg(text)
            .clock
            .summer_time
            .map(|s| (s.rule, s.offset_minutes))
    };
    assert_eq!(
        rule("clock summer-time EDT recurring"),
        Some((SummerRule::Recurring(None), 60))
    );
    assert_eq!(
        rule("clock summer-time EDT recurring 30"),
        Some((SummerRule::Recurring(None), 30))
    );
    let first = RecurringPoint {
        week: WeekOfMonth::Nth(1),
        weekday: Weekday::Sunday,
        month: 4,
        time: t(2, 0),
    };
    assert_eq!(
        rule("clock summer-time X recurring first sunday april 2:00 4 Sun Oct 2:00 120"),
        Some((
            SummerRule::Recurring(Some((
                first,
                RecurringPoint {
                    week: WeekOfMonth::Nth(4),
                    month: 10,
                    ..first
                }
            ))),
            120
        ))
    );
    // Day and month either way round.
    assert_eq!(
        rule("clock summer-time X date 9 March 2025 2:00 November 2 2025 2:00"),
        Some((
            SummerRule::Date {
                start: at(2025, 3, 9, 2, 0),
                end: at(2025, 11, 2, 2, 0)
            },
            60
        ))
    );
    // `no` removes; other `clock` lines stay ignored.
    let c = cfg(
        "clock timezone EST -5\nclock summer-time EDT recurring\nno clock summer-time\nno clock timezone EST -5",
    );
    assert_eq!(c.clock, Clock::default());
    assert_eq!(
        ignored("clock save"),
        vec![(1, super::super::modes::REASON_HARMLESS)]
    );
}

#[test]
fn editing_a_time_range_follows_configuration_mode() {
    let c = cfg(
        "time-range R\n periodic weekdays 8:00 to 18:00\n absolute start 0:00 1 January 2026\n\
                 time-range R\n periodic weekdays 8:00 to 18:00\n periodic weekend 10:00 to 12:00\n\
                 absolute end 0:00 1 January 2027\n no periodic weekdays 8:00 to 18:00\n",
    );
    let r = &c.time_ranges[0];
    assert_eq!(c.time_ranges.len(), 1);
    assert_eq!(r.periodic.len(), 1);
    assert_eq!(r.periodic[0].days, Days::Weekend);
    // The second `absolute` replaced the first.
    assert_eq!(
        r.absolute,
        Some(Absolute {
            start: None,
            end: Some(at(2027, 1, 1, 0, 0))
        })
    );
    // Day and month names in any case, or their first three letters.
    let c = cfg(
        "time-range R\n periodic Weekdays 8:00 to 9:00\n periodic MON Fri 8:00 to 9:00\n absolute end 0:00 1 JAN 2026",
    );
    assert_eq!(c.time_ranges[0].periodic[0].days, Days::Weekdays);
    assert_eq!(
        c.time_ranges[0].periodic[1].days,
        Days::List(vec![Weekday::Monday, Weekday::Friday])
    );
    assert_eq!(
        c.time_ranges[0].absolute.and_then(|a| a.end),
        Some(at(2026, 1, 1, 0, 0))
    );
    let c = cfg(
        "time-range R\n absolute start 0:00 1 January 2026\n no absolute\nno time-range R\n\
                 time-range S\n periodic weekdays 8:00 to weekdays 18:00\n",
    );
    assert_eq!(c.time_ranges.len(), 1);
    assert_eq!(c.time_ranges[0].periodic[0].end_day, None);
}

// === an entry entered again, or removed, with a time-range ===

const TWO_RANGES: &str = "time-range A\ntime-range B\n";

/// An ACE that is an entry the list has but for its time-range (another
/// one, or none against one) is refused at its `time-range` (or the end
/// of the line), naming the entry's range and line: replacing would drop
/// a deny's first window, keeping would drop its second, and the ASA's
/// behaviour is not documented (docs/asa-behaviour.md §2.10).
#[test]
fn an_entry_again_with_another_time_range_is_refused() {
    let why = "is refused, as what the ASA does with it is not documented: write two entries \
               that differ otherwise, or remove the first with `no access-list L ...` before \
               entering this one";
    check_errors(&[
        (
            &format!(
                "{TWO_RANGES}access-list L deny tcp any any eq ssh time-range A\n\
                 access-list L deny tcp any any eq 22 log time-range B"
            ),
            4,
            42,
            &format!(
                "access-list 'L' has this entry with time-range A (line 3); an entry that \
                 differs only by its time-range (time-range B here) {why}"
            ),
        ),
        (
            &format!(
                "{TWO_RANGES}access-list L permit ip any any time-range A\n\
                 access-list L permit ip any any"
            ),
            4,
            32,
            &format!(
                "access-list 'L' has this entry with time-range A (line 3); an entry that \
                 differs only by its time-range (no time-range here) {why}"
            ),
        ),
        (
            &format!(
                "{TWO_RANGES}access-list L remark x\naccess-list L permit ip any any\n\
                 access-list L permit ip any any inactive time-range B"
            ),
            5,
            42,
            &format!(
                "access-list 'L' has this entry with no time-range (line 4); an entry that \
                 differs only by its time-range (time-range B here) {why}"
            ),
        ),
    ]);
    // The same range again sets `log` and `inactive` in place, as before.
    let c = cfg(&format!(
        "{TWO_RANGES}access-list L permit ip any any time-range A\n\
         access-list L permit ip any any log disable time-range A inactive\n"
    ));
    assert_eq!(c.access_lists[0].lines.len(), 1);
    let AclLine::Ace(a) = &c.access_lists[0].lines[0] else {
        unreachable!()
    };
    assert_eq!(
        (a.time_range.as_deref(), a.inactive, a.log),
        (Some("A"), true, AceLog::Disable)
    );
    // Removed first, the entry may come back with the other range.
    let c = cfg(&format!(
        "{TWO_RANGES}access-list L deny ip any any time-range A\naccess-list L permit ip any any\n\
         no access-list L deny ip any any\naccess-list L line 1 deny ip any any time-range B\n"
    ));
    let AclLine::Ace(a) = &c.access_lists[0].lines[0] else {
        unreachable!()
    };
    assert_eq!(a.time_range.as_deref(), Some("B"));
}

/// `no access-list` without a time-range removes the entry whatever its
/// range (as whatever its `log` and `inactive`); with one, only the entry
/// with that range: removing a deny of another window would widen.
#[test]
fn no_access_list_with_a_time_range_names_the_entry_with_it() {
    let lines = |text: &str| cfg(&format!("{TWO_RANGES}{text}")).access_lists.len();
    assert_eq!(
        lines("access-list L deny ip any any time-range A\nno access-list L deny ip any any\n"),
        0
    );
    assert_eq!(
        lines(
            "access-list L deny ip any any time-range A\n\
             no access-list L deny ip any any time-range A\n"
        ),
        0
    );
    check_errors(&[
        (
            &format!(
                "{TWO_RANGES}access-list L deny ip any any time-range A\n\
                 no access-list L deny ip any any time-range B"
            ),
            4,
            34,
            "access-list 'L' has this entry with time-range A, not time-range B",
        ),
        (
            &format!(
                "{TWO_RANGES}access-list L deny ip any any\n\
                 no access-list L line 1 deny ip any any time-range A"
            ),
            4,
            41,
            "access-list 'L' has this entry with no time-range, not time-range A",
        ),
    ]);
}

#[test]
fn mistakes_are_refused_where_they_are() {
    check_errors(&[
        (
            "access-list A permit ip any any time-range NOPE",
            1,
            44,
            "time-range 'NOPE' is not defined",
        ),
        (
            "time-range R\naccess-list A permit ip any any time-range R\nno time-range R",
            2,
            44,
            "time-range 'R' is not defined",
        ),
        (
            "access-list A permit ip any any time-range",
            1,
            43,
            "expected time-range name",
        ),
        (
            "time-range R\n periodic daily 25:00 to 26:00",
            2,
            17,
            "invalid time '25:00', expected HH:MM (00:00-23:59)",
        ),
        (
            "time-range R\n periodic daily 8:5 to 9:00",
            2,
            17,
            "invalid time '8:5', expected HH:MM (00:00-23:59)",
        ),
        (
            "time-range R\n periodic daily 22:00 to 6:00",
            2,
            26,
            "end time before start time: to cross midnight name the end day (periodic DAY HH:MM to DAY HH:MM)",
        ),
        (
            "time-range R\n periodic weekdays 22:00 to monday 6:00",
            2,
            29,
            "an end day differing from the start days needs one start day and one end day",
        ),
        (
            "time-range R\n periodic funday 8:00 to 9:00",
            2,
            11,
            "expected days (monday-sunday, daily, weekdays or weekend), found 'funday'",
        ),
        (
            "time-range R\n periodic monday monday 8:00 to 9:00",
            2,
            18,
            "monday is named twice",
        ),
        (
            "time-range R\n periodic monday 8:00 9:00",
            2,
            23,
            "expected 'to', found '9:00'",
        ),
        (
            "time-range R\n absolute start 8:00 31 February 2026",
            2,
            22,
            "day 31 is not in that month",
        ),
        (
            "time-range R\n absolute start 8:00 1 January 2036",
            2,
            32,
            "invalid year '2036', expected 1993-2035",
        ),
        (
            "time-range R\n absolute start 8:00 2 January 2026 end 8:00 1 January 2026",
            2,
            37,
            "the end must be after the start",
        ),
        (
            "time-range R\n absolute begin 8:00 1 January 2026",
            2,
            11,
            "expected start or end, found 'begin'",
        ),
        (
            "time-range R\n no periodic daily 8:00 to 9:00",
            2,
            14,
            "no such periodic line",
        ),
        ("no time-range R", 1, 15, "no such time-range 'R'"),
        (
            "time-range R\n frobnicate",
            2,
            2,
            "unknown time-range command 'frobnicate'",
        ),
        (
            "clock timezone EST -24",
            1,
            20,
            "invalid hours offset '-24', expected -23-23",
        ),
        (
            "clock timezone EST -5 60",
            1,
            23,
            "invalid minutes offset '60', expected 0-59",
        ),
        ("clock timezone EST", 1, 19, "expected hours offset"),
        (
            "clock summer-time EDT recurring 5 Sun Mar 2:00 1 Sun Nov 2:00",
            1,
            33,
            "invalid week '5', expected 1-4, first or last",
        ),
        (
            "clock summer-time EDT recurring 2 Sun Mar 2:00 1 Sun Nov 2:00 0",
            1,
            63,
            "invalid offset in minutes '0', expected 1-1440",
        ),
        (
            "clock summer-time EDT weekly",
            1,
            23,
            "expected recurring or date, found 'weekly'",
        ),
        (
            "clock summer-time EDT date 2 Nov 2025 2:00 9 Mar 2025 2:00",
            1,
            28,
            "summer time must end after it starts",
        ),
    ]);
}

/// `clock timezone Z -0 30` is half an hour west: the sign is the hours
/// word's, so a zero hour keeps it, and `show running-config` prints it
/// back as written.
#[test]
fn a_negative_zero_hour_offset_keeps_its_sign_through_a_round_trip() {
    for (text, minutes) in [
        ("clock timezone Z -0 30\n", -30),
        ("clock timezone Z 0 30\n", 30),
        ("clock timezone Z -5 30\n", -330),
        ("clock timezone Z -0\n", 0),
    ] {
        let c = cfg(text);
        let tz = c.clock.timezone.clone().unwrap();
        assert_eq!(tz.offset_minutes(), minutes, "{text}");
        let shown = render(&c);
        assert!(shown.contains(text), "{text} printed as:\n{shown}");
        assert_eq!(cfg(&shown).clock, c.clock, "{shown}");
    }
}
