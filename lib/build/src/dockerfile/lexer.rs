//! A Dockerfile's text into logical lines: parser directives at the top (`# escape=`,
//! `# syntax=`), comments and blank lines dropped, line continuations joined (a line
//! ending in the escape character, comment lines inside a continuation skipped, as
//! BuildKit does), and the bodies of heredocs (`<<EOF` … `EOF`) taken whole after the line
//! that opens them.

use super::ParseError;

/// One instruction as written: its text on one line and the heredocs it opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInstruction {
    /// The first line (1-based) and the last, heredocs included.
    pub line: usize,
    pub end_line: usize,
    pub text: String,
    pub heredocs: Vec<Heredoc>,
}

/// `<<NAME` … `NAME`: the body, and whether the name was quoted (no expansion then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    pub expand: bool,
    /// `<<-`: leading tabs were stripped.
    pub strip_tabs: bool,
}

/// What the top of the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    pub escape: char,
    pub syntax: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
        }
    }
}

/// The instructions that take heredocs.
fn takes_heredocs(text: &str) -> bool {
    let keyword = text.split_whitespace().next().unwrap_or_default();
    ["RUN", "COPY", "ADD"]
        .iter()
        .any(|k| keyword.eq_ignore_ascii_case(k))
}

pub fn lex(text: &str) -> Result<(Directives, Vec<RawInstruction>), ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let mut directives = Directives::default();
    let mut at = 0;
    // Directives: `# key=value` lines before anything else.
    while at < lines.len() {
        let Some((key, value)) = directive(lines[at]) else {
            break;
        };
        match key.as_str() {
            "escape" => {
                directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(ParseError::new(
                            at + 1,
                            format!("invalid escape token '{value}' does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => directives.syntax = Some(value),
            _ => {}
        }
        at += 1;
    }
    let escape = directives.escape;
    let mut out = Vec::new();
    while at < lines.len() {
        let line = lines[at];
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            at += 1;
            continue;
        }
        let first = at;
        let mut joined = String::new();
        let mut rest = line;
        loop {
            let body = rest.trim_end();
            match body.strip_suffix(escape) {
                Some(head) => {
                    joined.push_str(head);
                    at += 1;
                    // Skip comment lines and blank lines inside the continuation.
                    while at < lines.len() {
                        let t = lines[at].trim_start();
                        if t.starts_with('#') || t.is_empty() {
                            at += 1;
                        } else {
                            break;
                        }
                    }
                    if at >= lines.len() {
                        break;
                    }
                    rest = lines[at];
                }
                None => {
                    joined.push_str(rest);
                    at += 1;
                    break;
                }
            }
        }
        let mut heredocs = Vec::new();
        if takes_heredocs(&joined) {
            for (name, expand, strip_tabs) in heredoc_openers(&joined) {
                let mut content = String::new();
                let start = at;
                loop {
                    if at >= lines.len() {
                        return Err(ParseError::new(
                            start,
                            format!("unterminated heredoc <<{name}"),
                        ));
                    }
                    let mut body = lines[at];
                    at += 1;
                    if strip_tabs {
                        body = body.trim_start_matches('\t');
                    }
                    if body == name {
                        break;
                    }
                    content.push_str(body);
                    content.push('\n');
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    expand,
                    strip_tabs,
                });
            }
        }
        out.push(RawInstruction {
            line: first + 1,
            end_line: at.max(first + 1),
            text: joined.trim().to_string(),
            heredocs,
        });
    }
    Ok((directives, out))
}

/// `# key=value` as a parser directive (keys are case-insensitive).
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix('#')?;
    let (key, value) = rest.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.trim().to_string()))
}

/// The heredocs a line opens, in order: `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`,
/// `3<<EOF`. `<<<` (a here-string) and a `<<` inside quotes are not heredocs.
pub fn heredoc_openers(line: &str) -> Vec<(String, bool, bool)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if c == b'<' && bytes.get(i + 1) == Some(&b'<') => {
                if bytes.get(i + 2) == Some(&b'<') {
                    i += 3;
                    continue;
                }
                let mut j = i + 2;
                let strip_tabs = bytes.get(j) == Some(&b'-');
                if strip_tabs {
                    j += 1;
                }
                let (name, end, quoted) = match bytes.get(j) {
                    Some(&q @ (b'"' | b'\'')) => {
                        let close = line[j + 1..].find(q as char).map(|p| j + 1 + p);
                        match close {
                            Some(close) => (&line[j + 1..close], close + 1, true),
                            None => ("", j, true),
                        }
                    }
                    _ => {
                        let end = line[j..]
                            .find(|ch: char| {
                                !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.' || ch == '-')
                            })
                            .map_or(line.len(), |p| j + p);
                        (&line[j..end], end, false)
                    }
                };
                if !name.is_empty() {
                    out.push((name.to_string(), !quoted, strip_tabs));
                }
                i = end.max(i + 2);
                continue;
            }
            None => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_line_numbers() {
        let text = "# syntax=docker/dockerfile:1\n\nFROM a\n# a comment\nRUN echo one \\\n  # inside\n  && echo two\n\nCMD x\n";
        let (directives, lines) = lex(text).unwrap();
        assert_eq!(directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        let texts: Vec<(&str, usize)> = lines.iter().map(|l| (l.text.as_str(), l.line)).collect();
        assert_eq!(
            texts,
            [
                ("FROM a", 3),
                ("RUN echo one   && echo two", 5),
                ("CMD x", 9)
            ]
        );
    }

    #[test]
    fn escape_directive_changes_the_continuation() {
        let (d, lines) = lex("# escape=`\nFROM a\nRUN dir c:\\ `\n  && x\n").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(lines[1].text, "RUN dir c:\\   && x");
        assert!(lex("# escape=x\nFROM a\n").is_err());
        // Not a directive once an instruction came: a comment.
        let (d, _) = lex("FROM a\n# escape=`\n").unwrap();
        assert_eq!(d.escape, '\\');
    }

    #[test]
    fn heredocs_are_taken_whole() {
        let text = "FROM a\nRUN <<EOF\necho hi\nFROM not-an-instruction\nEOF\nCOPY <<-'A' <<B /x/\n\tone $X\n\tA\ntwo\nB\nCMD y\n";
        let (_, lines) = lex(text).unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[1].heredocs[0].content,
            "echo hi\nFROM not-an-instruction\n"
        );
        assert_eq!((lines[1].line, lines[1].end_line), (2, 5));
        let copy = &lines[2].heredocs;
        assert_eq!(copy[0].name, "A");
        assert_eq!(copy[0].content, "one $X\n");
        assert!(!copy[0].expand);
        assert_eq!(copy[1].content, "two\n");
        assert!(copy[1].expand);
        assert_eq!(lines[3].text, "CMD y");
        let err = lex("FROM a\nRUN <<EOF\necho\n").unwrap_err();
        assert!(err.to_string().contains("unterminated heredoc"), "{err}");
    }

    #[test]
    fn here_strings_and_quoted_markers_are_not_heredocs() {
        assert!(heredoc_openers("RUN cat <<< hi").is_empty());
        assert!(heredoc_openers("RUN echo '<<EOF'").is_empty());
        assert_eq!(heredoc_openers("RUN python3 3<<X").len(), 1);
    }
}
