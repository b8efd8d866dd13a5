use super::*;

fn config(test: &[&str]) -> HealthConfig {
    HealthConfig {
        test: Some(test.iter().map(|s| s.to_string()).collect()),
        ..HealthConfig::default()
    }
}

fn result(code: i64) -> ProbeResult {
    ProbeResult {
        start: String::new(),
        end: String::new(),
        exit_code: code,
        output: format!("exit {code}"),
    }
}

#[test]
fn tests_become_commands_and_timings_get_dockers_defaults() {
    let check = Check::of(Some(&config(&["CMD-SHELL", "test -f /tmp/ok"])), None).unwrap();
    assert_eq!(check.argv, ["/bin/sh", "-c", "test -f /tmp/ok"]);
    assert_eq!(
        (check.interval, check.timeout, check.retries),
        (DEFAULT_INTERVAL, DEFAULT_TIMEOUT, DEFAULT_RETRIES)
    );
    let check = Check::of(Some(&config(&["CMD", "true", "x"])), None).unwrap();
    assert_eq!(check.argv, ["true", "x"]);
    assert_eq!(Check::of(Some(&config(&["NONE"])), None), None);
    assert_eq!(Check::of(None, None), None);
    assert_eq!(Check::of(Some(&config(&["CMD"])), None), None);
}

#[test]
fn the_containers_fields_win_over_the_images_one_by_one() {
    let image = HealthConfig {
        interval: Some(2_000_000_000),
        retries: Some(7),
        ..config(&["CMD", "image-test"])
    };
    let own = HealthConfig {
        retries: Some(2),
        ..HealthConfig::default()
    };
    let check = Check::of(Some(&own), Some(&image)).unwrap();
    assert_eq!(check.argv, ["image-test"]);
    assert_eq!(check.interval, Duration::from_secs(2));
    assert_eq!(check.retries, 2);
    // NONE in the container's config turns the image's check off.
    assert_eq!(Check::of(Some(&config(&["NONE"])), Some(&image)), None);
}

#[test]
fn retries_failures_in_a_row_are_unhealthy_and_one_pass_is_healthy() {
    let check = Check::of(
        Some(&HealthConfig {
            retries: Some(2),
            ..config(&["CMD", "t"])
        }),
        None,
    )
    .unwrap();
    let mut health = Health {
        status: "starting".into(),
        ..Health::default()
    };
    // In the start period a failure does not count.
    health.record(result(1), &check, true);
    assert_eq!(
        (health.status.as_str(), health.failing_streak),
        ("starting", 0)
    );
    health.record(result(1), &check, false);
    assert_eq!(
        (health.status.as_str(), health.failing_streak),
        ("starting", 1)
    );
    health.record(result(1), &check, false);
    assert_eq!(
        (health.status.as_str(), health.failing_streak),
        ("unhealthy", 2)
    );
    health.record(result(0), &check, false);
    assert_eq!(
        (health.status.as_str(), health.failing_streak),
        ("healthy", 0)
    );
    for _ in 0..4 {
        health.record(result(3), &check, false);
    }
    assert_eq!(health.log.len(), LOG_LEN);
    assert_eq!(health.log[0].exit_code, 0, "the oldest kept");
    assert_eq!(health.status, "unhealthy");
}
