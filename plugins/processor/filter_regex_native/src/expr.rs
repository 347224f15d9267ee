//! Full-match rules on fields, and LoongCollector's `ConditionExp` tree.

use anyhow::Context as _;
use bytes::Bytes;
use loong_api::KeyValues;
use regex::bytes::{Regex, RegexBuilder};
use serde_json::Value;

/// `pattern` compiled to match a whole value, `.` matching line breaks too (LoongCollector uses
/// Boost's `regex_match`).
pub(crate) fn full_match(pattern: &str) -> anyhow::Result<Regex> {
    Regex::new(pattern).with_context(|| format!("{pattern:?} is not a valid regular expression"))?;
    Ok(RegexBuilder::new(&format!("^(?:{pattern})$"))
        .dot_matches_new_line(true)
        .build()?)
}

/// A field that must exist and fully match.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub key: Bytes,
    pub regex: Regex,
}

impl Rule {
    pub fn new(key: &str, pattern: &str) -> anyhow::Result<Rule> {
        Ok(Rule {
            key: Bytes::copy_from_slice(key.as_bytes()),
            regex: full_match(pattern).with_context(|| format!("the expression for {key:?}"))?,
        })
    }

    pub fn matches(&self, contents: &KeyValues) -> bool {
        contents.get(&self.key).is_some_and(|v| self.regex.is_match(v))
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Leaf(Rule),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    pub fn parse(value: &Value, path: &str) -> anyhow::Result<Expr> {
        let object = value.as_object().with_context(|| format!("{path} must be an object"))?;
        if let Some(operator) = object.get("operator") {
            let operator = operator
                .as_str()
                .with_context(|| format!("{path}.operator must be a string"))?
                .to_ascii_lowercase();
            let operands = object
                .get("operands")
                .and_then(Value::as_array)
                .with_context(|| format!("{path}.operands must be a list"))?;
            let mut children = operands
                .iter()
                .enumerate()
                .map(|(i, v)| Expr::parse(v, &format!("{path}.operands[{i}]")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            return match (operator.as_str(), children.len()) {
                ("not", 1) => Ok(Expr::Not(Box::new(children.remove(0)))),
                ("not", n) => anyhow::bail!("{path}: not takes one operand, not {n}"),
                ("and", n) if n >= 2 => Ok(Expr::And(children)),
                ("or", n) if n >= 2 => Ok(Expr::Or(children)),
                ("and" | "or", n) => anyhow::bail!("{path}: {operator} takes two operands or more, not {n}"),
                (other, _) => anyhow::bail!("{path}: unknown operator {other:?} (and, or, not)"),
            };
        }
        let text = |name: &str| {
            object
                .get(name)
                .and_then(Value::as_str)
                .with_context(|| format!("{path}.{name} must be a string"))
        };
        let kind = object.get("type").and_then(Value::as_str).unwrap_or("regex");
        anyhow::ensure!(
            kind.eq_ignore_ascii_case("regex"),
            "{path}.type {kind:?} is not supported (regex)"
        );
        Ok(Expr::Leaf(
            Rule::new(text("key")?, text("exp")?).with_context(|| path.to_owned())?,
        ))
    }

    pub fn matches(&self, contents: &KeyValues) -> bool {
        match self {
            Expr::Leaf(rule) => rule.matches(contents),
            Expr::Not(e) => !e.matches(contents),
            Expr::And(es) => es.iter().all(|e| e.matches(contents)),
            Expr::Or(es) => es.iter().any(|e| e.matches(contents)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn contents(pairs: &[(&str, &str)]) -> KeyValues {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn expressions_combine_full_matches() {
        let e = Expr::parse(
            &json!({"operator": "AND", "operands": [
                {"key": "method", "exp": "POST|PUT", "type": "regex"},
                {"operator": "not", "operands": [{"key": "status", "exp": "5\\d\\d"}]}
            ]}),
            "ConditionExp",
        )
        .unwrap();
        assert!(e.matches(&contents(&[("method", "POST"), ("status", "200")])));
        assert!(!e.matches(&contents(&[("method", "POST"), ("status", "503")])));
        assert!(!e.matches(&contents(&[("method", "POSTX"), ("status", "200")])));
        assert!(!e.matches(&contents(&[("status", "200")])));
        let or = Expr::parse(
            &json!({"operator": "or", "operands": [{"key": "a", "exp": "1"}, {"key": "b", "exp": "2"}, {"key": "c", "exp": "3"}]}),
            "ConditionExp",
        )
        .unwrap();
        assert!(or.matches(&contents(&[("c", "3")])));
        assert!(!or.matches(&contents(&[("c", "33")])));
    }

    #[test]
    fn bad_trees_name_the_place() {
        let err = |v| Expr::parse(&v, "ConditionExp").unwrap_err().to_string();
        assert!(err(json!({"operator": "xor", "operands": []})).contains("unknown operator"));
        assert!(err(json!({"operator": "and", "operands": [{"key": "a", "exp": "1"}]})).contains("two operands"));
        let e = err(json!({"operator": "not", "operands": [{"key": "a"}]}));
        assert!(e.contains("ConditionExp.operands[0].exp"), "{e}");
        assert!(err(json!({"key": "a", "exp": "1", "type": "range"})).contains("not supported"));
        assert!(
            format!("{:#}", Expr::parse(&json!({"key": "a", "exp": "("}), "C").unwrap_err()).contains("not a valid")
        );
    }
}
