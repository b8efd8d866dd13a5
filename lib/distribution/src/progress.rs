//! Progress of a pull or push, one event type for every front end: the library reports
//! [`Event`]s, [`Event::messages`] words them as dockerd's JSON progress messages
//! ([`Message`]: `status`, `id`, `progressDetail{current,total}`, `progress`, `aux`), and
//! [`DockerStream`] sends those to a sink (berthd's chunked answer, berth-unpack's
//! `--json`). [`Display`] draws the same messages as bars on a terminal, or as the lines the
//! docker CLI prints when it is not on one (berth-unpack, and the berth client following a
//! daemon's stream), so every front end shows what one renderer wrote.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use berth_image::Digest;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::reference::RemoteRef;

/// One of docker's JSON progress messages (pull, push, load, build, import).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<Detail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

/// `progressDetail`: `{}` on a layer's state lines, `{current,total}` while bytes move.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// Where one blob of a pull or push is, in dockerd's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// Pull: the layer will be fetched.
    PullingFsLayer,
    /// Pull: the store has the layer.
    AlreadyExists,
    Downloading {
        current: u64,
        total: u64,
    },
    /// Every byte arrived; the digests are being checked.
    VerifyingChecksum,
    DownloadComplete,
    /// The unpacker runs in the same pass as the download, so this comes once, whole,
    /// when the tree is in place.
    Extracting {
        current: u64,
        total: u64,
    },
    PullComplete,
    /// Push: the blob is about to be looked at.
    Preparing,
    Pushing {
        current: u64,
        total: u64,
    },
    /// Push: the registry has the blob.
    LayerAlreadyExists,
    /// Push: mounted from this repository of the same registry, not sent.
    MountedFrom(&'a str),
    Pushed,
}

/// What a pull or push reports.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Pull: the reference resolved to a manifest (`TAG: Pulling from REPO`).
    PullingFrom(&'a RemoteRef),
    /// A layer (pull) or blob (push), by its digest.
    Blob(&'a Digest, Step<'a>),
    /// Pull: done; `downloaded` is false when the store had it all.
    Pulled {
        reference: &'a RemoteRef,
        digest: &'a Digest,
        downloaded: bool,
    },
    /// Push: about to start (`The push refers to repository [NAME]`).
    PushingTo(&'a RemoteRef),
    /// Push: the manifest is up.
    Pushed {
        tag: &'a str,
        digest: &'a Digest,
        size: u64,
    },
}

impl Event<'_> {
    /// dockerd's messages for this event.
    pub fn messages(&self) -> Vec<Message> {
        let status = |text: String| Message {
            status: Some(text),
            ..Message::default()
        };
        match *self {
            Event::PullingFrom(reference) => vec![Message {
                id: Some(
                    reference
                        .tag
                        .clone()
                        .or_else(|| reference.digest.as_ref().map(Digest::to_string))
                        .unwrap_or_else(|| "latest".into()),
                ),
                ..status(format!("Pulling from {}", reference.repository))
            }],
            Event::Blob(id, step) => vec![blob_message(id, step)],
            Event::Pulled {
                reference,
                digest,
                downloaded,
            } => {
                let outcome = if downloaded {
                    "Downloaded newer image for"
                } else {
                    "Image is up to date for"
                };
                vec![
                    status(format!("Digest: {digest}")),
                    status(format!("Status: {outcome} {reference}")),
                ]
            }
            Event::PushingTo(reference) => vec![status(format!(
                "The push refers to repository [{}]",
                reference.familiar_name()
            ))],
            Event::Pushed { tag, digest, size } => vec![
                status(format!("{tag}: digest: {digest} size: {size}")),
                Message {
                    progress_detail: Some(Detail::default()),
                    aux: Some(serde_json::json!({
                        "Tag": tag, "Digest": digest.to_string(), "Size": size,
                    })),
                    ..Message::default()
                },
            ],
        }
    }
}

