//! When a `time-range` is active (docs/asa-behaviour.md §2.10): pure
//! functions of an instant (seconds since the Unix epoch, UTC) and the
//! configuration's `clock timezone` / `clock summer-time`. Nothing here
//! reads a clock; the node asks with its own.
//!
//! Everything works in whole minutes: the ASA's times are `HH:MM`, its
//! offsets whole minutes, so a range's activity is constant within each
//! UTC minute and changes only at a minute's start. The civil calendar
//! is the proleptic Gregorian one, days counted from 1970-01-01.

use std::collections::BTreeSet;

use crate::ast::*;

/// Minutes in a day.
const DAY_MINUTES: i64 = 1440;
/// Minutes in a week.
const WEEK_MINUTES: i64 = 7 * DAY_MINUTES;
/// Most candidate instants [`next_transition`] looks at before it gives
/// up: each is a range boundary or a summer-time change, so this covers
/// years of weekly boundaries.
pub const MAX_TRANSITION_STEPS: usize = 20_000;

/// The United States rules `clock summer-time ZONE recurring` uses
/// without dates: the second Sunday in March at 2:00 to the first Sunday
/// in November at 2:00 (Cisco ASA Series Command Reference, `clock
/// summer-time`: "the default is for the United States").
pub const US_SUMMER_TIME: (RecurringPoint, RecurringPoint) = (
    RecurringPoint {
        week: WeekOfMonth::Nth(2),
        weekday: Weekday::Sunday,
        month: 3,
        time: HhMm { hour: 2, minute: 0 },
    },
    RecurringPoint {
        week: WeekOfMonth::Nth(1),
        weekday: Weekday::Sunday,
        month: 11,
        time: HhMm { hour: 2, minute: 0 },
    },
);

// === civil calendar ===

/// Whether `year` is a leap year.
pub fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1–12) of `year`.
pub fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to `year-month-day`. The year is counted from
/// March, so that February's leap day ends it: an era of 400 years is
/// 146,097 days, a year of it (from March) 365 days plus its leap day,
/// and the months from March follow the 153-days-per-5-months pattern.
pub fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let march_month = if m > 2 { m - 3 } else { m + 9 };
    let day_of_year = (153 * march_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of day `days` since 1970-01-01: (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u8, day as u8)
}

/// The weekday of day `days` since 1970-01-01 (a Thursday).
pub fn weekday_of(days: i64) -> Weekday {
    Weekday::from_index((days + 3).rem_euclid(7) as u8)
}

/// Minutes since 1970-01-01 00:00 of a local date and time.
pub fn local_minutes(t: &LocalDateTime) -> i64 {
    days_from_civil(i64::from(t.year), t.month, t.day) * DAY_MINUTES + i64::from(t.time.minutes())
}

/// The day of the month of a recurring summer-time point in `year`.
fn nth_weekday(year: i64, p: &RecurringPoint) -> u8 {
    let first = days_from_civil(year, p.month, 1);
    let first_wd = weekday_of(first).index();
    let to_first = (7 + p.weekday.index() - first_wd) % 7;
    match p.week {
        WeekOfMonth::Nth(n) => 1 + to_first + 7 * (n.clamp(1, 4) - 1),
        WeekOfMonth::Last => {
            let last = days_in_month(year, p.month);
            let last_wd = weekday_of(first + i64::from(last) - 1).index();
            last - (7 + last_wd - p.weekday.index()) % 7
        }
    }
}

/// The local minute of a recurring point in `year`.
fn recurring_minutes(year: i64, p: &RecurringPoint) -> i64 {
    days_from_civil(year, p.month, nth_weekday(year, p)) * DAY_MINUTES + i64::from(p.time.minutes())
}

// === local time ===

/// Whether summer time is in force at standard-time local minute
/// `std_local`. The start is written in standard time, the end in
/// summer time (so its standard-time instant is `offset` earlier); a
/// start later in the year than the end is a southern summer, across
/// the new year.
fn in_summer(s: &SummerTime, std_local: i64) -> bool {
    let offset = i64::from(s.offset_minutes);
    match s.rule {
        SummerRule::Date { start, end } => {
            local_minutes(&start) <= std_local && std_local < local_minutes(&end) - offset
        }
        SummerRule::Recurring(points) => {
            let (start, end) = points.unwrap_or(US_SUMMER_TIME);
            let (year, _, _) = civil_from_days(std_local.div_euclid(DAY_MINUTES));
            let from = recurring_minutes(year, &start);
            let to = recurring_minutes(year, &end) - offset;
            if from <= to {
                from <= std_local && std_local < to
            } else {
                std_local >= from || std_local < to
            }
        }
    }
}

