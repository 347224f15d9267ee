//! A strptime-style reader of times, with LoongCollector's rules: the format matches a prefix of
//! the input, numbers may be preceded by spaces, white space in the format matches any run of white
//! space (none included), `%f` reads a fraction of a second, and `%s` with more than ten digits
//! carries a fraction (milli-, micro- or nanoseconds).

/// One step of a compiled format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Literal(u8),
    Space,
    Year,
    Century,
    Year2,
    Month,
    MonthName,
    Day,
    YearDay,
    Hour,
    Hour12,
    AmPm,
    Minute,
    Second,
    /// At most this many digits.
    Fraction(u8),
    Epoch,
    Offset,
    ZoneName,
    WeekdayName,
    /// A number read and ignored (week day, week of the year).
    Ignored {
        digits: u8,
        min: u32,
        max: u32,
    },
}

/// A compiled `SourceFormat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Format {
    items: Vec<Item>,
    /// The format names the year (or is an epoch): `SourceYear` is not needed.
    pub has_year: bool,
}

/// What a time string said.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub year: Option<i32>,
    pub century: Option<i32>,
    pub year2: Option<i32>,
    pub month: Option<u8>,
    pub day: Option<u8>,
    pub yday: Option<u16>,
    pub hour: u8,
    pub hour12: Option<u8>,
    pub pm: Option<bool>,
    pub minute: u8,
    pub second: u8,
    pub nanos: u32,
    pub epoch: Option<i64>,
    /// Seconds east of UTC, from `%z`.
    pub offset: Option<i32>,
}

impl Parsed {
    /// The year the fields name, if any (`%Y`, or `%C` and/or `%y`).
    pub fn full_year(&self) -> Option<i32> {
        match (self.year, self.century, self.year2) {
            (Some(y), _, _) => Some(y),
            (None, Some(c), Some(y)) => Some(c * 100 + y),
            (None, None, Some(y)) => Some(if y < 69 { 2000 + y } else { 1900 + y }),
            (None, Some(c), None) => Some(c * 100),
            (None, None, None) => None,
        }
    }

    /// The hour on a 24-hour clock.
    pub fn hour24(&self) -> u8 {
        match self.hour12 {
            Some(h) => h % 12 + if self.pm == Some(true) { 12 } else { 0 },
            None => self.hour,
        }
    }
}

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
const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

impl Format {
    pub fn compile(format: &str) -> Result<Format, String> {
        if format.is_empty() {
            return Err("the format is empty".into());
        }
        let mut items = Vec::new();
        compile_into(format.as_bytes(), &mut items)?;
        let has_year = items
            .iter()
            .any(|i| matches!(i, Item::Year | Item::Year2 | Item::Century | Item::Epoch));
        Ok(Format { items, has_year })
    }

    /// Reads `input` from its start; text after the format's end is ignored.
    pub fn parse(&self, input: &[u8]) -> Option<Parsed> {
        let mut p = Parsed::default();
        let mut pos = 0;
        for item in &self.items {
            match *item {
                Item::Literal(b) => {
                    if input.get(pos) != Some(&b) {
                        return None;
                    }
                    pos += 1;
                }
                Item::Space => skip_white(input, &mut pos),
                Item::Year => p.year = Some(number(input, &mut pos, 4, 0, 9999)? as i32),
                Item::Century => p.century = Some(number(input, &mut pos, 2, 0, 99)? as i32),
                Item::Year2 => p.year2 = Some(number(input, &mut pos, 2, 0, 99)? as i32),
                Item::Month => p.month = Some(number(input, &mut pos, 2, 1, 12)? as u8),
                Item::MonthName => p.month = Some(name(input, &mut pos, &MONTHS)? as u8 + 1),
                Item::Day => p.day = Some(number(input, &mut pos, 2, 1, 31)? as u8),
                Item::YearDay => p.yday = Some(number(input, &mut pos, 3, 1, 366)? as u16),
                Item::Hour => p.hour = number(input, &mut pos, 2, 0, 23)? as u8,
                Item::Hour12 => p.hour12 = Some(number(input, &mut pos, 2, 1, 12)? as u8),
                Item::AmPm => p.pm = Some(am_pm(input, &mut pos)?),
                Item::Minute => p.minute = number(input, &mut pos, 2, 0, 59)? as u8,
                Item::Second => p.second = number(input, &mut pos, 2, 0, 60)? as u8,
                Item::Fraction(max) => p.nanos = fraction(input, &mut pos, max as usize)?,
                Item::Epoch => {
                    let (secs, nanos) = epoch(input, &mut pos)?;
                    p.epoch = Some(secs);
                    p.nanos = nanos;
                }
                Item::Offset => p.offset = Some(offset(input, &mut pos)?),
                Item::ZoneName => {
                    skip_white(input, &mut pos);
                    while pos < input.len() && !input[pos].is_ascii_whitespace() {
                        pos += 1;
                    }
                }
                Item::WeekdayName => {
                    name(input, &mut pos, &WEEKDAYS)?;
                }
                Item::Ignored { digits, min, max } => {
                    number(input, &mut pos, digits as usize, min, max)?;
                }
            }
        }
        Some(p)
    }
}

