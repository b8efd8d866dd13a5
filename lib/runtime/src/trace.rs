//! `--trace`: how long each stage of a run took.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Trace {
    start: Instant,
    last: Instant,
    pub stages: Vec<(&'static str, Duration)>,
}

impl Default for Trace {
    fn default() -> Self {
        let now = Instant::now();
        Trace {
            start: now,
            last: now,
            stages: Vec::new(),
        }
    }
}

impl Trace {
    /// Times `work` as stage `name`.
    pub fn stage<T>(&mut self, name: &'static str, work: impl FnOnce() -> T) -> T {
        let begin = Instant::now();
        let out = work();
        self.stages.push((name, begin.elapsed()));
        self.last = Instant::now();
        out
    }

    /// Records a stage timed elsewhere (work done beside another stage).
    pub fn record(&mut self, name: &'static str, took: Duration) {
        self.stages.push((name, took));
    }

    /// Records the time since the last stage ended as stage `name`.
    pub fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.stages.push((name, now - self.last));
        self.last = now;
    }

    pub fn total(&self) -> Duration {
        self.start.elapsed()
    }

    /// `stage  1.234 ms` lines.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, took) in &self.stages {
            out.push_str(&format!(
                "{name:<10} {:>9.3} ms\n",
                took.as_secs_f64() * 1e3
            ));
        }
        out.push_str(&format!(
            "{:<10} {:>9.3} ms\n",
            "total",
            self.total().as_secs_f64() * 1e3
        ));
        out
    }
}
