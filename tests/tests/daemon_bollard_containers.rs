//! Containers, exec and images through bollard 0.21, whose typed models parse berthd's
//! answers more strictly than the docker CLI does (a field of the wrong type fails here).

use std::collections::HashMap;

use berth_tests::container::Sandbox;
use berth_tests::daemon::{bollard_client, bollard_runtime, Daemon};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, ListContainersOptions, ListImagesOptions,
    LogsOptions, RemoveContainerOptions, RemoveImageOptions, TagImageOptions, WaitContainerOptions,
};
use futures_util::StreamExt;

fn create_options(name: &str) -> Option<CreateContainerOptions> {
    Some(CreateContainerOptions {
        name: Some(name.to_string()),
        ..Default::default()
    })
}

fn body(cmd: &[&str]) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some("probe:latest".into()),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        labels: Some(HashMap::from([("suite".into(), "bollard".into())])),
        ..Default::default()
    }
}

/// Every piece of a log or exec output stream, as text per stream.
async fn collect_output(
    mut stream: impl futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
) -> (String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(item) = stream.next().await {
        match item.expect("output") {
            LogOutput::StdOut { message } => out.push_str(&String::from_utf8_lossy(&message)),
            LogOutput::StdErr { message } => err.push_str(&String::from_utf8_lossy(&message)),
            other => panic!("unexpected stream piece {other:?}"),
        }
    }
    (out, err)
}

#[test]
fn bollard_creates_runs_waits_reads_logs_and_removes_a_container() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    bollard_runtime().block_on(async {
        let docker = bollard_client(&daemon)
            .negotiate_version()
            .await
            .expect("negotiate");
        let created = docker
            .create_container(
                create_options("bolt"),
                body(&["sh", "-c", "echo out; echo err >&2; exit 7"]),
            )
            .await
            .expect("create");
        assert_eq!(created.id.len(), 64, "{created:?}");
        assert!(created.warnings.is_empty());

        let inspect = docker
            .inspect_container("bolt", None)
            .await
            .expect("inspect");
        assert_eq!(inspect.name.as_deref(), Some("/bolt"));
        let state = inspect.state.expect("state");
        assert_eq!(
            state.status.map(|s| s.to_string()).as_deref(),
            Some("created")
        );

        docker.start_container("bolt", None).await.expect("start");
        let waited: Vec<_> = docker
            .wait_container("bolt", None::<WaitContainerOptions>)
            .collect()
            .await;
        // bollard turns a non-zero exit into an error carrying the code.
        match &waited[..] {
            [Err(bollard::errors::Error::DockerContainerWaitError { code, .. })] => {
                assert_eq!(*code, 7)
            }
            other => panic!("wait: {other:?}"),
        }

        let (out, err) = collect_output(Box::pin(docker.logs(
            "bolt",
            Some(LogsOptions {
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        )))
        .await;
        assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));

        let inspect = docker
            .inspect_container("bolt", None)
            .await
            .expect("inspect");
        let state = inspect.state.expect("state");
        assert_eq!(state.exit_code, Some(7));
        assert_eq!(state.running, Some(false));
        assert_eq!(inspect.id.as_deref(), Some(created.id.as_str()));
        let config = inspect.config.expect("config");
        assert_eq!(config.image.as_deref(), Some("probe:latest"));
        assert_eq!(
            config
                .labels
                .unwrap_or_default()
                .get("suite")
                .map(String::as_str),
            Some("bollard")
        );

        let all = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(HashMap::from([(
                    "label".to_string(),
                    vec!["suite=bollard".to_string()],
                )])),
                ..Default::default()
            }))
            .await
            .expect("list");
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].id.as_deref(), Some(created.id.as_str()));
        assert_eq!(all[0].names.as_deref(), Some(&["/bolt".to_string()][..]));
        let running = docker
            .list_containers(None::<ListContainersOptions>)
            .await
            .expect("list running");
        assert!(running.is_empty(), "{running:?}");

        docker
            .remove_container("bolt", None::<RemoveContainerOptions>)
            .await
            .expect("remove");
        match docker.inspect_container("bolt", None).await {
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code,
                message,
            }) => {
                assert_eq!(status_code, 404);
                assert_eq!(message, "No such container: bolt");
            }
            other => panic!("inspect after rm: {other:?}"),
        }
    });
    sandbox.assert_nothing_left();
}