fn compile_into(format: &[u8], items: &mut Vec<Item>) -> Result<(), String> {
    let mut i = 0;
    while i < format.len() {
        let b = format[i];
        i += 1;
        if b.is_ascii_whitespace() {
            if items.last() != Some(&Item::Space) {
                items.push(Item::Space);
            }
            continue;
        }
        if b != b'%' {
            items.push(Item::Literal(b));
            continue;
        }
        // `%E…` and `%O…` (alternative representations) read as the plain conversion.
        if matches!(format.get(i), Some(b'E' | b'O')) {
            i += 1;
        }
        let mut width = None;
        if let Some(d @ b'1'..=b'9') = format.get(i) {
            width = Some(d - b'0');
            i += 1;
        }
        let Some(&c) = format.get(i) else {
            return Err("the format ends with a lone %".into());
        };
        i += 1;
        if width.is_some() && c != b'f' {
            return Err(format!(
                "a digit count is only allowed in %f (as %3f), not in %{}",
                c as char
            ));
        }
        let item = match c {
            b'Y' => Item::Year,
            b'C' => Item::Century,
            b'y' => Item::Year2,
            b'm' => Item::Month,
            b'b' | b'B' | b'h' => Item::MonthName,
            b'd' | b'e' => Item::Day,
            b'j' => Item::YearDay,
            b'H' | b'k' => Item::Hour,
            b'I' | b'l' => Item::Hour12,
            b'p' | b'P' => Item::AmPm,
            b'M' => Item::Minute,
            b'S' => Item::Second,
            b'f' => Item::Fraction(width.unwrap_or(9)),
            b's' => Item::Epoch,
            b'z' => Item::Offset,
            b'Z' => Item::ZoneName,
            b'a' | b'A' => Item::WeekdayName,
            b'u' => Item::Ignored {
                digits: 1,
                min: 1,
                max: 7,
            },
            b'w' => Item::Ignored {
                digits: 1,
                min: 0,
                max: 6,
            },
            b'U' | b'W' => Item::Ignored {
                digits: 2,
                min: 0,
                max: 53,
            },
            b'V' => Item::Ignored {
                digits: 2,
                min: 1,
                max: 53,
            },
            b'n' | b't' => Item::Space,
            b'%' => Item::Literal(b'%'),
            b'D' | b'x' => {
                compile_into(b"%m/%d/%y", items)?;
                continue;
            }
            b'F' => {
                compile_into(b"%Y-%m-%d", items)?;
                continue;
            }
            b'T' | b'X' => {
                compile_into(b"%H:%M:%S", items)?;
                continue;
            }
            b'R' => {
                compile_into(b"%H:%M", items)?;
                continue;
            }
            b'r' => {
                compile_into(b"%I:%M:%S %p", items)?;
                continue;
            }
            b'c' => {
                compile_into(b"%a %b %e %H:%M:%S %Y", items)?;
                continue;
            }
            other => return Err(format!("%{} is not a supported conversion", other as char)),
        };
        if item == Item::Space && items.last() == Some(&Item::Space) {
            continue;
        }
        items.push(item);
    }
    Ok(())
}

fn skip_white(input: &[u8], pos: &mut usize) {
    while *pos < input.len() && input[*pos].is_ascii_whitespace() {
        *pos += 1;
    }
}

/// Up to `digits` digits (at least one) after optional spaces, within `min..=max`.
fn number(input: &[u8], pos: &mut usize, digits: usize, min: u32, max: u32) -> Option<u32> {
    while input.get(*pos) == Some(&b' ') {
        *pos += 1;
    }
    let start = *pos;
    let mut value = 0u32;
    while *pos < input.len() && *pos - start < digits && input[*pos].is_ascii_digit() {
        value = value * 10 + u32::from(input[*pos] - b'0');
        *pos += 1;
    }
    (*pos > start && (min..=max).contains(&value)).then_some(value)
}

