/// Replaces `${VAR}` and `${VAR:default}` with values from `lookup`. `$${` stays a literal `${`.
/// A variable that is unset and has no default is an error, so a typo does not silently become an
/// empty string.
pub fn substitute_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        if rest[..pos].ends_with('$') {
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated ${{ in {:?}", line_of(text, rest, pos)))?;
        let expr = &after[..end];
        let (name, default) = match expr.split_once(':') {
            Some((n, d)) => (n.trim(), Some(d)),
            None => (expr.trim(), None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid variable name {name:?} in ${{{expr}}}"));
        }
        match lookup(name).or_else(|| default.map(str::to_owned)) {
            Some(value) => out.push_str(&value),
            None => {
                return Err(format!(
                    "environment variable {name} is not set and ${{{expr}}} has no default"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn line_of<'a>(text: &'a str, rest: &str, pos: usize) -> &'a str {
    let offset = text.len() - rest.len() + pos;
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    &text[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        (k == "HOST").then(|| "h1".to_owned())
    }

    #[test]
    fn substitutes_variables_and_defaults() {
        assert_eq!(substitute_env("a: ${HOST}", env).unwrap(), "a: h1");
        assert_eq!(substitute_env("a: ${PORT:8080}/${HOST:x}", env).unwrap(), "a: 8080/h1");
        assert_eq!(substitute_env("a: ${EMPTY:}", env).unwrap(), "a: ");
        assert_eq!(substitute_env("a: $${HOST}", env).unwrap(), "a: ${HOST}");
    }

    #[test]
    fn unset_without_default_is_an_error() {
        let err = substitute_env("a: ${NOPE}", env).unwrap_err();
        assert!(err.contains("NOPE is not set"), "{err}");
        assert!(substitute_env("a: ${HOST", env).is_err());
        assert!(substitute_env("a: ${bad name}", env).is_err());
    }
}
