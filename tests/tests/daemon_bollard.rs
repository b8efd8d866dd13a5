//! berthd driven by bollard, the Rust Docker SDK (a client other than the docker CLI, with
//! its own idea of versions and shapes).

use berth_tests::container::Sandbox;
use berth_tests::daemon::{bollard_client, bollard_runtime, Daemon};

#[test]
fn bollard_negotiates_and_reads_the_system() {
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);
    bollard_runtime().block_on(async {
        let docker = bollard_client(&daemon)
            .negotiate_version()
            .await
            .expect("negotiate");
        assert_eq!(docker.client_version().to_string(), "1.43");
        assert_eq!(docker.ping().await.expect("ping"), "OK");
        let version = docker.version().await.expect("version");
        assert_eq!(version.api_version.as_deref(), Some("1.43"));
        assert_eq!(version.min_api_version.as_deref(), Some("1.24"));
        let info = docker.info().await.expect("info");
        assert_eq!(info.containers, Some(0));
        assert_eq!(
            info.docker_root_dir.as_deref(),
            Some(sandbox.store.root().to_str().unwrap())
        );
    });
}
