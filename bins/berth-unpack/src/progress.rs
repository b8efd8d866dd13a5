//! Progress bars on stderr for long imports, only when it is a terminal.

use std::sync::Mutex;

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
        let short: String = layer
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect();
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
