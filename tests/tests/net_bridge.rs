//! berth-net's default bridge network and `--network none`: address, route, hosts file,
//! published ports from the host, from a neighbour host and from another container, and
//! nothing left after teardown.

use berth_tests::container::Sandbox;
use berth_tests::net::{
    bridge_ports_settled, http_get_host, httpd_script, links_with_prefix, nft_table,
    published_port_count, wget_retry, Neighbour,
};
use berth_tests::private_netns::PrivateNetns;
use berth_tests::store::describe;

fn unique() -> String {
    format!("{:x}", std::process::id())
}

/// Nothing of a container's networking is left: no port on the bridge, no address
/// allocation, no namespace file, no published port.
fn assert_no_residue(sandbox: &Sandbox) {
    for bridge in sandbox.bridges() {
        assert!(
            bridge_ports_settled(&bridge).is_empty(),
            "ports left on {bridge}: {:?}",
            bridge_ports_settled(&bridge)
        );
    }
    let netns = sandbox.store.run_dir().join("netns");
    let left: Vec<_> = std::fs::read_dir(&netns)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    for entry in std::fs::read_dir(sandbox.store.root().join("networks"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let ipam = std::fs::read_to_string(entry.path().join("ipam.json")).unwrap_or_default();
        assert!(
            ipam.is_empty() || ipam == "{}",
            "allocations left in {:?}: {ipam}",
            entry.path()
        );
        let endpoints: Vec<_> = std::fs::read_dir(entry.path().join("endpoints"))
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        assert!(endpoints.is_empty(), "endpoints left: {endpoints:?}");
    }
    let left = published_port_count(&sandbox.net.table);
    assert_eq!(
        left,
        0,
        "published ports left in the table:\n{}",
        nft_table(&sandbox.net.table)
    );
}

#[test]
fn default_bridge_gives_an_address_a_route_and_hosts_entries() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let out = sandbox.ok([
        "--rm",
        "--hostname",
        "boxy",
        "--add-host",
        "db.test:10.1.2.3",
        "--add-host",
        "gw.test:host-gateway",
        "probe:latest",
        "sh",
        "-c",
        "ip -4 addr show eth0; ip route; cat /etc/hosts; cat /sys/class/net/eth0/mtu",
    ]);
    let subnet = &sandbox.net.default_subnet;
    let ip = subnet.host(0);
    assert!(out.contains(&format!("inet {ip}/24")), "{out}");
    assert!(
        out.contains(&format!("default via {}", subnet.gateway)),
        "{out}"
    );
    assert!(out.contains(&format!("{ip}\tboxy")), "{out}");
    assert!(out.contains("10.1.2.3\tdb.test"), "{out}");
    assert!(
        out.contains(&format!("{}\tgw.test", subnet.gateway)),
        "{out}"
    );
    assert!(out.trim_end().ends_with("1500"), "{out}");
    assert_no_residue(&sandbox);
    // Addresses are given round robin: the next container gets the next one, the first
    // address comes back only after the others (its old veth may still be going).
    let again = sandbox.ok(["--rm", "probe:latest", "sh", "-c", "hostname -i"]);
    assert_eq!(again.trim(), subnet.host(1));
    assert_no_residue(&sandbox);
    // The bridge is in the test's own namespace, not the host's (which sysfs shows).
    let bridge = &sandbox.net.bridge;
    assert!(links_with_prefix(bridge).contains(bridge), "no {bridge}");
    assert!(
        !std::path::Path::new("/sys/class/net").join(bridge).exists(),
        "{bridge} is in the host's namespace"
    );
}