#[test]
fn bollard_execs_in_a_running_container() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    bollard_runtime().block_on(async {
        let docker = bollard_client(&daemon)
            .negotiate_version()
            .await
            .expect("negotiate");
        docker
            .create_container(create_options("exe"), body(&["busybox", "sleep", "300"]))
            .await
            .expect("create");
        docker.start_container("exe", None).await.expect("start");

        let exec = docker
            .create_exec(
                "exe",
                CreateExecOptions {
                    cmd: Some(vec!["sh", "-c", "echo in-$((6*7)); echo warn >&2; exit 4"]),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .expect("exec create");
        let before = docker.inspect_exec(&exec.id).await.expect("exec inspect");
        assert_eq!(before.running, Some(false));
        assert_eq!(before.exit_code, None);
        match docker.start_exec(&exec.id, None).await.expect("exec start") {
            StartExecResults::Attached { output, .. } => {
                let (out, err) = collect_output(output).await;
                assert_eq!((out.as_str(), err.as_str()), ("in-42\n", "warn\n"));
            }
            StartExecResults::Detached => panic!("attached exec came back detached"),
        }
        let after = docker.inspect_exec(&exec.id).await.expect("exec inspect");
        assert_eq!((after.running, after.exit_code), (Some(false), Some(4)));
        let inspect = docker
            .inspect_container("exe", None)
            .await
            .expect("inspect");
        assert_eq!(after.container_id.as_deref(), inspect.id.as_deref());

        docker
            .remove_container(
                "exe",
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
            .expect("rm -f");
    });
    sandbox.assert_nothing_left();
}

#[test]
fn bollard_lists_inspects_tags_and_removes_images() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    bollard_runtime().block_on(async {
        let docker = bollard_client(&daemon)
            .negotiate_version()
            .await
            .expect("negotiate");
        let images = docker
            .list_images(None::<ListImagesOptions>)
            .await
            .expect("list");
        assert_eq!(images.len(), 1, "{images:?}");
        assert_eq!(images[0].repo_tags, ["probe:latest"]);
        let inspect = docker.inspect_image("probe:latest").await.expect("inspect");
        assert_eq!(inspect.id.as_deref(), Some(images[0].id.as_str()));
        let layers = inspect
            .root_fs
            .clone()
            .and_then(|r| r.layers)
            .unwrap_or_default();
        assert!(!layers.is_empty(), "{inspect:?}");

        docker
            .tag_image(
                "probe:latest",
                Some(TagImageOptions {
                    repo: Some("other/probe".into()),
                    tag: Some("v2".into()),
                }),
            )
            .await
            .expect("tag");
        let tagged = docker
            .inspect_image("other/probe:v2")
            .await
            .expect("inspect tag");
        assert_eq!(tagged.id, inspect.id);
        let mut tags = docker
            .list_images(None::<ListImagesOptions>)
            .await
            .expect("list")
            .remove(0)
            .repo_tags;
        tags.sort();
        assert_eq!(tags, ["other/probe:v2", "probe:latest"]);

        let removed = docker
            .remove_image("other/probe:v2", None::<RemoveImageOptions>, None)
            .await
            .expect("untag");
        assert_eq!(removed.len(), 1, "{removed:?}");
        assert_eq!(removed[0].untagged.as_deref(), Some("other/probe:v2"));
        let removed = docker
            .remove_image("probe:latest", None::<RemoveImageOptions>, None)
            .await
            .expect("remove");
        assert!(
            removed
                .iter()
                .any(|r| r.deleted.as_deref() == inspect.id.as_deref()),
            "{removed:?}"
        );
        assert!(docker
            .list_images(None::<ListImagesOptions>)
            .await
            .expect("list")
            .is_empty());
        match docker.inspect_image("probe:latest").await {
            Err(bollard::errors::Error::DockerResponseServerError { status_code, .. }) => {
                assert_eq!(status_code, 404)
            }
            other => panic!("inspect after rm: {other:?}"),
        }
    });
}

#[test]
fn bollard_attaches_with_stdin_and_its_end_is_the_containers() {
    use tokio::io::AsyncWriteExt;
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    bollard_runtime().block_on(async {
        let docker = bollard_client(&daemon)
            .negotiate_version()
            .await
            .expect("negotiate");
        let config = ContainerCreateBody {
            open_stdin: Some(true),
            stdin_once: Some(true),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            ..body(&["cat"])
        };
        docker
            .create_container(create_options("piped"), config)
            .await
            .expect("create");
        let attached = docker
            .attach_container(
                "piped",
                Some(AttachContainerOptions {
                    stdin: true,
                    stdout: true,
                    stderr: true,
                    stream: true,
                    ..Default::default()
                }),
            )
            .await
            .expect("attach");
        docker.start_container("piped", None).await.expect("start");
        let mut input = attached.input;
        input.write_all(b"through bollard\n").await.unwrap();
        input.shutdown().await.unwrap();
        let output = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            collect_output(attached.output),
        )
        .await
        .expect("the output ends once stdin has");
        assert_eq!(output.0, "through bollard\n");
        let waited: Vec<_> = docker
            .wait_container("piped", None::<WaitContainerOptions>)
            .collect()
            .await;
        assert!(
            matches!(&waited[..], [Ok(w)] if w.status_code == 0),
            "{waited:?}"
        );
        docker
            .remove_container("piped", None::<RemoveContainerOptions>)
            .await
            .expect("remove");
    });
    sandbox.assert_nothing_left();
}

