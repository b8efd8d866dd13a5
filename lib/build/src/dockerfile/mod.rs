//! The Dockerfile syntax docker users write (BuildKit's frontend, syntax 1.x), parsed
//! into typed instructions with their lines. berth has its own parser: the field's Rust
//! crate (`dockerfile-parser`) has no heredocs in a release. Variables are not expanded
//! here: each instruction's words are expanded by the builder with the ARGs and ENVs of
//! its step ([`words`]).

mod lexer;
mod mount;
pub mod words;

use std::time::Duration;

pub use lexer::{Directives, Heredoc};
pub use mount::{MountKind, RunMount, Sharing};

/// A parse failure, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dockerfile {
    pub directives: Directives,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone)]
pub struct Instruction {
    pub line: usize,
    pub end_line: usize,
    /// The instruction as written on its logical line (for progress and history).
    pub original: String,
    pub command: Command,
}

/// The exec form (`["a","b"]`) or the shell form (run by the image's `SHELL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    Exec(Vec<String>),
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// Sources as written (quotes kept; expanded at build time), or empty for heredocs.
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    pub test: CommandLine,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    From {
        image: String,
        alias: Option<String>,
        platform: Option<String>,
    },
    Run {
        line: CommandLine,
        mounts: Vec<RunMount>,
        network: Option<String>,
        heredocs: Vec<Heredoc>,
    },
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Copy(CopySpec),
    Add(CopySpec),
    /// Name and value words, unexpanded.
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Label(Vec<(String, String)>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    StopSignal(String),
    Shell(Vec<String>),
    /// None: `HEALTHCHECK NONE`.
    Healthcheck(Option<Healthcheck>),
    /// The trigger, as written (run by the images built `FROM` this one).
    Onbuild(String),
    Maintainer(String),
}

impl Command {
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::From { .. } => "FROM",
            Command::Run { .. } => "RUN",
            Command::Cmd(_) => "CMD",
            Command::Entrypoint(_) => "ENTRYPOINT",
            Command::Copy(_) => "COPY",
            Command::Add(_) => "ADD",
            Command::Env(_) => "ENV",
            Command::Arg(_) => "ARG",
            Command::Label(_) => "LABEL",
            Command::Workdir(_) => "WORKDIR",
            Command::User(_) => "USER",
            Command::Expose(_) => "EXPOSE",
            Command::Volume(_) => "VOLUME",
            Command::StopSignal(_) => "STOPSIGNAL",
            Command::Shell(_) => "SHELL",
            Command::Healthcheck(_) => "HEALTHCHECK",
            Command::Onbuild(_) => "ONBUILD",
            Command::Maintainer(_) => "MAINTAINER",
        }
    }
}

pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let (directives, raw) = lexer::lex(text)?;
    let mut instructions = Vec::with_capacity(raw.len());
    for raw in raw {
        let command = parse_instruction(&raw.text, raw.heredocs, directives.escape)
            .map_err(|message| ParseError::new(raw.line, message))?;
        instructions.push(Instruction {
            line: raw.line,
            end_line: raw.end_line,
            original: raw.text,
            command,
        });
    }
    if !instructions
        .iter()
        .any(|i| matches!(i.command, Command::From { .. }))
    {
        return Err(ParseError::new(
            instructions.last().map_or(1, |i| i.line),
            "the Dockerfile has no FROM instruction",
        ));
    }
    if let Some(bad) = instructions
        .iter()
        .take_while(|i| !matches!(i.command, Command::From { .. }))
        .find(|i| !matches!(i.command, Command::Arg(_)))
    {
        return Err(ParseError::new(
            bad.line,
            format!(
                "{} before the first FROM: only ARG may come first",
                bad.command.keyword()
            ),
        ));
    }
    Ok(Dockerfile {
        directives,
        instructions,
    })
}

