//! `berth-unpack pull`: one bar per layer on a terminal; otherwise one JSON line per layer
//! state on stderr, worded as docker's pull progress (`Waiting`, `Already exists`,
//! `Pull complete`), so a script can follow it and stdout keeps only the record.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use anyhow::Result;
use berth_distribution::{
    pull, LayerEvent, Platform, PullOptions, PullProgress, Registry, RegistryOptions, RemoteRef,
};
use berth_image::import::ImportOptions;
use berth_image::store::ImageInfo;
use berth_image::{Digest, Store};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub struct Request<'a> {
    pub reference: &'a str,
    pub insecure_registries: Vec<String>,
    pub platform: Option<&'a str>,
    pub concurrency: usize,
    pub quiet: bool,
}

pub fn run(store: &Store, request: &Request<'_>, import: ImportOptions<'_>) -> Result<ImageInfo> {
    let reference = RemoteRef::parse(request.reference)?;
    let platform = request.platform.map(Platform::parse).transpose()?;
    let registry = Registry::connect(
        &reference.registry,
        reference.api_host(),
        &RegistryOptions {
            insecure: request.insecure_registries.clone(),
            credentials: None,
            docker_config: true,
        },
    )?;
    let display = Display::new(!request.quiet);
    let opts = PullOptions {
        platform,
        unpack: import.unpack,
        max_layer_size: import.max_layer_size,
        concurrency: request.concurrency,
        progress: &display,
    };
    let pulled = pull(store, &registry, &reference, &opts)?;
    display.finish(&reference, &pulled.digest, pulled.downloaded);
    Ok(pulled.image)
}

enum Mode {
    Quiet,
    Bars(MultiProgress),
    Lines,
}

struct Display {
    mode: Mode,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
}

impl Display {
    fn new(show: bool) -> Display {
        let mode = match (show, std::io::stderr().is_terminal()) {
            (false, _) => Mode::Quiet,
            (true, true) => Mode::Bars(MultiProgress::new()),
            (true, false) => Mode::Lines,
        };
        Display {
            mode,
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn line(&self, status: &str, id: Option<&Digest>) {
        let mut line = serde_json::json!({ "status": status });
        if let Some(id) = id {
            line["id"] = short(id).into();
        }
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    fn finish(&self, reference: &RemoteRef, digest: &Digest, downloaded: bool) {
        let status = if downloaded {
            format!("Downloaded newer image for {reference}")
        } else {
            format!("Image is up to date for {reference}")
        };
        match &self.mode {
            Mode::Quiet => {}
            Mode::Bars(multi) => {
                let _ = multi.println(format!("Digest: {digest}"));
                let _ = multi.println(format!("Status: {status}"));
            }
            Mode::Lines => {
                self.line(&format!("Digest: {digest}"), None);
                self.line(&format!("Status: {status}"), None);
            }
        }
    }
}

fn short(id: &Digest) -> String {
    id.hex()[..12].to_string()
}

impl PullProgress for Display {
    fn resolved(&self, reference: &RemoteRef, _digest: &Digest) {
        let tag = reference.tag.as_deref().unwrap_or("latest");
        match &self.mode {
            Mode::Quiet => {}
            Mode::Bars(multi) => {
                let _ = multi.println(format!("{tag}: Pulling from {}", reference.repository));
            }
            Mode::Lines => self.line(&format!("Pulling from {}", reference.repository), None),
        }
    }

    fn layer(&self, id: &Digest, event: LayerEvent) {
        let status = match event {
            LayerEvent::Waiting => "Waiting",
            LayerEvent::AlreadyExists => "Already exists",
            LayerEvent::Downloading { .. } => "Downloading",
            LayerEvent::Complete => "Pull complete",
        };
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines => {
                if !matches!(event, LayerEvent::Downloading { .. }) {
                    self.line(status, Some(id));
                }
            }
            Mode::Bars(multi) => {
                let mut bars = self.bars.lock().expect("bars lock");
                let bar = bars.entry(id.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(0));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix}: {msg:16} [{bar:30}] {bytes}/{total_bytes}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(short(id));
                    bar
                });
                bar.set_message(status);
                match event {
                    LayerEvent::Downloading { done, total } => {
                        bar.set_length(total);
                        bar.set_position(done);
                    }
                    LayerEvent::AlreadyExists | LayerEvent::Complete => {
                        bar.finish_with_message(status)
                    }
                    LayerEvent::Waiting => {}
                }
            }
        }
    }
}
