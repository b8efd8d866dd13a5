//! Words and variables as BuildKit's shell lexer reads them in the instructions that
//! expand (`FROM`, `COPY`, `ADD`, `ENV`, `ARG`, `LABEL`, `EXPOSE`, `USER`, `WORKDIR`,
//! `VOLUME`, `STOPSIGNAL`): single quotes literal, double quotes with `$` expanded, the
//! escape character taking the next one literally, `$VAR`, `${VAR}`, `${VAR:-word}`,
//! `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?message}`.

/// An expansion that failed: an unclosed quote or brace, `${VAR:?}` on an unset variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WordError(pub String);

/// Splits text into words at unquoted whitespace, quotes and escapes kept (each word is
/// expanded later, with the variables of its step).
pub fn split_words(text: &str, escape: char) -> Result<Vec<String>, WordError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                word.push(c);
            }
            Some('"') if c == escape => {
                word.push(c);
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            Some(_) => word.push(c),
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                in_word = true;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                word.push(c);
                if c == escape {
                    if let Some(next) = chars.next() {
                        word.push(next);
                    }
                }
            }
        }
    }
    if quote.is_some() {
        return Err(WordError(format!(
            "unexpected end of statement while looking for matching {}",
            quote.unwrap_or('"')
        )));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Expands one word: quotes removed, escapes applied, variables substituted from `vars`.
pub fn expand(
    word: &str,
    escape: char,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<String, WordError> {
    let chars: Vec<char> = word.chars().collect();
    let mut at = 0;
    let out = expand_until(&chars, &mut at, escape, vars, None)?;
    Ok(out)
}

/// Expands from `at` up to `stop` (outside quotes) or the end.
fn expand_until(
    chars: &[char],
    at: &mut usize,
    escape: char,
    vars: &dyn Fn(&str) -> Option<String>,
    stop: Option<char>,
) -> Result<String, WordError> {
    let mut out = String::new();
    while *at < chars.len() {
        let c = chars[*at];
        if Some(c) == stop {
            return Ok(out);
        }
        *at += 1;
        match c {
            '\'' => loop {
                let Some(&q) = chars.get(*at) else {
                    return Err(WordError(
                        "unexpected end of statement while looking for matching '".into(),
                    ));
                };
                *at += 1;
                if q == '\'' {
                    break;
                }
                out.push(q);
            },
            '"' => loop {
                let Some(&q) = chars.get(*at) else {
                    return Err(WordError(
                        "unexpected end of statement while looking for matching \"".into(),
                    ));
                };
                *at += 1;
                match q {
                    '"' => break,
                    '$' => out.push_str(&variable(chars, at, escape, vars)?),
                    q if q == escape => match chars.get(*at) {
                        // In double quotes the escape only escapes what would be special.
                        Some(&n @ ('"' | '$')) => {
                            out.push(n);
                            *at += 1;
                        }
                        Some(&n) if n == escape => {
                            out.push(n);
                            *at += 1;
                        }
                        _ => out.push(q),
                    },
                    q => out.push(q),
                }
            },
            '$' => out.push_str(&variable(chars, at, escape, vars)?),
            c if c == escape => {
                if let Some(&n) = chars.get(*at) {
                    out.push(n);
                    *at += 1;
                }
            }
            c => out.push(c),
        }
    }
    if stop.is_some() {
        return Err(WordError("missing '}'".into()));
    }
    Ok(out)
}

/// After a `$`: a name, `{…}`, or a lone `$`.
fn variable(
    chars: &[char],
    at: &mut usize,
    escape: char,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<String, WordError> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.get(*at) {
        Some('{') => {
            *at += 1;
            let start = *at;
            while chars.get(*at).is_some_and(|c| is_name(*c)) {
                *at += 1;
            }
            let name: String = chars[start..*at].iter().collect();
            if name.is_empty() {
                return Err(WordError("bad substitution: empty variable name".into()));
            }
            let value = vars(&name);
            match chars.get(*at) {
                Some('}') => {
                    *at += 1;
                    Ok(value.unwrap_or_default())
                }
                Some(':') | Some('-') | Some('+') | Some('?') => {
                    let colon = chars[*at] == ':';
                    if colon {
                        *at += 1;
                    }
                    let Some(&op) = chars.get(*at) else {
                        return Err(WordError("missing '}'".into()));
                    };
                    if !matches!(op, '-' | '+' | '?') {
                        return Err(WordError(format!(
                            "unsupported modifier ({op}) in substitution"
                        )));
                    }
                    *at += 1;
                    let word = expand_until(chars, at, escape, vars, Some('}'))?;
                    *at += 1;
                    let set = match (&value, colon) {
                        (Some(v), true) => !v.is_empty(),
                        (Some(_), false) => true,
                        (None, _) => false,
                    };
                    match op {
                        '-' => Ok(if set { value.unwrap_or_default() } else { word }),
                        '+' => Ok(if set { word } else { String::new() }),
                        _ if set => Ok(value.unwrap_or_default()),
                        _ => Err(WordError(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be unset"
                            } else {
                                &word
                            }
                        ))),
                    }
                }
                Some(c) => Err(WordError(format!(
                    "unsupported modifier ({c}) in substitution"
                ))),
                None => Err(WordError("missing '}'".into())),
            }
        }
        Some(c) if is_name(*c) => {
            let start = *at;
            while chars.get(*at).is_some_and(|c| is_name(*c)) {
                *at += 1;
            }
            let name: String = chars[start..*at].iter().collect();
            Ok(vars(&name).unwrap_or_default())
        }
        _ => Ok("$".into()),
    }
}