/// One logical line (and its heredocs) into an instruction.
pub fn parse_instruction(
    text: &str,
    heredocs: Vec<Heredoc>,
    escape: char,
) -> Result<Command, String> {
    let (keyword, rest) = match text.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim()),
        None => (text, ""),
    };
    let keyword = keyword.to_ascii_uppercase();
    let word_err = |e: words::WordError| e.0;
    let allowed: &[&str] = match keyword.as_str() {
        "FROM" => &["platform"],
        "RUN" => &["mount", "network", "security"],
        "COPY" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "ADD" => &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "exclude",
        ],
        "HEALTHCHECK" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        _ => &[],
    };
    let (flags, rest) = if allowed.is_empty() {
        (Vec::new(), rest)
    } else {
        take_flags(rest, allowed)?
    };
    let flag = |name: &str| {
        flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    };
    let needs_args = |what: &str| -> Result<(), String> {
        if rest.is_empty() {
            Err(format!("{keyword} requires {what}"))
        } else {
            Ok(())
        }
    };
    Ok(match keyword.as_str() {
        "FROM" => {
            let words = words::split_words(rest, escape).map_err(word_err)?;
            let (image, alias) = match words.as_slice() {
                [image] => (image.clone(), None),
                [image, as_, alias] if as_.eq_ignore_ascii_case("as") => {
                    (image.clone(), Some(alias.to_ascii_lowercase()))
                }
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            Command::From {
                image,
                alias,
                platform: flag("platform"),
            }
        }
        "RUN" => {
            if rest.is_empty() && heredocs.is_empty() {
                return Err("RUN requires at least one argument".into());
            }
            let mounts = flags
                .iter()
                .filter(|(k, _)| k == "mount")
                .map(|(_, v)| RunMount::parse(v.as_deref().unwrap_or_default()))
                .collect::<Result<Vec<_>, _>>()?;
            let network = flag("network");
            if let Some(n) = &network {
                if !["default", "none", "host"].contains(&n.as_str()) {
                    return Err(format!("unsupported network mode \"{n}\""));
                }
            }
            Command::Run {
                line: command_line(rest),
                mounts,
                network,
                heredocs,
            }
        }
        "CMD" => {
            needs_args("at least one argument")?;
            Command::Cmd(command_line(rest))
        }
        "ENTRYPOINT" => {
            needs_args("at least one argument")?;
            Command::Entrypoint(command_line(rest))
        }
        "COPY" | "ADD" => {
            let mut paths = match json_list(rest) {
                Some(list) => list,
                None => words::split_words(rest, escape).map_err(word_err)?,
            };
            let needed = if heredocs.is_empty() { 2 } else { 1 };
            if paths.len() < needed {
                return Err(format!("{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"));
            }
            let dest = paths.pop().expect("checked above");
            // The heredoc markers stand for their files.
            paths.retain(|p| !p.starts_with("<<"));
            let spec = CopySpec {
                sources: paths,
                dest,
                from: flag("from"),
                chown: flag("chown"),
                chmod: flag("chmod"),
                link: flags
                    .iter()
                    .any(|(k, v)| k == "link" && v.as_deref() != Some("false")),
                heredocs,
            };
            if keyword == "COPY" {
                Command::Copy(spec)
            } else {
                Command::Add(spec)
            }
        }
        "ENV" | "LABEL" => {
            needs_args("at least one argument")?;
            let pairs = words::pairs(rest, escape, true).map_err(word_err)?;
            let pairs = pairs
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect();
            if keyword == "ENV" {
                Command::Env(pairs)
            } else {
                Command::Label(pairs)
            }
        }
        "ARG" => {
            needs_args("at least one argument")?;
            Command::Arg(words::pairs(rest, escape, false).map_err(word_err)?)
        }
        "WORKDIR" => {
            needs_args("exactly one argument")?;
            Command::Workdir(rest.to_string())
        }
        "USER" => {
            needs_args("exactly one argument")?;
            Command::User(rest.to_string())
        }
        "STOPSIGNAL" => {
            needs_args("exactly one argument")?;
            Command::StopSignal(rest.to_string())
        }
        "EXPOSE" => {
            needs_args("at least one argument")?;
            Command::Expose(words::split_words(rest, escape).map_err(word_err)?)
        }
        "VOLUME" => {
            needs_args("at least one argument")?;
            Command::Volume(match json_list(rest) {
                Some(list) => list,
                None => words::split_words(rest, escape).map_err(word_err)?,
            })
        }
        "SHELL" => Command::Shell(
            json_list(rest)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| "SHELL requires the arguments to be in JSON form".to_string())?,
        ),
        "HEALTHCHECK" => {
            let (kind, test) = match rest.split_once(char::is_whitespace) {
                Some((k, t)) => (k.to_ascii_uppercase(), t.trim()),
                None => (rest.to_ascii_uppercase(), ""),
            };
            match kind.as_str() {
                "NONE" if test.is_empty() && flags.is_empty() => Command::Healthcheck(None),
                "NONE" => return Err("HEALTHCHECK NONE takes no arguments".into()),
                "CMD" if !test.is_empty() => {
                    let duration = |name: &str| -> Result<Option<Duration>, String> {
                        flag(name)
                            .map(|v| {
                                humantime::parse_duration(&v)
                                    .map_err(|e| format!("--{name}: {v}: {e}"))
                            })
                            .transpose()
                    };
                    Command::Healthcheck(Some(Healthcheck {
                        test: command_line(test),
                        interval: duration("interval")?,
                        timeout: duration("timeout")?,
                        start_period: duration("start-period")?,
                        start_interval: duration("start-interval")?,
                        retries: flag("retries")
                            .map(|r| {
                                r.parse()
                                    .map_err(|_| format!("--retries: {r}: not a number"))
                            })
                            .transpose()?,
                    }))
                }
                _ => return Err("HEALTHCHECK requires CMD and a command, or NONE".into()),
            }
        }
        "ONBUILD" => {
            needs_args("at least one argument")?;
            let inner = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            match inner.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "FROM" | "MAINTAINER" => {
                    return Err(format!("{inner} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            parse_instruction(rest, Vec::new(), escape)?;
            Command::Onbuild(rest.to_string())
        }
        "MAINTAINER" => {
            needs_args("exactly one argument")?;
            Command::Maintainer(rest.to_string())
        }
        _ => return Err(format!("unknown instruction: {keyword}")),
    })
}

/// A flag's name and its value, if it has one.
type Flag = (String, Option<String>);

/// `--name=value` and `--name` words at the start of the arguments.
fn take_flags<'a>(mut rest: &'a str, allowed: &[&str]) -> Result<(Vec<Flag>, &'a str), String> {
    let mut flags = Vec::new();
    while let Some(body) = rest.strip_prefix("--") {
        let end = body.find(char::is_whitespace).unwrap_or(body.len());
        let word = &body[..end];
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n, Some(unquote(v))),
            None => (word, None),
        };
        if !allowed.contains(&name) {
            return Err(format!("unknown flag: {name}"));
        }
        flags.push((name.to_string(), value));
        rest = body[end..].trim_start();
    }
    Ok((flags, rest))
}

fn unquote(value: &str) -> String {
    for q in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    value.to_string()
}

/// A JSON array of strings, when the text is one.
fn json_list(text: &str) -> Option<Vec<String>> {
    if !text.starts_with('[') {
        return None;
    }
    serde_json::from_str(text).ok()
}

fn command_line(text: &str) -> CommandLine {
    match json_list(text) {
        Some(list) => CommandLine::Exec(list),
        None => CommandLine::Shell(text.to_string()),
    }
}

#[cfg(test)]
mod tests;