#[test]
fn network_none_has_only_loopback() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let out = sandbox.ok([
        "--rm",
        "--network",
        "none",
        "probe:latest",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    assert!(
        !links_with_prefix(&sandbox.net.bridge).contains(&sandbox.net.bridge),
        "--network none made no bridge"
    );
}

#[test]
fn published_ports_answer_from_the_host_a_neighbour_and_a_container() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let neighbour = Neighbour::new(&unique());
    // Two host ports for one server: one on every address, one on 127.0.0.1 only.
    // Ports derived from the sandbox's subnet lease: no other test holds them now.
    let base = 20000 + u16::from(sandbox.net.default_subnet.index) * 10;
    let (all_port, local_port) = (base, base + 1);
    let id = sandbox.ok([
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{all_port}:80"),
        "-p",
        &format!("127.0.0.1:{local_port}:80"),
        "probe:latest",
        "sh",
        "-c",
        &httpd_script("hello-from-web", 80),
    ]);
    let id = id.trim();
    // The host over 127.0.0.1, both ports (retry while httpd starts).
    let mut body = None;
    for _ in 0..50 {
        body = http_get_host(&format!("127.0.0.1:{local_port}"));
        if body
            .as_deref()
            .is_some_and(|b| b.contains("hello-from-web"))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        body.is_some_and(|b| b.contains("hello-from-web")),
        "127.0.0.1:{local_port} did not answer"
    );
    let body = http_get_host(&format!("127.0.0.1:{all_port}")).unwrap_or_default();
    assert!(
        body.contains("hello-from-web"),
        "127.0.0.1:{all_port}: {body}"
    );
    // A neighbour host reaches the port published on every address, not the local one.
    let got = neighbour.http_get(&format!("http://{}:{all_port}/", neighbour.host_ip));
    assert_eq!(got.as_deref().map(str::trim), Some("hello-from-web"));
    assert_eq!(
        neighbour.http_get(&format!("http://{}:{local_port}/", neighbour.host_ip)),
        None,
        "a port published on 127.0.0.1 answered a neighbour"
    );
    // Another container reaches it through the host's address (hairpin NAT).
    let gateway = &sandbox.net.default_subnet.gateway;
    let out = sandbox.ok([
        "--rm",
        "probe:latest",
        "sh",
        "-c",
        &wget_retry(&format!("http://{gateway}:{all_port}/")),
    ]);
    assert_eq!(out.trim(), "hello-from-web");
    // ps shows the real exposure.
    let ps = sandbox.ok(["ps"]);
    assert!(
        ps.contains(&format!("0.0.0.0:{all_port}->80/tcp"))
            && ps.contains(&format!("127.0.0.1:{local_port}->80/tcp")),
        "{ps}"
    );
    // Publishing a port already taken fails clearly and leaves nothing.
    let out = sandbox.run([
        "--rm",
        "-p",
        &format!("{all_port}:81"),
        "probe:latest",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("port is already allocated"),
        "{}",
        describe(&out)
    );
    sandbox.ok(["rm", "-f", id]);
    assert_no_residue(&sandbox);
    assert_eq!(
        http_get_host(&format!("127.0.0.1:{all_port}")),
        None,
        "the port still answers after rm"
    );
}

#[test]
fn bad_network_flags_fail_before_anything_is_made() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    for (flags, needle) in [
        (vec!["-p", "80:70000"], "--publish"),
        (vec!["-p", "1-3:1-2"], "--publish"),
        (
            vec!["--network", "nosuchnet"],
            "network nosuchnet not found",
        ),
        (vec!["--dns", "not-an-ip"], "--dns"),
        (vec!["--add-host", "nocolon"], "--add-host"),
        (vec!["--network", "none", "--ip", "10.0.0.5"], "--ip"),
    ] {
        let mut args = vec!["--rm"];
        args.extend(&flags);
        args.extend(["probe:latest", "true"]);
        let out = sandbox.run(&args);
        assert_eq!(
            out.status.code(),
            Some(125),
            "{flags:?}: {}",
            describe(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{flags:?}: {err}");
    }
    assert_no_residue(&sandbox);
    assert!(
        sandbox
            .leftover_mounts()
            .iter()
            .all(|m| !m.contains("/netns/")),
        "{:?}",
        sandbox.leftover_mounts()
    );
}

#[test]
fn publish_all_maps_the_images_exposed_ports_to_random_host_ports() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let tar = berth_tests::image::tar_bytes(&berth_tests::image::busybox_entries());
    let path = sandbox.store.work("exposing.tar");
    std::fs::write(&path, tar).unwrap();
    sandbox.store.ok([
        "import",
        "-q",
        "--change",
        "EXPOSE 80/tcp 53/udp",
        path.to_str().unwrap(),
        "exposing:1",
    ]);
    let id = sandbox.ok([
        "-d",
        "-P",
        "exposing:1",
        "sh",
        "-c",
        &httpd_script("published-all", 80),
    ]);
    let id = id.trim();
    let state = sandbox.run_state(id);
    let ports = state["record"]["network"]["ports"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(ports.len(), 2, "{state}");
    let tcp = ports
        .iter()
        .find(|p| p["proto"] == "tcp")
        .expect("the tcp port");
    let host_port = tcp["host_port"].as_u64().unwrap();
    assert_eq!(tcp["container_port"], 80);
    assert!(host_port >= 1024, "{tcp}");
    assert!(
        ports
            .iter()
            .any(|p| p["proto"] == "udp" && p["container_port"] == 53),
        "{ports:?}"
    );
    let mut body = None;
    for _ in 0..50 {
        body = http_get_host(&format!("127.0.0.1:{host_port}"));
        if body.as_deref().is_some_and(|b| b.contains("published-all")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        body.is_some_and(|b| b.contains("published-all")),
        "127.0.0.1:{host_port} did not answer"
    );
    assert_eq!(published_port_count(&sandbox.net.table), 2);
    sandbox.ok(["rm", "-f", id]);
    assert_no_residue(&sandbox);
}

#[test]
fn outbound_traffic_is_masqueraded_behind_the_host() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    // The neighbour has no route to the container's subnet: only NAT lets the replies back.
    let neighbour = Neighbour::on_link_only(&format!("{}m", unique()));
    let www = tempfile::tempdir().unwrap();
    let port = 20000 + u16::from(sandbox.net.default_subnet.index) * 10 + 7;
    let mut server = neighbour.serve(www.path(), "hello-from-outside", port);
    let url = format!("http://{}:{port}/", neighbour.own_ip);
    let out = sandbox.run(["--rm", "probe:latest", "sh", "-c", &wget_retry(&url)]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello-from-outside"
    );
    // An internal network has no way out at all.
    sandbox.create_network("closed", &["--internal"]);
    let mut server = neighbour.serve(www.path(), "hello-from-outside", port);
    let out = sandbox.run([
        "--rm",
        "--network",
        "closed",
        "probe:latest",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- {url}; exit $?"),
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        !out.status.success(),
        "an internal network reached outside: {}",
        describe(&out)
    );
    assert_no_residue(&sandbox);
}
