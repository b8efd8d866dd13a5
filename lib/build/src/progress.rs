//! What a build tells its user as it goes: BuildKit's plain progress (`#N [stage i/n]
//! INSTRUCTION`, the step's output, `#N CACHED` or `#N DONE 0.3s`), or docker's JSON
//! stream as the API sends it (`{"stream":"Step 1/4 : FROM …\n"}`, `{"aux":{"ID":…}}`,
//! `{"errorDetail":…}`), which berthd's `/build` passes on as it is.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Plain,
    Json,
    /// Nothing but errors and the image ID at the end (`berth-build -q`).
    Quiet,
    /// The JSON stream of `docker build -q`: errors, then the ID as the one `stream`.
    JsonQuiet,
}

pub struct Progress {
    mode: ProgressMode,
    out: Box<dyn Write + Send>,
    number: usize,
    /// Per step (stages build side by side): when it began, and its output not yet ended
    /// by a newline (plain mode).
    started: HashMap<usize, Instant>,
    partial: HashMap<usize, Vec<u8>>,
}

impl Progress {
    pub fn new(mode: ProgressMode, out: Box<dyn Write + Send>) -> Progress {
        Progress {
            mode,
            out,
            number: 0,
            started: HashMap::new(),
            partial: HashMap::new(),
        }
    }

    fn json(&mut self, value: serde_json::Value) {
        let _ = writeln!(self.out, "{value}");
        let _ = self.out.flush();
    }

    fn stream(&mut self, text: &str) {
        self.json(json!({ "stream": text }));
    }

    fn plain(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    fn elapsed(&self, n: usize) -> Duration {
        self.started
            .get(&n)
            .map_or(Duration::ZERO, Instant::elapsed)
    }

    /// A step begins: `label` is `stage 2/5`-like, `step`/`steps` count over the build.
    /// Its number, for what is told of it later.
    pub fn step(&mut self, label: &str, step: usize, steps: usize, instruction: &str) -> usize {
        self.number += 1;
        let n = self.number;
        self.started.insert(n, Instant::now());
        match self.mode {
            ProgressMode::Plain => {
                self.plain(&format!("#{n} [{label}] {instruction}"));
            }
            ProgressMode::Json => {
                self.stream(&format!("Step {step}/{steps} : {instruction}"));
                self.stream("\n");
            }
            ProgressMode::Quiet | ProgressMode::JsonQuiet => {}
        }
        n
    }

    pub fn cached(&mut self, n: usize, id: &str) {
        match self.mode {
            ProgressMode::Plain => {
                self.plain(&format!("#{n} CACHED"));
            }
            ProgressMode::Json => {
                self.stream(" ---> Using cache\n");
                self.stream(&format!(" ---> {}\n", short(id)));
            }
            ProgressMode::Quiet | ProgressMode::JsonQuiet => {}
        }
    }

    /// The step's output, as it comes.
    pub fn output(&mut self, n: usize, bytes: &[u8]) {
        match self.mode {
            ProgressMode::Plain => {
                let mut partial = self.partial.remove(&n).unwrap_or_default();
                partial.extend_from_slice(bytes);
                while let Some(end) = partial.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = partial.drain(..=end).collect();
                    let at = self.elapsed(n).as_secs_f64();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                    self.plain(&format!("#{n} {at:.3} {text}"));
                }
                if !partial.is_empty() {
                    self.partial.insert(n, partial);
                }
            }
            ProgressMode::Json => {
                let text = String::from_utf8_lossy(bytes).into_owned();
                self.stream(&text);
            }
            ProgressMode::Quiet | ProgressMode::JsonQuiet => {}
        }
    }

    fn flush_partial(&mut self, n: usize) {
        if self.partial.contains_key(&n) {
            self.output(n, b"\n");
        }
    }

    pub fn done(&mut self, n: usize, id: &str) {
        self.flush_partial(n);
        match self.mode {
            ProgressMode::Plain => {
                let took = self.elapsed(n).as_secs_f64();
                self.plain(&format!("#{n} DONE {took:.1}s"));
            }
            ProgressMode::Json => self.stream(&format!(" ---> {}\n", short(id))),
            ProgressMode::Quiet | ProgressMode::JsonQuiet => {}
        }
    }

    pub fn warning(&mut self, text: &str) {
        match self.mode {
            ProgressMode::Plain => self.plain(&format!("WARNING: {text}")),
            ProgressMode::Json => self.stream(&format!("[Warning] {text}\n")),
            ProgressMode::Quiet | ProgressMode::JsonQuiet => {}
        }
    }

    /// A step failed (`n` 0: the build, before or after its steps).
    pub fn error(&mut self, n: usize, message: &str) {
        self.flush_partial(n);
        match self.mode {
            ProgressMode::Plain | ProgressMode::Quiet => {
                let n = n.max(1);
                self.plain(&format!("#{n} ERROR: {message}"));
            }
            ProgressMode::Json | ProgressMode::JsonQuiet => {
                self.json(json!({"errorDetail": {"message": message}, "error": message}))
            }
        }
    }

    /// The image is written and named.
    pub fn finished(&mut self, id: &str, names: &[String]) {
        match self.mode {
            ProgressMode::Plain => {
                self.number += 1;
                let n = self.number;
                self.plain(&format!("#{n} exporting to image"));
                self.plain(&format!("#{n} writing image {id} done"));
                for name in names {
                    self.plain(&format!("#{n} naming to {name} done"));
                }
                self.plain(&format!("#{n} DONE 0.0s"));
            }
            ProgressMode::Json => {
                self.json(json!({"aux": {"ID": id}}));
                self.stream(&format!("Successfully built {}\n", short(id)));
                for name in names {
                    self.stream(&format!("Successfully tagged {name}\n"));
                }
            }
            ProgressMode::Quiet => {
                let _ = writeln!(self.out, "{id}");
            }
            ProgressMode::JsonQuiet => {
                self.json(json!({"aux": {"ID": id}}));
                self.stream(&format!("{id}\n"));
            }
        }
    }
}

/// Docker's 12-digit form of an ID.
pub fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}
