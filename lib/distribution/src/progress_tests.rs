use super::*;

fn digest() -> Digest {
    Digest::of_bytes(b"layer")
}

/// A pull's events, as the sink of a DockerStream sees them.
fn pull_stream(total: u64) -> Vec<serde_json::Value> {
    let reference = RemoteRef::parse("127.0.0.1:5000/team/app:1").unwrap();
    let id = digest();
    let manifest = Digest::of_bytes(b"manifest");
    let mut seen = Vec::new();
    {
        let stream = DockerStream::new(|m| {
            seen.push(serde_json::to_value(&m).unwrap());
            true
        });
        stream.event(Event::PullingFrom(&reference));
        stream.event(Event::Blob(&id, Step::PullingFsLayer));
        for current in (0..=total).step_by(4096) {
            stream.event(Event::Blob(&id, Step::Downloading { current, total }));
        }
        stream.event(Event::Blob(
            &id,
            Step::Downloading {
                current: total,
                total,
            },
        ));
        stream.event(Event::Blob(&id, Step::VerifyingChecksum));
        stream.event(Event::Blob(&id, Step::DownloadComplete));
        stream.event(Event::Blob(
            &id,
            Step::Extracting {
                current: total,
                total,
            },
        ));
        stream.event(Event::Blob(&id, Step::PullComplete));
        stream.event(Event::Pulled {
            reference: &reference,
            digest: &manifest,
            downloaded: true,
        });
        assert!(!stream.cancelled());
    }
    seen
}

#[test]
fn a_pull_is_worded_as_dockerd_words_it() {
    let total = 2 << 20;
    let seen = pull_stream(total);
    let short = digest().short().to_string();
    assert_eq!(
        seen[0],
        serde_json::json!({"status": "Pulling from team/app", "id": "1"})
    );
    assert_eq!(
        seen[1],
        serde_json::json!({"status": "Pulling fs layer", "progressDetail": {}, "id": short})
    );
    let downloading: Vec<_> = seen
        .iter()
        .filter(|m| m["status"] == "Downloading")
        .collect();
    // Throttled: one message per 512 KiB or so, and always the last byte.
    assert!(
        (4..=6).contains(&downloading.len()),
        "{}",
        downloading.len()
    );
    let last = downloading.last().unwrap();
    assert_eq!(
        last["progressDetail"],
        serde_json::json!({"current": total, "total": total})
    );
    assert!(last["progress"]
        .as_str()
        .unwrap()
        .starts_with(&format!("[{}]", "=".repeat(50))));
    let states: Vec<&str> = seen
        .iter()
        .filter(|m| m["status"] != "Downloading")
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "Pulling from team/app",
            "Pulling fs layer",
            "Verifying Checksum",
            "Download complete",
            "Extracting",
            "Pull complete",
            &format!("Digest: {}", Digest::of_bytes(b"manifest")),
            "Status: Downloaded newer image for 127.0.0.1:5000/team/app:1",
        ]
    );
}

#[test]
fn a_sink_that_goes_away_cancels() {
    let id = digest();
    let mut calls = 0;
    let stream = DockerStream::new(|_| {
        calls += 1;
        false
    });
    stream.event(Event::Blob(&id, Step::PullingFsLayer));
    assert!(stream.cancelled());
    stream.event(Event::Blob(&id, Step::PullComplete));
    drop(stream);
    assert_eq!(calls, 1, "nothing is sent to a reader that has gone");
}

#[test]
fn a_push_ends_with_the_digest_line_and_aux() {
    let reference = RemoteRef::parse("127.0.0.1:5000/team/app:1").unwrap();
    let digest = digest();
    let mut lines = Vec::new();
    {
        let stream = DockerStream::json_lines(&mut lines);
        stream.event(Event::PushingTo(&reference));
        stream.event(Event::Blob(&digest, Step::MountedFrom("team/other")));
        stream.event(Event::Pushed {
            tag: "1",
            digest: &digest,
            size: 528,
        });
    }
    let text = String::from_utf8(lines).unwrap();
    let messages: Vec<Message> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        messages[0].status.as_deref(),
        Some("The push refers to repository [127.0.0.1:5000/team/app]")
    );
    assert_eq!(
        messages[1].status.as_deref(),
        Some("Mounted from team/other")
    );
    assert_eq!(
        messages[2].status.as_deref(),
        Some(format!("1: digest: {digest} size: 528").as_str())
    );
    assert_eq!(messages[3].aux.as_ref().unwrap()["Size"], 528);
}

#[test]
fn the_display_prints_what_the_stream_wrote_as_the_cli_does_off_a_terminal() {
    let mut out = Vec::new();
    let mut display = Display::new(&mut out, false);
    for value in pull_stream(1 << 20) {
        let message: Message = serde_json::from_value(value).unwrap();
        display.show(&message);
    }
    let text = String::from_utf8(out).unwrap();
    let short = digest().short().to_string();
    let expected = format!(
        "1: Pulling from team/app\n{short}: Pulling fs layer\n{short}: Verifying Checksum\n\
         {short}: Download complete\n{short}: Pull complete\nDigest: {}\n\
         Status: Downloaded newer image for 127.0.0.1:5000/team/app:1\n",
        Digest::of_bytes(b"manifest")
    );
    assert_eq!(text, expected);
}

#[test]
fn bars_fill_to_fifty_columns() {
    assert!(bar(0, 100).starts_with("[>"));
    assert!(bar(100, 100).starts_with(&format!("[{}]", "=".repeat(50))));
    assert!(bar(50, 100).ends_with("] 50B/100B"));
    assert!(bar(1_500_000, 3_000_000).ends_with("] 1.500MB/3.000MB"));
}
