//! `time-range NAME` with its `absolute` and `periodic` lines, and the
//! `clock timezone` / `clock summer-time` lines the ranges are evaluated
//! in (docs/asa-behaviour.md §2.10; Cisco ASA Series Command Reference,
//! `time-range`, `absolute`, `periodic`, `clock timezone`, `clock
//! summer-time`).

use crate::ast::*;

use super::Parser;
use super::cursor::{Cur, R, Tok};
use super::modes::{Mode, harmless_reason};

/// Most time-ranges in a configuration (Rampart's bound; the ASA
/// documents none).
pub(super) const MAX_TIME_RANGES: usize = 1024;
/// Most `periodic` lines in one time-range (Rampart's bound).
pub(super) const MAX_PERIODIC_LINES: usize = 64;
/// Longest time-range name (the ASA's object names' bound).
const TIME_RANGE_NAME_MAX_CHARS: usize = 64;
/// Earliest and latest year of an `absolute` date ("The year can be from
/// 1993 to 2035", Cisco ASA Series Command Reference, `absolute`).
const ABSOLUTE_YEARS: std::ops::RangeInclusive<u16> = 1993..=2035;
/// Years a `clock summer-time … date` may name (Rampart's bound: a
/// calendar the evaluation computes exactly).
const SUMMER_YEARS: std::ops::RangeInclusive<u16> = 1993..=2099;
/// Largest summer-time offset, in minutes (a day).
const SUMMER_OFFSET_MAX_MINUTES: u16 = 1440;

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

/// A month by its name or its first three letters, any case.
fn month_of(w: &str) -> Option<u8> {
    let w = w.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == w || (w.len() == 3 && m.starts_with(&w)))
        .map(|i| i as u8 + 1)
}

/// A weekday by its name or its first three letters, any case.
fn weekday_of(w: &str) -> Option<Weekday> {
    let w = w.to_ascii_lowercase();
    Weekday::ALL
        .into_iter()
        .find(|d| d.name() == w || (w.len() == 3 && d.name().starts_with(&w)))
}

/// `HH:MM`, 0:00 to 23:59.
fn hh_mm(c: &mut Cur<'_>, what: &str) -> R<HhMm> {
    let t = c.word(what)?;
    let parsed = t.text.split_once(':').and_then(|(h, m)| {
        let hour = (!h.is_empty() && h.len() <= 2)
            .then(|| h.parse::<u8>().ok())
            .flatten()?;
        let minute = (m.len() == 2).then(|| m.parse::<u8>().ok()).flatten()?;
        (hour < 24 && minute < 60).then_some(HhMm { hour, minute })
    });
    parsed.ok_or_else(|| {
        c.err_at(
            t.col,
            format!("invalid time '{}', expected HH:MM (00:00-23:59)", t.text),
        )
    })
}

/// A number within `range`, or an error naming `what`.
fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
    c: &mut Cur<'_>,
    what: &str,
    range: std::ops::RangeInclusive<T>,
) -> R<T> {
    let t = c.word(what)?;
    match t.text.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(c.err_at(
            t.col,
            format!(
                "invalid {what} '{}', expected {}-{}",
                t.text,
                range.start(),
                range.end()
            ),
        )),
    }
}

/// `DAY MONTH YEAR` (`month_first`: `MONTH DAY YEAR` is taken too, as
/// `clock summer-time … date` takes it) with the year in `years`.
fn date(
    c: &mut Cur<'_>,
    years: std::ops::RangeInclusive<u16>,
    month_first: bool,
) -> R<(u16, u8, u8, usize)> {
    let col = c.col();
    let (day, month) = match c.peek().and_then(month_of) {
        Some(m) if month_first => {
            c.next();
            (number::<u8>(c, "day", 1..=31)?, m)
        }
        _ => {
            let day = number::<u8>(c, "day", 1..=31)?;
            let t = c.word("month")?;
            let m = month_of(t.text)
                .ok_or_else(|| c.err_at(t.col, format!("expected month, found '{}'", t.text)))?;
            (day, m)
        }
    };
    let year = number::<u16>(c, "year", years)?;
    if day > crate::time::days_in_month(i64::from(year), month) {
        return Err(c.err_at(col, format!("day {day} is not in that month")));
    }
    Ok((year, month, day, col))
}

