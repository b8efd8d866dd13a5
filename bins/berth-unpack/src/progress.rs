//! Progress on stderr: bars for long imports, only when it is a terminal; a pull's or
//! push's through berth-distribution's renderer of docker's messages.

use std::io::IsTerminal;
use std::sync::Mutex;

use berth_distribution::progress::{Display, DockerStream};
use berth_image::import::ImportProgress;
use indicatif::{ProgressBar, ProgressStyle};

pub struct Bars {
    enabled: bool,
    current: Mutex<Option<ProgressBar>>,
}

impl Bars {
    pub fn new(enabled: bool) -> Bars {
        Bars {
            enabled,
            current: Mutex::new(None),
        }
    }
}

impl ImportProgress for Bars {
    fn layer_started(&self, _image: &str, layer: &str, size: Option<u64>) {
        if !self.enabled {
            return;
        }
        let short = berth_image::Digest::parse(layer)
            .map(|d| d.short().to_string())
            .unwrap_or_else(|_| layer.to_string());
        let bar = match size {
            Some(size) => ProgressBar::new(size).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{msg} {spinner} {bytes} {bytes_per_sec}")
                    .expect("valid template"),
            ),
        };
        bar.set_message(format!("unpacking {short}"));
        *self.current.lock().expect("progress lock") = Some(bar);
    }

    fn layer_progress(&self, bytes_read: u64) {
        if let Some(bar) = self.current.lock().expect("progress lock").as_ref() {
            bar.set_position(bytes_read);
        }
    }

    fn layer_finished(&self) {
        if let Some(bar) = self.current.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}

/// How a pull's or push's progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Quiet,
    /// dockerd's JSON messages, one a line (`--json`).
    Json,
    /// Bars on a terminal, the docker CLI's lines otherwise.
    Display,
}

impl Shown {
    pub fn of(quiet: bool, json: bool) -> Shown {
        match (quiet, json) {
            (true, _) => Shown::Quiet,
            (false, true) => Shown::Json,
            (false, false) => Shown::Display,
        }
    }

    /// The events' messages, rendered once by berth-distribution, shown as asked.
    pub fn stream(self) -> DockerStream<'static> {
        match self {
            Shown::Quiet => DockerStream::new(|_| true),
            Shown::Json => DockerStream::json_lines(std::io::stderr()),
            Shown::Display => {
                let terminal = std::io::stderr().is_terminal();
                let mut display = Display::new(std::io::stderr(), terminal);
                DockerStream::new(move |message| {
                    display.show(&message);
                    true
                })
            }
        }
    }
}
