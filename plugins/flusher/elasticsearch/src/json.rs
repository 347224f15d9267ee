//! JSON written straight into the request body, without building values first.

/// Writes `s` as a JSON string. Invalid UTF-8 becomes one `\ufffd` per offending byte, so a
/// document is always valid JSON whatever the log held.
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut rest = s;
    loop {
        match std::str::from_utf8(rest) {
            Ok(_) => {
                escape(out, rest);
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                escape(out, valid);
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

/// Escapes valid UTF-8: quote, backslash and control characters.
fn escape(out: &mut Vec<u8>, b: &[u8]) {
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let short: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
}

/// Writes `n` in decimal with at least `width` digits.
pub fn write_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut pos = buf.len();
    let mut n = n;
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = buf.len() - pos;
    for _ in digits..width {
        out.push(b'0');
    }
    out.extend_from_slice(&buf[pos..]);
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
    fn escapes_and_round_trips() {
        let input = "quote\" slash\\ nl\n tab\t ctrl\u{1} uni ☃ <&>";
        assert_eq!(serde_json::from_str::<String>(&enc(input.as_bytes())).unwrap(), input);
        assert_eq!(enc(b"a\x01b"), r#""a\u0001b""#);
    }

    #[test]
    fn invalid_utf8_is_replaced_per_byte() {
        assert_eq!(enc(b"a\xffb"), r#""a\ufffdb""#);
        assert_eq!(enc(b"x\xf0\x9f\x98"), r#""x\ufffd\ufffd\ufffd""#);
    }

    #[test]
    fn padded_numbers() {
        let mut out = Vec::new();
        write_padded(&mut out, 7, 2);
        write_padded(&mut out, 2024, 4);
        write_padded(&mut out, 123, 9);
        assert_eq!(out, b"072024000000123");
    }
}
