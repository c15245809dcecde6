//! Cron schedules as task owners write them: five fields (`30 6 * * 1-5`), six with
//! seconds first (`*/10 * * * * *`), or a shorthand (`@daily`), in an IANA time zone.
//! Daylight-saving changes follow the zone: `0 6 * * *` in `Europe/Paris` stays at 06:00
//! local time all year. Errors name the field they are about.

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;

use crate::CoreError;

/// A parsed cron expression in a time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expression: String,
    time_zone: Tz,
    schedule: cron::Schedule,
}

impl CronSchedule {
    /// Parses `expression` in `time_zone` (`UTC`, `Europe/Paris`, …). `field` prefixes
    /// the error (e.g. `trigger`), so the message reads `trigger.cron: …`.
    pub fn parse(
        field: &'static str,
        expression: &str,
        time_zone: &str,
    ) -> Result<Self, CoreError> {
        let expression = expression.trim();
        let fields = expression.split_whitespace().count();
        // The cron crate wants seconds first; the common five-field form has none.
        let full = match fields {
            _ if expression.starts_with('@') => expression.to_owned(),
            5 => format!("0 {expression}"),
            6 | 7 => expression.to_owned(),
            n => {
                return Err(CoreError::new(
                    field,
                    format!(
                        "cron: `{expression}` has {n} fields; write minute hour day-of-month month day-of-week (5 fields), seconds first (6), or a shorthand such as @daily"
                    ),
                ));
            }
        };
        let schedule = cron::Schedule::from_str(&full).map_err(|e| {
            CoreError::new(
                field,
                format!("cron: `{expression}` is not a valid cron expression: {e}"),
            )
        })?;
        let tz = Tz::from_str(time_zone.trim()).map_err(|_| {
            CoreError::new(
                field,
                format!("timeZone: `{time_zone}` is not an IANA time zone name (such as UTC or Europe/Paris)"),
            )
        })?;
        let parsed = CronSchedule {
            expression: expression.to_owned(),
            time_zone: tz,
            schedule,
        };
        if parsed.next_after(Utc::now().timestamp_millis()).is_none() {
            return Err(CoreError::new(
                field,
                format!("cron: `{expression}` never fires again"),
            ));
        }
        Ok(parsed)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn time_zone(&self) -> &str {
        self.time_zone.name()
    }

    /// The shortest gap between two of the next `samples` firings after `after_ms`: what
    /// a minimum-interval rule compares (a schedule may fire unevenly, `0,1 * * * *`).
    pub fn shortest_gap_ms(&self, after_ms: i64, samples: usize) -> Option<i64> {
        let after = Utc.timestamp_millis_opt(after_ms).single()?;
        let times: Vec<i64> = self
            .schedule
            .after(&after.with_timezone(&self.time_zone))
            .take(samples)
            .map(|t| t.with_timezone(&Utc).timestamp_millis())
            .collect();
        times.windows(2).map(|w| w[1] - w[0]).min()
    }

    /// The first firing strictly after `after_ms` (ms since the epoch), if any.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after = Utc.timestamp_millis_opt(after_ms).single()?;
        self.schedule
            .after(&after.with_timezone(&self.time_zone))
            .next()
            .map(|t| t.with_timezone(&Utc).timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn the_shortest_gap_is_measured_over_the_next_firings() {
        let every_second = CronSchedule::parse("trigger", "* * * * * *", "UTC").unwrap();
        assert_eq!(every_second.shortest_gap_ms(0, 10), Some(1_000));
        let uneven = CronSchedule::parse("trigger", "0,1 * * * *", "UTC").unwrap();
        assert_eq!(uneven.shortest_gap_ms(0, 10), Some(60_000));
        let hourly = CronSchedule::parse("trigger", "0 * * * *", "UTC").unwrap();
        assert_eq!(hourly.shortest_gap_ms(0, 10), Some(3_600_000));
    }

    #[test]
    fn five_fields_follow_the_time_zone_through_daylight_saving() {
        let s = CronSchedule::parse("trigger", "0 6 * * *", "Europe/Paris").unwrap();
        // Winter: 06:00 in Paris is 05:00 UTC; summer: 04:00 UTC.
        assert_eq!(
            s.next_after(ms("2026-01-10T12:00:00Z")),
            Some(ms("2026-01-11T05:00:00Z"))
        );
        assert_eq!(
            s.next_after(ms("2026-07-10T12:00:00Z")),
            Some(ms("2026-07-11T04:00:00Z"))
        );
        assert_eq!(s.time_zone(), "Europe/Paris");
    }

    #[test]
    fn seconds_and_shorthands_parse() {
        let every = CronSchedule::parse("trigger", "*/10 * * * * *", "UTC").unwrap();
        assert_eq!(
            every.next_after(ms("2026-01-01T00:00:01Z")),
            Some(ms("2026-01-01T00:00:10Z"))
        );
        let daily = CronSchedule::parse("trigger", "@daily", "UTC").unwrap();
        assert_eq!(
            daily.next_after(ms("2026-01-01T10:00:00Z")),
            Some(ms("2026-01-02T00:00:00Z"))
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let e = CronSchedule::parse("trigger", "61 * * * *", "UTC").unwrap_err();
        assert_eq!(e.field, "trigger");
        assert!(
            e.reason.starts_with("cron: `61 * * * *` is not a valid"),
            "{e}"
        );
        let e = CronSchedule::parse("trigger", "* *", "UTC").unwrap_err();
        assert!(e.reason.contains("has 2 fields"), "{e}");
        let e = CronSchedule::parse("trigger", "0 6 * * *", "Mars/Olympus").unwrap_err();
        assert!(e.reason.starts_with("timeZone: `Mars/Olympus`"), "{e}");
        let e = CronSchedule::parse("trigger", "0 0 0 1 1 * 2020", "UTC").unwrap_err();
        assert!(e.reason.contains("never fires again"), "{e}");
    }
}
