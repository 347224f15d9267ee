//! The `Index` option: literal text, `%{content.k}` / `%{tag.k}` / `%{metadata.k}` variables and
//! `%{+yyyy.MM.dd}` date patterns (Joda letters, as Logstash and Beats write them), rendered per
//! event from its values and its time (UTC).

use anyhow::{Result, bail};
use jiff::Timestamp;
use jiff::tz::Offset;
use loong_converter::VarKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// Full year.
    Year,
    /// Last two digits of the year.
    Year2,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    /// ISO 8601 week of the year.
    Week,
    DayOfYear,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DatePart {
    Literal(String),
    Number(Field, usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// The key and its source text, which a missing value renders as.
    Var(VarKey, String),
    Date(Vec<DatePart>),
}

/// A parsed `Index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPattern {
    parts: Vec<Part>,
    keys: Vec<VarKey>,
}

/// The calendar fields of one second, computed once per distinct second.
#[derive(Debug, Clone, Copy, Default)]
pub struct Civil {
    year: i16,
    month: i8,
    day: i8,
    hour: i8,
    minute: i8,
    second: i8,
    week: i8,
    day_of_year: i16,
}

impl Civil {
    /// The UTC calendar fields of `seconds` since the Unix epoch (clamped to jiff's range).
    pub fn of(seconds: i64) -> Civil {
        let ts = Timestamp::from_second(seconds).unwrap_or(if seconds < 0 { Timestamp::MIN } else { Timestamp::MAX });
        let dt = Offset::UTC.to_datetime(ts);
        let date = dt.date();
        Civil {
            year: date.year(),
            month: date.month(),
            day: date.day(),
            hour: dt.hour(),
            minute: dt.minute(),
            second: dt.second(),
            week: date.iso_week_date().week(),
            day_of_year: date.day_of_year(),
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS`.
    pub fn write_rfc3339_seconds(&self, out: &mut Vec<u8>) {
        use crate::json::write_padded;
        write_padded(out, self.year.max(0) as u64, 4);
        out.push(b'-');
        write_padded(out, self.month as u64, 2);
        out.push(b'-');
        write_padded(out, self.day as u64, 2);
        out.push(b'T');
        write_padded(out, self.hour as u64, 2);
        out.push(b':');
        write_padded(out, self.minute as u64, 2);
        out.push(b':');
        write_padded(out, self.second as u64, 2);
    }

    fn get(&self, field: Field) -> u64 {
        match field {
            Field::Year => self.year.max(0) as u64,
            Field::Year2 => (self.year.max(0) % 100) as u64,
            Field::Month => self.month as u64,
            Field::Day => self.day as u64,
            Field::Hour => self.hour as u64,
            Field::Minute => self.minute as u64,
            Field::Second => self.second as u64,
            Field::Week => self.week as u64,
            Field::DayOfYear => self.day_of_year as u64,
        }
    }
}

fn parse_date(format: &str, pattern: &str) -> Result<Vec<DatePart>> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            // 'text' is literal; '' is a quote.
            if chars.peek() == Some(&'\'') {
                chars.next();
                literal.push('\'');
                continue;
            }
            let mut closed = false;
            while let Some(q) = chars.next() {
                if q == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                        literal.push('\'');
                        continue;
                    }
                    closed = true;
                    break;
                }
                literal.push(q);
            }
            if !closed {
                bail!("Index {pattern:?}: unterminated quote in date pattern %{{+{format}}}");
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            literal.push(c);
            continue;
        }
        let mut count = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            count += 1;
        }
        let (field, width) = match (c, count) {
            ('y' | 'Y', 2) => (Field::Year2, 2),
            ('y' | 'Y', n) => (Field::Year, n.max(4)),
            ('M', n @ 1..=2) => (Field::Month, n),
            ('d', n @ 1..=2) => (Field::Day, n),
            ('H', n @ 1..=2) => (Field::Hour, n),
            ('m', n @ 1..=2) => (Field::Minute, n),
            ('s', n @ 1..=2) => (Field::Second, n),
            ('w', n @ 1..=2) => (Field::Week, n),
            ('D', n @ 1..=3) => (Field::DayOfYear, n),
            _ => bail!(
                "Index {pattern:?}: unsupported date letters {:?} in %{{+{format}}} (use yyyy, yy, MM, M, dd, d, HH, H, mm, ss, ww, DDD; quote literal letters: 'T')",
                c.to_string().repeat(count)
            ),
        };
        if !literal.is_empty() {
            parts.push(DatePart::Literal(std::mem::take(&mut literal)));
        }
        parts.push(DatePart::Number(field, width));
    }
    if !literal.is_empty() {
        parts.push(DatePart::Literal(literal));
    }
    Ok(parts)
}

impl IndexPattern {
    pub fn parse(pattern: &str) -> Result<IndexPattern> {
        if pattern.trim().is_empty() {
            bail!("Index is empty");
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        literal.push(next);
                    }
                }
                '%' if chars.peek() == Some(&'{') => {
                    chars.next();
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        bail!("Index {pattern:?}: missing closing '}}'");
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    if let Some(format) = name.strip_prefix('+') {
                        parts.push(Part::Date(parse_date(format, pattern)?));
                        continue;
                    }
                    // Text after ':' is an operator LoongCollector parses and never applies.
                    let key_text = name.split(':').next().unwrap_or_default().trim().to_owned();
                    let Some(key) = VarKey::parse(&key_text) else {
                        bail!(
                            "Index {pattern:?}: unsupported variable %{{{name}}} (use %{{content.k}}, %{{tag.k}}, %{{metadata.k}} or a date %{{+yyyy.MM.dd}})"
                        );
                    };
                    parts.push(Part::Var(key, key_text));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        let mut keys: Vec<VarKey> = Vec::new();
        for p in &parts {
            if let Part::Var(k, _) = p
                && !keys.contains(k)
            {
                keys.push(k.clone());
            }
        }
        Ok(IndexPattern { parts, keys })
    }

    /// The variables the pattern reads.
    pub fn keys(&self) -> &[VarKey] {
        &self.keys
    }

    /// The index name when the pattern has neither variables nor dates.
    pub fn constant(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                _ => return None,
            }
        }
        Some(out)
    }

    /// Renders into `out` (cleared first). `civil` is called only when the pattern has a date.
    pub fn render<'v>(
        &self,
        out: &mut String,
        lookup: impl Fn(&VarKey) -> Option<&'v str>,
        civil: impl FnOnce() -> Civil,
    ) {
        out.clear();
        let mut civil = Some(civil);
        let mut fields: Option<Civil> = None;
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Var(k, source) => out.push_str(lookup(k).unwrap_or(source)),
                Part::Date(date) => {
                    let c = *fields.get_or_insert_with(|| (civil.take().expect("taken once"))());
                    for d in date {
                        match d {
                            DatePart::Literal(s) => out.push_str(s),
                            DatePart::Number(f, width) => {
                                use std::fmt::Write;
                                let _ = write!(out, "{:0width$}", c.get(*f), width = *width);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE_SECONDS: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z, a Tuesday of ISO week 46

    fn render(pattern: &str, vars: &[(&str, &str)]) -> String {
        let p = IndexPattern::parse(pattern).unwrap();
        let mut out = String::new();
        let lookup = |k: &VarKey| {
            let name = k.to_string();
            vars.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        };
        p.render(&mut out, lookup, || Civil::of(SAMPLE_SECONDS));
        out
    }

    #[test]
    fn dates_come_from_the_given_time() {
        assert_eq!(render("log-%{+yyyy.MM.dd}", &[]), "log-2023.11.14");
        assert_eq!(render("log_%{+yyyyMMdd}", &[]), "log_20231114");
        assert_eq!(render("w-%{+yyyy.ww}", &[]), "w-2023.46");
        assert_eq!(render("%{+YYYY.M.d-HH:mm:ss}", &[]), "2023.11.14-22:13:20");
        assert_eq!(render("%{+yy.DDD}", &[]), "23.318");
        assert_eq!(render("%{+yyyy'w'ww}", &[]), "2023w46");
        let jan = IndexPattern::parse("%{+yyyy.M.d H}").unwrap();
        let mut out = String::new();
        jan.render(&mut out, |_| None, || Civil::of(1_704_070_800)); // 2024-01-01T01:00:00Z
        assert_eq!(out, "2024.1.1 1");
    }

    #[test]
    fn variables_and_missing_values() {
        let vars = [("content.app", "web"), ("tag.host.name", "h1")];
        assert_eq!(render("%{content.app}-%{tag.host.name}-x", &vars), "web-h1-x");
        assert_eq!(render("a-%{content.nope}", &vars), "a-content.nope");
        assert_eq!(render("esc\\%{content.app}", &vars), "esc%{content.app}");
    }

    #[test]
    fn constant_keys_and_errors() {
        let p = IndexPattern::parse("app-%{content.a}-%{tag.b}-%{content.a}-%{+yyyy}").unwrap();
        assert_eq!(p.keys(), &[VarKey::Content("a".into()), VarKey::Tag("b".into())]);
        assert!(p.constant().is_none());
        assert_eq!(
            IndexPattern::parse("plain").unwrap().constant().as_deref(),
            Some("plain")
        );
        for (bad, want) in [
            ("", "Index is empty"),
            ("x-%{content.a", "missing closing"),
            ("x-%{foo}", "unsupported variable"),
            ("x-%{+yyyy.MMM}", "unsupported date letters \"MMM\""),
            ("x-%{+yyyy'}", "unterminated quote"),
        ] {
            let err = IndexPattern::parse(bad).unwrap_err().to_string();
            assert!(err.contains(want), "{bad}: {err}");
        }
    }
}
