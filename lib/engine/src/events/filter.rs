//! Which events a `filters=` asks for, as dockerd's event filter decides it
//! (daemon/events/filter.go): every given key must match; within a key any value may.

use berth_api::filters::Filters;
use berth_common::events::Event;

pub fn matches(filters: &Filters, event: &Event) -> bool {
    let attrs = &event.actor.attributes;
    let attr = |key: &str| attrs.get(key).map_or("", String::as_str);
    matches_action(filters, &event.action)
        && exact(filters, "type", &event.kind)
        && exact(filters, "scope", &event.scope)
        && by_id_or_name(filters, "container", event)
        && by_id_or_name(filters, "network", event)
        && by_id_or_name(filters, "volume", event)
        && by_id_or_name(filters, "plugin", event)
        && by_id_or_name(filters, "node", event)
        && by_id_or_name(filters, "service", event)
        && by_id_or_name(filters, "secret", event)
        && by_id_or_name(filters, "config", event)
        && matches_image(filters, event, attr)
        && filters.get("daemon").is_empty()
        && labels(filters, event)
}

/// No value given, or one equal to `value`.
fn exact(filters: &Filters, key: &str, value: &str) -> bool {
    let wanted = filters.get(key);
    wanted.is_empty() || wanted.iter().any(|w| w == value)
}

/// No value given, or one equal to `value` or a prefix of it.
fn fuzzy(filters: &Filters, key: &str, value: &str) -> bool {
    let wanted = filters.get(key);
    wanted.is_empty()
        || wanted
            .iter()
            .any(|w| !value.is_empty() && value.starts_with(w.as_str()))
}

/// `health_status`, `exec_create` and `exec_start` match the actions they begin
/// (`exec_start: sh`); any other value matches one action exactly.
fn matches_action(filters: &Filters, action: &str) -> bool {
    let prefixed = ["health_status", "exec_create", "exec_start"];
    if filters
        .get("event")
        .iter()
        .any(|w| prefixed.contains(&w.as_str()))
    {
        return fuzzy(filters, "event", action);
    }
    exact(filters, "event", action)
}

fn by_id_or_name(filters: &Filters, key: &str, event: &Event) -> bool {
    let name = event
        .actor
        .attributes
        .get("name")
        .map_or("", String::as_str);
    fuzzy(filters, key, &event.actor.id) || fuzzy(filters, key, name)
}

/// An image by its id or its name (a container's `image` attribute, an image event's
/// `name`), with or without the tag.
fn matches_image<'a>(filters: &Filters, event: &'a Event, attr: impl Fn(&str) -> &'a str) -> bool {
    let name = if event.kind == "image" {
        attr("name")
    } else {
        attr("image")
    };
    let id = event.actor.id.as_str();
    [id, name, strip_tag(id), strip_tag(name)]
        .iter()
        .any(|v| exact(filters, "image", v))
}

/// `repo:tag` without its tag (a registry's port is not a tag).
fn strip_tag(name: &str) -> &str {
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') && !name.starts_with("sha256:") => repo,
        _ => name,
    }
}

/// Every `label` value (`key` or `key=value`) among the actor's attributes.
fn labels(filters: &Filters, event: &Event) -> bool {
    filters
        .get("label")
        .iter()
        .all(|w| match w.split_once('=') {
            Some((k, v)) => event.actor.attributes.get(k).is_some_and(|have| have == v),
            None => event.actor.attributes.contains_key(w.as_str()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_common::events::Kind;

    fn filters(json: &str) -> Filters {
        Filters::parse(Some(json)).unwrap()
    }

    fn start() -> Event {
        Event::new(Kind::Container, "start", "abcdef0123")
            .with("name", "web")
            .with("image", "busybox:latest")
            .with("tier", "front")
    }

    #[test]
    fn keys_must_all_match_and_values_any() {
        let e = start();
        assert!(matches(&Filters::default(), &e));
        assert!(matches(
            &filters(r#"{"type":["container"],"event":["die","start"]}"#),
            &e
        ));
        assert!(!matches(&filters(r#"{"type":["image"]}"#), &e));
        assert!(!matches(
            &filters(r#"{"type":["container"],"event":["die"]}"#),
            &e
        ));
    }

    #[test]
    fn containers_by_id_prefix_or_name_images_with_or_without_tag() {
        let e = start();
        assert!(matches(&filters(r#"{"container":["abcd"]}"#), &e));
        assert!(matches(&filters(r#"{"container":["web"]}"#), &e));
        assert!(!matches(&filters(r#"{"container":["other"]}"#), &e));
        assert!(matches(&filters(r#"{"image":["busybox"]}"#), &e));
        assert!(matches(&filters(r#"{"image":["busybox:latest"]}"#), &e));
        assert!(!matches(&filters(r#"{"image":["alpine"]}"#), &e));
        let tag = Event::new(Kind::Image, "tag", "sha256:ff").with("name", "127.0.0.1:5000/x:1");
        assert!(matches(&filters(r#"{"image":["127.0.0.1:5000/x"]}"#), &tag));
        assert!(matches(&filters(r#"{"image":["sha256:ff"]}"#), &tag));
    }

    #[test]
    fn labels_and_prefixed_actions() {
        let e = start();
        assert!(matches(&filters(r#"{"label":["tier=front"]}"#), &e));
        assert!(matches(&filters(r#"{"label":["tier"]}"#), &e));
        assert!(!matches(&filters(r#"{"label":["tier=back"]}"#), &e));
        assert!(!matches(&filters(r#"{"label":["tier","zone"]}"#), &e));
        let exec = Event::new(Kind::Container, "exec_start: sh -c true", "abc");
        assert!(matches(&filters(r#"{"event":["exec_start"]}"#), &exec));
        assert!(!matches(&filters(r#"{"event":["exec_create"]}"#), &exec));
    }
}
