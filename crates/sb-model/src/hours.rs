//! Hours of operation: an IANA time zone, weekly ranges and dated overrides.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Name;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursOfOperation {
    pub name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An IANA zone such as `America/New_York`; ranges are wall-clock times there, so
    /// opening hours follow daylight-saving changes.
    pub time_zone: String,
    #[serde(default)]
    pub weekly: Vec<WeeklyRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<HoursOverride>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyRange {
    pub day: Weekday,
    pub start: ClockTime,
    pub end: ClockTime,
}

/// A date on which the weekly schedule does not apply (a holiday, a late opening).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursOverride {
    pub date: jiff::civil::Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Closed all day. Mutually exclusive with `ranges`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<TimeRange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    pub start: ClockTime,
    pub end: ClockTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub fn from_jiff(day: jiff::civil::Weekday) -> Self {
        use jiff::civil::Weekday as J;
        match day {
            J::Monday => Weekday::Monday,
            J::Tuesday => Weekday::Tuesday,
            J::Wednesday => Weekday::Wednesday,
            J::Thursday => Weekday::Thursday,
            J::Friday => Weekday::Friday,
            J::Saturday => Weekday::Saturday,
            J::Sunday => Weekday::Sunday,
        }
    }
}

/// A wall-clock time of day as minutes since midnight, written `HH:MM`.
/// `24:00` is allowed so that a range can end at midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(u16);

impl ClockTime {
    pub const MIDNIGHT_END: ClockTime = ClockTime(24 * 60);

    pub fn minutes(self) -> u16 {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("'{text}' is not a time of day in HH:MM form (00:00 to 24:00)");
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(ClockTime(h * 60 + m))
    }
}

impl std::fmt::Display for ClockTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ClockTime::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone '{0}': use an IANA name such as America/New_York or UTC")]
pub struct UnknownTimeZone(pub String);

impl HoursOfOperation {
    pub fn zone(&self) -> Result<jiff::tz::TimeZone, UnknownTimeZone> {
        jiff::tz::TimeZone::get(&self.time_zone)
            .map_err(|_| UnknownTimeZone(self.time_zone.clone()))
    }

    /// Whether the schedule is open at `at`. A dated override replaces the weekly
    /// ranges for that local date.
    pub fn is_open(&self, at: jiff::Timestamp) -> Result<bool, UnknownTimeZone> {
        let local = at.to_zoned(self.zone()?);
        let date = local.date();
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let inside = |start: ClockTime, end: ClockTime| start.0 <= minute && minute < end.0;
        if let Some(day) = self.overrides.iter().find(|o| o.date == date) {
            return Ok(!day.closed && day.ranges.iter().any(|r| inside(r.start, r.end)));
        }
        let weekday = Weekday::from_jiff(date.weekday());
        Ok(self
            .weekly
            .iter()
            .any(|r| r.day == weekday && inside(r.start, r.end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(yaml_like: &str) -> HoursOfOperation {
        serde_json::from_str(yaml_like).unwrap()
    }

    fn nine_to_five() -> HoursOfOperation {
        hours(
            r#"{"name":"Office","time_zone":"America/New_York",
                "weekly":[{"day":"MONDAY","start":"09:00","end":"17:00"}],
                "overrides":[{"date":"2026-12-28","closed":true}]}"#,
        )
    }

    #[test]
    fn clock_time_parses_and_rejects() {
        assert_eq!(ClockTime::parse("09:30").unwrap().minutes(), 570);
        assert_eq!(ClockTime::parse("24:00").unwrap(), ClockTime::MIDNIGHT_END);
        for bad in ["9:30", "24:01", "12:60", "ab:cd", "1230"] {
            assert!(ClockTime::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn open_follows_local_time_across_dst() {
        let h = nine_to_five();
        // Monday 2026-11-30 09:00 in New York is 14:00 UTC (EST, UTC-5).
        assert!(h.is_open("2026-11-30T14:00:00Z".parse().unwrap()).unwrap());
        assert!(!h.is_open("2026-11-30T13:59:00Z".parse().unwrap()).unwrap());
        // Monday 2026-06-01 09:00 in New York is 13:00 UTC (EDT, UTC-4).
        assert!(h.is_open("2026-06-01T13:00:00Z".parse().unwrap()).unwrap());
        assert!(!h.is_open("2026-06-01T21:00:00Z".parse().unwrap()).unwrap());
    }

    #[test]
    fn override_closes_a_day() {
        let h = nine_to_five();
        // Monday 2026-12-28 is a holiday override.
        assert!(!h.is_open("2026-12-28T15:00:00Z".parse().unwrap()).unwrap());
    }

    #[test]
    fn unknown_zone_is_an_error() {
        let mut h = nine_to_five();
        h.time_zone = "Mars/Olympus".into();
        assert!(h.is_open(jiff::Timestamp::UNIX_EPOCH).is_err());
    }
}
