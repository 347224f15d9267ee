use anyhow::Context as _;
use bytes::Bytes;
use jiff::civil::{Date, DateTime};
use jiff::tz::{Offset, TimeZone};
use loong_api::{Context, PipelineGroupEvents, Processor, ProcessorV2, Result};
use loong_processor_parse_common::{FailureLog, ParseCounters};

use crate::ParseTimestampOptions;
use crate::strptime::{Format, Parsed};

const DESCRIPTION: &str = "timestamp parser: sets an event's time from a log field";

pub struct ParseTimestamp {
    options: ParseTimestampOptions,
    compiled: Option<Compiled>,
    counters: ParseCounters,
    failures: FailureLog,
}

/// The zone of times that carry no offset.
#[derive(Debug, Clone)]
pub(crate) enum Zone {
    Fixed(Offset),
    Named(TimeZone),
}

impl Zone {
    /// `SourceTimezone`: empty for the agent's zone, `GMT±HH:MM` (or `UTC±…`), or an IANA name.
    pub(crate) fn parse(text: &str) -> Result<Zone> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Zone::of(TimeZone::system()));
        }
        if let Some(rest) = text.strip_prefix("GMT").or_else(|| text.strip_prefix("UTC")) {
            if rest.is_empty() {
                return Ok(Zone::Fixed(Offset::UTC));
            }
            let seconds = gmt_offset(rest).with_context(|| {
                format!("SourceTimezone {text:?} is not GMT+HH:MM or GMT-HH:MM (nor an IANA time zone name)")
            })?;
            return Ok(Zone::Fixed(Offset::from_seconds(seconds)?));
        }
        let tz = TimeZone::get(text)
            .with_context(|| format!("SourceTimezone {text:?} is neither GMT+HH:MM nor a known time zone name"))?;
        Ok(Zone::of(tz))
    }

    fn of(tz: TimeZone) -> Zone {
        match tz.to_fixed_offset() {
            Ok(offset) => Zone::Fixed(offset),
            Err(_) => Zone::Named(tz),
        }
    }

    fn time_zone(&self) -> TimeZone {
        match self {
            Zone::Fixed(offset) => TimeZone::fixed(*offset),
            Zone::Named(tz) => tz.clone(),
        }
    }
}

