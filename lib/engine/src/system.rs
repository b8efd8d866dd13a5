//! `/version` and `/info` from the store and the host.

use berth_api::{BackendError, SystemBackend};
use berth_cgroups::Mode;
use bollard_stubs::models::{
    LocalNodeState, PluginsInfo, SwarmInfo, SystemInfo, SystemInfoCgroupDriverEnum,
    SystemInfoCgroupVersionEnum, SystemVersion, SystemVersionComponents, SystemVersionPlatform,
};

use crate::{host, Engine};

const VERSION: &str = env!("CARGO_PKG_VERSION");

impl SystemBackend for Engine {
    fn version(&self) -> Result<SystemVersion, BackendError> {
        let kernel = host::kernel_version();
        let details = [
            ("ApiVersion", berth_api::API_VERSION.to_string()),
            ("MinAPIVersion", berth_api::MIN_API_VERSION.to_string()),
            ("Os", "linux".to_string()),
            ("Arch", host::go_arch().to_string()),
            ("KernelVersion", kernel.clone()),
            ("Experimental", "false".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Ok(SystemVersion {
            platform: Some(SystemVersionPlatform {
                name: "berth".to_string(),
            }),
            components: Some(vec![SystemVersionComponents {
                name: "Engine".to_string(),
                version: VERSION.to_string(),
                details: Some(details),
            }]),
            version: Some(VERSION.to_string()),
            os: Some("linux".to_string()),
            arch: Some(host::go_arch().to_string()),
            kernel_version: Some(kernel),
            experimental: Some(false),
            git_commit: Some(String::new()),
            go_version: Some(String::new()),
            ..SystemVersion::default()
        })
    }

    fn info(&self) -> Result<SystemInfo, BackendError> {
        let counts = self.container_counts();
        let images = self
            .store()?
            .images()
            .map(|images| images.len() as i64)
            .map_err(crate::images::image_error)?;
        let cgroup_version = match self.cgroups.mode() {
            Ok(Mode::V2) => SystemInfoCgroupVersionEnum::_2,
            Ok(Mode::V1 | Mode::Hybrid) => SystemInfoCgroupVersionEnum::_1,
            Err(_) => SystemInfoCgroupVersionEnum::EMPTY,
        };
        let (operating_system, os_version) = host::operating_system();
        let proxy = |name: &str| std::env::var(name).unwrap_or_default();
        Ok(SystemInfo {
            id: Some(self.paths().root_id()),
            containers: Some(counts.total),
            containers_running: Some(counts.running),
            containers_paused: Some(counts.paused),
            containers_stopped: Some(counts.total - counts.running - counts.paused),
            images: Some(images),
            driver: Some("overlayfs".to_string()),
            driver_status: Some(vec![]),
            plugins: Some(PluginsInfo {
                volume: Some(vec!["local".to_string()]),
                network: Some(["bridge", "host", "none"].map(String::from).to_vec()),
                authorization: None,
                log: Some(vec!["json-file".to_string()]),
            }),
            swarm: Some(SwarmInfo {
                local_node_state: Some(LocalNodeState::INACTIVE),
                control_available: Some(false),
                ..SwarmInfo::default()
            }),
            docker_root_dir: Some(self.paths().root().display().to_string()),
            memory_limit: Some(true),
            swap_limit: Some(true),
            cpu_cfs_period: Some(true),
            cpu_cfs_quota: Some(true),
            cpu_shares: Some(true),
            cpu_set: Some(true),
            pids_limit: Some(true),
            oom_kill_disable: Some(false),
            debug: Some(false),
            nfd: Some(host::open_fds()),
            n_goroutines: Some(0),
            system_time: Some(
                humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
            ),
            logging_driver: Some("json-file".to_string()),
            cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
            cgroup_version: Some(cgroup_version),
            n_events_listener: Some(0),
            kernel_version: Some(host::kernel_version()),
            operating_system: Some(operating_system),
            os_version: Some(os_version),
            os_type: Some("linux".to_string()),
            architecture: Some(host::architecture().to_string()),
            ncpu: Some(host::cpus()),
            mem_total: Some(host::mem_total()),
            index_server_address: Some("https://index.docker.io/v1/".to_string()),
            http_proxy: Some(proxy("HTTP_PROXY")),
            https_proxy: Some(proxy("HTTPS_PROXY")),
            no_proxy: Some(proxy("NO_PROXY")),
            name: Some(host::hostname()),
            labels: Some(vec![]),
            experimental_build: Some(false),
            server_version: Some(VERSION.to_string()),
            default_runtime: Some("berth".to_string()),
            live_restore_enabled: Some(true),
            security_options: Some(vec![
                "name=seccomp,profile=builtin".to_string(),
                "name=cgroupns".to_string(),
            ]),
            warnings: Some(vec![]),
            ..SystemInfo::default()
        })
    }
}

/// How many containers the root has, by state.
pub(crate) struct Counts {
    pub total: i64,
    pub running: i64,
    pub paused: i64,
}

impl Engine {
    pub(crate) fn container_counts(&self) -> Counts {
        let total = berth_common::registry::ids(self.paths()).map_or(0, |ids| ids.len() as i64);
        let running = berth_runtime::state::all(self.paths())
            .iter()
            .filter(|state| state.is_running())
            .count() as i64;
        Counts {
            total: total.max(running),
            running,
            paused: 0,
        }
    }
}
