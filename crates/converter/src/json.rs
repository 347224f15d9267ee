//! JSON output written straight into the body buffer, byte-compatible with Go's `encoding/json`
//! encoder with `SetEscapeHTML(false)`, which is what LoongCollector marshals with.

/// Writes `s` as a JSON string. Invalid UTF-8 becomes one `\ufffd` per offending byte (Go's rule, so
/// bodies match LoongCollector's), without first copying the value into a `String`.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut rest = s;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                escape_valid(out, valid.as_bytes());
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                escape_valid(out, valid);
                let bad = e.error_len().unwrap_or(after.len());
                for _ in 0..bad {
                    out.extend_from_slice(b"\\ufffd");
                }
                rest = &after[bad..];
            }
        }
    }
    out.push(b'"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Escapes valid UTF-8: quote, backslash, control characters, and U+2028/U+2029, which Go escapes
/// even with HTML escaping off (they end lines in JavaScript).
fn escape_valid(out: &mut Vec<u8>, b: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let (escape, width): (&[u8], usize) = match c {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            b'\n' => (b"\\n", 1),
            b'\r' => (b"\\r", 1),
            b'\t' => (b"\\t", 1),
            0x08 => (b"\\b", 1),
            0x0c => (b"\\f", 1),
            0x00..=0x1f => (&[], 1),
            0xe2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xa8 | 0xa9)) => {
                if b[i + 2] == 0xa8 {
                    (b"\\u2028", 3)
                } else {
                    (b"\\u2029", 3)
                }
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&b[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        i += width;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
}

/// Writes an unsigned integer without going through `fmt`.
pub(crate) fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[pos..]);
}

/// Sorts `entries` by key and keeps the last entry of each key: the key order and the
/// last-write-wins of the Go maps LoongCollector builds and marshals.
pub(crate) fn sort_dedup_last<K: Ord + Copy, V: Copy>(entries: &mut Vec<(K, V)>) {
    entries.sort_by_key(|e| e.0);
    let mut write = 0;
    for read in 0..entries.len() {
        if read + 1 < entries.len() && entries[read + 1].0 == entries[read].0 {
            continue;
        }
        entries[write] = entries[read];
        write += 1;
    }
    entries.truncate(write);
}

/// Writes `{"k":"v",…}` from already sorted, unique entries.
pub(crate) fn write_object(out: &mut Vec<u8>, entries: &[(&[u8], &[u8])]) {
    out.push(b'{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_str(out, v);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8]) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_go_without_html_escaping() {
        assert_eq!(enc(b"a\"b\\c\nd\re\tf"), r#""a\"b\\c\nd\re\tf""#);
        assert_eq!(enc(b"\x01\x08\x0c\x1f\x7f"), "\"\\u0001\\b\\f\\u001f\x7f\"");
        assert_eq!(enc("<&>é😀".as_bytes()), "\"<&>é😀\"");
        assert_eq!(enc("a\u{2028}b\u{2029}".as_bytes()), r#""a\u2028b\u2029""#);
    }

    #[test]
    fn invalid_utf8_becomes_one_replacement_per_byte() {
        assert_eq!(enc(b"a\xffb"), r#""a\ufffdb""#);
        // A truncated 4-byte sequence: Go decodes each byte as its own error.
        assert_eq!(enc(b"x\xf0\x9f\x98y"), r#""x\ufffd\ufffd\ufffdy""#);
        assert_eq!(enc(b"end\xe2\x80"), r#""end\ufffd\ufffd""#);
        let parsed: String = serde_json::from_str(&enc(b"a\xffb")).unwrap();
        assert_eq!(parsed, "a\u{fffd}b");
    }

    #[test]
    fn output_parses_back_to_the_input() {
        let input = "quote\" slash\\ nl\n tab\t ctrl\u{1} uni ☃ \u{2028}";
        let parsed: String = serde_json::from_str(&enc(input.as_bytes())).unwrap();
        assert_eq!(parsed, input);
    }

    #[test]
    fn dedup_keeps_the_last_value_of_a_key() {
        let mut v = vec![("b", 1), ("a", 2), ("b", 3), ("c", 4), ("a", 5)];
        sort_dedup_last(&mut v);
        assert_eq!(v, vec![("a", 5), ("b", 3), ("c", 4)]);
    }

    #[test]
    fn integers() {
        let mut out = Vec::new();
        for n in [0u64, 7, 1_700_000_000, u64::MAX] {
            out.clear();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
