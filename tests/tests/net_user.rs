//! User-defined networks: names resolved by the network's DNS server, isolation between
//! networks, `--internal`, connect/disconnect, `container:` mode, many containers at once,
//! and `gc` after the wrapper was killed.

use std::process::Stdio;
use std::time::Duration;

use berth_tests::container::Sandbox;
use berth_tests::net::{bridge_ports_settled, httpd_script, wget_retry};
use berth_tests::private_netns::PrivateNetns;
use berth_tests::store::describe;
use berth_tests::wait_for;

fn endpoints(sandbox: &Sandbox, network: &str) -> serde_json::Value {
    let out = sandbox.net_ok(["inspect", network]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect json");
    v[0]["Containers"].clone()
}

#[test]
fn containers_reach_each_other_by_name_and_alias() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let net = sandbox.create_network("front", &[]);
    sandbox.ok([
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "--network-alias",
        "www",
        "probe:latest",
        "sh",
        "-c",
        &httpd_script("hello-by-name", 80),
    ]);
    let by_name = sandbox.sh_on("front", &wget_retry("http://web/"));
    assert_eq!(by_name.trim(), "hello-by-name");
    let by_alias = sandbox.sh_on("front", &wget_retry("http://www/"));
    assert_eq!(by_alias.trim(), "hello-by-name");
    // nc over TCP to the name, and the name resolves to the container's address.
    let out = sandbox.sh_on(
        "front",
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc web 80; nslookup web",
    );
    assert!(out.contains("hello-by-name"), "{out}");
    assert!(out.contains(&net.host(0)), "nslookup web: {out}");
    let resolv = sandbox.ok([
        "--rm",
        "--network",
        "front",
        "probe:latest",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(
        resolv.contains(&format!("nameserver {}", net.gateway)),
        "{resolv}"
    );
    // Removing the network stops its DNS server.
    sandbox.ok(["rm", "-f", "web"]);
    let out = sandbox.net_command(["rm", "front"]).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        berth_tests::net::dns_pid_files(&sandbox.store.run_dir(), "front").is_empty(),
        "the DNS server's pid file is left"
    );
}

#[test]
fn networks_are_isolated_and_internal_has_no_way_out() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let a = sandbox.create_network("neta", &[]);
    sandbox.create_network("netb", &[]);
    sandbox.create_network("closed", &["--internal"]);
    sandbox.ok([
        "-d",
        "--name",
        "srv",
        "--network",
        "neta",
        "probe:latest",
        "sh",
        "-c",
        &httpd_script("a-only", 80),
    ]);
    let from_a = sandbox.sh_on("neta", &wget_retry(&format!("http://{}/", a.host(0))));
    assert_eq!(from_a.trim(), "a-only");
    let out = sandbox.run([
        "--rm",
        "--network",
        "netb",
        "probe:latest",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{}/; exit $?", a.host(0)),
    ]);
    assert!(
        !out.status.success(),
        "a container on netb reached neta: {}",
        describe(&out)
    );
    let routes = sandbox.sh_on("closed", "ip route");
    assert!(
        !routes.contains("default"),
        "an internal network has a default route: {routes}"
    );
    let out = sandbox.run([
        "--rm",
        "--network",
        "closed",
        "probe:latest",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{}/; exit $?", a.host(0)),
    ]);
    assert!(
        !out.status.success(),
        "an internal network reached another: {}",
        describe(&out)
    );
    // A network in use cannot be removed.
    let out = sandbox.net_command(["rm", "neta"]).output().unwrap();
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("active endpoints"),
        "{}",
        describe(&out)
    );
    sandbox.ok(["rm", "-f", "srv"]);
    sandbox.net_ok(["rm", "neta", "netb", "closed"]);
    assert_eq!(
        sandbox.net_ok(["ls", "-q"]).lines().count(),
        0,
        "no network is left"
    );
}

