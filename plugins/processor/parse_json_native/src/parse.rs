//! A JSON object → (key, value) pairs that borrow from the source bytes where they can.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Parses `source` as one JSON object and appends its members to `fields`, in order. On error
/// `fields` may hold some members: the caller clears it.
pub(crate) fn parse_object(source: &Bytes, fields: &mut Vec<(Bytes, Bytes)>) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(source);
    de.deserialize_map(ObjectVisitor { source, fields })?;
    de.end()
}

struct ObjectVisitor<'s> {
    source: &'s Bytes,
    fields: &'s mut Vec<(Bytes, Bytes)>,
}

impl<'de> Visitor<'de> for ObjectVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let raw: &'de RawValue = map.next_value()?;
            let key = match key {
                Cow::Borrowed(k) => sub(self.source, k.as_bytes()),
                Cow::Owned(k) => Bytes::from(k),
            };
            let value = value_bytes(self.source, raw.get()).map_err(de::Error::custom)?;
            self.fields.push((key, value));
        }
        Ok(())
    }
}

/// A member name, borrowed from the input when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The field value of one member, from its JSON text `raw`.
fn value_bytes(source: &Bytes, raw: &str) -> Result<Bytes, serde_json::Error> {
    let bytes = raw.as_bytes();
    Ok(match bytes.first() {
        Some(b'"') => {
            let inner = &bytes[1..bytes.len() - 1];
            if memchr::memchr(b'\\', inner).is_none() {
                sub(source, inner)
            } else {
                Bytes::from(serde_json::from_str::<String>(raw)?)
            }
        }
        Some(b'n') => Bytes::new(),
        Some(b'{' | b'[') => match compact(bytes) {
            None => sub(source, bytes),
            Some(owned) => Bytes::from(owned),
        },
        _ => sub(source, bytes),
    })
}

/// `raw` (valid JSON) without the whitespace between tokens, or `None` when it has none.
fn compact(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in raw.iter().enumerate() {
        let keep = if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            true
        } else {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => false,
                b'"' => {
                    in_string = true;
                    true
                }
                _ => true,
            }
        };
        match (&mut out, keep) {
            (Some(out), true) => out.push(b),
            (None, false) => {
                let mut v = Vec::with_capacity(raw.len());
                v.extend_from_slice(&raw[..i]);
                out = Some(v);
            }
            _ => {}
        }
    }
    out
}

/// `part` as a slice of `source` when it lies inside it (no copy), else a copy.
fn sub(source: &Bytes, part: &[u8]) -> Bytes {
    let range = source.as_ptr_range();
    if part.is_empty() {
        Bytes::new()
    } else if range.contains(&part.as_ptr()) && part.as_ptr_range().end <= range.end {
        source.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
        let source = Bytes::copy_from_slice(text.as_bytes());
        let mut fields = Vec::new();
        parse_object(&source, &mut fields).map_err(|e| e.to_string())?;
        Ok(fields
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8(k.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect())
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn members_become_text_values() {
        let text = r#" {"s": "text", "n": -1.5e3, "i": 42, "t": true, "f": false, "z": null,
            "o": { "a" : [1, 2, {"b": "x y"}] }, "c": {"k":[1,2]}, "e": "a\"b\u00e9\n", "k\u0041": 1 } "#;
        assert_eq!(
            parse(text).unwrap(),
            kv(&[
                ("s", "text"),
                ("n", "-1.5e3"),
                ("i", "42"),
                ("t", "true"),
                ("f", "false"),
                ("z", ""),
                ("o", r#"{"a":[1,2,{"b":"x y"}]}"#),
                ("c", r#"{"k":[1,2]}"#),
                ("e", "a\"b\u{e9}\n"),
                ("kA", "1"),
            ])
        );
    }

    #[test]
    fn unchanged_values_and_keys_borrow_the_source() {
        let source = Bytes::from_static(br#"{"key": "value", "num": 12, "obj": {"a":1}, "esc": "x\ty"}"#);
        let mut fields = Vec::new();
        parse_object(&source, &mut fields).unwrap();
        let range = source.as_ptr_range();
        for (k, v) in &fields[..3] {
            assert!(
                range.contains(&k.as_ptr()) && range.contains(&v.as_ptr()),
                "{k:?}: {v:?}"
            );
        }
        assert!(!range.contains(&fields[3].1.as_ptr()), "an unescaped value is new");
        assert_eq!(fields[3].1, "x\ty");
    }

    #[test]
    fn only_a_single_object_parses() {
        for bad in [
            "",
            "  ",
            "[1,2]",
            "12",
            "\"s\"",
            "{",
            r#"{"a":1} x"#,
            r#"{"a":}"#,
            "{'a':1}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(parse("{}").unwrap(), kv(&[]));
    }

    #[test]
    fn compacts_only_outside_strings() {
        assert_eq!(
            compact(br#"{"a b": [ 1 ,"c\" d" ]}"#).unwrap(),
            br#"{"a b":[1,"c\" d"]}"#
        );
        assert_eq!(compact(br#"{"a b":"c d"}"#), None);
    }
}