fn blob_message(id: &Digest, step: Step<'_>) -> Message {
    let (text, moving) = match step {
        Step::PullingFsLayer => ("Pulling fs layer".to_string(), None),
        Step::AlreadyExists => ("Already exists".into(), None),
        Step::Downloading { current, total } => ("Downloading".into(), Some((current, total))),
        Step::VerifyingChecksum => ("Verifying Checksum".into(), None),
        Step::DownloadComplete => ("Download complete".into(), None),
        Step::Extracting { current, total } => ("Extracting".into(), Some((current, total))),
        Step::PullComplete => ("Pull complete".into(), None),
        Step::Preparing => ("Preparing".into(), None),
        Step::Pushing { current, total } => ("Pushing".into(), Some((current, total))),
        Step::LayerAlreadyExists => ("Layer already exists".into(), None),
        Step::MountedFrom(repo) => (format!("Mounted from {repo}"), None),
        Step::Pushed => ("Pushed".into(), None),
    };
    let (detail, progress) = match moving {
        Some((current, total)) => (
            Detail {
                current: Some(current),
                total: Some(total),
            },
            Some(bar(current, total)),
        ),
        None => (Detail::default(), None),
    };
    Message {
        status: Some(text),
        progress_detail: Some(detail),
        progress,
        id: Some(id.short().to_string()),
        ..Message::default()
    }
}

/// Told how a pull or push goes.
pub trait Progress: Sync {
    fn event(&self, _event: Event<'_>) {}
    /// True once whoever asked has gone: the operation stops and tidies up, as dockerd's
    /// pull does when its client disconnects.
    fn cancelled(&self) -> bool {
        false
    }
}

struct NoProgress;
impl Progress for NoProgress {}

pub fn no_progress() -> &'static dyn Progress {
    &NoProgress
}

/// Bytes between two `Downloading`/`Pushing` messages of one blob: enough to move a bar,
/// few enough messages.
const MESSAGE_EVERY: u64 = 512 << 10;

/// Events as dockerd's messages, handed to `sink`; a sink that returns false (its reader
/// went away) cancels the operation.
pub struct DockerStream<'a> {
    sink: Mutex<Box<dyn FnMut(Message) -> bool + Send + 'a>>,
    /// The bytes at each blob's last moving message.
    last: Mutex<HashMap<Digest, u64>>,
    gone: AtomicBool,
}

impl<'a> DockerStream<'a> {
    pub fn new(sink: impl FnMut(Message) -> bool + Send + 'a) -> DockerStream<'a> {
        DockerStream {
            sink: Mutex::new(Box::new(sink)),
            last: Mutex::default(),
            gone: AtomicBool::new(false),
        }
    }

    /// JSON lines, one message each, on `out`.
    pub fn json_lines(out: impl Write + Send + 'a) -> DockerStream<'a> {
        let mut out = out;
        DockerStream::new(move |message| {
            let line = serde_json::to_string(&message).expect("a message serialises");
            writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
        })
    }

    fn send(&self, message: Message) {
        if self.gone.load(Ordering::SeqCst) {
            return;
        }
        let mut sink = self.sink.lock().expect("progress sink");
        if !(*sink)(message) {
            self.gone.store(true, Ordering::SeqCst);
        }
    }

    /// False for a moving message too close to the last one of its blob.
    fn due(&self, id: &Digest, current: u64, total: u64) -> bool {
        let mut last = self.last.lock().expect("progress state");
        let at = last.entry(id.clone()).or_insert(0);
        if current < total && current < *at + MESSAGE_EVERY && *at != 0 {
            return false;
        }
        *at = current.max(1);
        true
    }
}

impl Progress for DockerStream<'_> {
    fn event(&self, event: Event<'_>) {
        if let Event::Blob(
            id,
            Step::Downloading { current, total } | Step::Pushing { current, total },
        ) = event
        {
            if !self.due(id, current, total) {
                return;
            }
        }
        for message in event.messages() {
            self.send(message);
        }
    }

    fn cancelled(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }
}

/// dockerd's bar: 50 columns of `=` up to a `>`, then the sizes.
pub fn bar(current: u64, total: u64) -> String {
    let width = 50u64;
    let filled = (current.min(total) * width)
        .checked_div(total)
        .unwrap_or(width);
    let mut text = String::from("[");
    for i in 0..width {
        text.push(match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        });
    }
    format!("{text}] {}/{}", size(current), size(total))
}

fn size(bytes: u64) -> String {
    berth_common::units::decimal_size(bytes)
}

/// Draws messages: a bar per id on a terminal, else the lines the docker CLI prints when
/// its output is not a terminal (`ID: STATUS`, moving messages left out).
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

    /// Shows one message (its `error`, if any, is the caller's to act on).
    pub fn show(&mut self, message: &Message) {
        if let Some(text) = &message.stream {
            self.print(text);
            return;
        }
        let status = message.status.clone().unwrap_or_default();
        match (&mut self.bars, &message.id) {
            (Some((multi, bars)), Some(id)) => {
                let bar = bars.entry(id.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(0));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix}: {msg:18} [{bar:30}] {bytes}/{total_bytes}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
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

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;