#[test]
fn connect_disconnect_and_container_mode() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    sandbox.create_network("one", &[]);
    let two = sandbox.create_network("two", &[]);
    sandbox.ok([
        "-d",
        "--name",
        "box",
        "--network",
        "one",
        "probe:latest",
        "sh",
        "-c",
        "sleep 60",
    ]);
    sandbox.ok([
        "-d",
        "--name",
        "peer",
        "--network",
        "two",
        "probe:latest",
        "sh",
        "-c",
        &httpd_script("on-two", 80),
    ]);
    sandbox.net_ok(["connect", "--alias", "boxy", "two", "box"]);
    let out = sandbox.ok([
        "exec",
        "box",
        "sh",
        "-c",
        &format!("ip -4 addr show eth1; {}", wget_retry("http://peer/")),
    ]);
    assert!(
        out.contains(&format!("inet {}/24", two.host(1))) && out.contains("on-two"),
        "{out}"
    );
    assert!(endpoints(&sandbox, "two").as_object().unwrap().len() == 2);
    // container: mode shares box's namespace: same addresses.
    let shared = sandbox.sh_on("container:box", "ip -4 addr show eth1");
    assert!(shared.contains(&two.host(1)), "{shared}");
    sandbox.net_ok(["disconnect", "two", "box"]);
    let out = sandbox.ok(["exec", "box", "ls", "/sys/class/net"]);
    assert!(!out.contains("eth1"), "{out}");
    assert_eq!(endpoints(&sandbox, "two").as_object().unwrap().len(), 1);
    sandbox.ok(["rm", "-f", "box", "peer"]);
    for bridge in sandbox.bridges() {
        assert!(
            bridge_ports_settled(&bridge).is_empty(),
            "{bridge}: {:?}",
            bridge_ports_settled(&bridge)
        );
    }
}

