//! `docker network ls --filter` and `docker network prune --filter`, as dockerd reads them.

use berth_api::filters::Filters;
use berth_api::BackendError;
use berth_common::Paths;

use super::view::Shown;

/// The keys `GET /networks` takes.
const LIST_KEYS: [&str; 7] = ["name", "id", "label", "driver", "type", "dangling", "scope"];

/// Whether `shown` passes the list filters; errors name a bad key or value.
pub fn list_matches(paths: &Paths, shown: &Shown, f: &Filters) -> Result<bool, BackendError> {
    f.only(&LIST_KEYS)?;
    let names = f.get("name");
    let name = shown.name();
    if !names.is_empty()
        && !names
            .iter()
            .any(|n| berth_api::filters::docker_match(n, name))
    {
        return Ok(false);
    }
    let ids = f.get("id");
    let id = shown.id(paths);
    if !ids.is_empty() && !ids.iter().any(|p| id.starts_with(p.as_str())) {
        return Ok(false);
    }
    let drivers = f.get("driver");
    if !drivers.is_empty() && !drivers.iter().any(|d| d == shown.driver()) {
        return Ok(false);
    }
    for kind in f.get("type") {
        match kind.as_str() {
            "builtin" if !shown.builtin() => return Ok(false),
            "custom" if shown.builtin() => return Ok(false),
            "builtin" | "custom" => {}
            other => {
                return Err(BackendError::invalid(format!(
                    "invalid filter: 'type'='{other}'"
                )))
            }
        }
    }
    for scope in f.get("scope") {
        if scope != "local" {
            return Ok(false);
        }
    }
    if let Some(value) = f.get("dangling").first() {
        let want = truthy("dangling", value)?;
        let dangling = !shown.builtin() && shown.endpoint_count(paths) == 0;
        if dangling != want {
            return Ok(false);
        }
    }
    Ok(labels_pass(shown, f))
}

fn truthy(key: &str, value: &str) -> Result<bool, BackendError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(BackendError::invalid(format!(
            "invalid filter '{key}={other}'"
        ))),
    }
}

/// The `label` and `label!` filters against the network's labels.
fn labels_pass(shown: &Shown, f: &Filters) -> bool {
    let labels = shown.labels();
    f.labels_pass(|key| {
        labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    })
}

/// Whether an unused network is pruned under `f` (`label`, `label!`, `until`).
pub fn prune_matches(shown: &Shown, f: &Filters) -> Result<bool, BackendError> {
    f.only(&["label", "label!", "until"])?;
    if !labels_pass(shown, f) {
        return Ok(false);
    }
    if let Some(limit) = f.until()? {
        let created = shown
            .created()
            .and_then(|c| humantime::parse_rfc3339_weak(c.trim_end_matches('Z')).ok());
        if created.is_none_or(|c| c > limit) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_keys_and_values_are_refused() {
        let paths = Paths::new("/nonexistent-root", "/nonexistent-run");
        let host = Shown::Mode("host");
        let f = Filters::parse(Some(r#"{"colour":{"red":true}}"#)).unwrap();
        assert!(list_matches(&paths, &host, &f).is_err());
        let f = Filters::parse(Some(r#"{"type":{"odd":true}}"#)).unwrap();
        assert!(list_matches(&paths, &host, &f).is_err());
        let f = Filters::parse(Some(r#"{"type":{"builtin":true}}"#)).unwrap();
        assert!(list_matches(&paths, &host, &f).unwrap());
        let f = Filters::parse(Some(r#"{"type":{"custom":true}}"#)).unwrap();
        assert!(!list_matches(&paths, &host, &f).unwrap());
        let f = Filters::parse(Some(r#"{"driver":{"host":true},"name":{"os":true}}"#)).unwrap();
        assert!(list_matches(&paths, &host, &f).unwrap());
    }
}
