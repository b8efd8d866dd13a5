//! Docker's `filters` query parameter: JSON, `{"key": {"value": true}}` (or the old
//! `{"key": ["value"]}`), as the CLI's `--filter key=value` sends it.

use std::collections::BTreeMap;

use crate::ApiError;

/// docker's label filter, `KEY` or `KEY=VALUE`, against an object's labels (`label` gives
/// the value of a key): the one test behind every resource's `label` and `label!`.
pub fn label_matches<'a>(filter: &str, label: impl Fn(&str) -> Option<&'a str>) -> bool {
    match filter.split_once('=') {
        Some((key, value)) => label(key) == Some(value),
        None => label(filter).is_some(),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    by_key: BTreeMap<String, Vec<String>>,
}

impl Filters {
    pub fn parse(text: Option<&str>) -> Result<Filters, ApiError> {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return Ok(Filters::default());
        };
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("invalid filters {text:?}: {e}")))?;
        let object = value.as_object().ok_or_else(|| {
            ApiError::bad_request(format!("invalid filters {text:?}: not an object"))
        })?;
        let mut by_key = BTreeMap::new();
        for (key, values) in object {
            let list: Vec<String> = match values {
                serde_json::Value::Object(m) => m.keys().cloned().collect(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter {key:?}: expected an object or a list"
                    )))
                }
            };
            by_key.insert(key.clone(), list);
        }
        Ok(Filters { by_key })
    }

    /// The values given for `key` (empty when the filter is absent).
    pub fn get(&self, key: &str) -> &[String] {
        self.by_key.get(key).map_or(&[], Vec::as_slice)
    }

    /// Whether an object's labels pass the `label` filters (every one holds) and the
    /// `label!` ones (none holds), as each of docker's resources reads them.
    pub fn labels_pass<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.get("label").iter().all(|f| label_matches(f, &label))
            && !self.get("label!").iter().any(|f| label_matches(f, &label))
    }

    /// The one `until` filter's time, if given (`prune`'s "created before").
    pub fn until(&self) -> Result<Option<std::time::SystemTime>, crate::BackendError> {
        match self.get("until") {
            [] => Ok(None),
            [one] => until_time(one).map(Some),
            _ => Err(crate::BackendError::invalid(
                "more than one until filter specified",
            )),
        }
    }

    /// Refuses any key outside `known`, as dockerd does ("invalid filter 'x'").
    pub fn only(&self, known: &[&str]) -> Result<(), crate::BackendError> {
        match self.by_key.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => Err(crate::BackendError::invalid(format!(
                "invalid filter '{key}'"
            ))),
            None => Ok(()),
        }
    }
}

/// `until`: unix seconds (with a fraction), an RFC 3339 time, or a duration before now
/// (`10m`, `24h`), as dockerd's `prune` filters read it.
pub fn until_time(text: &str) -> Result<std::time::SystemTime, crate::BackendError> {
    use std::time::{Duration, SystemTime};
    if let Ok(secs) = text.parse::<f64>() {
        if secs >= 0.0 {
            return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    if let Ok(time) = humantime::parse_rfc3339_weak(text.trim_end_matches('Z')) {
        return Ok(time);
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(SystemTime::now()
            .checked_sub(ago)
            .unwrap_or(SystemTime::UNIX_EPOCH));
    }
    Err(crate::BackendError::invalid(format!(
        "failed to parse value {text:?} of filter until"
    )))
}

/// dockerd's `Args.Match` (the `name` filters of `ps` and `network ls`): `value` equal to
/// `source`, or a regular expression found in it, so `name=web` matches `webapp` and
/// `name=^web$` only `web`. An invalid expression matches only itself.
pub fn docker_match(value: &str, source: &str) -> bool {
    value == source || regex::Regex::new(value).is_ok_and(|re| re.is_match(source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn until_takes_seconds_times_and_durations() {
        assert_eq!(
            until_time("10").unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(10)
        );
        assert_eq!(
            until_time("1970-01-01T00:01:00Z").unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(60)
        );
        let ago = SystemTime::now()
            .duration_since(until_time("1h").unwrap())
            .unwrap();
        assert!(
            ago > Duration::from_secs(3590) && ago < Duration::from_secs(3700),
            "{ago:?}"
        );
        assert!(until_time("soon").is_err());
        let two = Filters::parse(Some(r#"{"until":["1","2"]}"#)).unwrap();
        assert!(two.until().is_err());
        assert_eq!(Filters::default().until().unwrap(), None);
    }

    #[test]
    fn labels_pass_every_label_and_no_excluded_one() {
        let labels: BTreeMap<&str, &str> = [("a", "1"), ("b", "")].into();
        let get = |k: &str| labels.get(k).copied();
        let f = |t: &str| Filters::parse(Some(t)).unwrap();
        assert!(f(r#"{"label":["a","a=1","b"]}"#).labels_pass(get));
        assert!(!f(r#"{"label":["a=2"]}"#).labels_pass(get));
        assert!(!f(r#"{"label":["c"]}"#).labels_pass(get));
        assert!(!f(r#"{"label!":["a"]}"#).labels_pass(get));
        assert!(f(r#"{"label!":["a=2","c"]}"#).labels_pass(get));
        assert!(Filters::default().labels_pass(get));
    }

    #[test]
    fn both_shapes_parse_and_bad_ones_are_refused() {
        let f = Filters::parse(Some(r#"{"dangling":{"true":true},"label":["a=b"]}"#)).unwrap();
        assert_eq!(f.get("dangling"), ["true"]);
        assert_eq!(f.get("label"), ["a=b"]);
        assert!(f.get("reference").is_empty());
        assert!(f.only(&["dangling"]).is_err());
        f.only(&["dangling", "label"]).unwrap();
        assert!(Filters::parse(Some("{")).is_err());
        assert!(Filters::parse(Some(r#"{"a":1}"#)).is_err());
        assert_eq!(Filters::parse(None).unwrap(), Filters::default());
    }

    #[test]
    fn names_match_as_dockerd_matches_them() {
        assert!(docker_match("web", "webapp"));
        assert!(docker_match("^web$", "web"));
        assert!(!docker_match("^web$", "webapp"));
        assert!(docker_match("a.c", "xabcx"));
        assert!(!docker_match("db", "webapp"));
        assert!(docker_match("[", "["));
        assert!(!docker_match("[", "a[b"));
    }
}
