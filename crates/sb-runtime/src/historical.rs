//! Historical metrics with Amazon Connect's names and definitions, from the
//! pre-aggregated 15-minute sums the store keeps (see `sb_store::intervals`).
//!
//! A record counts in the interval of its disconnect time. Intervals are cut in the
//! caller's time zone; groups are any of queue, channel, agent and routing profile.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{tz::TimeZone, Timestamp, ToSpan, Zoned};
use sb_store::intervals::{IntervalRow, INTERVAL_MS, SERVICE_LEVEL_THRESHOLDS};
use serde::Serialize;

/// Connect's names for the metrics served.
pub const HISTORICAL_METRICS: [&str; 11] = [
    "SERVICE_LEVEL",
    "AVG_HANDLE_TIME",
    "AVG_QUEUE_ANSWER_TIME",
    "CONTACTS_HANDLED",
    "CONTACTS_QUEUED",
    "CONTACTS_ABANDONED",
    "ABANDONMENT_RATE",
    "AVG_AFTER_CONTACT_WORK_TIME",
    "AVG_HOLD_TIME",
    "AGENT_NON_RESPONSE",
    "OCCUPANCY",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalLength {
    FifteenMin,
    ThirtyMin,
    Hour,
    Day,
    Week,
    Total,
}

impl IntervalLength {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "FIFTEEN_MIN" => Self::FifteenMin,
            "THIRTY_MIN" => Self::ThirtyMin,
            "HOUR" => Self::Hour,
            "DAY" => Self::Day,
            "WEEK" => Self::Week,
            "TOTAL" => Self::Total,
            _ => return None,
        })
    }

    /// The longest time range one query may cover with this interval, so that an
    /// answer stays a reasonable size.
    fn max_range_days(self) -> i64 {
        match self {
            Self::FifteenMin | Self::ThirtyMin => 3,
            Self::Hour => 14,
            Self::Day | Self::Week | Self::Total => 93,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HistoricalGrouping {
    Queue,
    Channel,
    Agent,
    RoutingProfile,
}

impl HistoricalGrouping {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "QUEUE" => Self::Queue,
            "CHANNEL" => Self::Channel,
            "AGENT" => Self::Agent,
            "ROUTING_PROFILE" => Self::RoutingProfile,
            _ => return None,
        })
    }
}

/// A checked question.
#[derive(Debug, Clone)]
pub struct HistoricalQuery {
    pub from: Timestamp,
    pub to: Timestamp,
    pub interval: IntervalLength,
    pub time_zone: TimeZone,
    pub groupings: Vec<HistoricalGrouping>,
    pub queues: Option<BTreeSet<String>>,
    pub channels: Option<BTreeSet<String>>,
    pub agents: Option<BTreeSet<String>>,
    pub metrics: Vec<&'static str>,
    /// Seconds; required for SERVICE_LEVEL.
    pub service_level_threshold: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoricalError {
    #[error("{0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> HistoricalError {
    HistoricalError::Invalid(message.into())
}

impl HistoricalQuery {
    /// Only contacts of these channels (VOICE, CHAT, TASK), as a caller names them.
    pub fn only_channels(&mut self, channels: Option<Vec<String>>) -> Result<(), HistoricalError> {
        if let Some(unknown) = channels
            .iter()
            .flatten()
            .find(|c| !["VOICE", "CHAT", "TASK"].contains(&c.as_str()))
        {
            return Err(invalid(format!(
                "unknown channel '{unknown}'; channels: VOICE, CHAT, TASK"
            )));
        }
        self.channels = channels.map(|c| c.into_iter().collect());
        Ok(())
    }