/// `HH:MM DAY MONTH YEAR`, the form of `absolute`'s bounds.
fn date_time(c: &mut Cur<'_>) -> R<(LocalDateTime, usize)> {
    let time = hh_mm(c, "time (HH:MM)")?;
    let (year, month, day, col) = date(c, ABSOLUTE_YEARS, false)?;
    Ok((
        LocalDateTime {
            year,
            month,
            day,
            time,
        },
        col,
    ))
}

/// The days of a `periodic` line: one of `daily`, `weekdays`, `weekend`,
/// or named days; `None` (nothing read) at a word that is none of them.
fn days(c: &mut Cur<'_>) -> R<Option<(Days, usize)>> {
    let col = c.col();
    let group = match c.peek().map(str::to_ascii_lowercase).as_deref() {
        Some("daily") => Some(Days::Daily),
        Some("weekdays") => Some(Days::Weekdays),
        Some("weekend") => Some(Days::Weekend),
        _ => None,
    };
    if let Some(g) = group {
        c.next();
        return Ok(Some((g, col)));
    }
    let mut list = Vec::new();
    while let Some(d) = c.peek().and_then(weekday_of) {
        let t = c.next().map_or(col, |t| t.col);
        if list.contains(&d) {
            return Err(c.err_at(t, format!("{} is named twice", d.name())));
        }
        list.push(d);
    }
    Ok((!list.is_empty()).then_some((Days::List(list), col)))
}

/// `periodic DAYS HH:MM to [DAYS] HH:MM`.
fn periodic(c: &mut Cur<'_>) -> R<Periodic> {
    let Some((start_days, _)) = days(c)? else {
        return Err(c.expected("days (monday-sunday, daily, weekdays or weekend)"));
    };
    let start = hh_mm(c, "start time (HH:MM)")?;
    c.keyword("to")?;
    let end_days = days(c)?;
    let end_col = c.col();
    let end = hh_mm(c, "end time (HH:MM)")?;
    c.done()?;
    let end_day = match end_days {
        // The end days may repeat the start days ("If the ending days of
        // the week are the same as the starting days of the week, they
        // can be omitted").
        None => None,
        Some((d, _)) if d == start_days => None,
        Some((Days::List(l), col)) => match (&start_days, l.as_slice()) {
            (Days::List(s), [one]) if s.len() == 1 => Some(*one),
            _ => {
                return Err(c.err_at(
                    col,
                    "an end day differing from the start days needs one start day and one end day",
                ));
            }
        },
        Some((_, col)) => {
            return Err(c.err_at(
                col,
                "an end day differing from the start days needs one start day and one end day",
            ));
        }
    };
    if end_day.is_none() && end < start {
        return Err(c.err_at(
            end_col,
            "end time before start time: to cross midnight name the end day (periodic DAY HH:MM to DAY HH:MM)",
        ));
    }
    Ok(Periodic {
        days: start_days,
        start,
        end_day,
        end,
    })
}

/// `absolute [start HH:MM DAY MONTH YEAR] [end HH:MM DAY MONTH YEAR]`,
/// either bound first.
fn absolute(c: &mut Cur<'_>) -> R<Absolute> {
    let mut a = Absolute {
        start: None,
        end: None,
    };
    let mut end_col = 0;
    while let Some(t) = c.next() {
        match t.text {
            "start" if a.start.is_none() => a.start = Some(date_time(c)?.0),
            "end" if a.end.is_none() => {
                end_col = t.col;
                a.end = Some(date_time(c)?.0);
            }
            w => {
                return Err(c.err_at(t.col, format!("expected start or end, found '{w}'")));
            }
        }
    }
    if let (Some(s), Some(e)) = (a.start, a.end)
        && e <= s
    {
        return Err(c.err_at(end_col, "the end must be after the start"));
    }
    Ok(a)
}