#[test]
fn bollard_detaches_with_its_keys_and_the_container_runs_on() {
    use tokio::io::AsyncWriteExt;
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    bollard_runtime().block_on(async {
        let docker = bollard_client(&daemon)
            .negotiate_version()
            .await
            .expect("negotiate");
        let config = ContainerCreateBody {
            tty: Some(true),
            open_stdin: Some(true),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            ..body(&["sh"])
        };
        docker
            .create_container(create_options("held"), config)
            .await
            .expect("create");
        docker.start_container("held", None).await.expect("start");
        let attached = docker
            .attach_container(
                "held",
                Some(AttachContainerOptions {
                    stdin: true,
                    stdout: true,
                    stream: true,
                    detach_keys: Some("ctrl-a,d".into()),
                    ..Default::default()
                }),
            )
            .await
            .expect("attach");
        let (mut input, mut output) = (attached.input, attached.output);
        // The default keys are not these: they reach the shell (and do nothing there).
        input
            .write_all(b"\x10\x11echo before-$((3*3))\n")
            .await
            .unwrap();
        let mut seen = String::new();
        let read_until = async {
            while !seen.contains("before-9") {
                match output.next().await {
                    Some(Ok(piece)) => seen.push_str(&piece.to_string()),
                    other => panic!("the output ended: {other:?} after {seen:?}"),
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), read_until)
            .await
            .expect("the echo");
        input.write_all(b"\x01d").await.unwrap();
        let rest = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(piece) = output.next().await {
                piece.expect("output");
            }
        })
        .await;
        assert!(rest.is_ok(), "the attach did not end at the detach keys");
        let inspect = docker
            .inspect_container("held", None)
            .await
            .expect("inspect");
        assert_eq!(inspect.state.and_then(|s| s.running), Some(true));
        docker
            .remove_container(
                "held",
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
            .expect("rm -f");
    });
    sandbox.assert_nothing_left();
}
