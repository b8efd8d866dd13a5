//! Docker's restart policies and back-off, as dockerd's restart manager decides them
//! (restartmanager/restartmanager.go): `no`, `always`, `unless-stopped`,
//! `on-failure[:N]`; the delay before a restart starts at 100 ms and doubles up to a
//! minute, back to 100 ms once a run lasted 10 s.

use std::time::Duration;

use berth_api::containers::model::RestartPolicyBody;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    No,
    Always,
    UnlessStopped,
    /// At most this many restarts (0: no limit).
    OnFailure(u32),
}

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run this long resets the back-off.
const RESET_AFTER: Duration = Duration::from_secs(10);

impl Policy {
    pub fn of(body: Option<&RestartPolicyBody>) -> Policy {
        let Some(body) = body else {
            return Policy::No;
        };
        match body.name.as_deref().unwrap_or("") {
            "always" => Policy::Always,
            "unless-stopped" => Policy::UnlessStopped,
            "on-failure" => Policy::OnFailure(
                body.maximum_retry_count
                    .unwrap_or(0)
                    .clamp(0, u32::MAX as i64) as u32,
            ),
            _ => Policy::No,
        }
    }

    /// Whether a container that exited with `code`, restarted `count` times so far, is
    /// restarted; never after a stop or kill through the API.
    pub fn restarts_after_exit(self, code: i64, count: u32, manually_stopped: bool) -> bool {
        if manually_stopped {
            return false;
        }
        match self {
            Policy::No => false,
            Policy::Always | Policy::UnlessStopped => true,
            Policy::OnFailure(max) => code != 0 && (max == 0 || count < max),
        }
    }

    /// Whether a daemon starting up starts the stopped container: `always` ones (even
    /// stopped by hand), `unless-stopped` ones not stopped by hand.
    pub fn starts_with_daemon(self, manually_stopped: bool) -> bool {
        match self {
            Policy::Always => true,
            Policy::UnlessStopped => !manually_stopped,
            Policy::No | Policy::OnFailure(_) => false,
        }
    }
}

/// The delay before the next restart.
#[derive(Debug, Default)]
pub struct Backoff {
    delay: Option<Duration>,
}

impl Backoff {
    /// Goes on from `last`, the delay before the last restart (restart.json keeps it, so
    /// a daemon restart does not start the back-off over).
    pub fn resume(last: Option<Duration>) -> Backoff {
        Backoff { delay: last }
    }

    /// The delay after a run that lasted `ran`.
    pub fn next(&mut self, ran: Duration) -> Duration {
        if ran >= RESET_AFTER {
            self.delay = None;
        }
        let delay = match self.delay {
            None => FIRST_DELAY,
            Some(d) => (d * 2).min(MAX_DELAY),
        };
        self.delay = Some(delay);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(name: &str, max: Option<i64>) -> RestartPolicyBody {
        RestartPolicyBody {
            name: Some(name.into()),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn policies_decide_as_dockerd() {
        assert_eq!(Policy::of(None), Policy::No);
        assert_eq!(Policy::of(Some(&body("", None))), Policy::No);
        let on_failure = Policy::of(Some(&body("on-failure", Some(2))));
        assert_eq!(on_failure, Policy::OnFailure(2));
        assert!(on_failure.restarts_after_exit(1, 0, false));
        assert!(on_failure.restarts_after_exit(1, 1, false));
        assert!(!on_failure.restarts_after_exit(1, 2, false));
        assert!(!on_failure.restarts_after_exit(0, 0, false));
        assert!(Policy::OnFailure(0).restarts_after_exit(1, 1000, false));
        let always = Policy::of(Some(&body("always", None)));
        assert!(always.restarts_after_exit(0, 50, false));
        assert!(!always.restarts_after_exit(0, 0, true));
        assert!(always.starts_with_daemon(true));
        let unless = Policy::of(Some(&body("unless-stopped", None)));
        assert!(unless.starts_with_daemon(false));
        assert!(!unless.starts_with_daemon(true));
        assert!(!on_failure.starts_with_daemon(false));
    }

    #[test]
    fn backoff_doubles_to_a_minute_and_resets_after_a_long_run() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(5);
        assert_eq!(b.next(short), Duration::from_millis(100));
        assert_eq!(b.next(short), Duration::from_millis(200));
        assert_eq!(b.next(short), Duration::from_millis(400));
        for _ in 0..20 {
            b.next(short);
        }
        assert_eq!(b.next(short), MAX_DELAY);
        assert_eq!(b.next(Duration::from_secs(10)), Duration::from_millis(100));
        let mut resumed = Backoff::resume(Some(Duration::from_millis(400)));
        assert_eq!(resumed.next(short), Duration::from_millis(800));
    }
}