/// `K=V` words (quotes kept) into names and expanded values; the legacy `K V` form when
/// the first word has no `=` and `legacy` allows it (ENV, LABEL).
pub fn pairs(
    text: &str,
    escape: char,
    legacy: bool,
) -> Result<Vec<(String, Option<String>)>, WordError> {
    let words = split_words(text, escape)?;
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if legacy && !words[0].contains('=') {
        let name = words[0].clone();
        let value = text.trim_start()[name.len()..].trim().to_string();
        if value.is_empty() {
            return Err(WordError(format!("{name} must have two arguments")));
        }
        return Ok(vec![(name, Some(value))]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), Some(v.to_string()))),
            Some(_) => Err(WordError(format!("{w}: a name is missing before '='"))),
            None if legacy => Err(WordError(format!(
                "Syntax error - can't find = in \"{w}\". Must be of the form: name=value"
            ))),
            None => Ok((w, None)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn x(word: &str) -> String {
        expand(word, '\\', &vars).unwrap()
    }

    #[test]
    fn variables_and_modifiers() {
        assert_eq!(x("$A/${A}x"), "alpha/alphax");
        assert_eq!(x("${UNSET:-def}"), "def");
        assert_eq!(x("${EMPTY:-def}"), "def");
        assert_eq!(x("${EMPTY-def}"), "");
        assert_eq!(x("${A:+set}"), "set");
        assert_eq!(x("${EMPTY:+set}"), "");
        assert_eq!(x("${EMPTY+set}"), "set");
        assert_eq!(x("${UNSET:-${A}}"), "alpha");
        assert_eq!(x("a$"), "a$");
        assert!(expand("${UNSET:?need it}", '\\', &vars)
            .unwrap_err()
            .0
            .contains("need it"));
        assert!(expand("${A", '\\', &vars).is_err());
        assert!(expand("${A%x}", '\\', &vars).is_err());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(x("'$A'"), "$A");
        assert_eq!(x("\"$A b\""), "alpha b");
        assert_eq!(x("\\$A"), "$A");
        assert_eq!(x("\"a\\\"b\""), "a\"b");
        assert_eq!(x("\"c:\\dir\""), "c:\\dir");
        assert_eq!(expand("`$A", '`', &vars).unwrap(), "$A");
    }

    #[test]
    fn words_and_pairs() {
        assert_eq!(
            split_words("a \"b c\" 'd e'  f\\ g", '\\').unwrap(),
            ["a", "\"b c\"", "'d e'", "f\\ g"]
        );
        assert!(split_words("a \"b", '\\').is_err());
        assert_eq!(
            pairs("A=1 B=\"two words\" C", '\\', false).unwrap(),
            [
                ("A".into(), Some("1".into())),
                ("B".into(), Some("\"two words\"".into())),
                ("C".into(), None)
            ]
        );
        assert_eq!(
            pairs("NAME some value", '\\', true).unwrap(),
            [("NAME".into(), Some("some value".into()))]
        );
        assert!(pairs("A=1 B", '\\', true).is_err());
    }
}
