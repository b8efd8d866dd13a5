//! Networks through berthd with the real docker CLI: create (subnet, gateway, IP range,
//! internal, labels), ls with filters, inspect, rm, prune; the builtin `bridge`, `host`
//! and `none`; containers reaching each other by name on a user network; connect and
//! disconnect; a published port on 127.0.0.1; networks shared with `berth-net`; bad input.
//! Each test runs in a network namespace of its own, so what berth makes of the kernel's
//! (bridges, veths, the nftables table) lives and dies there.

use std::process::Output;

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::net::{http_get_host, httpd_script, wget_retry, SubnetLease};
use berth_tests::private_netns::PrivateNetns;
use berth_tests::wait_for;
use serde_json::Value;

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `docker network inspect NAME`'s one object.
fn inspect(daemon: &Daemon, name: &str) -> Value {
    let out = daemon.docker_ok(["network", "inspect", name]);
    let list: Value = serde_json::from_str(&out).expect("inspect is JSON");
    list[0].clone()
}

/// The NAME column of `docker network ls` (with extra flags).
fn names(daemon: &Daemon, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["network", "ls", "--format", "{{.Name}}"];
    args.extend(extra);
    let mut names: Vec<String> = daemon.docker_ok(args).lines().map(str::to_string).collect();
    names.sort();
    names
}

