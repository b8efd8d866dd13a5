//! Networking in tests: each [`Sandbox`](crate::container::Sandbox) gets its own default
//! bridge name, nftables table and subnets, leased across test processes through lock
//! files, so tests run in parallel and never meet each other's (or the host's) networks.

use std::fs::File;
use std::path::PathBuf;

/// Subnets 10.213.K.0/24; a lease is a held lock on `<dir>/K.lock`.
const LEASE_DIR: &str = "/tmp/berth-test-subnet-leases";

pub struct SubnetLease {
    pub subnet: String,
    /// First host address: the gateway berth gives the network.
    pub gateway: String,
    /// The /24's third octet.
    pub index: u8,
    _lock: File,
}

impl SubnetLease {
    /// A free subnet, held until the lease is dropped.
    pub fn take() -> SubnetLease {
        std::fs::create_dir_all(LEASE_DIR).expect("lease dir");
        loop {
            for k in 0..=255u8 {
                let path = PathBuf::from(LEASE_DIR).join(format!("{k}.lock"));
                let Ok(file) = File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                else {
                    continue;
                };
                if file.try_lock().is_ok() {
                    return SubnetLease {
                        subnet: format!("10.213.{k}.0/24"),
                        gateway: format!("10.213.{k}.1"),
                        index: k,
                        _lock: file,
                    };
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The address berth gives the Nth container (N from 0) on an empty network.
    pub fn host(&self, n: u8) -> String {
        format!("10.213.{}.{}", self.index, n + 2)
    }
}

/// A network a test made: its subnet and gateway.
#[derive(Debug, Clone)]
pub struct NetInfo {
    pub subnet: String,
    pub gateway: String,
    pub index: u8,
}

impl NetInfo {
    /// The address berth gives the Nth container (N from 0) on an empty network.
    pub fn host(&self, n: u8) -> String {
        format!("10.213.{}.{}", self.index, n + 2)
    }
}

/// The names a sandbox's networking uses.
pub struct NetNames {
    pub bridge: String,
    pub table: String,
    pub default_subnet: SubnetLease,
}

impl NetNames {
    pub fn new(unique: &str) -> NetNames {
        let bridge = format!("bt{unique}");
        assert!(bridge.len() <= 15, "{bridge}");
        NetNames {
            bridge,
            table: format!("berth_test_{unique}"),
            default_subnet: SubnetLease::take(),
        }
    }

    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            ("BERTH_BRIDGE", self.bridge.clone()),
            ("BERTH_NFT_TABLE", self.table.clone()),
            ("BERTH_DEFAULT_SUBNET", self.default_subnet.subnet.clone()),
        ]
    }
}

/// Links whose names start with `prefix` (test guards and residue checks), in the calling
/// thread's network namespace (`/proc/thread-self/net/dev`: `/sys/class/net` shows the
/// namespace sysfs was mounted in, whatever the thread's).
pub fn links_with_prefix(prefix: &str) -> Vec<String> {
    let dev = std::fs::read_to_string("/proc/thread-self/net/dev").expect("read net/dev");
    dev.lines()
        .skip(2)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Links enslaved to `bridge` (none if there is no such bridge), in the calling thread's
/// network namespace.
pub fn bridge_ports(bridge: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-j", "link", "show", "master", bridge])
        .output()
        .expect("run ip");
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    links
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect()
}

pub fn nft_table_exists(table: &str) -> bool {
    std::process::Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The table's text, for checks on published-port elements.
pub fn nft_table(table: &str) -> String {
    std::process::Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

pub fn delete_link(name: &str) {
    let _ = std::process::Command::new("ip")
        .args(["link", "del", name])
        .output();
}

pub fn delete_nft_table(table: &str) {
    let _ = std::process::Command::new("nft")
        .args(["delete", "table", "ip", table])
        .output();
}

/// A network namespace playing a neighbour host, joined to the host by a veth pair on a
/// leased subnet: the host end is `.1`, the neighbour `.2`. Removed on drop.
pub struct Neighbour {
    pub netns: String,
    pub host_link: String,
    pub host_ip: String,
    pub own_ip: String,
    _lease: SubnetLease,
}

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Neighbour {
    /// A neighbour that routes everything back through the host.
    pub fn new(unique: &str) -> Neighbour {
        let n = Neighbour::on_link_only(unique);
        ip(&["-n", &n.netns, "route", "add", "default", "via", &n.host_ip]);
        n
    }

    /// A neighbour that knows only its own link: it can answer the host's address but no
    /// container subnet, so a container reaches it only through the host's masquerade.
    pub fn on_link_only(unique: &str) -> Neighbour {
        let lease = SubnetLease::take();
        // /run/netns is host-wide: a dead test's neighbour under a reused pid must not be
        // this one's, so a random part too.
        let random = {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(unique) & 0xffff
        };
        let netns = format!("berth-test-nb-{unique}-{random:04x}");
        let host_link = format!("bn{unique}{random:04x}");
        assert!(host_link.len() <= 15, "{host_link}");
        let host_ip = lease.gateway.clone();
        let own_ip = lease.host(0);
        let n = Neighbour {
            netns,
            host_link,
            host_ip,
            own_ip,
            _lease: lease,
        };
        ip(&["netns", "add", &n.netns]);
        ip(&[
            "link",
            "add",
            &n.host_link,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &n.netns,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", n.host_ip),
            "dev",
            &n.host_link,
        ]);
        ip(&["link", "set", &n.host_link, "up"]);
        ip(&[
            "-n",
            &n.netns,
            "addr",
            "add",
            &format!("{}/24", n.own_ip),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &n.netns, "link", "set", "eth0", "up"]);
        ip(&["-n", &n.netns, "link", "set", "lo", "up"]);
        n
    }

    /// Serves `body` over HTTP on `port` from the neighbour (busybox httpd, stopped on drop
    /// of the returned child by the caller).
    pub fn serve(&self, dir: &std::path::Path, body: &str, port: u16) -> std::process::Child {
        std::fs::write(dir.join("index.html"), format!("{body}\n")).expect("write index.html");
        let child = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "busybox",
                "httpd",
                "-f",
                "-p",
                &port.to_string(),
                "-h",
            ])
            .arg(dir)
            .spawn()
            .expect("start httpd in the neighbour");
        std::thread::sleep(std::time::Duration::from_millis(200));
        child
    }

    /// `busybox wget` from the neighbour; the body, or None when nothing answered.
    pub fn http_get(&self, url: &str) -> Option<String> {
        let out = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "timeout",
                "5",
                "busybox",
                "wget",
                "-qO-",
                url,
            ])
            .output()
            .expect("run wget in the neighbour");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Neighbour {
    fn drop(&mut self) {
        delete_link(&self.host_link);
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}

/// A plain HTTP GET over TCP from the host; the whole response, or None.
pub fn http_get_host(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().expect("socket address");
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

/// The shell of a container that serves `body` over HTTP on `port` (busybox httpd).
pub fn httpd_script(body: &str, port: u16) -> String {
    format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p {port} -h /www")
}

/// A shell loop that retries `wget -qO- URL` for up to 5 s (the server may still start).
pub fn wget_retry(url: &str) -> String {
    format!("for i in $(seq 50); do timeout 2 wget -qO- {url} 2>/dev/null && exit 0; sleep 0.1; done; exit 1")
}

/// Published-port elements in the table's four port maps.
pub fn published_port_count(table: &str) -> usize {
    let mut count = 0;
    for map in ["tcp_any", "tcp_ip", "udp_any", "udp_ip"] {
        let out = std::process::Command::new("nft")
            .args(["-j", "list", "map", "ip", table, map])
            .output()
            .expect("run nft");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        for item in json["nftables"].as_array().into_iter().flatten() {
            count += item["map"]["elem"].as_array().map_or(0, Vec::len);
        }
    }
    count
}

/// Ports left on `bridge` once the kernel has had up to 5 s to finish deleting the veths of
/// namespaces that are gone (berth leaves that to the kernel on teardown).
pub fn bridge_ports_settled(bridge: &str) -> Vec<String> {
    let start = std::time::Instant::now();
    loop {
        let ports = bridge_ports(bridge);
        if ports.is_empty() || start.elapsed() > std::time::Duration::from_secs(5) {
            return ports;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The pid files of DNS servers for networks named `network` under a run dir, whichever
/// root they belong to (`<run-dir>/roots/<root id>/net/<network>/dns.pid`).
pub fn dns_pid_files(run_dir: &std::path::Path, network: &str) -> Vec<PathBuf> {
    std::fs::read_dir(run_dir.join("roots"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|root| root.path().join("net").join(network).join("dns.pid"))
        .filter(|p| p.exists())
        .collect()
}

/// Pids of DNS servers (`__dns-serve`) serving a network of the root at `root`.
pub fn dns_servers(root: &std::path::Path) -> Vec<u32> {
    let root = root.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            cmdline.contains("__dns-serve") && cmdline.contains(&format!("{root}/"))
        })
        .collect()
}