/// A fraction of a second of 1 to `max` digits, in nanoseconds.
fn fraction(input: &[u8], pos: &mut usize, max: usize) -> Option<u32> {
    let start = *pos;
    let mut value = 0u32;
    while *pos < input.len() && *pos - start < max && input[*pos].is_ascii_digit() {
        value = value * 10 + u32::from(input[*pos] - b'0');
        *pos += 1;
    }
    let n = *pos - start;
    (n > 0).then(|| value * 10u32.pow(9 - n as u32))
}

/// Seconds since the epoch; digits beyond the tenth are a fraction (at most nine are read).
fn epoch(input: &[u8], pos: &mut usize) -> Option<(i64, u32)> {
    let negative = input.get(*pos) == Some(&b'-');
    let start = *pos + usize::from(negative);
    let mut end = start;
    while end < input.len() && input[end].is_ascii_digit() {
        end += 1;
    }
    let digits = &input[start..end];
    if digits.is_empty() {
        return None;
    }
    *pos = end;
    let (whole, frac) = if !negative && digits.len() > 10 {
        digits.split_at(10)
    } else {
        (digits, &[][..])
    };
    let mut secs: i64 = 0;
    for d in whole {
        secs = secs.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    let frac = &frac[..frac.len().min(9)];
    let mut nanos = 0u32;
    for d in frac {
        nanos = nanos * 10 + u32::from(d - b'0');
    }
    nanos *= 10u32.pow(9 - frac.len() as u32);
    Some((if negative { -secs } else { secs }, nanos))
}

/// `Z`, or `+hh`, `+hhmm`, `+hh:mm` (or `-`), in seconds east of UTC.
fn offset(input: &[u8], pos: &mut usize) -> Option<i32> {
    skip_white(input, pos);
    let sign = match input.get(*pos)? {
        b'Z' | b'z' => {
            *pos += 1;
            return Some(0);
        }
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    *pos += 1;
    let two = |pos: &mut usize| -> Option<i32> {
        let d = input.get(*pos..*pos + 2)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *pos += 2;
        Some(i32::from(d[0] - b'0') * 10 + i32::from(d[1] - b'0'))
    };
    let hours = two(pos)?;
    let mut after = *pos;
    if input.get(after) == Some(&b':') {
        after += 1;
    }
    let minutes = match two(&mut after) {
        Some(m) => {
            *pos = after;
            m
        }
        None => 0,
    };
    (hours <= 23 && minutes <= 59).then_some(sign * (hours * 3600 + minutes * 60))
}

/// A full or three-letter name from `names`, any case; its index.
fn name(input: &[u8], pos: &mut usize, names: &[&str]) -> Option<usize> {
    let rest = &input[*pos..];
    for (i, full) in names.iter().enumerate() {
        for candidate in [full.as_bytes(), &full.as_bytes()[..3]] {
            if rest.len() >= candidate.len() && rest[..candidate.len()].eq_ignore_ascii_case(candidate) {
                *pos += candidate.len();
                return Some(i);
            }
        }
    }
    None
}

fn am_pm(input: &[u8], pos: &mut usize) -> Option<bool> {
    skip_white(input, pos);
    let word = input.get(*pos..*pos + 2)?;
    let pm = if word.eq_ignore_ascii_case(b"am") {
        false
    } else if word.eq_ignore_ascii_case(b"pm") {
        true
    } else {
        return None;
    };
    *pos += 2;
    Some(pm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(format: &str, input: &str) -> Option<Parsed> {
        Format::compile(format).unwrap().parse(input.as_bytes())
    }

    /// Every conversion LoongCollector's own test reads, with its sample value.
    #[test]
    fn reads_loongcollector_samples() {
        let samples = [
            ("%a", "Fri"),
            ("%A", "Friday"),
            ("%b", "Jan"),
            ("%B", "January"),
            ("%d", "19"),
            ("%h", "Jan"),
            ("%H", "22"),
            ("%I", "01"),
            ("%m", "08"),
            ("%M", "01"),
            ("%n", "\n"),
            ("%p", "AM"),
            ("%r", "11:59:59 AM"),
            ("%R", "23:59"),
            ("%S", "59"),
            ("%t", " "),
            ("%y", "98"),
            ("%Y", "2004"),
            ("%C", "20"),
            ("%e", "31"),
            ("%j", "365"),
            ("%u", "2"),
            ("%U", "53"),
            ("%V", "24"),
            ("%w", "5"),
            ("%W", "23"),
            ("%c", "Tue Nov 20 14:12:58 2020"),
            ("%x", "10/26/23"),
            ("%X", "14:12:58"),
            ("%s", "1605853978"),
            ("%f", "123456789"),
            ("%Y-%m-%d %H:%M:%S.%f", "2021-11-25 14:16:46.123456789"),
            ("[%Y-%m-%d %H:%M:%S", "[2017-12-11 15:05:07.012]"),
            ("%d %b %y %H:%M", "02 Jan 06 15:04 MST"),
            ("%A, %d-%b-%y %H:%M:%S", "Monday, 02-Jan-06 15:04:05 MST"),
            ("%A, %d %b %Y %H:%M:%S", "Mon, 02 Jan 2006 15:04:05 MST"),
            ("%Y-%m-%dT%H:%M:%S", "2006-01-02T15:04:05.999999999Z07:00"),
            ("%s", "1637843406123"),
            ("%D", "11/20/20"),
            ("%F", "2020-11-20"),
            ("%T", "14:12:58"),
            ("%z", "+0800"),
            ("%Z", "CST"),
            ("%%", "%"),
        ];
        for (format, input) in samples {
            assert!(parse(format, input).is_some(), "{format:?} did not read {input:?}");
        }
    }

    #[test]
    fn fields_are_read() {
        let p = parse("%Y-%m-%d %H:%M:%S.%f", "2021-11-25 14:16:46.123").unwrap();
        assert_eq!(
            (p.full_year(), p.month, p.day, p.hour24(), p.minute, p.second, p.nanos),
            (Some(2021), Some(11), Some(25), 14, 16, 46, 123_000_000)
        );
        let p = parse("%I:%M %p", "12:30 am").unwrap();
        assert_eq!(p.hour24(), 0);
        let p = parse("%I:%M%p", "01:30PM").unwrap();
        assert_eq!(p.hour24(), 13);
        assert_eq!(parse("%b %e", "Oct  5").unwrap().day, Some(5));
        assert_eq!(parse("%y", "68").unwrap().full_year(), Some(2068));
        assert_eq!(parse("%y", "69").unwrap().full_year(), Some(1969));
        assert_eq!(parse("%C%y", "1999").unwrap().full_year(), Some(1999));
        assert_eq!(parse("%3f", "12345").unwrap().nanos, 123_000_000);
        assert_eq!(parse("%z", "-03:30").unwrap().offset, Some(-(3 * 3600 + 1800)));
        assert_eq!(parse("%z", "+08").unwrap().offset, Some(8 * 3600));
        assert_eq!(parse("%z", "Z").unwrap().offset, Some(0));
    }

    #[test]
    fn epochs_carry_sub_second_digits() {
        let e = |s| {
            let p = parse("%s", s).unwrap();
            (p.epoch.unwrap(), p.nanos)
        };
        assert_eq!(e("1637843406"), (1637843406, 0));
        assert_eq!(e("1637843406123"), (1637843406, 123_000_000));
        assert_eq!(e("1637843406123456"), (1637843406, 123_456_000));
        assert_eq!(e("1637843406123456789"), (1637843406, 123_456_789));
        assert_eq!(e("-5"), (-5, 0));
    }

    #[test]
    fn mismatches_fail() {
        assert!(parse("%Y-%m-%d", "2021/11/25").is_none());
        assert!(parse("%m", "13").is_none());
        assert!(parse("%H", "x").is_none());
        assert!(parse("%b", "Foo").is_none());
        assert!(parse("%Y-%m-%d %H", "2021-11-25").is_none());
        assert!(parse("%f", "x").is_none());
    }

    #[test]
    fn bad_formats_are_rejected() {
        assert!(Format::compile("").is_err());
        assert!(Format::compile("%Q").unwrap_err().contains("%Q"));
        assert!(Format::compile("%Y%").is_err());
        assert!(Format::compile("%3Y").is_err());
        assert!(!Format::compile("%m-%d %H:%M:%S").unwrap().has_year);
        assert!(Format::compile("%s").unwrap().has_year);
    }
}
