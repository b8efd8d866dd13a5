//! berthd's networks driven by bollard, the Rust Docker SDK: create, list, inspect,
//! connect, disconnect, remove, with bollard's own request and answer types.

use std::collections::HashMap;

use berth_tests::container::Sandbox;
use berth_tests::daemon::{bollard_client, Daemon};
use berth_tests::net::SubnetLease;
use berth_tests::private_netns::PrivateNetns;
use bollard::models::{
    EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest,
};
use bollard::query_parameters::ListNetworksOptionsBuilder;

#[test]
fn bollard_creates_lists_inspects_connects_and_removes_a_network() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let lease = SubnetLease::take();
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "sleeper",
        "probe:latest",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let docker = bollard_client(&daemon);
        let created = docker
            .create_network(NetworkCreateRequest {
                name: "sdknet".into(),
                driver: Some("bridge".into()),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(lease.subnet.clone()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                labels: Some(HashMap::from([("via".to_string(), "bollard".to_string())])),
                ..Default::default()
            })
            .await
            .expect("create");
        assert_eq!(created.id.len(), 64);

        let all = docker.list_networks(None).await.expect("list");
        let mut names: Vec<String> = all.iter().filter_map(|n| n.name.clone()).collect();
        names.sort();
        assert_eq!(names, ["bridge", "host", "none", "sdknet"]);
        let filtered = docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&HashMap::from([("label", vec!["via=bollard"])]))
                    .build(),
            ))
            .await
            .expect("list filtered");
        assert_eq!(filtered.len(), 1);
        assert_eq!(filtered[0].id.as_deref(), Some(created.id.as_str()));

        let net = docker
            .inspect_network("sdknet", None)
            .await
            .expect("inspect");
        assert_eq!(net.id.as_deref(), Some(created.id.as_str()));
        assert_eq!(net.driver.as_deref(), Some("bridge"));
        let config = &net.ipam.as_ref().unwrap().config.as_ref().unwrap()[0];
        assert_eq!(config.subnet.as_deref(), Some(lease.subnet.as_str()));
        assert_eq!(config.gateway.as_deref(), Some(lease.gateway.as_str()));

        let address = format!("10.213.{}.77", lease.index);
        docker
            .connect_network(
                "sdknet",
                NetworkConnectRequest {
                    container: "sleeper".into(),
                    endpoint_config: Some(EndpointSettings {
                        ipam_config: Some(bollard::models::EndpointIpamConfig {
                            ipv4_address: Some(address.clone()),
                            ..Default::default()
                        }),
                        aliases: Some(vec!["napper".into()]),
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect("connect");
        let net = docker
            .inspect_network(&created.id[..12], None)
            .await
            .expect("inspect by id prefix");
        let containers = net.containers.unwrap_or_default();
        assert_eq!(containers.len(), 1, "{containers:?}");
        let endpoint = containers.values().next().unwrap();
        assert_eq!(endpoint.name.as_deref(), Some("sleeper"));
        assert_eq!(
            endpoint.ipv4_address.as_deref(),
            Some(format!("{address}/24").as_str())
        );
        let c = docker
            .inspect_container("sleeper", None)
            .await
            .expect("inspect container");
        let nets = c.network_settings.unwrap().networks.unwrap();
        assert_eq!(nets["sdknet"].ip_address.as_deref(), Some(address.as_str()));
        assert_eq!(nets["sdknet"].aliases, Some(vec!["napper".to_string()]));

        // In use: removing is docker's conflict.
        let err = docker.remove_network("sdknet").await.expect_err("in use");
        assert!(err.to_string().contains("active endpoints"), "{err}");
        docker
            .disconnect_network(
                "sdknet",
                NetworkDisconnectRequest {
                    container: "sleeper".into(),
                    force: Some(false),
                },
            )
            .await
            .expect("disconnect");
        docker.remove_network("sdknet").await.expect("remove");
        let err = docker
            .inspect_network("sdknet", None)
            .await
            .expect_err("gone");
        assert!(err.to_string().contains("not found"), "{err}");
    });
    daemon.docker_ok(["rm", "-f", "sleeper"]);
    sandbox.assert_nothing_left();
}
