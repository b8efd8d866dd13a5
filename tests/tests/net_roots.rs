//! Networks of different roots never collide. The stages are scripted from a
//! non-interactive shell as a user's script would run them, with a second root on the same
//! run dir (as every root shares `/run/berth` by default): its networks of the same name,
//! its DNS servers, its default network on the same bridge, its teardown.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use berth_tests::container::Sandbox;
use berth_tests::net::{
    bridge_ports_settled, dns_pid_files, dns_servers, httpd_script, links_with_prefix,
    published_port_count, wget_retry, NetInfo,
};
use berth_tests::private_netns::PrivateNetns;
use berth_tests::store::describe;

/// One root of a sandbox, run with a given run dir: its own, or another sandbox's (every
/// root shares `/run/berth` unless told otherwise).
struct Root<'a> {
    sandbox: &'a Sandbox,
    run_dir: PathBuf,
}

impl<'a> Root<'a> {
    fn own(sandbox: &'a Sandbox) -> Root<'a> {
        Root {
            sandbox,
            run_dir: sandbox.store.run_dir(),
        }
    }

    fn sharing_run_dir(sandbox: &'a Sandbox, with: &Sandbox) -> Root<'a> {
        Root {
            sandbox,
            run_dir: with.store.run_dir(),
        }
    }

    /// A sandbox command as one shell line, its `--run-dir` replaced by this root's.
    fn words(&self, cmd: Command) -> String {
        let mut out = vec![cmd.get_program().to_string_lossy().into_owned()];
        let mut args = cmd.get_args();
        while let Some(arg) = args.next() {
            out.push(arg.to_string_lossy().into_owned());
            if arg == "--run-dir" {
                args.next();
                out.push(self.run_dir.to_string_lossy().into_owned());
            }
        }
        out.join(" ")
    }

    /// `sh -c SCRIPT` with `$RUN` and `$NET` set to this root's `berth-run` and `berth-net`
    /// command lines (root, run dir, cgroup parent, network names), stdin closed.
    fn script(&self, body: &str) -> Output {
        Command::new("sh")
            .arg("-c")
            .arg(body)
            .env(
                "RUN",
                self.words(self.sandbox.run_command(Vec::<&str>::new())),
            )
            .env(
                "NET",
                self.words(self.sandbox.net_command(Vec::<&str>::new())),
            )
            .envs(self.sandbox.net.env())
            .current_dir(self.sandbox.store.work(""))
            .stdin(Stdio::null())
            .output()
            .expect("spawn sh")
    }

    /// Runs `body` and expects exit 0; its stdout.
    fn ok(&self, body: &str) -> String {
        let out = self.script(body);
        assert!(out.status.success(), "script failed: {}", describe(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `$RUN --rm --network NETWORK probe:latest sh -c SCRIPT`; its stdout.
    fn sh_on(&self, network: &str, script: &str) -> String {
        self.ok(&format!(
            "$RUN --rm --network {network} probe:latest sh -c '{script}'"
        ))
    }
}

/// A host port no other test uses now: derived from a subnet lease the sandbox holds
/// (net_bridge.rs takes offsets 0 and 1 of the same scheme).
fn port_of(lease_index: u8, offset: u16) -> u16 {
    20000 + u16::from(lease_index) * 10 + offset
}

/// `busybox wget` from the host, retried while the server starts.
fn host_wget(port: u16) -> String {
    format!(
        "for i in $(seq 50); do timeout 3 busybox wget -qO- http://127.0.0.1:{port}/ 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
    )
}

fn netns_files(run_dir: &Path) -> Vec<String> {
    std::fs::read_dir(run_dir.join("netns"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn bridge_of(sandbox: &Sandbox, network: &str) -> String {
    let path = sandbox
        .store
        .root()
        .join("networks")
        .join(network)
        .join("network.json");
    let def: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("network.json")).unwrap();
    def["bridge"].as_str().expect("bridge").to_string()
}

/// Root B has used the run dir first (a network of the same name, its DNS server up);
/// then root A's user script runs: a web server by name, a published port, isolation, ten
/// containers at once, teardown. Nothing of A is left, and B is untouched.
#[test]
fn a_scripted_session_works_beside_another_root() {
    let _netns = PrivateNetns::enter();
    let (sa, sb) = (Sandbox::with_probe(), Sandbox::with_probe());
    let (a, b) = (Root::own(&sa), Root::sharing_run_dir(&sb, &sa));
    sb.create_network("barnet1", &[]);
    b.ok(&format!(
        "$RUN -d --name other --network barnet1 probe:latest sh -c '{}' >/dev/null",
        httpd_script("hello-from-b", 80)
    ));
    assert_eq!(
        b.sh_on("barnet1", &wget_retry("http://other/")).trim(),
        "hello-from-b"
    );

    let net1: NetInfo = sa.create_network("barnet1", &[]);
    sa.create_network("barnet2", &[]);
    let port = port_of(sa.net.default_subnet.index, 5);
    let session = format!(
        r#"set -u
$RUN -d --rm --name web --network barnet1 probe:latest sh -c '{web}' >/dev/null || exit 10
$RUN -d --rm --name pub -p 127.0.0.1:{port}:80 probe:latest sh -c '{pub_}' >/dev/null || exit 11
echo "by-name: $($RUN --rm --network barnet1 probe:latest sh -c '{by_name}')"
echo "published: $({host})"
# "; exit $?" keeps sh as the container's pid 1: a lone command is exec'd, and timeout's
# SIGTERM to a pid 1 without a handler is ignored, so wget would wait out TCP's SYN retries.
if $RUN --rm --network barnet2 probe:latest sh -c 'timeout 3 wget -qO- http://{web_ip}/; exit $?' >/dev/null 2>&1; then
  echo "isolation: crossed"
else
  echo "isolation: held"
fi
for i in $(seq 10); do
  $RUN --rm --network barnet1 probe:latest sh -c 'hostname -i' > addr.$i 2>err.$i &
done
wait
echo "addresses: $(cat addr.* | sort -u | tr '\n' ' ')"
cat err.*
"#,
        web = httpd_script("hello-by-name", 80),
        pub_ = httpd_script("hello-published", 80),
        by_name = wget_retry("http://web/"),
        host = host_wget(port),
        web_ip = net1.host(0),
    );
    let out = a.ok(&session);
    assert!(out.contains("by-name: hello-by-name\n"), "{out}");
    assert!(out.contains("published: hello-published\n"), "{out}");
    assert!(out.contains("isolation: held\n"), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("addresses: "))
        .expect("addresses");
    let addresses: Vec<&str> = line["addresses: ".len()..].split_whitespace().collect();
    assert_eq!(addresses.len(), 10, "ten distinct addresses: {out}");
    let prefix = format!("{}.", net1.gateway.rsplit_once('.').expect("dotted").0);
    assert!(
        addresses
            .iter()
            .all(|ip| ip.starts_with(&prefix) && *ip != net1.gateway),
        "{out}"
    );
    assert_eq!(
        dns_pid_files(&a.run_dir, "barnet1").len(),
        2,
        "one DNS server per root"
    );

    let bridges = [bridge_of(&sa, "barnet1"), bridge_of(&sa, "barnet2")];
    // httpd is each container's pid 1 and ignores SIGTERM: a short grace period, or the stop
    // waits out 10 s per container before its SIGKILL.
    a.ok("$RUN stop -t 1 web pub >/dev/null && $NET rm barnet1 barnet2 >/dev/null");
    for bridge in &bridges {
        assert!(links_with_prefix(bridge).is_empty(), "{bridge} is left");
    }
    assert!(
        bridge_ports_settled(&sa.net.bridge).is_empty(),
        "veths left on the default bridge"
    );
    assert_eq!(
        published_port_count(&sa.net.table),
        0,
        "{}",
        berth_tests::net::nft_table(&sa.net.table)
    );
    assert!(
        dns_servers(&sa.store.root()).is_empty(),
        "A's DNS servers run on"
    );
    a.ok("$NET reset");
    assert!(
        !berth_tests::net::nft_table_exists(&sa.net.table),
        "A's table is left"
    );
    // Only B's container keeps a namespace; B's server still answers by name.
    assert_eq!(
        netns_files(&a.run_dir).len(),
        1,
        "{:?}",
        netns_files(&a.run_dir)
    );
    assert_eq!(
        b.sh_on("barnet1", &wget_retry("http://other/")).trim(),
        "hello-from-b"
    );
    assert_eq!(dns_pid_files(&a.run_dir, "barnet1").len(), 1);
    b.ok("$RUN rm -f other >/dev/null && $NET rm barnet1 >/dev/null && $NET reset");
    assert!(
        netns_files(&a.run_dir).is_empty(),
        "{:?}",
        netns_files(&a.run_dir)
    );
    assert!(
        dns_servers(&sb.store.root()).is_empty(),
        "B's DNS server runs on"
    );
    sa.assert_nothing_left();
    sb.assert_nothing_left();
}

/// Two roots, one run dir, one nftables table (as every root shares `berth`): both have a
/// network `web` with a server `srv` at once, each resolving its own; a host port one root
/// publishes is allocated for the other; one root's teardown and reset leave the other
/// working.
#[test]
fn two_roots_have_a_network_of_the_same_name_at_once() {
    let _netns = PrivateNetns::enter();
    let (sa, mut sb) = (Sandbox::with_probe(), Sandbox::with_probe());
    sb.net.table = sa.net.table.clone();
    let (a, b) = (Root::own(&sa), Root::sharing_run_dir(&sb, &sa));
    let port_a = port_of(sa.net.default_subnet.index, 6);
    let port_b = port_of(sb.net.default_subnet.index, 6);
    for (root, body, port) in [(&a, "root-a", port_a), (&b, "root-b", port_b)] {
        root.sandbox.create_network("web", &[]);
        root.ok(&format!(
            "$RUN -d --name srv --network web -p 127.0.0.1:{port}:80 probe:latest sh -c '{}' >/dev/null",
            httpd_script(body, 80)
        ));
    }
    let both = |root: &Root, port: u16| {
        root.ok(&format!(
            "$RUN --rm --network web probe:latest sh -c '{}'; {}",
            wget_retry("http://srv/"),
            host_wget(port)
        ))
    };
    assert_eq!(both(&a, port_a), "root-a\nroot-a\n");
    assert_eq!(both(&b, port_b), "root-b\nroot-b\n");
    assert_eq!(dns_pid_files(&a.run_dir, "web").len(), 2);
    // A host port is host-wide: root B cannot take the one root A holds.
    let out = b.script(&format!(
        "$RUN --rm -p 127.0.0.1:{port_a}:80 probe:latest true"
    ));
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("port is already allocated"),
        "{}",
        describe(&out)
    );

    // B goes away entirely; A's name, DNS and port still work.
    assert!(!dns_servers(&sb.store.root()).is_empty());
    b.ok("$RUN rm -f srv >/dev/null && $NET rm web >/dev/null && $NET reset");
    assert!(
        dns_servers(&sb.store.root()).is_empty(),
        "B's DNS server runs on"
    );
    assert_eq!(both(&a, port_a), "root-a\nroot-a\n");
    assert!(
        berth_tests::net::nft_table_exists(&sa.net.table),
        "B's reset deleted the shared table"
    );
    a.ok("$RUN rm -f srv >/dev/null && $NET rm web >/dev/null && $NET reset");
    assert!(dns_servers(&sa.store.root()).is_empty());
    assert!(
        netns_files(&a.run_dir).is_empty(),
        "{:?}",
        netns_files(&a.run_dir)
    );
    assert!(!berth_tests::net::nft_table_exists(&sa.net.table));
    sa.assert_nothing_left();
    sb.assert_nothing_left();
}

/// Two roots whose default networks were told to use one bridge (each its own subnet):
/// the second repairs the bridge (its gateway address, its nft elements) instead of
/// taking it as made, so its published port answers; its reset takes only its own part.
#[test]
fn two_roots_on_one_bridge_each_get_their_gateway_and_ports() {
    let _netns = PrivateNetns::enter();
    let (sa, mut sb) = (Sandbox::with_probe(), Sandbox::with_probe());
    sb.net.table = sa.net.table.clone();
    sb.net.bridge = sa.net.bridge.clone();
    let (a, b) = (Root::own(&sa), Root::sharing_run_dir(&sb, &sa));
    let port_a = port_of(sa.net.default_subnet.index, 7);
    let port_b = port_of(sb.net.default_subnet.index, 7);
    for (root, body, port) in [(&a, "default-a", port_a), (&b, "default-b", port_b)] {
        root.ok(&format!(
            "$RUN -d --name srv -p 127.0.0.1:{port}:80 probe:latest sh -c '{}' >/dev/null",
            httpd_script(body, 80)
        ));
    }
    let addresses = || a.ok(&format!("ip -4 -o addr show dev {}", sa.net.bridge));
    let has = |text: &str, sandbox: &Sandbox| {
        text.contains(&format!("{}/24", sandbox.net.default_subnet.gateway))
    };
    let addrs = addresses();
    assert!(has(&addrs, &sa) && has(&addrs, &sb), "{addrs}");
    assert_eq!(a.ok(&host_wget(port_a)).trim(), "default-a");
    assert_eq!(b.ok(&host_wget(port_b)).trim(), "default-b");
    b.ok("$RUN rm -f srv >/dev/null && $NET reset");
    let addrs = addresses();
    assert!(has(&addrs, &sa) && !has(&addrs, &sb), "{addrs}");
    assert_eq!(a.ok(&host_wget(port_a)).trim(), "default-a");
    a.ok("$RUN rm -f srv >/dev/null && $NET reset");
    assert!(
        links_with_prefix(&sa.net.bridge).is_empty(),
        "the bridge is left"
    );
    assert!(!berth_tests::net::nft_table_exists(&sa.net.table));
    sa.assert_nothing_left();
    sb.assert_nothing_left();
}