/// The week of a recurring summer-time point: 1-4, `first` or `last`.
fn week(c: &mut Cur<'_>) -> R<WeekOfMonth> {
    let t = c.word("week (1-4, first or last)")?;
    match t.text {
        "first" => Ok(WeekOfMonth::Nth(1)),
        "last" => Ok(WeekOfMonth::Last),
        w => match w.parse::<u8>() {
            Ok(n @ 1..=4) => Ok(WeekOfMonth::Nth(n)),
            _ => Err(c.err_at(
                t.col,
                format!("invalid week '{w}', expected 1-4, first or last"),
            )),
        },
    }
}

/// `WEEK WEEKDAY MONTH HH:MM`.
fn recurring_point(c: &mut Cur<'_>) -> R<RecurringPoint> {
    let week = week(c)?;
    let t = c.word("weekday")?;
    let weekday = weekday_of(t.text)
        .ok_or_else(|| c.err_at(t.col, format!("expected weekday, found '{}'", t.text)))?;
    let t = c.word("month")?;
    let month = month_of(t.text)
        .ok_or_else(|| c.err_at(t.col, format!("expected month, found '{}'", t.text)))?;
    let time = hh_mm(c, "time (HH:MM)")?;
    Ok(RecurringPoint {
        week,
        weekday,
        month,
        time,
    })
}

/// `{DAY MONTH | MONTH DAY} YEAR HH:MM` of `clock summer-time … date`.
fn summer_date(c: &mut Cur<'_>) -> R<LocalDateTime> {
    let (year, month, day, _) = date(c, SUMMER_YEARS, true)?;
    let time = hh_mm(c, "time (HH:MM)")?;
    Ok(LocalDateTime {
        year,
        month,
        day,
        time,
    })
}

/// The optional offset at the end of `clock summer-time`.
fn summer_offset(c: &mut Cur<'_>) -> R<u16> {
    if c.peek().is_none() {
        return Ok(SUMMER_OFFSET_DEFAULT_MINUTES);
    }
    let n = number::<u16>(c, "offset in minutes", 1..=SUMMER_OFFSET_MAX_MINUTES)?;
    c.done()?;
    Ok(n)
}

fn name_ok(c: &Cur<'_>, t: Tok<'_>) -> R<()> {
    if t.text.chars().count() > TIME_RANGE_NAME_MAX_CHARS {
        return Err(c.err_at(t.col, "time-range names are at most 64 characters"));
    }
    Ok(())
}

impl Parser {
    /// `time-range NAME`: opens (or re-enters) the range.
    pub(super) fn time_range(&mut self, c: &mut Cur<'_>) -> R<()> {
        self.mode = Mode::Skip;
        let name = c.word("time-range name")?;
        name_ok(c, name)?;
        c.done()?;
        let i = match self
            .cfg
            .time_ranges
            .iter()
            .position(|r| r.name == name.text)
        {
            Some(i) => i,
            None if self.cfg.time_ranges.len() >= MAX_TIME_RANGES => {
                return Err(c.err_at(
                    name.col,
                    format!("a configuration holds at most {MAX_TIME_RANGES} time-ranges"),
                ));
            }
            None => {
                self.cfg.time_ranges.push(TimeRange {
                    name: name.text.to_string(),
                    absolute: None,
                    periodic: Vec::new(),
                });
                self.cfg.time_ranges.len() - 1
            }
        };
        self.mode = Mode::TimeRange(i);
        Ok(())
    }

