//! docker's JSON progress stream (pull, push, load, build, import): one JSON message per
//! line, `{"status","id","progress","progressDetail":{"current","total"}}`, `{"stream"}`
//! text, or `{"error"}`. The messages and their display (a bar per id on a terminal, else
//! docker's lines) are berth-distribution's, the same that write and draw a pull's.

use std::io::Write;

use futures_util::StreamExt;
use http_body_util::BodyStream;
use hyper::body::Incoming;

use crate::error::{ClientError, Result};

pub use berth_distribution::progress::{Detail, Display, Message};

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
    if let Some(error) = &message.error {
        return Err(ClientError::Daemon {
            status: 500,
            message: error.clone(),
        });
    }
    display.show(&message);
    Ok(())
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