#[test]
fn fifty_containers_at_once_get_distinct_addresses() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let net = sandbox.create_network("many", &[]);
    let children: Vec<_> = (0..50)
        .map(|_| {
            sandbox
                .run_command([
                    "--rm",
                    "--network",
                    "many",
                    "probe:latest",
                    "sh",
                    "-c",
                    "hostname -i",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn berth-run")
        })
        .collect();
    let mut addresses = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        addresses.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    // Containers that ran one after another may reuse an address; ones alive at the same
    // time never share one. Every address is in the network's subnet.
    assert!(
        addresses
            .iter()
            .all(|a| a.starts_with(&format!("10.213.{}.", net.index))),
        "{addresses:?}"
    );
    let ipam =
        std::fs::read_to_string(sandbox.store.root().join("networks/many/ipam.json")).unwrap();
    assert_eq!(ipam.trim(), "{}", "allocations left: {ipam}");
    // Alive at once: 50 detached sleepers.
    let ids: Vec<String> = (0..50)
        .map(|_| {
            sandbox
                .run_command([
                    "-d",
                    "--network",
                    "many",
                    "probe:latest",
                    "sh",
                    "-c",
                    "sleep 30",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn berth-run -d")
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", describe(&out));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect();
    let eps = endpoints(&sandbox, "many");
    let mut ips: Vec<String> = eps
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["IPv4Address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ips.len(), 50);
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 50, "an address was given twice");
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    sandbox.ok(&rm);
    assert!(bridge_ports_settled(&sandbox.bridges()[1]).is_empty());
}

#[test]
fn gc_after_the_wrapper_was_killed_leaves_nothing() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    sandbox.create_network("crash", &[]);
    let port = 20000 + u16::from(sandbox.net.default_subnet.index) * 10 + 5;
    let mut wrapper = sandbox
        .run_command([
            "--rm",
            "--network",
            "crash",
            "-p",
            &format!("{port}:80"),
            "probe:latest",
            "sh",
            "-c",
            "sleep 60",
        ])
        .spawn()
        .expect("spawn berth-run");
    wait_for("the endpoint", || {
        endpoints(&sandbox, "crash")
            .as_object()
            .is_some_and(|o| o.len() == 1)
    });
    wrapper.kill().expect("kill -9 the wrapper");
    let _ = wrapper.wait();
    // The container's processes are ours to stop (its cgroup is under the sandbox's parent).
    for dir in sandbox.leftover_cgroups() {
        for pid in std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
        {
            let _ = std::process::Command::new("kill")
                .args(["-9", pid.trim()])
                .status();
        }
    }
    wait_for("the container to die", || {
        sandbox.leftover_cgroups().iter().all(|d| {
            std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .trim()
                .is_empty()
        })
    });
    let report: serde_json::Value =
        serde_json::from_str(&sandbox.net_ok(["gc", "--json"])).unwrap();
    assert_eq!(
        report["removed_netns"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    assert_eq!(endpoints(&sandbox, "crash").as_object().unwrap().len(), 0);
    for bridge in sandbox.bridges() {
        assert!(
            bridge_ports_settled(&bridge).is_empty(),
            "{bridge}: {:?}",
            bridge_ports_settled(&bridge)
        );
    }
    let ipam =
        std::fs::read_to_string(sandbox.store.root().join("networks/crash/ipam.json")).unwrap();
    assert_eq!(ipam.trim(), "{}");
    assert_eq!(
        berth_tests::net::published_port_count(&sandbox.net.table),
        0,
        "{}",
        berth_tests::net::nft_table(&sandbox.net.table)
    );
    assert!(std::fs::read_dir(sandbox.store.run_dir().join("netns"))
        .unwrap()
        .next()
        .is_none());
    // A second gc finds nothing to do.
    let again: serde_json::Value = serde_json::from_str(&sandbox.net_ok(["gc", "--json"])).unwrap();
    assert!(
        again["removed_netns"].as_array().unwrap().is_empty(),
        "{again}"
    );
}

/// A one-name DNS server for the test: answers every A query with `answer`, on `addr`.
fn fake_dns(
    addr: &str,
    answer: [u8; 4],
) -> (
    std::thread::JoinHandle<usize>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let socket = std::net::UdpSocket::bind(addr).expect("bind the fake DNS server");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut answered = 0;
        let mut buf = [0u8; 512];
        while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            if n < 12 {
                continue;
            }
            // The question ends after its name (labels up to a zero byte) and type + class.
            let mut end = 12;
            while end < n && buf[end] != 0 {
                end += usize::from(buf[end]) + 1;
            }
            end += 5;
            if end > n {
                continue;
            }
            let mut reply = Vec::from(&buf[..end]);
            reply[2] = 0x81; // response, recursion desired
            reply[3] = 0x80; // recursion available, NOERROR
            reply[6..8].copy_from_slice(&[0, 1]); // one answer
            reply[8..12].copy_from_slice(&[0, 0, 0, 0]);
            reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            reply.extend_from_slice(&answer);
            let _ = socket.send_to(&reply, from);
            answered += 1;
        }
        answered
    });
    (handle, stop)
}

#[test]
fn other_names_go_to_the_containers_dns_servers() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let net = sandbox.create_network("askers", &[]);
    // An address of the test's own on the host (a neighbour link's host end), where a fake
    // upstream answers: nothing leaves this machine.
    let neighbour =
        berth_tests::net::Neighbour::on_link_only(&format!("{:x}d", std::process::id()));
    let (server, stop) = fake_dns(&format!("{}:53", neighbour.host_ip), [10, 1, 2, 3]);
    let out = sandbox.run([
        "--rm",
        "--network",
        "askers",
        "--dns",
        &neighbour.host_ip,
        "--name",
        "asker",
        "probe:latest",
        "sh",
        "-c",
        "cat /etc/resolv.conf; nslookup upstream.test; nslookup asker",
    ]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let answered = server.join().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    // resolv.conf names the network's server; the unknown name was forwarded to --dns.
    assert!(
        !text.contains(&format!("nameserver {}", neighbour.host_ip)),
        "{text}"
    );
    assert!(text.contains("10.1.2.3"), "{text}");
    assert!(answered >= 1, "the fake upstream was never asked");
    // The container's own name is answered by the network's server, not forwarded.
    // (.1 is the server itself in resolv.conf and nslookup's "Server:" line; .2 is the answer.)
    assert!(text.contains(&net.host(0)), "{text}");
}
