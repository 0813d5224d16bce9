//! `time-range`, `clock timezone` and `clock summer-time` as parsed
//! (docs/asa-behaviour.md §2.10). Times and dates are local wall-clock
//! values, kept as written; when a time-range is active at an instant is
//! [`crate::time`]'s.

/// A day of the week. Monday is 0, as ISO 8601 counts the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl Weekday {
    /// Every day, Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    /// Days since Monday (0–6).
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The day `i` days after Monday (taken modulo 7).
    pub fn from_index(i: u8) -> Weekday {
        Weekday::ALL[usize::from(i % 7)]
    }

    /// Its name as the ASA's `periodic` prints it (`monday`).
    pub fn name(self) -> &'static str {
        [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ][usize::from(self.index())]
    }
}

/// A time of day, `HH:MM` (00:00–23:59).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HhMm {
    /// Hours, 0–23.
    pub hour: u8,
    /// Minutes, 0–59.
    pub minute: u8,
}

impl HhMm {
    /// Minutes since midnight.
    pub fn minutes(self) -> u32 {
        u32::from(self.hour) * 60 + u32::from(self.minute)
    }
}

/// A local date and time to the minute, as `absolute` and `clock
/// summer-time … date` write them (`HH:MM DAY MONTH YEAR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalDateTime {
    /// The year.
    pub year: u16,
    /// The month, 1–12.
    pub month: u8,
    /// The day of the month, 1–31 (valid for its month).
    pub day: u8,
    /// The time of day.
    pub time: HhMm,
}

/// The days of a `periodic` line, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Days {
    /// `daily`: Monday through Sunday.
    Daily,
    /// `weekdays`: Monday through Friday.
    Weekdays,
    /// `weekend`: Saturday and Sunday.
    Weekend,
    /// One or more named days, in the order written, each once.
    List(Vec<Weekday>),
}

impl Days {
    /// The days it names.
    pub fn days(&self) -> Vec<Weekday> {
        match self {
            Days::Daily => Weekday::ALL.to_vec(),
            Days::Weekdays => Weekday::ALL[..5].to_vec(),
            Days::Weekend => Weekday::ALL[5..].to_vec(),
            Days::List(l) => l.clone(),
        }
    }
}

/// `periodic DAYS HH:MM to [DAY] HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Periodic {
    /// The starting days.
    pub days: Days,
    /// The starting time.
    pub start: HhMm,
    /// The ending day of a span (`periodic friday 22:00 to monday 06:00`):
    /// one day after one starting day. `None`: each starting day, from
    /// `start` to `end` that day.
    pub end_day: Option<Weekday>,
    /// The ending time; the minute it names is in the range (the ASA's
    /// end time is inclusive).
    pub end: HhMm,
}

/// `absolute [start HH:MM DAY MONTH YEAR] [end HH:MM DAY MONTH YEAR]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Absolute {
    /// From this minute on (`None`: from ever).
    pub start: Option<LocalDateTime>,
    /// Through this minute (inclusive; `None`: for ever).
    pub end: Option<LocalDateTime>,
}

/// `time-range NAME` with its lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TimeRange {
    /// Its name.
    pub name: String,
    /// Its `absolute` line (at most one).
    pub absolute: Option<Absolute>,
    /// Its `periodic` lines, in order, each once.
    pub periodic: Vec<Periodic>,
}

/// The week of a month in `clock summer-time … recurring`: 1–4 (`first`
/// is 1), or `last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeekOfMonth {
    /// The Nth such weekday of the month, 1–4.
    Nth(u8),
    /// The last such weekday of the month.
    Last,
}

/// One end of a recurring summer time: `WEEK WEEKDAY MONTH HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecurringPoint {
    /// Which week.
    pub week: WeekOfMonth,
    /// Which day of it.
    pub weekday: Weekday,
    /// The month, 1–12.
    pub month: u8,
    /// The local time of the change.
    pub time: HhMm,
}

/// When summer time is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SummerRule {
    /// `recurring`: every year, from `start` (local standard time) to
    /// `end` (local summer time); `None` is the ASA's default, the United
    /// States rules.
    Recurring(Option<(RecurringPoint, RecurringPoint)>),
    /// `date`: once, from `start` (standard time) to `end` (summer time).
    Date {
        /// When it begins.
        start: LocalDateTime,
        /// When it ends.
        end: LocalDateTime,
    },
}

/// `clock summer-time ZONE …`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SummerTime {
    /// The zone's name in summer (`EDT`).
    pub zone: String,
    /// When.
    pub rule: SummerRule,
    /// Minutes added in summer, 1–1440 (default 60).
    pub offset_minutes: u16,
}

/// The summer-time offset when a `clock summer-time` line gives none
/// ("The default is 60 minutes", Cisco ASA Series Command Reference,
/// `clock summer-time`).
pub const SUMMER_OFFSET_DEFAULT_MINUTES: u16 = 60;

/// `clock timezone ZONE HOURS [MINUTES]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timezone {
    /// The zone's name (`EST`).
    pub zone: String,
    /// West of UTC: the hours were written with a minus sign. Kept apart
    /// from `hours` so that `-0 30` (half an hour west) keeps its sign.
    pub negative: bool,
    /// Hours from UTC, 0 to 23.
    pub hours: u8,
    /// Minutes more, 0–59, with the sign of the hours.
    pub minutes: u8,
}

impl Timezone {
    /// Its offset from UTC in minutes (`-5 30` is -330, `-0 30` is -30).
    pub fn offset_minutes(&self) -> i32 {
        let m = i32::from(self.hours) * 60 + i32::from(self.minutes);
        if self.negative { -m } else { m }
    }
}

/// The clock settings the time-ranges are evaluated in; UTC without
/// either.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Clock {
    /// `clock timezone`.
    pub timezone: Option<Timezone>,
    /// `clock summer-time`.
    pub summer_time: Option<SummerTime>,
}
