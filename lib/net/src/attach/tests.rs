//! Attach, detach and down against a fake kernel that records each step and fails the
//! ones it is told to: the undo of a half-made attachment (every step before the failure,
//! last first), and a teardown that runs every step and reports every failure.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_common::{ContainerId, Paths, PortMapping};

use super::kernel::Kernel;
use super::*;
use crate::ports::PortRequest;

/// One call of the fake, with what was on disk when it came: whether the container's
/// endpoint file existed and whether it held an address.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    step: &'static str,
    arg: String,
    endpoint: bool,
    address: bool,
}

struct Fake {
    network_dir: PathBuf,
    container: String,
    fail: Vec<&'static str>,
    calls: Vec<Call>,
}

impl Fake {
    fn new(network_dir: &Path, container: &str, fail: &[&'static str]) -> Fake {
        Fake {
            network_dir: network_dir.to_path_buf(),
            container: container.to_string(),
            fail: fail.to_vec(),
            calls: Vec::new(),
        }
    }

    fn step(&mut self, step: &'static str, arg: impl Into<String>) -> Result<()> {
        let arg = arg.into();
        self.calls.push(Call {
            step,
            arg: arg.clone(),
            endpoint: endpoints::path(&self.network_dir, &self.container).exists(),
            address: crate::ipam::load(&self.network_dir)
                .is_ok_and(|held| held.values().any(|c| *c == self.container)),
        });
        if self.fail.contains(&step) {
            return Err(NetError::Nft(crate::nft::NftError::Failed {
                table: "fake".to_string(),
                op: "inject",
                message: format!("injected failure of {step} {arg}"),
            }));
        }
        Ok(())
    }

    fn steps(&self) -> Vec<&'static str> {
        self.calls.iter().map(|c| c.step).collect()
    }
}

impl Kernel for Fake {
    fn ensure_bridge(&mut self, def: &NetworkDef) -> Result<u32> {
        self.step("ensure_bridge", &def.bridge).map(|()| 7)
    }

    fn published(&mut self, table: &str) -> Result<Vec<PortMapping>> {
        self.step("published", table).map(|()| Vec::new())
    }

    fn create_veth(
        &mut self,
        host: &str,
        ifname: &str,
        _netns: &Path,
        mtu: u32,
        mac: [u8; 6],
        bridge: u32,
    ) -> Result<()> {
        let arg = format!(
            "{host} {ifname} mtu {mtu} {} master {bridge}",
            mac_text(mac)
        );
        self.step("create_veth", arg)
    }

    fn configure(
        &mut self,
        _netns: &Path,
        ifname: &str,
        ip: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<()> {
        self.step(
            "configure",
            format!("{ifname} {ip}/{prefix} via {gateway:?}"),
        )
    }

    fn add_ports(&mut self, table: &str, ip: Ipv4Addr, ports: &[PortMapping]) -> Result<()> {
        self.step("add_ports", format!("{table} {ip} {}", ports.len()))
    }

    fn remove_ports(&mut self, table: &str, ports: &[PortMapping]) -> Result<()> {
        self.step("remove_ports", format!("{table} {}", ports.len()))
    }

    fn delete_link(&mut self, name: &str) -> Result<()> {
        self.step("delete_link", name)
    }
}

/// A root in a temporary directory with one network, `attnet`, defined on disk.
struct Fixture {
    _tmp: tempfile::TempDir,
    paths: Paths,
    settings: HostSettings,
    id: ContainerId,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path().join("root"), tmp.path().join("run"));
        let fixture = Fixture {
            _tmp: tmp,
            paths,
            settings: HostSettings::default(),
            id: ContainerId::random(),
        };
        fixture.define("attnet", "10.77.0.0/24", false);
        fixture
    }

    fn define(&self, name: &str, subnet: &str, dns: bool) -> NetworkDef {
        let subnet: ipnet::Ipv4Net = subnet.parse().unwrap();
        let def = NetworkDef {
            name: name.into(),
            id: format!("{:0<64}", name.len()),
            driver: "bridge".into(),
            bridge: format!("bt-{name}"),
            subnet,
            gateway: crate::ipam::first_host(&subnet),
            ip_range: None,
            internal: false,
            mtu: 1400,
            nft_table: "berth-unit-none".into(),
            dns,
            created: String::new(),
            options: Default::default(),
            labels: Default::default(),
        };
        let dir = network::dir(&self.paths, name);
        std::fs::create_dir_all(&dir).unwrap();
        berth_common::json_file::write_atomic(&dir.join("network.json"), &def).unwrap();
        def
    }

    fn def(&self, name: &str) -> NetworkDef {
        network::find(&self.paths, name).unwrap()
    }

    fn dir(&self, name: &str) -> PathBuf {
        network::dir(&self.paths, name)
    }

    fn ctx(&self, dns: Option<DnsLauncher>) -> Context<'_> {
        Context {
            paths: &self.paths,
            settings: &self.settings,
            dns,
        }
    }

    /// Attaches the container to `network` through `kernel`, publishing one port.
    fn attach(
        &self,
        kernel: &mut dyn Kernel,
        network: &str,
        dns: Option<DnsLauncher>,
    ) -> Result<(Endpoint, Vec<PortMapping>)> {
        let ports = [PortRequest {
            host_ip: Ipv4Addr::LOCALHOST,
            host_port: 0,
            host_range: None,
            container_port: 80,
            proto: "tcp".into(),
        }];
        let netns = netns_path(&self.paths, &self.id);
        attach_with(
            kernel,
            &self.ctx(dns),
            &self.def(network),
            &Attachment {
                netns: &netns,
                container_id: &self.id,
                name: Some("web"),
                ifname: "eth0",
                aliases: &[],
                ip: None,
                ports: &ports,
                dns: &[],
                default_route: true,
            },
        )
    }

    fn fake(&self, network: &str, fail: &[&'static str]) -> Fake {
        Fake::new(&self.dir(network), &self.id, fail)
    }

    /// Nothing of the container is left on `network`'s files.
    fn assert_gone_from(&self, network: &str) {
        let dir = self.dir(network);
        assert!(
            !endpoints::path(&dir, &self.id).exists(),
            "endpoint file left"
        );
        let held = crate::ipam::load(&dir).unwrap();
        assert!(
            held.values().all(|c| *c != *self.id),
            "address left: {held:?}"
        );
    }
}

