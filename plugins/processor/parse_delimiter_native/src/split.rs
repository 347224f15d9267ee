//! Splitting a line into fields, as LoongCollector's delimiter parser does.

use memchr::memmem::Finder;

/// One field of a line: a range of it, or text that had to change (quotes unescaped, extra
/// fields joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    Range(usize, usize),
    Owned(Vec<u8>),
}

/// Splits `line` at the one-byte `sep`, reading `quote`d fields: a field that starts with a quote
/// ends at the next quote not doubled, and must be followed by the separator or the end; a doubled
/// quote inside stands for one quote. A quote inside an unquoted field, text after a closing quote,
/// or a missing closing quote is an error (false; `out` then holds the fields read so far).
pub(crate) fn split_quoted(line: &[u8], sep: u8, quote: u8, out: &mut Vec<Field>) -> bool {
    let n = line.len();
    let mut i = 0;
    loop {
        if i < n && line[i] == quote {
            let start = i + 1;
            let mut from = start;
            let mut unescaped: Option<Vec<u8>> = None;
            let close = loop {
                let Some(p) = memchr::memchr(quote, &line[from..]) else {
                    return false;
                };
                let q = from + p;
                if q + 1 < n && line[q + 1] == quote {
                    let buf = unescaped.get_or_insert_with(Vec::new);
                    buf.extend_from_slice(&line[from..=q]);
                    from = q + 2;
                    continue;
                }
                break q;
            };
            out.push(match unescaped {
                None => Field::Range(start, close),
                Some(mut buf) => {
                    buf.extend_from_slice(&line[from..close]);
                    Field::Owned(buf)
                }
            });
            if close + 1 == n {
                return true;
            }
            if line[close + 1] != sep {
                return false;
            }
            i = close + 2;
        } else {
            match memchr::memchr2(sep, quote, &line[i..]) {
                None => {
                    out.push(Field::Range(i, n));
                    return true;
                }
                Some(p) if line[i + p] == quote => return false,
                Some(p) => {
                    out.push(Field::Range(i, i + p));
                    i += p + 1;
                }
            }
        }
        if i == n {
            // The line ends with a separator: an empty last field.
            out.push(Field::Range(n, n));
            return true;
        }
    }
}

/// Splits `line` at every occurrence of the separator `finder` looks for, without quoting. With a
/// `limit`, once that many fields are read the rest of the line, from the separator before it,
/// becomes one more field (LoongCollector's `keep` and `discard` treatments).
pub(crate) fn split_plain(line: &[u8], finder: &Finder<'_>, limit: Option<usize>, out: &mut Vec<Field>) {
    let d = finder.needle().len();
    let n = line.len();
    if d > n {
        out.push(Field::Range(0, n));
        return;
    }
    let mut pos = 0;
    while pos + d <= n {
        let found = finder.find(&line[pos..]).map_or(n, |p| pos + p);
        out.push(Field::Range(pos, found));
        if found == n {
            return;
        }
        pos = found + d;
        if limit.is_some_and(|limit| out.len() >= limit) {
            out.push(Field::Range(found, n));
            return;
        }
    }
    out.push(Field::Range(pos, n));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &str, fields: &[Field]) -> Vec<String> {
        fields
            .iter()
            .map(|f| match f {
                Field::Range(s, e) => line[*s..*e].to_owned(),
                Field::Owned(v) => String::from_utf8(v.clone()).unwrap(),
            })
            .collect()
    }

    fn quoted(line: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        split_quoted(line.as_bytes(), b',', b'\'', &mut out).then(|| text(line, &out))
    }

    fn plain(line: &str, sep: &str, limit: Option<usize>) -> Vec<String> {
        let mut out = Vec::new();
        split_plain(line.as_bytes(), &Finder::new(sep), limit, &mut out);
        text(line, &out)
    }

    #[test]
    fn quoted_fields_follow_loongcollector_fsm() {
        assert_eq!(quoted("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(quoted(",POST,,").unwrap(), ["", "POST", "", ""]);
        assert_eq!(quoted("t,'a,b',x").unwrap(), ["t", "a,b", "x"]);
        assert_eq!(quoted("t,'',x").unwrap(), ["t", "", "x"]);
        assert_eq!(quoted("t,'''',x").unwrap(), ["t", "'", "x"]);
        assert_eq!(quoted("'it''s','x'").unwrap(), ["it's", "x"]);
        assert_eq!(quoted("a,'b'").unwrap(), ["a", "b"]);
        assert_eq!(quoted("a,'b',").unwrap(), ["a", "b", ""]);
        for bad in ["t,''',x", "t,',x", "a'b,c", "'a'b,c", "a,'b"] {
            assert!(quoted(bad).is_none(), "{bad:?} parsed");
        }
    }

    #[test]
    fn plain_split_handles_multi_byte_separators_and_limits() {
        assert_eq!(plain("123@@456@@789", "@@", None), ["123", "456", "789"]);
        assert_eq!(plain("a@@@@b@@", "@@", None), ["a", "", "b", ""]);
        assert_eq!(plain("a", "@@", None), ["a"]);
        assert_eq!(plain("a@", "@@", None), ["a@"]);
        assert_eq!(plain("123@@456@@1@@2@@3", "@@", Some(3)), ["123", "456", "1", "@@2@@3"]);
        assert_eq!(plain("a|b", "|", Some(2)), ["a", "b"]);
        assert_eq!(plain("a|b|", "|", Some(2)), ["a", "b", "|"]);
    }
}
