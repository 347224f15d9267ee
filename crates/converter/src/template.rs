//! `%{content.k}` / `%{tag.k}` / `%{metadata.k}` variables in header, query and topic templates.
//!
//! The syntax is LoongCollector's `fmtstr` (taken from Beats): `%{…}` is a variable, `\` escapes the
//! next character, a `%` not followed by `{` is literal. Text after a `:` inside a variable is an
//! operator LoongCollector parses but never applies, so it is accepted and ignored here too.

use std::fmt;

use crate::ConvertError;

/// A key whose value is wanted per payload, parsed from `%{content.k}`, `%{tag.k}`, `%{metadata.k}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VarKey {
    /// A content (field) of the log.
    Content(String),
    /// A tag, by the name it has in the output (after `TagFieldsRename`).
    Tag(String),
    /// A group metadata key (V1: `__topic__`, `__source__`, `__category__`, `__machine_uuid__`).
    Metadata(String),
}

const CONTENT_PREFIX: &str = "content.";
const TAG_PREFIX: &str = "tag.";
const METADATA_PREFIX: &str = "metadata.";

impl VarKey {
    /// `"content.db"` → `Content("db")`; `None` for another prefix or an empty name.
    pub fn parse(s: &str) -> Option<VarKey> {
        let key = if let Some(k) = s.strip_prefix(CONTENT_PREFIX) {
            VarKey::Content(k.to_owned())
        } else if let Some(k) = s.strip_prefix(TAG_PREFIX) {
            VarKey::Tag(k.to_owned())
        } else if let Some(k) = s.strip_prefix(METADATA_PREFIX) {
            VarKey::Metadata(k.to_owned())
        } else {
            return None;
        };
        (!key.name().is_empty()).then_some(key)
    }

    /// The key without its prefix.
    pub fn name(&self) -> &str {
        match self {
            VarKey::Content(k) | VarKey::Tag(k) | VarKey::Metadata(k) => k,
        }
    }
}

impl fmt::Display for VarKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self {
            VarKey::Content(_) => CONTENT_PREFIX,
            VarKey::Tag(_) => TAG_PREFIX,
            VarKey::Metadata(_) => METADATA_PREFIX,
        };
        write!(f, "{prefix}{}", self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// The key and its source text, which is what a missing value renders as.
    Var(VarKey, String),
}

/// A parsed template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `s`; a variable with an unknown prefix, an empty or nested variable, or a missing `}` is
    /// an error.
    pub fn parse(s: &str) -> Result<Template, ConvertError> {
        let err = |reason: String| ConvertError::Template {
            template: s.to_owned(),
            reason,
        };
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = s.chars().peekable();
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
                    let mut in_ops = false;
                    let mut closed = false;
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => {
                                if let (Some(next), false) = (chars.next(), in_ops) {
                                    name.push(next);
                                }
                            }
                            '}' => {
                                closed = true;
                                break;
                            }
                            '%' if chars.peek() == Some(&'{') => {
                                return Err(err("format string variables can not be nested".into()));
                            }
                            ':' => in_ops = true,
                            c if !in_ops => name.push(c),
                            _ => {}
                        }
                    }
                    if !closed {
                        return Err(err("missing closing '}'".into()));
                    }
                    if name.is_empty() {
                        return Err(err("empty variable %{}".into()));
                    }
                    let key = VarKey::parse(&name).ok_or_else(|| {
                        err(format!(
                            "unsupported variable %{{{name}}} (use %{{content.<key>}}, %{{tag.<key>}} or %{{metadata.<key>}})"
                        ))
                    })?;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var(key, name));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts })
    }

    /// The variables, in order of appearance (repeats included).
    pub fn keys(&self) -> impl Iterator<Item = &VarKey> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(k, _) => Some(k),
            Part::Literal(_) => None,
        })
    }

    /// True when the template has no variables, so every payload gets the same text.
    pub fn is_constant(&self) -> bool {
        self.keys().next().is_none()
    }

    /// Substitutes the variables. A key `lookup` has no value for renders as its own name
    /// (`content.db`), as LoongCollector's `fmtstr.FormatTopic` does.
    pub fn render<'v>(&self, lookup: impl Fn(&VarKey) -> Option<&'v str>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Var(key, source) => out.push_str(lookup(key).unwrap_or(source)),
            }
        }
        out
    }
}