#[test]
fn a_whole_attachment_makes_every_step_in_order_and_keeps_them() {
    let f = Fixture::new();
    let mut fake = f.fake("attnet", &[]);
    let (endpoint, ports) = f.attach(&mut fake, "attnet", None).unwrap();
    assert_eq!(
        fake.steps(),
        [
            "ensure_bridge",
            "published",
            "create_veth",
            "configure",
            "add_ports"
        ]
    );
    let host_veth = host_veth_name(&f.id, &f.def("attnet").id);
    assert_eq!(
        fake.calls[2].arg,
        format!("{host_veth} eth0 mtu 1400 02:42:0a:4d:00:02 master 7")
    );
    assert_eq!(fake.calls[3].arg, "eth0 10.77.0.2/24 via Some(10.77.0.1)");
    // The address and the endpoint file come before the veth, so a crash after it leaves
    // what `down` needs to find it.
    assert!(fake.calls[2].endpoint && fake.calls[2].address);
    assert!(!fake.calls[0].address, "no address before the bridge");
    assert_eq!(endpoint.ip, Ipv4Addr::new(10, 77, 0, 2));
    assert_eq!(endpoint.host_veth, host_veth);
    assert_eq!(ports.len(), 1);
    let file = &endpoints::list(&f.dir("attnet"))[0];
    assert_eq!((file.ip, &file.ports), (endpoint.ip, &ports));
}

#[test]
fn a_failure_at_each_step_undoes_the_steps_before_it_last_first() {
    // (failing step, the undo's kernel calls after it)
    let cases: &[(&'static str, &[&str])] = &[
        ("ensure_bridge", &[]),
        ("published", &[]),
        ("create_veth", &[]),
        ("configure", &["delete_link"]),
        ("add_ports", &["delete_link"]),
    ];
    for (fail, undo) in cases {
        let f = Fixture::new();
        let mut fake = f.fake("attnet", &[fail]);
        let err = f.attach(&mut fake, "attnet", None).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("injected failure of {fail}")),
            "{err}"
        );
        let at = fake.steps().iter().position(|s| s == fail).unwrap();
        assert_eq!(
            &fake.steps()[at + 1..],
            *undo,
            "failing {fail}: {:?}",
            fake.calls
        );
        // The veth goes while the endpoint file and the address are still there.
        for call in &fake.calls[at + 1..] {
            assert!(call.endpoint && call.address, "failing {fail}: {call:?}");
        }
        f.assert_gone_from("attnet");
    }
}