/// The offset from UTC, in minutes, in force at UTC minute `utc`.
pub fn offset_at(clock: &Clock, utc: i64) -> i64 {
    let standard = clock
        .timezone
        .as_ref()
        .map_or(0, |z| i64::from(z.offset_minutes()));
    match &clock.summer_time {
        Some(s) if in_summer(s, utc + standard) => standard + i64::from(s.offset_minutes),
        _ => standard,
    }
}

/// Local wall-clock minute (minutes since 1970-01-01 00:00 local) at UTC
/// minute `utc`.
pub fn local_at(clock: &Clock, utc: i64) -> i64 {
    utc + offset_at(clock, utc)
}

/// The UTC minutes of the summer-time changes near UTC minute `utc`
/// (the years before, of and after it), unordered.
fn summer_changes(clock: &Clock, utc: i64) -> Vec<i64> {
    let Some(s) = &clock.summer_time else {
        return Vec::new();
    };
    let standard = clock
        .timezone
        .as_ref()
        .map_or(0, |z| i64::from(z.offset_minutes()));
    let offset = i64::from(s.offset_minutes);
    // Standard-time local minutes of the changes, then to UTC.
    let std_changes: Vec<i64> = match s.rule {
        SummerRule::Date { start, end } => {
            vec![local_minutes(&start), local_minutes(&end) - offset]
        }
        SummerRule::Recurring(points) => {
            let (start, end) = points.unwrap_or(US_SUMMER_TIME);
            let (year, _, _) = civil_from_days((utc + standard).div_euclid(DAY_MINUTES));
            (year - 1..=year + 1)
                .flat_map(|y| {
                    [
                        recurring_minutes(y, &start),
                        recurring_minutes(y, &end) - offset,
                    ]
                })
                .collect()
        }
    };
    std_changes.into_iter().map(|m| m - standard).collect()
}

/// The first UTC minute whose local time is `local` or later. Local time
/// is not monotonic in UTC: it jumps forward when summer time begins (a
/// `local` in the skipped hour first comes as the new hour's start) and
/// back when it ends (a `local` in the repeated hour comes twice, and
/// this is the first time). Local time is UTC plus the standard offset,
/// plus at most the summer offset, so the answer lies within that many
/// minutes before `local` less the standard offset; inside that window
/// the offset is constant between the summer-time changes and the
/// years' starts (where the recurring rule is evaluated afresh).
pub fn first_utc_at_or_after(clock: &Clock, local: i64) -> i64 {
    let standard = clock
        .timezone
        .as_ref()
        .map_or(0, |z| i64::from(z.offset_minutes()));
    let summer = clock
        .summer_time
        .as_ref()
        .map_or(0, |s| i64::from(s.offset_minutes));
    let (lo, hi) = (local - standard - summer, local - standard);
    let (year, _, _) = civil_from_days((lo + standard).div_euclid(DAY_MINUTES));
    let year_starts = (year..=year + 1).map(|y| days_from_civil(y, 1, 1) * DAY_MINUTES - standard);
    let mut cuts: Vec<i64> = summer_changes(clock, lo)
        .into_iter()
        .chain(year_starts)
        .filter(|&m| lo < m && m <= hi)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut from = lo;
    for until in cuts.into_iter().chain(std::iter::once(hi + 1)) {
        // Within [from, until) the offset is that at `from`.
        let first = (local - offset_at(clock, from)).max(from);
        if first < until {
            return first;
        }
        from = until;
    }
    // Unreachable: at `hi` the local time is at least `local`.
    hi
}

// === time-ranges ===

/// The week intervals of a `periodic` line: (start minute of the week,
/// Monday 00:00 being 0; length in minutes, the end minute included).
fn intervals(p: &Periodic) -> Vec<(i64, i64)> {
    let start = i64::from(p.start.minutes());
    let end = i64::from(p.end.minutes());
    match p.end_day {
        Some(end_day) => p
            .days
            .days()
            .into_iter()
            .map(|d| {
                let s = i64::from(d.index()) * DAY_MINUTES + start;
                let e = i64::from(end_day.index()) * DAY_MINUTES + end;
                (s, (e - s).rem_euclid(WEEK_MINUTES) + 1)
            })
            .collect(),
        None => p
            .days
            .days()
            .into_iter()
            .map(|d| (i64::from(d.index()) * DAY_MINUTES + start, end - start + 1))
            .collect(),
    }
}

/// Minute of the week (Monday 00:00 is 0) of local minute `local`.
fn week_minute(local: i64) -> i64 {
    // 1970-01-01 was a Thursday: three days after a Monday.
    (local + 3 * DAY_MINUTES).rem_euclid(WEEK_MINUTES)
}

