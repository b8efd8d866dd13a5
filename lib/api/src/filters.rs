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

/// dockerd's `Args.Match` (the `name` filters of `ps` and `network ls`): `value` equal to
/// `source`, or a regular expression found in it, so `name=web` matches `webapp` and
/// `name=^web$` only `web`. An invalid expression matches only itself.
pub fn docker_match(value: &str, source: &str) -> bool {
    value == source || regex::Regex::new(value).is_ok_and(|re| re.is_match(source))
}

#[cfg(test)]
mod tests {
    use super::*;

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