#[test]
fn a_failure_after_the_ports_removes_them_before_the_veth() {
    let f = Fixture::new();
    let def = f.define("dnsnet", "10.78.0.0/24", true);
    let mut fake = f.fake("dnsnet", &[]);
    // The DNS server cannot start: its program does not exist.
    let launcher = DnsLauncher {
        program: PathBuf::from("/nonexistent/berth-unit-dns"),
        args: Vec::new(),
    };
    let err = f.attach(&mut fake, "dnsnet", Some(launcher)).unwrap_err();
    assert!(matches!(err, NetError::Dns(_)), "{err}");
    let host_veth = host_veth_name(&f.id, &def.id);
    let undo: Vec<(&str, &str)> = fake.calls[5..]
        .iter()
        .map(|c| (c.step, c.arg.as_str()))
        .collect();
    assert_eq!(
        undo,
        [
            ("remove_ports", "berth-unit-none 1"),
            ("delete_link", host_veth.as_str())
        ]
    );
    f.assert_gone_from("dnsnet");
}

#[test]
fn an_attachment_is_refused_when_the_container_is_already_on_the_network() {
    let f = Fixture::new();
    f.attach(&mut f.fake("attnet", &[]), "attnet", None)
        .unwrap();
    let mut fake = f.fake("attnet", &[]);
    let err = f.attach(&mut fake, "attnet", None).unwrap_err();
    assert!(matches!(err, NetError::AlreadyConnected { .. }), "{err}");
    // Refused before any step, and the first attachment is kept.
    assert!(fake.calls.is_empty());
    assert_eq!(endpoints::list(&f.dir("attnet")).len(), 1);
}

#[test]
fn detach_runs_every_step_reports_every_failure_and_is_idempotent() {
    let f = Fixture::new();
    f.attach(&mut f.fake("attnet", &[]), "attnet", None)
        .unwrap();
    let def = f.def("attnet");
    let mut fake = f.fake("attnet", &["remove_ports", "delete_link"]);
    let err = detach_with(&mut fake, &f.paths, &def, &f.id, true).unwrap_err();
    let NetError::Many(list) = &err else {
        panic!("not a list: {err}");
    };
    assert_eq!(list.len(), 2, "{err}");
    assert!(err.to_string().starts_with("2 errors: "), "{err}");
    assert_eq!(fake.steps(), ["remove_ports", "delete_link"]);
    // The files go even though the kernel steps failed.
    f.assert_gone_from("attnet");
    // Again: nothing is left to find, nothing to fail.
    let mut fake = f.fake("attnet", &["remove_ports", "delete_link"]);
    detach_with(&mut fake, &f.paths, &def, &f.id, true).unwrap();
    assert!(fake.calls.is_empty());
}

#[test]
fn detach_leaves_the_veth_to_the_kernel_when_told() {
    let f = Fixture::new();
    f.attach(&mut f.fake("attnet", &[]), "attnet", None)
        .unwrap();
    let mut fake = f.fake("attnet", &[]);
    detach_with(&mut fake, &f.paths, &f.def("attnet"), &f.id, false).unwrap();
    assert_eq!(fake.steps(), ["remove_ports"]);
    f.assert_gone_from("attnet");
}

#[test]
fn down_takes_the_container_off_every_network_despite_failures_and_can_run_again() {
    let f = Fixture::new();
    f.define("second", "10.79.0.0/24", false);
    f.attach(&mut f.fake("attnet", &[]), "attnet", None)
        .unwrap();
    f.attach(&mut f.fake("second", &[]), "second", None)
        .unwrap();
    // The namespace file does not exist, so down deletes the veths itself.
    let mut fake = f.fake("attnet", &["delete_link"]);
    let err = down_with(&mut fake, &f.paths, &f.id).unwrap_err();
    // One list of both networks' failures, not a list inside a list.
    let NetError::Many(list) = &err else {
        panic!("not a list: {err}");
    };
    assert_eq!(list.len(), 2, "{err}");
    assert!(list.iter().all(|e| !matches!(e, NetError::Many(_))));
    assert_eq!(
        fake.steps(),
        ["remove_ports", "delete_link", "remove_ports", "delete_link"]
    );
    f.assert_gone_from("attnet");
    f.assert_gone_from("second");
    let mut fake = f.fake("attnet", &["delete_link", "remove_ports"]);
    down_with(&mut fake, &f.paths, &f.id).unwrap();
    assert!(fake.calls.is_empty(), "{:?}", fake.calls);
}

#[test]
fn down_tries_a_network_whose_allocations_cannot_be_read() {
    let f = Fixture::new();
    std::fs::write(f.dir("attnet").join("ipam.json"), "{").unwrap();
    let mut fake = f.fake("attnet", &[]);
    let err = down_with(&mut fake, &f.paths, &f.id).unwrap_err();
    // Reading it failed twice (to decide, then to release): both are reported.
    let text = err.to_string();
    assert!(text.contains("ipam.json"), "{text}");
    let NetError::Many(list) = &err else {
        panic!("not a list: {err}");
    };
    assert_eq!(list.len(), 2, "{text}");
}