    /// A line inside `time-range NAME`: `[no] absolute …`, `[no] periodic …`.
    pub(super) fn time_range_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        let negate = c.eat("no");
        let cmd = c.word("'absolute' or 'periodic'")?;
        let range = &mut self.cfg.time_ranges[i];
        match (cmd.text, negate) {
            // One absolute line per range: a second replaces it.
            ("absolute", false) => range.absolute = Some(absolute(c)?),
            ("absolute", true) => {
                c.rest();
                range.absolute = None;
            }
            ("periodic", false) => {
                let p = periodic(c)?;
                if !range.periodic.contains(&p) {
                    if range.periodic.len() >= MAX_PERIODIC_LINES {
                        return Err(c.err_at(
                            cmd.col,
                            format!(
                                "a time-range holds at most {MAX_PERIODIC_LINES} periodic lines"
                            ),
                        ));
                    }
                    range.periodic.push(p);
                }
            }
            ("periodic", true) => {
                let col = c.col();
                let p = periodic(c)?;
                let n = range.periodic.len();
                range.periodic.retain(|x| *x != p);
                if n == range.periodic.len() {
                    return Err(c.err_at(col, "no such periodic line"));
                }
            }
            (w, _) => {
                return Err(c.err_at(cmd.col, format!("unknown time-range command '{w}'")));
            }
        }
        Ok(())
    }

    /// `no time-range NAME`.
    pub(super) fn no_time_range(&mut self, c: &mut Cur<'_>) -> R<()> {
        let name = c.word("time-range name")?;
        c.done()?;
        let n = self.cfg.time_ranges.len();
        self.cfg.time_ranges.retain(|r| r.name != name.text);
        if n == self.cfg.time_ranges.len() {
            return Err(c.err_at(name.col, format!("no such time-range '{}'", name.text)));
        }
        Ok(())
    }

    /// `[no] clock timezone …` and `[no] clock summer-time …`; other
    /// `clock` lines are ignored as before.
    pub(super) fn clock(&mut self, c: &mut Cur<'_>, negate: bool) -> R<()> {
        match c.peek() {
            Some("timezone") if negate => {
                c.rest();
                self.cfg.clock.timezone = None;
            }
            Some("summer-time") if negate => {
                c.rest();
                self.cfg.clock.summer_time = None;
            }
            Some("timezone") => {
                c.next();
                let zone = c.word("time zone name")?.text.to_string();
                // The sign is the word's: `-0 30` is half an hour west,
                // which the number -0 cannot say.
                let negative = c.peek().is_some_and(|w| w.starts_with('-'));
                let hours = number::<i8>(c, "hours offset", -23..=23)?.unsigned_abs();
                let minutes = match c.peek() {
                    Some(_) => number::<u8>(c, "minutes offset", 0..=59)?,
                    None => 0,
                };
                c.done()?;
                self.cfg.clock.timezone = Some(Timezone {
                    zone,
                    negative,
                    hours,
                    minutes,
                });
            }
            Some("summer-time") => {
                c.next();
                let zone = c.word("summer time zone name")?.text.to_string();
                let kind = c.word("recurring or date")?;
                let rule = match kind.text {
                    // Without dates (nothing, or only an offset): the
                    // United States rules.
                    "recurring" if c.peek_at(1).is_none() => SummerRule::Recurring(None),
                    "recurring" => {
                        let start = recurring_point(c)?;
                        let end = recurring_point(c)?;
                        SummerRule::Recurring(Some((start, end)))
                    }
                    "date" => {
                        let start_col = c.col();
                        let start = summer_date(c)?;
                        let end = summer_date(c)?;
                        if end <= start {
                            return Err(c.err_at(start_col, "summer time must end after it starts"));
                        }
                        SummerRule::Date { start, end }
                    }
                    w => {
                        return Err(
                            c.err_at(kind.col, format!("expected recurring or date, found '{w}'"))
                        );
                    }
                };
                let offset_minutes = summer_offset(c)?;
                self.cfg.clock.summer_time = Some(SummerTime {
                    zone,
                    rule,
                    offset_minutes,
                });
            }
            _ => self.ignore(c, harmless_reason("clock")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
