//! One stats reading: the container's cgroup (v1 or v2, through berth-cgroups) and the
//! host's CPU time and memory from /proc, as dockerd reports them.

use std::time::SystemTime;

use berth_api::StatsSample;
use berth_runtime::state::RunState;

/// Nanoseconds per clock tick: USER_HZ is 100 on every Linux ABI.
const NS_PER_TICK: u64 = 10_000_000;

pub fn sample(state: &RunState) -> StatsSample {
    let mut sample = StatsSample {
        id: state.id.as_str().to_string(),
        name: format!(
            "/{}",
            state.name.as_ref().map(|n| n.as_str()).unwrap_or_default()
        ),
        read: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
        ..Default::default()
    };
    if !state.is_running() {
        // dockerd answers zeros for a container that does not run.
        return sample;
    }
    let (system_cpu_ns, online_cpus) = host_cpu();
    sample.system_cpu_ns = system_cpu_ns;
    sample.online_cpus = online_cpus;
    let host_memory = host_memory();
    sample.memory_limit = host_memory;
    if let Some(part) = &state.record.cgroup {
        match berth_cgroups::stats(part) {
            Ok(stats) => {
                sample.cpu_usage_ns = stats.cpu_usage_ns.unwrap_or(0);
                sample.memory_usage = stats.memory_usage.unwrap_or(0);
                sample.memory_max_usage = stats.memory_max_usage.unwrap_or(0);
                sample.memory_limit = stats.memory_limit.unwrap_or(host_memory);
                sample.pids_current = stats.pids_current.unwrap_or(0);
            }
            // Exited between the check and the read: the zeros stand.
            Err(e) => tracing::debug!(id = %state.id, "cgroup stats: {e}"),
        }
    }
    sample
}

/// The first `cpu` line of /proc/stat in nanoseconds, and how many `cpuN` lines follow.
fn host_cpu() -> (u64, u32) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    parse_proc_stat(&text)
}

fn parse_proc_stat(text: &str) -> (u64, u32) {
    let mut total = 0;
    let mut cpus = 0;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            // dockerd sums the first seven (user..softirq); steal and guest are not ours.
            Some("cpu") => {
                total = fields
                    .take(7)
                    .filter_map(|f| f.parse::<u64>().ok())
                    .sum::<u64>()
                    * NS_PER_TICK;
            }
            Some(name) if name.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total, cpus)
}

fn host_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_sums_seven_fields_and_counts_cpus() {
        let text = "cpu  1 2 3 4 5 6 7 100 0 0\ncpu0 1 1 1 1 1 1 1 0 0 0\ncpu1 0 1 2 0 0 0 0 0 0 0\nintr 5\n";
        let (total, cpus) = parse_proc_stat(text);
        assert_eq!(total, 28 * NS_PER_TICK);
        assert_eq!(cpus, 2);
    }
}