/// `+08:00` → 28800; also `+0800` and `+8`.
fn gmt_offset(text: &str) -> Option<i32> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let all_digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(h) || !all_digits(m) {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

struct Compiled {
    source_key: Bytes,
    format: Format,
    zone: Zone,
    source_year: i32,
    /// The last local time converted in a named zone, and its seconds: lines of one group mostly
    /// share their second.
    last: Option<(DateTime, i64)>,
}

impl Compiled {
    /// Seconds and nanoseconds since the epoch of `p`; `today` is the date in the zone, needed
    /// when the format has no year.
    fn epoch_of(&mut self, p: &Parsed, today: &mut Option<Date>) -> Option<(i64, u32)> {
        if let Some(secs) = p.epoch {
            return Some((secs, p.nanos));
        }
        let year = match p.full_year() {
            Some(y) => y,
            None if self.source_year > 0 => self.source_year,
            None => deduce_year(
                p,
                *today.get_or_insert_with(|| jiff::Timestamp::now().to_zoned(self.zone.time_zone()).date()),
            ),
        };
        let date = match (p.month, p.day, p.yday) {
            (None, None, Some(yday)) => Date::new(i16::try_from(year).ok()?, 1, 1)
                .ok()?
                .with()
                .day_of_year(i16::try_from(yday).ok()?)
                .build()
                .ok()?,
            (month, day, _) => Date::new(
                i16::try_from(year).ok()?,
                month.unwrap_or(1) as i8,
                day.unwrap_or(1) as i8,
            )
            .ok()?,
        };
        // A leap second reads as the last second of its minute plus one.
        let leap = i64::from(p.second == 60);
        let dt = date.at(p.hour24() as i8, p.minute as i8, p.second.min(59) as i8, 0);
        let secs = match (p.offset, &self.zone) {
            (Some(seconds), _) => Offset::from_seconds(seconds).ok()?.to_timestamp(dt).ok()?.as_second(),
            (None, Zone::Fixed(offset)) => offset.to_timestamp(dt).ok()?.as_second(),
            (None, Zone::Named(tz)) => match self.last {
                Some((last, secs)) if last == dt => secs,
                _ => {
                    let secs = tz.to_ambiguous_timestamp(dt).compatible().ok()?.as_second();
                    self.last = Some((dt, secs));
                    secs
                }
            },
        };
        Some((secs + leap, p.nanos))
    }
}

/// The year of a date read without one: this year, but next year for Jan 1 read on Dec 31 and last
/// year for Dec 31 read on Jan 1 (LoongCollector's rule for `SourceYear: 0`).
fn deduce_year(p: &Parsed, today: Date) -> i32 {
    let year = i32::from(today.year());
    match ((p.month, p.day), (today.month(), today.day())) {
        ((Some(1), Some(1)), (12, 31)) => year + 1,
        ((Some(12), Some(31)), (1, 1)) => year - 1,
        _ => year,
    }
}

impl ParseTimestamp {
    pub fn new(options: ParseTimestampOptions) -> Self {
        ParseTimestamp {
            options,
            compiled: None,
            counters: ParseCounters::default(),
            failures: FailureLog::default(),
        }
    }

    fn compile(o: &ParseTimestampOptions) -> Result<Compiled> {
        anyhow::ensure!(!o.source_key.is_empty(), "SourceKey is required");
        anyhow::ensure!(!o.source_format.is_empty(), "SourceFormat is required");
        let format = Format::compile(&o.source_format)
            .map_err(|e| anyhow::anyhow!("SourceFormat {:?}: {e}", o.source_format))?;
        Ok(Compiled {
            source_key: Bytes::copy_from_slice(o.source_key.as_bytes()),
            format,
            zone: Zone::parse(&o.source_timezone)?,
            source_year: o.source_year,
            last: None,
        })
    }
}

impl Processor for ParseTimestamp {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        self.compiled = Some(Self::compile(&self.options)?);
        self.counters = ParseCounters::new(ctx);
        self.failures = FailureLog::new(ctx.span().clone());
        Ok(())
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn as_v2(&mut self) -> Option<&mut dyn ProcessorV2> {
        Some(self)
    }
}

impl ProcessorV2 for ParseTimestamp {
    fn process(&mut self, group: &mut PipelineGroupEvents) {
        let ParseTimestamp {
            compiled,
            counters,
            failures,
            ..
        } = self;
        let Some(c) = compiled.as_mut() else {
            return;
        };
        // Today's date in the zone, worked out once per group and only if a format lacks the year.
        let mut today: Option<Date> = None;
        for event in &mut group.events {
            let Some(log) = event.as_log_mut() else {
                continue;
            };
            let Some(raw) = log.contents.get(&c.source_key) else {
                counters.key_not_found.increment(1);
                continue;
            };
            let parsed = c.format.parse(raw);
            let epoch = parsed.as_ref().and_then(|p| c.epoch_of(p, &mut today));
            match epoch {
                Some((secs, nanos)) if secs > 0 => {
                    log.timestamp = secs as u64 * 1_000_000_000 + u64::from(nanos);
                    counters.successful.increment(1);
                }
                _ => {
                    counters.failed.increment(1);
                    failures.report(
                        "processor_parse_timestamp_native: the field is not a time in SourceFormat (the event keeps its time)",
                        raw,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;
    use loong_processor_parse_common::testing::{create, documented_options, events, run};
    use loong_processor_parse_common::{FAILED, KEY_NOT_FOUND, SUCCESSFUL};
    use loong_testkit::MetricsCapture;
    use serde_json::json;

    use super::*;
    use crate::{NAME, register};

    /// The timestamps (ns) the processor gives events whose `time` field is each of `times`.
    fn stamps(options: serde_json::Value, times: &[&str]) -> Vec<u64> {
        let mut p = create(register, NAME, options).unwrap();
        let mut group = events(times.iter().map(|t| vec![("time", *t)]).collect());
        run(&mut p, &mut group);
        group.events.iter().map(|e| e.timestamp()).collect()
    }

    fn secs(s: i64) -> u64 {
        s as u64 * 1_000_000_000
    }

    fn utc(dt: DateTime) -> i64 {
        Offset::UTC.to_timestamp(dt).unwrap().as_second()
    }

    #[test]
    fn parses_the_loongcollector_example_in_its_time_zone() {
        let capture = MetricsCapture::new();
        let mut p = capture
            .scoped(|| {
                create(
                    register,
                    NAME,
                    json!({"SourceKey": "time", "SourceFormat": "%Y-%m-%dT%H:%M:%S", "SourceTimezone": "GMT+08:00"}),
                )
            })
            .unwrap();
        let mut group = events(vec![vec![("time", "2023-12-28T08:07:12.187340"), ("ip", "127.0.0.1")]]);
        let contents = group.events[0].as_log().unwrap().contents.clone();
        run(&mut p, &mut group);
        // LoongCollector's documented output: "__time__": "1703722032".
        assert_eq!(group.events[0].timestamp(), secs(1703722032));
        assert_eq!(group.events[0].as_log().unwrap().contents, contents);
        assert_eq!(capture.counter(SUCCESSFUL), 1);
    }

    #[test]
    fn fractions_of_a_second_set_the_nanoseconds() {
        let o = json!({"SourceKey": "time", "SourceFormat": "%Y-%m-%d %H:%M:%S.%f", "SourceTimezone": "UTC"});
        let base = utc(date(2021, 11, 25).at(14, 16, 46, 0));
        assert_eq!(
            stamps(
                o,
                &[
                    "2021-11-25 14:16:46.123456789",
                    "2021-11-25 14:16:46.5",
                    "2021-11-25 14:16:46.012"
                ]
            ),
            [
                secs(base) + 123_456_789,
                secs(base) + 500_000_000,
                secs(base) + 12_000_000
            ]
        );
        let o = json!({"SourceKey": "time", "SourceFormat": "%H:%M:%S,%3f %Y-%m-%d", "SourceTimezone": "UTC"});
        assert_eq!(stamps(o, &["14:16:46,123 2021-11-25"]), [secs(base) + 123_000_000]);
    }

    #[test]
    fn epoch_seconds_with_sub_second_digits() {
        let o = json!({"SourceKey": "time", "SourceFormat": "%s", "SourceTimezone": "GMT+08:00"});
        assert_eq!(
            stamps(o, &["1637843406", "1637843406123", "1637843406123456789"]),
            [
                secs(1637843406),
                secs(1637843406) + 123_000_000,
                secs(1637843406) + 123_456_789
            ]
        );
    }

    #[test]
    fn time_zones_fixed_named_and_from_the_field() {
        let t = "2024-07-01 12:00:00";
        let noon = utc(date(2024, 7, 1).at(12, 0, 0, 0));
        let with_tz =
            |tz: &str| json!({"SourceKey": "time", "SourceFormat": "%Y-%m-%d %H:%M:%S", "SourceTimezone": tz});
        assert_eq!(stamps(with_tz("GMT-03:30"), &[t]), [secs(noon + 3 * 3600 + 1800)]);
        assert_eq!(stamps(with_tz("UTC"), &[t]), [secs(noon)]);
        // Daylight saving time: New York is UTC-4 in July and UTC-5 in January.
        assert_eq!(
            stamps(with_tz("America/New_York"), &[t, "2024-01-01 12:00:00"]),
            [
                secs(noon + 4 * 3600),
                secs(utc(date(2024, 1, 1).at(12, 0, 0, 0)) + 5 * 3600)
            ]
        );
        // The agent's own zone when none is given.
        let local = TimeZone::system()
            .to_ambiguous_timestamp(date(2024, 7, 1).at(12, 0, 0, 0))
            .compatible()
            .unwrap()
            .as_second();
        assert_eq!(stamps(with_tz(""), &[t]), [secs(local)]);
        // An offset in the field wins.
        let o = json!({"SourceKey": "time", "SourceFormat": "%Y-%m-%dT%H:%M:%S%z", "SourceTimezone": "GMT+08:00"});
        assert_eq!(
            stamps(o, &["2024-07-01T12:00:00+02:00", "2024-07-01T12:00:00Z"]),
            [secs(noon - 2 * 3600), secs(noon)]
        );
    }

    #[test]
    fn names_twelve_hour_clock_and_trailing_text() {
        let o = json!({"SourceKey": "time", "SourceFormat": "%a, %d %b %Y %I:%M:%S %p", "SourceTimezone": "UTC"});
        assert_eq!(
            stamps(o, &["Mon, 02 Jan 2006 03:04:05 PM MST"]),
            [secs(utc(date(2006, 1, 2).at(15, 4, 5, 0)))]
        );
        let o = json!({"SourceKey": "time", "SourceFormat": "[%Y-%m-%d %H:%M:%S", "SourceTimezone": "UTC"});
        assert_eq!(
            stamps(o, &["[2017-12-11 15:05:07.012] INFO"]),
            [secs(utc(date(2017, 12, 11).at(15, 5, 7, 0)))]
        );
        let o = json!({"SourceKey": "time", "SourceFormat": "%Y %j %T", "SourceTimezone": "UTC"});
        assert_eq!(
            stamps(o, &["2024 060 01:02:03"]),
            [secs(utc(date(2024, 2, 29).at(1, 2, 3, 0)))]
        );
    }

    #[test]
    fn source_year_fills_a_missing_year() {
        let o =
            json!({"SourceKey": "time", "SourceFormat": "%b %e %H:%M:%S", "SourceTimezone": "UTC", "SourceYear": 2018});
        assert_eq!(
            stamps(o, &["Oct  5 09:01:02"]),
            [secs(utc(date(2018, 10, 5).at(9, 1, 2, 0)))]
        );
        let today = jiff::Timestamp::now().to_zoned(TimeZone::UTC).date();
        let o = json!({"SourceKey": "time", "SourceFormat": "%m-%d %H:%M:%S", "SourceTimezone": "UTC"});
        let got = stamps(o, &["06-15 00:00:00"]);
        assert_eq!(got, [secs(utc(date(today.year(), 6, 15).at(0, 0, 0, 0)))]);

        let p = |m, d| Parsed {
            month: Some(m),
            day: Some(d),
            ..Default::default()
        };
        assert_eq!(deduce_year(&p(1, 1), date(2023, 12, 31)), 2024);
        assert_eq!(deduce_year(&p(12, 31), date(2024, 1, 1)), 2023);
        assert_eq!(deduce_year(&p(6, 1), date(2024, 1, 1)), 2024);
    }

    #[test]
    fn unparsable_times_leave_the_event_as_it_was() {
        let capture = MetricsCapture::new();
        let o = json!({"SourceKey": "time", "SourceFormat": "%Y-%m-%d %H:%M:%S", "SourceTimezone": "UTC"});
        let mut p = capture.scoped(|| create(register, NAME, o)).unwrap();
        let mut group = events(vec![
            vec![("time", "yesterday")],
            vec![("time", "1969-12-31 23:59:59")],
            vec![("time", "2023-02-30 00:00:00")],
            vec![("other", "x")],
        ]);
        let before = group.clone();
        run(&mut p, &mut group);
        assert_eq!(group, before);
        assert_eq!(capture.counter(FAILED), 3);
        assert_eq!(capture.counter(KEY_NOT_FOUND), 1);
    }

    #[test]
    fn bad_configs_fail_init() {
        let err = |o| create(register, NAME, o).err().unwrap().to_string();
        assert!(err(json!({"SourceFormat": "%s"})).contains("SourceKey is required"));
        assert!(err(json!({"SourceKey": "t"})).contains("SourceFormat is required"));
        assert!(err(json!({"SourceKey": "t", "SourceFormat": "%Q"})).contains("%Q"));
        let e = err(json!({"SourceKey": "t", "SourceFormat": "%s", "SourceTimezone": "GMT+8:xx"}));
        assert!(e.contains("SourceTimezone"), "{e}");
        assert!(err(json!({"SourceKey": "t", "SourceFormat": "%s", "SourceTimezone": "Mars/Base"})).contains("Mars"));
    }

    #[test]
    fn gmt_offsets() {
        assert_eq!(gmt_offset("+08:00"), Some(8 * 3600));
        assert_eq!(gmt_offset("-03:30"), Some(-(3 * 3600 + 1800)));
        assert_eq!(gmt_offset("+0530"), Some(5 * 3600 + 1800));
        assert_eq!(gmt_offset("+8"), Some(8 * 3600));
        assert_eq!(gmt_offset("08:00"), None);
        assert_eq!(gmt_offset("+24:00"), None);
    }

    #[test]
    fn options_are_documented_with_loongcollector_defaults() {
        let options = documented_options(register, NAME);
        let names: Vec<_> = options.iter().map(|(n, d)| (n.as_str(), d.as_str())).collect();
        assert_eq!(
            names,
            [
                ("SourceKey", "\"\""),
                ("SourceFormat", "\"\""),
                ("SourceTimezone", "\"\""),
                ("SourceYear", "-1"),
            ]
        );
    }
}
