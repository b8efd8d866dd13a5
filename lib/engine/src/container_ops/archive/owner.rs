//! Who files copied in with `docker cp -a` belong to: the container's user, looked up in
//! its own `/etc/passwd` and `/etc/group` (read inside its root) when given by name.

use std::io::Read;
use std::os::fd::AsFd;

use berth_api::BackendError;
use berth_common::Paths;
use berth_runtime::state::RunState;

use super::root::Root;
use berth_image::extract::Owner;

/// The user the container runs as (`User` of its create body, or of its run state).
fn configured_user(paths: &Paths, root: &Root) -> String {
    if let Ok(Some(state)) = RunState::read(paths, &root.id) {
        if !state.process.user.is_empty() {
            return state.process.user;
        }
    }
    let file = paths.container_dir(&root.id).join("create.json");
    berth_common::json_file::read_if_exists::<serde_json::Value>(&file)
        .ok()
        .flatten()
        .and_then(|v| v["body"]["User"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn read_in_root(root: &Root, path: &str) -> String {
    let Ok(fd) = berth_rootfs::open_in_root(root.fd.as_fd(), path, None) else {
        return String::new();
    };
    // A FIFO or a device in the container's place would block or mislead the read.
    let regular = rustix::fs::fstat(&fd)
        .is_ok_and(|s| rustix::fs::FileType::from_raw_mode(s.st_mode).is_file());
    if !regular {
        return String::new();
    }
    let mut text = String::new();
    // Reopened through the fd's /proc name: the object open_in_root found, nothing else.
    if let Ok(mut file) = std::fs::File::open(berth_rootfs::fd_path(fd.as_fd())) {
        let _ = file.by_ref().take(1 << 20).read_to_string(&mut text);
    }
    text
}

/// `name` as a number, or the third field of its line in `file` (passwd or group).
fn lookup(name: &str, file: &str) -> Option<(u32, Option<u32>)> {
    if let Ok(n) = name.parse() {
        return Some((n, None));
    }
    file.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() != Some(&name) || fields.len() < 4 {
            return None;
        }
        let id = fields[2].parse().ok()?;
        Some((id, fields[3].parse().ok()))
    })
}

pub fn of_container(paths: &Paths, root: &Root) -> Result<Owner, BackendError> {
    let user = configured_user(paths, root);
    if user.is_empty() {
        return Ok(Owner::default());
    }
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user.as_str(), None),
    };
    let passwd = read_in_root(root, "/etc/passwd");
    let (uid, primary) = lookup(user_part, &passwd).ok_or_else(|| {
        BackendError::invalid(format!(
            "unable to find user {user_part}: no matching entries in passwd file"
        ))
    })?;
    let gid = match group_part {
        Some(g) => {
            lookup(g, &read_in_root(root, "/etc/group"))
                .ok_or_else(|| {
                    BackendError::invalid(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?
                .0
        }
        None => primary.unwrap_or(uid),
    };
    Ok(Owner { uid, gid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_by_number_and_by_name() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34:www:/var/www:/bin/sh\n";
        assert_eq!(lookup("1000", passwd), Some((1000, None)));
        assert_eq!(lookup("www", passwd), Some((33, Some(34))));
        assert_eq!(lookup("nobody", passwd), None);
    }
}
