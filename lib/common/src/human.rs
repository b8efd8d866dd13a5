//! Text for people, as the docker CLI prints it: durations (go-units' `HumanDuration`),
//! "… ago" from a recorded RFC 3339 time, and commands quoted and shortened for a column.

use std::time::{Duration, SystemTime};

/// `HumanDuration` of go-units, which `docker ps` and `docker images` use: "Less than a
/// second", "1 second", "About a minute", "3 hours", "2 weeks"…
pub fn duration(d: Duration) -> String {
    let seconds = d.as_secs();
    let minutes = seconds / 60;
    // go-units rounds hours (and so days, weeks, months) to the nearest.
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    match () {
        _ if seconds < 1 => "Less than a second".into(),
        _ if seconds == 1 => "1 second".into(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// How long ago an RFC 3339 time (`2026-01-01T10:00:00.123Z`) was, as [`duration`];
/// `None` when it does not parse. A time in the future counts as now.
pub fn since(time: &str, now: SystemTime) -> Option<String> {
    let then = humantime::parse_rfc3339_weak(time).ok()?;
    Some(duration(now.duration_since(then).unwrap_or_default()))
}

/// `since(time)` + " ago", or "N/A" when the time does not parse.
pub fn ago(time: &str) -> String {
    since(time, SystemTime::now()).map_or_else(|| "N/A".into(), |d| format!("{d} ago"))
}

/// A command for the COMMAND column of `docker ps`: cut to `width` characters (the last
/// one an ellipsis) first, then quoted, so a cut never falls inside the quoting.
pub fn quoted_command(command: &str, width: usize) -> String {
    format!("{:?}", ellipsis(command, width))
}

/// `s` as is if it has at most `width` characters, else its first `width - 1` and "…".
pub fn ellipsis(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut cut: String = s.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_docker_prints_them() {
        let s = Duration::from_secs;
        for (d, text) in [
            (Duration::from_millis(300), "Less than a second"),
            (s(1), "1 second"),
            (s(59), "59 seconds"),
            (s(60), "About a minute"),
            (s(119), "About a minute"),
            (s(120), "2 minutes"),
            (s(3599), "59 minutes"),
            (s(3600), "About an hour"),
            (s(5399), "About an hour"),
            (s(5400), "2 hours"),
            (s(47 * 3600), "47 hours"),
            (s(48 * 3600), "2 days"),
            (s(13 * 86400), "13 days"),
            (s(14 * 86400), "2 weeks"),
            (s(60 * 86400), "2 months"),
            (s(730 * 86400), "2 years"),
        ] {
            assert_eq!(duration(d), text, "{d:?}");
        }
    }

    #[test]
    fn since_parses_recorded_times() {
        let now = humantime::parse_rfc3339("2026-01-01T10:00:03Z").unwrap();
        assert_eq!(
            since("2026-01-01T10:00:00.5Z", now).as_deref(),
            Some("2 seconds")
        );
        assert_eq!(
            since("2026-01-01T10:00:09Z", now).as_deref(),
            Some("Less than a second")
        );
        assert_eq!(since("yesterday", now), None);
        assert_eq!(ago("yesterday"), "N/A");
    }

    #[test]
    fn commands_are_cut_before_they_are_quoted() {
        assert_eq!(
            quoted_command("sh -c 'echo hello; sleep 100'", 20),
            "\"sh -c 'echo hello; …\""
        );
        assert_eq!(quoted_command("sleep 100", 20), "\"sleep 100\"");
        assert_eq!(quoted_command("echo \"hi\"", 20), "\"echo \\\"hi\\\"\"");
        assert_eq!(ellipsis("abcdef", 6), "abcdef");
        assert_eq!(ellipsis("abcdefg", 6), "abcde…");
        assert_eq!(ellipsis("ééééééé", 3), "éé…");
    }
}
