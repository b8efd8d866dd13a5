//! Where a `--format` went wrong. gtmpl's errors carry no usable position (its "line" counts
//! tokens), so the action at fault is found here: for a parse error, the first action whose
//! prefix of the template fails for a reason other than a block still open; for an error
//! in execution, the first action outside `range`/`with` (so with the same dot) that fails
//! alone with the same message. The error then names the user's template and the line and
//! column of that action's `{{`.

use gtmpl::{Context, Template};

use crate::error::ClientError;

/// The `{{ … }}` actions of `text`: byte ranges, the last one to the end when unclosed.
fn actions(text: &str) -> Vec<(usize, usize, bool)> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(open) = text[at..].find("{{").map(|i| at + i) {
        match text[open + 2..].find("}}") {
            Some(close) => {
                let end = open + 2 + close + 2;
                found.push((open, end, true));
                at = end;
            }
            None => {
                found.push((open, text.len(), false));
                break;
            }
        }
    }
    found
}

fn parses(text: &str, funcs: &[(&str, gtmpl_value::Func)]) -> Result<Template, String> {
    let mut template = Template::default();
    template.add_funcs(funcs);
    template
        .parse(text)
        .map(|_| template)
        .map_err(|e| e.to_string())
}

/// The index of the action a parse error of `body` lies in.
fn parse_fault(body: &str, funcs: &[(&str, gtmpl_value::Func)]) -> Option<usize> {
    let acts = actions(body);
    if let Some(i) = acts.iter().position(|(_, _, closed)| !closed) {
        return Some(i);
    }
    acts.iter()
        .position(|&(_, end, _)| match parses(&body[..end], funcs) {
            Ok(_) => false,
            // A prefix may end inside a block whose `{{end}}` is still to come.
            Err(e) => !e.contains("unexpected EOF"),
        })
}

/// The index of the action an execution error `message` of `body` on `data` comes from.
fn exec_fault(
    body: &str,
    funcs: &[(&str, gtmpl_value::Func)],
    data: &gtmpl_value::Value,
    message: &str,
) -> Option<usize> {
    // How many open blocks change the dot (`range`, `with`); `if` keeps it.
    let mut blocks: Vec<bool> = Vec::new();
    for (i, &(start, end, _)) in actions(body).iter().enumerate() {
        let inner = body[start + 2..end - 2].trim_matches(|c: char| c == '-' || c.is_whitespace());
        let word = inner.split_whitespace().next().unwrap_or("");
        match word {
            "range" | "with" => blocks.push(true),
            "if" | "block" | "define" => blocks.push(false),
            "end" => {
                blocks.pop();
            }
            "else" | "template" => {}
            _ if !blocks.iter().any(|&b| b) => {
                let Ok(alone) = parses(&body[start..end], funcs) else {
                    continue;
                };
                if let Err(e) = alone.render(&Context::from(data.clone())) {
                    if e.to_string() == message {
                        return Some(i);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// Line and column (from 1, in characters) of the `index`th `{{` of `text`.
fn position(text: &str, index: usize) -> Option<(usize, usize)> {
    let (start, _, _) = *actions(text).get(index)?;
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    Some((line, column))
}

fn error(stage: &str, user_text: &str, at: Option<(usize, usize)>, message: &str) -> ClientError {
    let message = message
        .trim_start_matches("template parsing error: ")
        .trim_start_matches("template: :");
    // gtmpl's own "N:" token count in front of the reason says nothing to a user.
    let message = match message.split_once(':') {
        Some((n, rest)) if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => rest,
        _ => message,
    };
    let place = match at {
        Some((line, column)) => format!(" at line {line}, column {column}"),
        None => String::new(),
    };
    ClientError::Template(format!(
        "template {stage} error{place} of {user_text:?}: {}",
        message.trim()
    ))
}

/// The error of a template that does not parse: `body` as given to gtmpl, `user_text` as
/// the user wrote it (the same actions, in the same order).
pub fn parse_error(
    user_text: &str,
    body: &str,
    funcs: &[(&str, gtmpl_value::Func)],
    message: &str,
) -> ClientError {
    let at = parse_fault(body, funcs).and_then(|i| position(user_text, i));
    error("parsing", user_text, at, message)
}

/// The error of a template that fails on `data`.
pub fn exec_error(
    user_text: &str,
    body: &str,
    funcs: &[(&str, gtmpl_value::Func)],
    data: &gtmpl_value::Value,
    message: &str,
) -> ClientError {
    let at = exec_fault(body, funcs, data, message).and_then(|i| position(user_text, i));
    error("execution", user_text, at, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_their_positions() {
        let text = "a {{.X}}\n  {{if .Y}}{{.Z";
        assert_eq!(
            actions(text),
            vec![(2, 8, true), (11, 20, true), (20, text.len(), false)]
        );
        assert_eq!(position(text, 0), Some((1, 3)));
        assert_eq!(position(text, 1), Some((2, 3)));
        assert_eq!(position(text, 2), Some((2, 12)));
        assert_eq!(position(text, 3), None);
    }
}
