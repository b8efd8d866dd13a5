//! The two fields of /proc/PID/stat that berth reads (the state and the start time), by one
//! parser: the command name between the parentheses may hold anything (spaces, `)`, a
//! newline), so the fields are counted from the last `)`.

/// What /proc/PID/stat says of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `X` (dead), …
    pub state: char,
    /// Field 22, in clock ticks since boot: with the pid, it names one process (a reused
    /// pid has another start time).
    pub start_time: u64,
}

impl ProcStat {
    /// A process that has exited (a zombie waiting for its parent, or dead) is not alive.
    pub fn is_alive(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }
}

/// Process `pid`'s stat; None when there is no such process (or `pid` is not one).
pub fn read(pid: i32) -> Option<ProcStat> {
    if pid <= 0 {
        return None;
    }
    use std::io::Read;
    // One read into a buffer that holds the whole line (the kernel prints it as one
    // record, a few hundred bytes): `ps` asks this of every running container, and
    // `read_to_string` would add a stat and several reads each time.
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut buf = [0u8; 2048];
    let n = file.read(&mut buf).ok()?;
    if n == buf.len() {
        let mut all = buf.to_vec();
        file.read_to_end(&mut all).ok()?;
        return parse(&String::from_utf8_lossy(&all));
    }
    parse(&String::from_utf8_lossy(&buf[..n]))
}

/// Whether process `pid` exists and has not exited.
pub fn alive(pid: i32) -> bool {
    read(pid).is_some_and(|s| s.is_alive())
}

/// Parses a /proc/PID/stat line; None if it is cut short.
pub fn parse(stat: &str) -> Option<ProcStat> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3.
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAIL: &str = "1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                        987654 2000000 100 18446744073709551615";

    #[test]
    fn the_fields_are_counted_from_the_last_parenthesis_whatever_the_command_holds() {
        for comm in [
            "a",
            "a) b) (c",
            "with space",
            "x)",
            ")",
            "(",
            "a\nb",
            ") S 1 2 3",
        ] {
            let stat = format!("4242 ({comm}) S {TAIL}");
            assert_eq!(
                parse(&stat),
                Some(ProcStat {
                    state: 'S',
                    start_time: 987654
                }),
                "{comm:?}"
            );
        }
        let zombie = parse(&format!("7 (z) Z {TAIL}")).unwrap();
        assert!(!zombie.is_alive());
    }

    #[test]
    fn a_line_cut_short_or_without_a_command_is_none_and_never_panics() {
        for stat in [
            "",
            "4242",
            "4242 (short) S 1",
            "4242 (x)",
            "4242 (x) ",
            "4242 x) S",
        ] {
            assert_eq!(parse(stat), None, "{stat:?}");
        }
        assert_eq!(parse(&format!("1 (a) S {}", "x ".repeat(30))), None);
    }

    #[test]
    fn this_process_is_alive_with_a_start_time_that_stays() {
        let me = std::process::id() as i32;
        let first = read(me).expect("this process is alive");
        assert!(first.is_alive() && alive(me));
        assert_eq!(read(me).map(|s| s.start_time), Some(first.start_time));
        assert_eq!(read(0), None);
        assert_eq!(read(-1), None);
        assert_eq!(read(i32::MAX), None);
    }
}