/// The UTC minutes `range`'s `absolute` line runs from and through
/// (`None`: from ever, for ever). Each bound is an instant: the start is
/// the first minute whose local time is the start or later, the end the
/// minute before the first whose local time is after the end (the end
/// minute is included, "because the end time is inclusive", CLI
/// Configuration Guide, "Configuring Time Ranges"). A bound inside the
/// hour repeated when summer time ends is its first coming, so it is
/// crossed once (comparing local times, it was crossed twice: a started
/// range lapsed for the repeated part, an ended one came back); one
/// inside the hour skipped when summer time begins is the new hour's
/// start (docs/asa-behaviour.md §2.10).
pub fn absolute_utc(range: &TimeRange, clock: &Clock) -> (Option<i64>, Option<i64>) {
    let Some(a) = &range.absolute else {
        return (None, None);
    };
    (
        a.start
            .map(|s| first_utc_at_or_after(clock, local_minutes(&s))),
        a.end
            .map(|e| first_utc_at_or_after(clock, local_minutes(&e) + 1) - 1),
    )
}

/// Whether UTC minute `utc` is within absolute bounds `bounds`
/// ([`absolute_utc`]).
fn within(bounds: (Option<i64>, Option<i64>), utc: i64) -> bool {
    bounds.0.is_none_or(|s| utc >= s) && bounds.1.is_none_or(|e| utc <= e)
}

/// Whether `range`'s `periodic` lines allow local wall-clock minute
/// `local`: within one of them, or it has none (nothing limits it). Its
/// `absolute` line is [`absolute_utc`]'s, an instant, not a local time.
pub fn periodic_active_at_local(range: &TimeRange, local: i64) -> bool {
    if range.periodic.is_empty() {
        return true;
    }
    let w = week_minute(local);
    range
        .periodic
        .iter()
        .flat_map(intervals)
        .any(|(s, len)| (w - s).rem_euclid(WEEK_MINUTES) < len)
}

/// Whether `range` is active at `unix_secs` (seconds since the Unix
/// epoch, UTC) on a clock set as `clock` says: within its `absolute`
/// bounds, start and end minute included, and within one of its
/// `periodic` lines if it has any. A range with neither is active.
pub fn active_at(range: &TimeRange, clock: &Clock, unix_secs: i64) -> bool {
    active_at_utc(
        range,
        clock,
        absolute_utc(range, clock),
        unix_secs.div_euclid(60),
    )
}

/// [`active_at`] at UTC minute `utc`, the absolute bounds computed.
fn active_at_utc(
    range: &TimeRange,
    clock: &Clock,
    bounds: (Option<i64>, Option<i64>),
    utc: i64,
) -> bool {
    within(bounds, utc) && periodic_active_at_local(range, local_at(clock, utc))
}

/// The names of the time-ranges of `cfg` active at `unix_secs`.
pub fn active_ranges(cfg: &Config, unix_secs: i64) -> BTreeSet<String> {
    cfg.time_ranges
        .iter()
        .filter(|r| active_at(r, &cfg.clock, unix_secs))
        .map(|r| r.name.clone())
        .collect()
}

/// The next local minute after `local` at which `range`'s `periodic`
/// lines may change, ignoring summer time.
fn next_periodic_boundary(range: &TimeRange, local: i64) -> Option<i64> {
    let week_start = local - week_minute(local);
    range
        .periodic
        .iter()
        .flat_map(intervals)
        .filter(|&(_, len)| len < WEEK_MINUTES)
        .flat_map(|(s, len)| [s, s + len])
        .map(|edge| {
            let m = week_start + edge.rem_euclid(WEEK_MINUTES);
            if m <= local { m + WEEK_MINUTES } else { m }
        })
        .min()
}

/// The first instant after `unix_secs` (seconds since the Unix epoch, a
/// minute's start) at which `range` turns active or inactive, or `None`
/// if it never does within [`MAX_TRANSITION_STEPS`] boundaries. Between
/// `unix_secs` and the answer its activity is that at `unix_secs`.
pub fn next_transition(range: &TimeRange, clock: &Clock, unix_secs: i64) -> Option<i64> {
    let bounds = absolute_utc(range, clock);
    let mut utc = unix_secs.div_euclid(60);
    let was = active_at_utc(range, clock, bounds, utc);
    for _ in 0..MAX_TRANSITION_STEPS {
        // After the absolute end nothing changes again.
        if bounds.1.is_some_and(|e| utc > e) {
            return None;
        }
        let offset = offset_at(clock, utc);
        // Before the absolute start or after its end the periodic lines
        // do not matter.
        let by_periodic = if within(bounds, utc) {
            next_periodic_boundary(range, utc + offset).map(|m| m - offset)
        } else {
            None
        };
        let by_absolute = [bounds.0, bounds.1.map(|e| e + 1)]
            .into_iter()
            .flatten()
            .filter(|&m| m > utc);
        let by_clock = summer_changes(clock, utc).into_iter().filter(|&m| m > utc);
        utc = by_periodic
            .into_iter()
            .chain(by_absolute)
            .chain(by_clock)
            .min()?;
        if active_at_utc(range, clock, bounds, utc) != was {
            return Some(utc * 60);
        }
    }
    None
}

#[cfg(test)]
mod tests;
