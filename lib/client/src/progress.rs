//! docker's JSON progress stream (pull, push, load, build, import): one JSON message per
//! line, `{"status","id","progress","progressDetail":{"current","total"}}`, `{"stream"}`
//! text, or `{"error"}`. On a terminal each id gets an indicatif bar; otherwise each
//! message is a line, as docker prints it when its output is not a terminal.

use std::collections::HashMap;
use std::io::Write;

use futures_util::StreamExt;
use http_body_util::BodyStream;
use hyper::body::Incoming;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Deserialize;

use crate::error::{ClientError, Result};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub progress: Option<String>,
    #[serde(default)]
    pub progress_detail: Option<Detail>,
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub aux: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Detail {
    #[serde(default)]
    pub current: Option<u64>,
    #[serde(default)]
    pub total: Option<u64>,
}

/// Where messages go: bars on a terminal, lines otherwise.
pub struct Display<W: Write> {
    out: W,
    bars: Option<(MultiProgress, HashMap<String, ProgressBar>)>,
}

impl<W: Write> Display<W> {
    pub fn new(out: W, terminal: bool) -> Display<W> {
        Display {
            out,
            bars: terminal.then(|| (MultiProgress::new(), HashMap::new())),
        }
    }

    /// Shows one message; its `error` is the stream's failure.
    pub fn show(&mut self, message: &Message) -> Result<()> {
        if let Some(error) = &message.error {
            return Err(ClientError::Daemon {
                status: 500,
                message: error.clone(),
            });
        }
        if let Some(text) = &message.stream {
            self.print(text);
            return Ok(());
        }
        let status = message.status.clone().unwrap_or_default();
        match (&mut self.bars, &message.id) {
            (Some((multi, bars)), Some(id)) => {
                let bar = bars.entry(id.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(0));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix}: {msg} {bar:40} {bytes}/{total_bytes}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.set_prefix(id.clone());
                    bar
                });
                bar.set_message(status);
                if let Some(detail) = &message.progress_detail {
                    if let Some(total) = detail.total {
                        bar.set_length(total);
                    }
                    if let Some(current) = detail.current {
                        bar.set_position(current);
                    }
                }
            }
            (_, Some(id)) if message.progress.is_none() => self.print(&format!("{id}: {status}\n")),
            (_, Some(_)) => {}
            (_, None) if !status.is_empty() => self.print(&format!("{status}\n")),
            _ => {}
        }
        Ok(())
    }

    fn print(&mut self, text: &str) {
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(text.trim_end_matches('\n'));
            }
            None => {
                let _ = self.out.write_all(text.as_bytes());
                let _ = self.out.flush();
            }
        }
    }

    /// Every bar finished.
    pub fn finish(&mut self) {
        if let Some((_, bars)) = &self.bars {
            for bar in bars.values() {
                bar.finish();
            }
        }
    }
}

/// Reads a progress stream to its end through `display`; the first `error` fails it.
pub async fn follow<W: Write>(body: Incoming, display: &mut Display<W>) -> Result<()> {
    let mut stream = BodyStream::new(body);
    let mut pending = Vec::new();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|source| ClientError::Http {
            host: "daemon".into(),
            source,
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            show_line(&line, display)?;
        }
    }
    if !pending.is_empty() {
        show_line(&pending, display)?;
    }
    display.finish();
    Ok(())
}

fn show_line<W: Write>(line: &[u8], display: &mut Display<W>) -> Result<()> {
    let text = String::from_utf8_lossy(line);
    if text.trim().is_empty() {
        return Ok(());
    }
    let message: Message =
        serde_json::from_str(text.trim()).map_err(|source| ClientError::Decode {
            what: "progress stream".into(),
            source,
        })?;
    display.show(&message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_without_a_terminal() {
        let mut out = Vec::new();
        let mut display = Display::new(&mut out, false);
        for line in [
            r#"{"status":"Pulling from library/busybox","id":"latest"}"#,
            r#"{"status":"Downloading","id":"abc","progress":"[=>  ]","progressDetail":{"current":1,"total":9}}"#,
            r#"{"stream":"Loaded image: busybox:latest\n"}"#,
        ] {
            show_line(line.as_bytes(), &mut display).unwrap();
        }
        let err = show_line(br#"{"error":"no space"}"#, &mut display).unwrap_err();
        assert!(err.to_string().contains("no space"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "latest: Pulling from library/busybox\nLoaded image: busybox:latest\n"
        );
    }
}
