//! InfluxDB line protocol, written as LoongCollector's converter does through
//! `influxdata/line-protocol/v2` in lax mode: `measurement[,tag=v…] field=v[,…] [ns]\n` per point.

use std::borrow::Cow;

use loong_model::{MetricEvent, MetricValue, TypedValue, v1::Log};

const MEASUREMENT_ESCAPES: &[u8] = b" ,";
const KEY_ESCAPES: &[u8] = b" ,=";

fn write_escaped(out: &mut Vec<u8>, s: &[u8], escapes: &[u8]) {
    for &b in s {
        if escapes.contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    }
}

fn write_string_field(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b => out.push(b),
        }
    }
    out.push(b'"');
}

/// A field value. Floats must be finite: the line protocol has no NaN or infinity.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field<'a> {
    Float(f64),
    Int(i64),
    Bool(bool),
    Str(Cow<'a, str>),
}

impl Field<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Field::Float(f) => write_go_float(out, *f),
            Field::Int(i) => {
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'i');
            }
            Field::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Field::Str(s) => write_string_field(out, s.as_bytes()),
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest digits, in exponent form when the
/// decimal exponent is below -4 or at least 6 (`1e+06`, `1.5e-07`), plain otherwise.
pub(crate) fn write_go_float(out: &mut Vec<u8>, f: f64) {
    // Rust's `{:e}` gives the same shortest round-trip digits; only the layout differs.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if neg {
        out.push(b'-');
    }
    if f == 0.0 {
        out.push(b'0');
        return;
    }
    if !(-4..6).contains(&exp) {
        out.extend_from_slice(&digits.as_bytes()[..1]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits.as_bytes()[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(e.to_string().as_bytes());
        return;
    }
    // Plain notation: the decimal point sits after `exp + 1` digits.
    let point = exp + 1;
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', point.unsigned_abs() as usize));
        out.extend_from_slice(digits.as_bytes());
    } else {
        let point = point as usize;
        if digits.len() <= point {
            out.extend_from_slice(digits.as_bytes());
            out.extend(std::iter::repeat_n(b'0', point - digits.len()));
        } else {
            out.extend_from_slice(&digits.as_bytes()[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits.as_bytes()[point..]);
        }
    }
}

/// Writes one point. `tags` must be sorted by key; `fields` must not be empty.
fn write_line<'a>(
    out: &mut Vec<u8>,
    measurement: &[u8],
    tags: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    fields: &[(Cow<'_, str>, Field<'_>)],
    timestamp: Option<i64>,
) {
    write_escaped(out, measurement, MEASUREMENT_ESCAPES);
    for (k, v) in tags {
        // An empty tag value makes InfluxDB reject the whole line, so the tag is left out.
        if v.is_empty() {
            continue;
        }
        out.push(b',');
        write_escaped(out, k, KEY_ESCAPES);
        out.push(b'=');
        write_escaped(out, v, KEY_ESCAPES);
    }
    for (i, (name, value)) in fields.iter().enumerate() {
        out.push(if i == 0 { b' ' } else { b',' });
        write_escaped(out, name.as_bytes(), KEY_ESCAPES);
        out.push(b'=');
        value.write(out);
    }
    if let Some(ts) = timestamp {
        out.push(b' ');
        out.extend_from_slice(ts.to_string().as_bytes());
    }
    out.push(b'\n');
}

/// Writes a V2 metric: its tags sorted by key, `value=` (single value) or one field per named value,
/// then its typed values. `Err` names what cannot be expressed (no finite value at all).
pub(crate) fn write_metric(out: &mut Vec<u8>, m: &MetricEvent) -> Result<(), String> {
    let mut fields: Vec<(Cow<'_, str>, Field<'_>)> = Vec::with_capacity(1 + m.typed_values.len());
    match &m.value {
        MetricValue::Single(v) if v.is_finite() => fields.push((Cow::Borrowed("value"), Field::Float(*v))),
        MetricValue::Single(_) => {}
        MetricValue::Multi(values) => fields.extend(
            values
                .iter()
                .filter(|(_, v)| v.is_finite())
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), Field::Float(*v))),
        ),
    }
    for (k, v) in &m.typed_values {
        let field = match v {
            TypedValue::Str(s) => Field::Str(Cow::Borrowed(s)),
            TypedValue::Bool(b) => Field::Bool(*b),
            TypedValue::Int(i) => Field::Int(*i),
            TypedValue::Float(f) if f.is_finite() => Field::Float(*f),
            TypedValue::Float(_) => continue,
        };
        fields.push((Cow::Borrowed(k.as_str()), field));
    }
    if fields.is_empty() {
        return Err(format!("metric {:?} without a finite value", m.name));
    }
    let mut tags: Vec<(&[u8], &[u8])> = m.tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    tags.sort_by(|a, b| a.0.cmp(b.0));
    write_line(
        out,
        m.name.as_bytes(),
        tags,
        &fields,
        Some(i64::try_from(m.timestamp).unwrap_or(i64::MAX)),
    );
    Ok(())
}