/// Status line and body of a raw answer.
fn status_and_body(answer: &str) -> (u16, String) {
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn networks_are_created_listed_inspected_filtered_and_removed() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);

    // The builtin ones are there from the start.
    assert_eq!(names(&daemon, &[]), ["bridge", "host", "none"]);
    let bridge = inspect(&daemon, "bridge");
    assert_eq!(bridge["Driver"], "bridge");
    assert_eq!(
        bridge["IPAM"]["Config"][0]["Subnet"],
        sandbox.net.default_subnet.subnet.as_str()
    );
    assert_eq!(
        bridge["Options"]["com.docker.network.bridge.name"],
        sandbox.net.bridge.as_str()
    );
    assert_eq!(inspect(&daemon, "host")["Driver"], "host");
    assert_eq!(inspect(&daemon, "none")["Driver"], "null");
    // Their IDs are stable (no state of their own: derived from the root).
    let host_id = inspect(&daemon, "host")["Id"].as_str().unwrap().to_string();
    assert_eq!(host_id.len(), 64);
    assert_eq!(inspect(&daemon, &host_id[..12])["Name"], "host");

    let lease = SubnetLease::take();
    let gateway = format!("10.213.{}.254", lease.index);
    let range = format!("10.213.{}.128/25", lease.index);
    let id = daemon.docker_ok([
        "network",
        "create",
        "--subnet",
        &lease.subnet,
        "--gateway",
        &gateway,
        "--ip-range",
        &range,
        "--internal",
        "--label",
        "tier=back",
        "--label",
        "team",
        "backnet",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let net = inspect(&daemon, "backnet");
    assert_eq!(net["Name"], "backnet");
    assert_eq!(net["Id"], id.as_str());
    assert_eq!(net["Scope"], "local");
    assert_eq!(net["Driver"], "bridge");
    assert_eq!(net["Internal"], true);
    assert_eq!(net["Labels"]["tier"], "back");
    assert_eq!(net["Labels"]["team"], "");
    let config = &net["IPAM"]["Config"][0];
    assert_eq!(config["Subnet"], lease.subnet.as_str());
    assert_eq!(config["Gateway"], gateway.as_str());
    assert_eq!(config["IPRange"], range.as_str());
    assert_eq!(net["Containers"], serde_json::json!({}));
    assert!(net["Created"].as_str().unwrap().starts_with("20"), "{net}");
    // By ID and by ID prefix too.
    assert_eq!(inspect(&daemon, &id)["Name"], "backnet");
    assert_eq!(inspect(&daemon, &id[..10])["Name"], "backnet");
    // berth-net sees the network berthd made.
    let listed = sandbox.net_ok(["ls"]);
    assert!(listed.contains("backnet"), "{listed}");

    // A second one with the same name is docker's conflict.
    let out = daemon.docker(["network", "create", "backnet"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("network with name backnet already exists"),
        "{}",
        text(&out)
    );

    // Filters. (The bridge name is free to choose: this test has a namespace of its own.)
    let second = SubnetLease::take();
    daemon.docker_ok([
        "network",
        "create",
        "--subnet",
        &second.subnet,
        "-o",
        "com.docker.network.bridge.name=btfrontnet",
        "frontnet",
    ]);
    assert_eq!(
        inspect(&daemon, "frontnet")["Options"]["com.docker.network.bridge.name"],
        "btfrontnet"
    );
    let link = std::process::Command::new("ip")
        .args(["-br", "link", "show", "btfrontnet"])
        .output()
        .unwrap();
    assert!(link.status.success(), "{}", text(&link));
    assert_eq!(
        names(&daemon, &["-f", "type=custom"]),
        ["backnet", "frontnet"]
    );
    assert_eq!(
        names(&daemon, &["-f", "type=builtin"]),
        ["bridge", "host", "none"]
    );
    assert_eq!(names(&daemon, &["-f", "label=tier=back"]), ["backnet"]);
    assert_eq!(names(&daemon, &["-f", "label=team"]), ["backnet"]);
    assert_eq!(names(&daemon, &["-f", "name=front"]), ["frontnet"]);
    assert_eq!(names(&daemon, &["-f", "driver=host"]), ["host"]);
    assert_eq!(
        names(&daemon, &["-f", &format!("id={}", &id[..8])]),
        ["backnet"]
    );
    assert_eq!(
        names(&daemon, &["-f", "dangling=true"]),
        ["backnet", "frontnet"]
    );
    let out = daemon.docker(["network", "ls", "-f", "colour=red"]);
    assert!(!out.status.success(), "{}", text(&out));

    // The builtin ones cannot go: dockerd's 403.
    let (status, body) = status_and_body(&daemon.http("DELETE", "/networks/bridge", ""));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("bridge is a pre-defined network"), "{body}");
    let out = daemon.docker(["network", "rm", "none"]);
    assert!(!out.status.success(), "{}", text(&out));
    let (status, _) = status_and_body(&daemon.http("DELETE", &format!("/networks/{host_id}"), ""));
    assert_eq!(status, 403);

    daemon.docker_ok(["network", "rm", "backnet", "frontnet"]);
    assert_eq!(names(&daemon, &[]), ["bridge", "host", "none"]);
    let out = daemon.docker(["network", "inspect", "backnet"]);
    assert!(!out.status.success());
    let (status, body) = status_and_body(&daemon.http("GET", "/networks/backnet", ""));
    assert_eq!(status, 404);
    assert!(body.contains("network backnet not found"), "{body}");
    assert!(!sandbox.net_ok(["ls"]).contains("backnet"));
    let link = std::process::Command::new("ip")
        .args(["link", "show", "btfrontnet"])
        .output()
        .unwrap();
    assert!(!link.status.success(), "the bridge went with its network");
}

#[test]
fn bad_input_is_a_400_and_creates_nothing() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);
    let lease = SubnetLease::take();
    daemon.docker_ok(["network", "create", "--subnet", &lease.subnet, "taken"]);
    let before = names(&daemon, &[]);

    let create = |body: String| status_and_body(&daemon.http("POST", "/networks/create", &body));
    let cases = [
        (
            r#"{"Name":"n1","IPAM":{"Config":[{"Subnet":"10.213.0.0/33"}]}}"#.to_string(),
            "10.213.0.0/33",
        ),
        (
            r#"{"Name":"n2","IPAM":{"Config":[{"Subnet":"not-a-subnet"}]}}"#.to_string(),
            "not-a-subnet",
        ),
        (
            r#"{"Name":"bad name!"}"#.to_string(),
            "invalid network name",
        ),
        (r#"{"Name":"n4","Driver":"macvlan"}"#.to_string(), "macvlan"),
        (r#"{"Name":"n5","EnableIPv6":true}"#.to_string(), "IPv6"),
        (
            format!(
                r#"{{"Name":"n6","IPAM":{{"Config":[{{"Subnet":"{}","Gateway":"192.0.2.1"}}]}}}}"#,
                SubnetLease::take().subnet
            ),
            "192.0.2.1",
        ),
        (
            format!(
                r#"{{"Name":"n9","IPAM":{{"Config":[{{"Subnet":"{}","IPRange":"192.0.2.0/28"}}]}}}}"#,
                SubnetLease::take().subnet
            ),
            "not within the subnet",
        ),
        (r#"{"Name":"n7","#.to_string(), "EOF"),
        (r#"{"Name":7}"#.to_string(), "invalid type"),
    ];
    for (body, says) in cases {
        let (status, answer) = create(body.clone());
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.contains(says), "{body}: {answer} lacks {says:?}");
    }
    // An overlapping subnet is forbidden, in dockerd's words.
    let (status, answer) = create(format!(
        r#"{{"Name":"n3","IPAM":{{"Config":[{{"Subnet":"{}"}}]}}}}"#,
        lease.subnet
    ));
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer.contains("Pool overlaps with other one on this address space"),
        "{answer}"
    );
    // The CLI says so too, and nothing was made.
    let out = daemon.docker(["network", "create", "--subnet", "10.0.0.0/99", "n8"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(names(&daemon, &[]), before);
    let dirs = std::fs::read_dir(sandbox.store.root().join("networks"))
        .unwrap()
        .count();
    assert_eq!(dirs, 2, "only bridge and taken have definitions");
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_connect_disconnect() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let lease = SubnetLease::take();
    let net_id = daemon.docker_ok(["network", "create", "--subnet", &lease.subnet, "appnet"]);
    let net_id = net_id.trim().to_string();

    let web = daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "appnet",
        "--network-alias",
        "www",
        "probe:latest",
        "sh",
        "-c",
        &httpd_script("hello-from-web", 80),
    ]);
    let web = web.trim().to_string();
    let got = daemon.docker_ok([
        "run",
        "--rm",
        "--network",
        "appnet",
        "probe:latest",
        "sh",
        "-c",
        &wget_retry("http://web/"),
    ]);
    assert_eq!(got.trim(), "hello-from-web");
    let got = daemon.docker_ok([
        "run",
        "--rm",
        "--network",
        "appnet",
        "probe:latest",
        "sh",
        "-c",
        &wget_retry("http://www/"),
    ]);
    assert_eq!(got.trim(), "hello-from-web", "by its --network-alias");

    // Inspect on both sides.
    let c: Value = serde_json::from_str(&daemon.docker_ok(["inspect", "web"])).unwrap();
    let on = &c[0]["NetworkSettings"]["Networks"]["appnet"];
    assert_eq!(on["IPAddress"], lease.host(0).as_str(), "{on}");
    assert_eq!(on["Gateway"], lease.gateway.as_str());
    assert_eq!(on["NetworkID"], net_id.as_str());
    assert_eq!(on["MacAddress"], berth_engine_mac(&lease.host(0)).as_str());
    assert_eq!(on["EndpointID"].as_str().unwrap().len(), 64);
    assert_eq!(on["Aliases"], serde_json::json!(["www"]));
    let net = inspect(&daemon, "appnet");
    let entry = &net["Containers"][&web];
    assert_eq!(entry["Name"], "web", "{net}");
    assert_eq!(
        entry["IPv4Address"],
        format!("{}/24", lease.host(0)).as_str()
    );
    assert_eq!(entry["EndpointID"], on["EndpointID"]);

    // A network in use stays.
    let out = daemon.docker(["network", "rm", "appnet"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has active endpoints"),
        "{}",
        text(&out)
    );
    assert!(names(&daemon, &[]).contains(&"appnet".to_string()));
    assert!(names(&daemon, &["-f", "dangling=true"]).is_empty());

    // connect: a container of the default bridge joins appnet and is found by name there.
    let late_id = daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "late",
        "probe:latest",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    daemon.docker_ok(["network", "connect", "--alias", "tardy", "appnet", "late"]);
    let c: Value = serde_json::from_str(&daemon.docker_ok(["inspect", "late"])).unwrap();
    let nets = &c[0]["NetworkSettings"]["Networks"];
    assert!(
        nets["bridge"]["IPAddress"].as_str().unwrap() != "",
        "{nets}"
    );
    let late_ip = nets["appnet"]["IPAddress"].as_str().unwrap().to_string();
    assert!(
        late_ip.starts_with(&format!("10.213.{}.", lease.index)),
        "{nets}"
    );
    assert_eq!(nets["appnet"]["Aliases"][0], "tardy");
    let hosts = daemon.docker_ok(["exec", "late", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{late_ip}\t")), "{hosts}");
    // It came from the default bridge, which has no DNS server: now it asks appnet's.
    let resolv_before = std::fs::read_to_string(
        sandbox
            .store
            .root()
            .join("containers")
            .join(late_id.trim())
            .join("resolv.conf.before-connect"),
    )
    .expect("the resolv.conf before the connect is kept");
    let resolv = daemon.docker_ok(["exec", "late", "cat", "/etc/resolv.conf"]);
    assert!(
        resolv.contains(&format!("nameserver {}", lease.gateway)),
        "{resolv}"
    );
    let out = daemon.docker_ok(["exec", "late", "sh", "-c", "nslookup web"]);
    assert!(out.contains(&lease.host(0)), "{out}");
    let lookup = |name: &str| {
        daemon.docker([
            "run",
            "--rm",
            "--network",
            "appnet",
            "probe:latest",
            "sh",
            "-c",
            &format!("nslookup {name}"),
        ])
    };
    let out = lookup("late");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&late_ip),
        "{}",
        text(&out)
    );
    assert!(String::from_utf8_lossy(&lookup("tardy").stdout).contains(&late_ip));
    assert!(inspect(&daemon, "appnet")["Containers"]
        .as_object()
        .unwrap()
        .values()
        .any(|e| e["Name"] == "late"));

    // Connecting twice is refused; disconnect takes it off again.
    let out = daemon.docker(["network", "connect", "appnet", "late"]);
    assert!(!out.status.success(), "{}", text(&out));
    daemon.docker_ok(["network", "disconnect", "appnet", "late"]);
    let out = lookup("late");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(&late_ip),
        "{}",
        text(&out)
    );
    let c: Value = serde_json::from_str(&daemon.docker_ok(["inspect", "late"])).unwrap();
    assert!(c[0]["NetworkSettings"]["Networks"]["appnet"].is_null());
    let hosts = daemon.docker_ok(["exec", "late", "cat", "/etc/hosts"]);
    assert!(!hosts.contains(&format!("{late_ip}\t")), "{hosts}");
    let resolv = daemon.docker_ok(["exec", "late", "cat", "/etc/resolv.conf"]);
    assert_eq!(
        resolv, resolv_before,
        "the resolv.conf of before the connect is back"
    );
    let out = daemon.docker(["network", "disconnect", "appnet", "late"]);
    assert!(!out.status.success(), "{}", text(&out));
    // A stopped container has no namespace to connect.
    let out = daemon.docker(["network", "connect", "appnet", "nosuch"]);
    assert!(!out.status.success());

    daemon.docker_ok(["rm", "-f", "web", "late"]);
    wait_for("the endpoints to go", || {
        inspect(&daemon, "appnet")["Containers"]
            .as_object()
            .is_some_and(|m| m.is_empty())
    });
    daemon.docker_ok(["network", "rm", "appnet"]);
    // The journal has what happened to the network, in order (`--until 0s` is whole
    // seconds: wait for the next one).
    std::thread::sleep(std::time::Duration::from_secs(1));
    let events = daemon.docker_ok([
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "--filter",
        "type=network",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let mut events: Vec<&str> = events.lines().collect();
    // `rm -f web late` stops the two at once: their disconnects come in either order.
    let n = events.len();
    if n >= 3 {
        events[n - 3..n - 1].sort();
    }
    // As dockerd: a `connect` at each start of a container on a network (web, the
    // lookups' `run --rm`s, late on bridge) and a `disconnect` at each stop (the lookups'
    // exits, `rm -f` of late and web), and the explicit connect and disconnect.
    assert_eq!(
        events,
        [
            "create appnet",
            "connect appnet",
            "connect appnet",
            "disconnect appnet",
            "connect appnet",
            "disconnect appnet",
            "connect bridge",
            "connect appnet",
            "connect appnet",
            "disconnect appnet",
            "connect appnet",
            "disconnect appnet",
            "disconnect appnet",
            "connect appnet",
            "disconnect appnet",
            "disconnect appnet",
            "disconnect bridge",
            "destroy appnet"
        ],
        "{events:?}"
    );
    sandbox.assert_nothing_left();
}

/// berth-net's MAC for an address: 02:42 and its four bytes.
fn berth_engine_mac(ip: &str) -> String {
    let ip: std::net::Ipv4Addr = ip.parse().unwrap();
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

#[test]
fn builtin_modes_run_and_a_published_port_answers_on_loopback() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let links = |network: &str| {
        daemon.docker_ok([
            "run",
            "--rm",
            "--network",
            network,
            "probe:latest",
            "cat",
            "/proc/net/dev",
        ])
    };
    let on_bridge = links("bridge");
    assert!(on_bridge.contains("eth0:"), "{on_bridge}");
    let on_none = links("none");
    assert!(
        on_none.contains("lo:") && !on_none.contains("eth0:"),
        "{on_none}"
    );
    // The host's namespace (the test's own) has the sandbox's default bridge by now.
    let on_host = links("host");
    assert!(
        on_host.contains(&format!("{}:", sandbox.net.bridge)),
        "{on_host}"
    );

    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "pub",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "probe:latest",
        "sh",
        "-c",
        &httpd_script("published-body", 80),
    ]);
    let addr = format!("127.0.0.1:{port}");
    wait_for("the published port", || {
        http_get_host(&addr).is_some_and(|t| t.contains("published-body"))
    });
    let shown = daemon.docker_ok(["port", "pub"]);
    assert!(shown.contains(&format!("127.0.0.1:{port}")), "{shown}");
    daemon.docker_ok(["rm", "-f", "pub"]);
    sandbox.assert_nothing_left();
}

#[test]
fn networks_are_shared_with_berth_net_and_pruned_by_filter() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    sandbox.create_network("fromcli", &["--label", "origin=cli"]);
    assert!(names(&daemon, &[]).contains(&"fromcli".to_string()));
    assert_eq!(inspect(&daemon, "fromcli")["Labels"]["origin"], "cli");

    let (keep, old) = (SubnetLease::take(), SubnetLease::take());
    daemon.docker_ok([
        "network",
        "create",
        "--subnet",
        &keep.subnet,
        "--label",
        "keep=yes",
        "keeper",
    ]);
    daemon.docker_ok([
        "network",
        "create",
        "--subnet",
        &old.subnet,
        "--label",
        "keep=no",
        "throwaway",
    ]);
    // A network in use is never pruned.
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "user",
        "--network",
        "fromcli",
        "probe:latest",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let out = daemon.docker_ok(["network", "prune", "-f", "--filter", "label=keep=no"]);
    assert!(
        out.contains("throwaway") && !out.contains("keeper"),
        "{out}"
    );
    // until: nothing is older than an hour.
    let out = daemon.docker_ok(["network", "prune", "-f", "--filter", "until=1h"]);
    assert!(!out.contains("keeper"), "{out}");
    let (status, body) = status_and_body(&daemon.http("POST", "/networks/prune", ""));
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["NetworksDeleted"], serde_json::json!(["keeper"]));
    assert_eq!(names(&daemon, &[]), ["bridge", "fromcli", "host", "none"]);

    daemon.docker_ok(["rm", "-f", "user"]);
    daemon.docker_ok(["network", "rm", "fromcli"]);
    assert!(!sandbox.net_ok(["ls"]).contains("fromcli"));
    sandbox.assert_nothing_left();
}
