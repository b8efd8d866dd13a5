//! `spec`: the default config.json, the one `runc spec` writes (hostname `berth`), and
//! its `--rootless` form: a user namespace mapping the caller's ids to root, no network
//! namespace of its own, /sys bound from the host, no resources, no devpts gid.

use serde_json::{json, Value};

const DEFAULT: &str = include_str!("default-config.json");

pub fn default_spec(rootless: bool) -> Value {
    let mut spec: Value = serde_json::from_str(DEFAULT).expect("the embedded spec is JSON");
    if rootless {
        to_rootless(&mut spec);
    }
    spec
}

fn to_rootless(spec: &mut Value) {
    // SAFETY: geteuid/getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let linux = &mut spec["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "user"}));
    }
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("resources");
    }
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    for mount in spec["mounts"].as_array_mut().into_iter().flatten() {
        if mount["destination"] == "/dev/pts" {
            if let Some(opts) = mount["options"].as_array_mut() {
                opts.retain(|o| o != "gid=5");
            }
        }
        if mount["destination"] == "/sys" {
            *mount = json!({
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spec_parses_as_a_runtime_spec() {
        for rootless in [false, true] {
            let spec: oci_spec::runtime::Spec =
                serde_json::from_value(default_spec(rootless)).unwrap();
            assert_eq!(spec.hostname().as_deref(), Some("berth"));
        }
        let rootless = default_spec(true);
        assert!(rootless["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["type"] != "network"));
        assert!(rootless["linux"]["resources"].is_null());
    }
}