/// Writes a V1 log in LoongCollector's metric layout (`__name__`, `__labels__` as `k#$#v|…`,
/// `__value__`, optional `__time_nano__`, `__type__` float|int|bool|string, `__field__`).
/// `Err` says why the log is not such a metric.
pub(crate) fn write_v1_metric(out: &mut Vec<u8>, log: &Log) -> Result<(), String> {
    let (mut name, mut labels, mut value, mut value_type, mut time, mut field) = ("", "", "", "", "", "");
    for c in &log.contents {
        let slot = match c.key.as_str() {
            "__name__" => &mut name,
            "__labels__" => &mut labels,
            "__value__" => &mut value,
            "__type__" => &mut value_type,
            "__time_nano__" => &mut time,
            "__field__" => &mut field,
            _ => continue,
        };
        *slot = c.value.as_str();
    }
    if name.is_empty() || (value.is_empty() && value_type != "string") {
        return Err("a log without __name__ and __value__ is not a metric".into());
    }
    let (measurement, field_name) = if field.is_empty() || field == "value" {
        (name, "value")
    } else {
        (name.strip_suffix(&format!(":{field}")).unwrap_or(name), field)
    };
    let parsed = match value_type {
        "bool" => parse_go_bool(value).map(Field::Bool),
        "string" => Some(Field::Str(Cow::Borrowed(value))),
        "int" => value.parse().ok().map(Field::Int),
        _ => value.parse::<f64>().ok().filter(|f| f.is_finite()).map(Field::Float),
    }
    .ok_or_else(|| {
        format!(
            "metric {name:?}: {value:?} is not a valid {} value",
            type_name(value_type)
        )
    })?;
    let timestamp = match time {
        "" => None,
        t => Some(
            t.parse::<i64>()
                .map_err(|_| format!("metric {name:?}: bad __time_nano__ {t:?}"))?,
        ),
    };
    let labels = parse_labels(labels).map_err(|key| format!("metric {name:?}: label {key:?} has no value"))?;
    write_line(
        out,
        measurement.as_bytes(),
        labels.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())),
        &[(Cow::Borrowed(field_name), parsed)],
        timestamp,
    );
    Ok(())
}

fn type_name(value_type: &str) -> &str {
    if value_type.is_empty() { "float" } else { value_type }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `k1#$#v1|k2#$#v2`, sorted by key. A `|` inside a value survives: a segment without `#$#` belongs
/// to the previous value, or (before the first label) to the next key. `Err` is a dangling key.
fn parse_labels(labels: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut pending_key = String::new();
    if !labels.is_empty() {
        for segment in labels.split('|') {
            match segment.split_once("#$#") {
                Some((k, v)) => {
                    let key = if pending_key.is_empty() {
                        k.to_owned()
                    } else {
                        format!("{}|{k}", std::mem::take(&mut pending_key))
                    };
                    out.push((key, v.to_owned()));
                }
                None => match out.last_mut() {
                    Some((_, v)) => {
                        v.push('|');
                        v.push_str(segment);
                    }
                    None if pending_key.is_empty() => pending_key = segment.to_owned(),
                    None => {
                        pending_key.push('|');
                        pending_key.push_str(segment);
                    }
                },
            }
        }
    }
    if !pending_key.is_empty() {
        return Err(pending_key);
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(f: f64) -> String {
        let mut out = Vec::new();
        write_go_float(&mut out, f);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_format_like_go_g_shortest() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (1e21, "1e+21"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (100.125, "100.125"),
            (1e100, "1e+100"),
        ];
        for (f, want) in cases {
            assert_eq!(go(f), want, "{f}");
        }
    }

    #[test]
    fn labels_keep_pipes_inside_values() {
        let labels = parse_labels("b#$#2|a#$#x|y").unwrap();
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, vec![("a", "x|y"), ("b", "2")]);
        assert_eq!(parse_labels("lonely").unwrap_err(), "lonely");
        assert!(parse_labels("").unwrap().is_empty());
    }
}
