//! Label sets: names as Loki accepts them, and the Prometheus text form `{a="x", b="y"}` Loki
//! expects in `StreamAdapter.labels` (written here, parsed by the test receiver).

use std::collections::BTreeMap;

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `name` with every character Loki does not allow replaced by `_` (and `_` before a leading
/// digit): `host.name` → `host_name`.
pub fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Writes `{a="x", b="y"}`; `labels` must be sorted by name (a `BTreeMap` is). Values are quoted
/// as Go's `strconv.Quote` does for the characters that need it.
pub fn format(labels: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(2 + labels.iter().map(|(k, v)| k.len() + v.len() + 5).sum::<usize>());
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    use std::fmt::Write;
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// Parses `{a="x", b="y"}` as Loki's push path does; an error says what is wrong.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let s = text.trim();
    let inner = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| format!("parse error: a label set is {{name=\"value\", …}}, got {s:?}"))?;
    let mut out = BTreeMap::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("parse error: expected '=' after label name {name:?}"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('"') {
            return Err(format!("parse error: the value of {name:?} must be a quoted string"));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                None => return Err(format!("parse error: unterminated value of {name:?}")),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    Some('r') => value.push('\r'),
                    Some('t') => value.push('\t'),
                    Some('x') => {
                        let hex: String = chars.by_ref().take(2).collect();
                        let b =
                            u8::from_str_radix(&hex, 16).map_err(|_| format!("parse error: bad escape \\x{hex}"))?;
                        value.push(b as char);
                    }
                    other => return Err(format!("parse error: unknown escape \\{}", other.unwrap_or(' '))),
                },
                Some(c) => value.push(c),
            }
        }
        if !is_valid_name(&name) {
            return Err(format!("invalid label name {name:?}"));
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(format!("duplicate label name {name:?}"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(c) => return Err(format!("parse error: unexpected {c:?} after the value of {name:?}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_name("job") && is_valid_name("_x1") && !is_valid_name("1x") && !is_valid_name("a.b"));
        assert_eq!(sanitize_name("host.name"), "host_name");
        assert_eq!(sanitize_name("9lives"), "_9lives");
        assert_eq!(sanitize_name("k8s-pod/name"), "k8s_pod_name");
    }

    #[test]
    fn format_and_parse_round_trip() {
        let labels: BTreeMap<String, String> = [("job", "loong"), ("b", "q\"uo\\te\nnl\ttab\u{1}")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let text = format(&labels);
        assert_eq!(text, "{b=\"q\\\"uo\\\\te\\nnl\\ttab\\x01\", job=\"loong\"}");
        assert_eq!(parse(&text).unwrap(), labels);
        assert_eq!(parse(" { a = \"1\" ,b=\"2\" } ").unwrap().len(), 2);
        assert_eq!(parse("{}").unwrap().len(), 0);
        for bad in [
            "a=\"1\"",
            "{a=1}",
            "{a=\"1\", a=\"2\"}",
            "{a.b=\"1\"}",
            "{a=\"1\" b=\"2\"}",
            "{a=\"1}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