    /// Check a question as a caller states it; every error says how to fix it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        from: &str,
        to: &str,
        interval: Option<&str>,
        time_zone: Option<&str>,
        groupings: &[String],
        metrics: Option<&[String]>,
        service_level_threshold: Option<u32>,
        now: Timestamp,
    ) -> Result<Self, HistoricalError> {
        let time = |name: &str, value: &str| {
            value.parse::<Timestamp>().map_err(|_| {
                invalid(format!(
                    "{name} '{value}' is not an RFC 3339 time (e.g. 2026-11-26T00:00:00Z)"
                ))
            })
        };
        let (from, to) = (time("from", from)?, time("to", to)?);
        for (name, t) in [("from", from), ("to", to)] {
            if t.as_millisecond().rem_euclid(INTERVAL_MS) != 0 {
                return Err(invalid(format!(
                    "{name} must fall on a 15-minute boundary (:00, :15, :30, :45)"
                )));
            }
        }
        if to <= from {
            return Err(invalid("to must be after from"));
        }
        let interval = match interval {
            None => IntervalLength::Total,
            Some(name) => IntervalLength::parse(name).ok_or_else(|| {
                invalid(format!(
                    "unknown interval '{name}'; intervals: FIFTEEN_MIN, THIRTY_MIN, HOUR, DAY, WEEK, TOTAL"
                ))
            })?,
        };
        let days = (to.as_millisecond() - from.as_millisecond()) as f64 / 86_400_000.0;
        if days > interval.max_range_days() as f64 {
            return Err(invalid(format!(
                "a range of {days:.1} days is too large for this interval; at most {} days",
                interval.max_range_days()
            )));
        }
        let retention_start = now - (2 * 366 * 24).hours();
        if from < retention_start {
            return Err(invalid(format!(
                "from is before the retention of historical metrics; the earliest is {}",
                Timestamp::from_millisecond(
                    retention_start.as_millisecond().div_euclid(INTERVAL_MS) * INTERVAL_MS
                        + INTERVAL_MS
                )
                .unwrap_or(retention_start)
            )));
        }
        let time_zone = match time_zone {
            None => TimeZone::UTC,
            Some(name) => TimeZone::get(name).map_err(|_| {
                invalid(format!(
                    "unknown time zone '{name}' (use an IANA name such as Europe/Berlin)"
                ))
            })?,
        };
        let mut parsed_groupings = Vec::new();
        for g in groupings {
            let grouping = HistoricalGrouping::parse(g).ok_or_else(|| {
                invalid(format!(
                    "unknown grouping '{g}'; groupings: QUEUE, CHANNEL, AGENT, ROUTING_PROFILE"
                ))
            })?;
            if !parsed_groupings.contains(&grouping) {
                parsed_groupings.push(grouping);
            }
        }
        let metrics = match metrics {
            None => HISTORICAL_METRICS.to_vec(),
            Some(names) => names
                .iter()
                .map(|m| {
                    HISTORICAL_METRICS
                        .into_iter()
                        .find(|k| k == m)
                        .ok_or_else(|| {
                            invalid(format!(
                                "unknown metric '{m}'; metrics: {}",
                                HISTORICAL_METRICS.join(", ")
                            ))
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        if let Some(t) = service_level_threshold {
            if !SERVICE_LEVEL_THRESHOLDS.contains(&t) {
                return Err(invalid(format!(
                    "service_level_threshold must be one of {SERVICE_LEVEL_THRESHOLDS:?} seconds"
                )));
            }
        }
        Ok(HistoricalQuery {
            from,
            to,
            interval,
            time_zone,
            groupings: parsed_groupings,
            queues: None,
            channels: None,
            agents: None,
            metrics,
            service_level_threshold,
        })
    }

    /// Whether the per-agent rows are needed (grouping or filtering by agent or profile).
    pub fn agent_level(&self) -> bool {
        self.agents.is_some()
            || self.groupings.iter().any(|g| {
                matches!(
                    g,
                    HistoricalGrouping::Agent | HistoricalGrouping::RoutingProfile
                )
            })
    }

    /// The start of the output interval holding the 15-minute interval at `at`.
    fn bucket(&self, at: Timestamp) -> Timestamp {
        let zoned = at.to_zoned(self.time_zone.clone());
        let floored: Option<Zoned> = match self.interval {
            IntervalLength::FifteenMin => return at,
            IntervalLength::Total => return self.from,
            IntervalLength::ThirtyMin => zoned
                .with()
                .minute(zoned.minute() - zoned.minute() % 30)
                .second(0)
                .subsec_nanosecond(0)
                .build()
                .ok(),
            IntervalLength::Hour => zoned
                .with()
                .minute(0)
                .second(0)
                .subsec_nanosecond(0)
                .build()
                .ok(),
            IntervalLength::Day => zoned.start_of_day().ok(),
            IntervalLength::Week => {
                let back = i64::from(zoned.weekday().to_monday_zero_offset());
                zoned
                    .start_of_day()
                    .ok()
                    .and_then(|d| d.checked_sub(back.days()).ok())
            }
        };
        floored.map_or(at, |z| z.timestamp()).max(self.from)
    }

    fn bucket_end(&self, start: Timestamp) -> Timestamp {
        let zoned = start.to_zoned(self.time_zone.clone());
        let next = match self.interval {
            IntervalLength::FifteenMin => zoned.checked_add(15.minutes()),
            IntervalLength::ThirtyMin => zoned.checked_add(30.minutes()),
            IntervalLength::Hour => zoned.checked_add(1.hour()),
            IntervalLength::Day => zoned.start_of_day().and_then(|d| d.checked_add(1.day())),
            IntervalLength::Week => self
                .bucket(start)
                .to_zoned(self.time_zone.clone())
                .start_of_day()
                .and_then(|d| {
                    let back = i64::from(d.weekday().to_monday_zero_offset());
                    d.checked_sub(back.days())?.checked_add(1.week())
                }),
            IntervalLength::Total => return self.to,
        };
        next.map_or(self.to, |z| z.timestamp()).min(self.to)
    }
}

/// One answer row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoricalRow {
    /// RFC 3339 in the query's time zone.
    pub interval_start: String,
    pub interval_end: String,
    pub dimensions: BTreeMap<HistoricalGrouping, String>,
    /// Seconds for the AVG_* metrics, percent for rates and SERVICE_LEVEL, counts
    /// otherwise; `null` where the metric has no denominator (nothing handled).
    pub metrics: BTreeMap<&'static str, Option<f64>>,
}

/// Answer a question from the store's interval sums.
pub fn answer(
    store: &dyn sb_store::Store,
    query: &HistoricalQuery,
) -> Result<Vec<HistoricalRow>, sb_store::StoreError> {
    let rows = store.interval_rows(
        query.from.as_millisecond(),
        query.to.as_millisecond(),
        query.agent_level(),
    )?;
    Ok(compute(query, &rows, &sb_store::intervals::column_names()))
}

/// Group and finish the stored sums into Connect's metrics.
pub fn compute(
    query: &HistoricalQuery,
    rows: &[IntervalRow],
    columns: &[String],
) -> Vec<HistoricalRow> {
    let col = |name: &str| columns.iter().position(|c| c == name);
    type Key = (Timestamp, BTreeMap<HistoricalGrouping, String>);
    let mut sums: BTreeMap<Key, Vec<i64>> = BTreeMap::new();
    for row in rows {
        let admitted = query.queues.as_ref().is_none_or(|q| q.contains(&row.queue))
            && query
                .channels
                .as_ref()
                .is_none_or(|c| c.contains(&row.channel))
            && query.agents.as_ref().is_none_or(|a| a.contains(&row.agent));
        if !admitted {
            continue;
        }
        let Ok(at) = Timestamp::from_millisecond(row.interval_ms) else {
            continue;
        };
        let dimensions = query
            .groupings
            .iter()
            .map(|g| {
                let value = match g {
                    HistoricalGrouping::Queue => &row.queue,
                    HistoricalGrouping::Channel => &row.channel,
                    HistoricalGrouping::Agent => &row.agent,
                    HistoricalGrouping::RoutingProfile => &row.profile,
                };
                (*g, value.clone())
            })
            .collect();
        let total = sums
            .entry((query.bucket(at), dimensions))
            .or_insert_with(|| vec![0; row.values.len()]);
        for (t, v) in total.iter_mut().zip(&row.values) {
            *t += v;
        }
    }
    sums.into_iter()
        .map(|((start, dimensions), values)| {
            let get = |name: &str| col(name).map_or(0, |i| values[i]) as f64;
            let ratio = |num: f64, den: f64, scale: f64| (den > 0.0).then(|| num / den * scale);
            let metrics = query
                .metrics
                .iter()
                .map(|&m| {
                    let value = match m {
                        "CONTACTS_QUEUED" => Some(get("queued")),
                        "CONTACTS_HANDLED" => Some(get("handled")),
                        "CONTACTS_ABANDONED" => Some(get("abandoned")),
                        "AGENT_NON_RESPONSE" => Some(get("non_response")),
                        "ABANDONMENT_RATE" => ratio(get("abandoned"), get("queued"), 100.0),
                        "AVG_HANDLE_TIME" => ratio(get("handle_ms"), get("handled"), 0.001),
                        "AVG_QUEUE_ANSWER_TIME" => ratio(get("answer_ms"), get("answered"), 0.001),
                        "AVG_AFTER_CONTACT_WORK_TIME" => {
                            ratio(get("acw_ms"), get("acw_count"), 0.001)
                        }
                        "AVG_HOLD_TIME" => ratio(get("hold_ms"), get("held"), 0.001),
                        "SERVICE_LEVEL" => query
                            .service_level_threshold
                            .and_then(|t| ratio(get(&format!("within_{t}")), get("queued"), 100.0)),
                        // Time on contacts over time on contacts or available; agent
                        // time has no queue, so it shows in agent and profile groups.
                        "OCCUPANCY" => ratio(
                            get("agent_on_contact_ms"),
                            get("agent_on_contact_ms") + get("agent_available_ms"),
                            100.0,
                        ),
                        _ => None,
                    };
                    (m, value.map(|v| (v * 1000.0).round() / 1000.0))
                })
                .collect();
            let zone = query.time_zone.clone();
            HistoricalRow {
                interval_start: start.to_zoned(zone.clone()).to_string(),
                interval_end: query.bucket_end(start).to_zoned(zone).to_string(),
                dimensions,
                metrics,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sb_store::intervals::column_names;

    fn row(at: &str, queue: &str, agent: &str, set: &[(&str, i64)]) -> IntervalRow {
        let names = column_names();
        let mut values = vec![0; names.len()];
        for (name, v) in set {
            values[names.iter().position(|c| c == name).unwrap()] = *v;
        }
        IntervalRow {
            interval_ms: at.parse::<Timestamp>().unwrap().as_millisecond(),
            queue: queue.into(),
            channel: "CHAT".into(),
            agent: agent.into(),
            profile: if agent.is_empty() { "" } else { "Front" }.into(),
            values,
        }
    }

    fn query(interval: &str, zone: &str, groupings: &[&str]) -> HistoricalQuery {
        let groupings: Vec<String> = groupings.iter().map(|s| s.to_string()).collect();
        HistoricalQuery::new(
            "2026-11-25T00:00:00Z",
            "2026-11-27T00:00:00Z",
            Some(interval),
            Some(zone),
            &groupings,
            None,
            Some(20),
            "2026-11-27T00:00:00Z".parse().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn metrics_follow_connects_definitions() {
        let rows = [row(
            "2026-11-26T10:00:00Z",
            "Billing",
            "",
            &[
                ("queued", 4),
                ("handled", 3),
                ("abandoned", 1),
                ("answered", 3),
                ("answer_ms", 30_000),
                ("handle_ms", 360_000),
                ("acw_count", 2),
                ("acw_ms", 40_000),
                ("held", 1),
                ("hold_ms", 15_000),
                ("non_response", 2),
                ("within_20", 2),
            ],
        )];
        let out = compute(&query("TOTAL", "UTC", &[]), &rows, &column_names());
        assert_eq!(out.len(), 1);
        let m = &out[0].metrics;
        assert_eq!(m["CONTACTS_QUEUED"], Some(4.0));
        assert_eq!(m["CONTACTS_HANDLED"], Some(3.0));
        assert_eq!(m["CONTACTS_ABANDONED"], Some(1.0));
        assert_eq!(m["ABANDONMENT_RATE"], Some(25.0));
        assert_eq!(m["AVG_HANDLE_TIME"], Some(120.0));
        assert_eq!(m["AVG_QUEUE_ANSWER_TIME"], Some(10.0));
        assert_eq!(m["AVG_AFTER_CONTACT_WORK_TIME"], Some(20.0));
        assert_eq!(m["AVG_HOLD_TIME"], Some(15.0));
        assert_eq!(m["AGENT_NON_RESPONSE"], Some(2.0));
        assert_eq!(
            m["SERVICE_LEVEL"],
            Some(50.0),
            "2 of 4 answered within 20 s"
        );
        assert_eq!(out[0].interval_start, "2026-11-25T00:00:00+00:00[UTC]");
    }

    #[test]
    fn days_are_cut_in_the_callers_time_zone() {
        // 23:30 UTC on the 25th is the 26th in Berlin; 22:45 UTC is still the 25th.
        let rows = [
            row("2026-11-25T22:45:00Z", "Billing", "", &[("queued", 1)]),
            row("2026-11-25T23:30:00Z", "Billing", "", &[("queued", 2)]),
            row("2026-11-26T12:00:00Z", "Orders", "", &[("queued", 4)]),
        ];
        let out = compute(&query("DAY", "Europe/Berlin", &[]), &rows, &column_names());
        let by_day: Vec<(&str, Option<f64>)> = out
            .iter()
            .map(|r| (&r.interval_start[..10], r.metrics["CONTACTS_QUEUED"]))
            .collect();
        assert_eq!(
            by_day,
            [("2026-11-25", Some(1.0)), ("2026-11-26", Some(6.0))]
        );
        assert!(out[1].interval_end.starts_with("2026-11-27T00:00:00+01:00"));
        let grouped = compute(&query("TOTAL", "UTC", &["QUEUE"]), &rows, &column_names());
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped[0].dimensions[&HistoricalGrouping::Queue], "Billing");
    }

    #[test]
    fn occupancy_is_contact_time_over_contact_and_available_time() {
        let rows = [row(
            "2026-11-26T10:00:00Z",
            "",
            "carol",
            &[
                ("agent_on_contact_ms", 600_000),
                ("agent_available_ms", 200_000),
                ("agent_non_productive_ms", 900_000),
            ],
        )];
        let out = compute(&query("TOTAL", "UTC", &["AGENT"]), &rows, &column_names());
        assert_eq!(
            out[0].metrics["OCCUPANCY"],
            Some(75.0),
            "breaks do not count"
        );
        assert_eq!(out[0].dimensions[&HistoricalGrouping::Agent], "carol");
    }

    #[test]
    fn nothing_to_divide_by_is_null_not_zero() {
        let rows = [row(
            "2026-11-26T10:00:00Z",
            "Billing",
            "",
            &[("queued", 1), ("abandoned", 1)],
        )];
        let out = compute(&query("HOUR", "UTC", &[]), &rows, &column_names());
        assert_eq!(out[0].metrics["AVG_HANDLE_TIME"], None);
        assert_eq!(out[0].metrics["ABANDONMENT_RATE"], Some(100.0));
        assert_eq!(out[0].interval_end, "2026-11-26T11:00:00+00:00[UTC]");
    }

    #[test]
    fn bad_questions_say_what_to_fix() {
        let now: Timestamp = "2026-11-27T00:00:00Z".parse().unwrap();
        let ask = |from: &str, to: &str, interval: &str, zone: &str, threshold: Option<u32>| {
            HistoricalQuery::new(
                from,
                to,
                Some(interval),
                Some(zone),
                &[],
                None,
                threshold,
                now,
            )
            .unwrap_err()
            .to_string()
        };
        let day = ("2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z");
        assert!(ask("yesterday", day.1, "DAY", "UTC", None).contains("RFC 3339"));
        assert!(ask("2026-11-26T00:07:00Z", day.1, "DAY", "UTC", None).contains("15-minute"));
        assert!(ask(day.1, day.0, "DAY", "UTC", None).contains("after from"));
        assert!(ask(day.0, day.1, "MONTH", "UTC", None).contains("unknown interval"));
        assert!(ask(day.0, day.1, "DAY", "Mars/Olympus", None).contains("unknown time zone"));
        assert!(ask(day.0, day.1, "DAY", "UTC", Some(17)).contains("service_level_threshold"));
        assert!(
            ask("2026-11-01T00:00:00Z", day.1, "FIFTEEN_MIN", "UTC", None).contains("too large")
        );
        assert!(ask(
            "2020-01-01T00:00:00Z",
            "2020-01-02T00:00:00Z",
            "DAY",
            "UTC",
            None
        )
        .contains("retention"));
        let unknown = HistoricalQuery::new(
            day.0,
            day.1,
            None,
            None,
            &["DISTRICT".into()],
            None,
            None,
            now,
        )
        .unwrap_err();
        assert!(unknown.to_string().contains("unknown grouping"));
    }
}
