//! berthd's volumes driven by bollard (the Rust Docker SDK): create, list with a label
//! filter, inspect, remove, and the errors it decodes.

use std::collections::HashMap;

use berth_tests::container::Sandbox;
use berth_tests::daemon::{bollard_client, bollard_runtime, bollard_status, Daemon};
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListVolumesOptions, RemoveVolumeOptions};

#[test]
fn bollard_creates_lists_inspects_and_removes_volumes() {
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);
    bollard_runtime().block_on(async {
        let docker = bollard_client(&daemon)
            .negotiate_version()
            .await
            .expect("negotiate");
        let created = docker
            .create_volume(VolumeCreateRequest {
                name: Some("bvol".into()),
                labels: Some(HashMap::from([("team".to_string(), "a".to_string())])),
                ..Default::default()
            })
            .await
            .expect("create");
        assert_eq!(created.name, "bvol");
        assert_eq!(created.driver, "local");
        assert_eq!(created.labels.get("team").map(String::as_str), Some("a"));
        docker
            .create_volume(VolumeCreateRequest {
                name: Some("other".into()),
                ..Default::default()
            })
            .await
            .expect("create other");

        let listed = docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(HashMap::from([(
                    "label".to_string(),
                    vec!["team=a".to_string()],
                )])),
            }))
            .await
            .expect("list");
        let names: Vec<String> = listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names, ["bvol"]);

        let inspected = docker.inspect_volume("bvol").await.expect("inspect");
        assert_eq!(
            inspected.mountpoint,
            sandbox
                .store
                .root()
                .join("volumes/bvol/_data")
                .display()
                .to_string()
        );
        assert!(inspected.created_at.is_some());

        docker
            .remove_volume("bvol", None::<RemoveVolumeOptions>)
            .await
            .expect("remove");
        let err = docker.inspect_volume("bvol").await.unwrap_err();
        assert_eq!(bollard_status(&err), 404, "{err}");
        let err = docker
            .remove_volume("bvol", None::<RemoveVolumeOptions>)
            .await
            .unwrap_err();
        assert_eq!(bollard_status(&err), 404, "{err}");
        let err = docker
            .create_volume(VolumeCreateRequest {
                name: Some("../up".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bollard_status(&err), 400, "{err}");
        let all = docker
            .list_volumes(None::<ListVolumesOptions>)
            .await
            .expect("list all");
        assert_eq!(all.volumes.map(|v| v.len()), Some(1));
    });
}
