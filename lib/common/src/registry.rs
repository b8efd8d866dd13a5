//! The registry of containers: which containers a root has, who they are, and the one way
//! to find one. A container exists when its directory `<root>/containers/<id>/` does; its
//! identity (id, name, created) is that directory's `container.json`. Creating a container,
//! and so taking its name, happens under one lock (`locks/containers.lock`), which removal
//! takes too, so a name has one owner however many processes race for it.

use std::path::PathBuf;

use crate::identity::{is_id_prefix, ContainerId, ContainerName};
use crate::json_file::{self, JsonFileError};
use crate::lock::{FileLock, LockError, LockMode};
use crate::paths::Paths;
use crate::record::ContainerPart;

/// The identity file inside a container's directory.
pub const IDENTITY_FILE: &str = "container.json";
/// berth-rootfs's state file, which held the identity before the registry did.
const LEGACY_ROOTFS_STATE: &str = "rootfs.json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// As Docker says it.
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("container id prefix {prefix:?} is ambiguous: it matches {count} containers")]
    Ambiguous { prefix: String, count: usize },
    /// As Docker says it.
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". \
         You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse {
        name: ContainerName,
        id: ContainerId,
    },
    #[error("container {id} already exists at {}", dir.display())]
    Exists { id: ContainerId, dir: PathBuf },
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] JsonFileError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl RegistryError {
    /// What kind of failure this is, for a caller that answers requests.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            RegistryError::NotFound(_) => crate::ErrorKind::NotFound,
            RegistryError::Ambiguous { .. } => crate::ErrorKind::InvalidInput,
            RegistryError::NameInUse { .. } | RegistryError::Exists { .. } => {
                crate::ErrorKind::Conflict
            }
            RegistryError::Io { source, .. } => crate::ErrorKind::of_io(source),
            RegistryError::File(e) => crate::ErrorKind::of_io(&e.source),
            RegistryError::Lock(e) => e.kind(),
        }
    }
}

type Result<T> = std::result::Result<T, RegistryError>;

/// The registry's lock, held: proof for the functions that change who exists.
#[derive(Debug)]
pub struct RegistryLock {
    _file: FileLock,
}

/// Takes the registry's lock (blocking until no other process holds it).
pub fn lock(paths: &Paths) -> Result<RegistryLock> {
    Ok(RegistryLock {
        _file: FileLock::acquire(&paths.containers_lock(), LockMode::Exclusive)?,
    })
}

/// Registers `container`: makes its directory (0700, and `<root>/containers` if missing)
/// and writes its identity. Refuses an id that exists and a name another container has.
pub fn create(
    paths: &Paths,
    lock: &RegistryLock,
    container: &ContainerPart,
    durability: json_file::Durability,
) -> Result<PathBuf> {
    check_name_free(paths, lock, container)?;
    let dir = paths.container_dir(&container.id);
    if dir.exists() {
        return Err(RegistryError::Exists {
            id: container.id.clone(),
            dir,
        });
    }
    make_dir(&paths.containers(), true)?;
    make_dir(&dir, false)?;
    if let Err(e) = json_file::write_atomic_as(&dir.join(IDENTITY_FILE), container, durability) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e.into());
    }
    Ok(dir)
}

/// Refuses `container`'s name when another container has it.
pub fn check_name_free(
    paths: &Paths,
    lock: &RegistryLock,
    container: &ContainerPart,
) -> Result<()> {
    let Some(name) = &container.name else {
        return Ok(());
    };
    match all_with(paths, Some(lock))?
        .into_iter()
        .find(|c| c.name.as_ref() == Some(name) && c.id != container.id)
    {
        Some(other) => Err(RegistryError::NameInUse {
            name: name.clone(),
            id: other.id,
        }),
        None => Ok(()),
    }
}

/// Gives registered container `id` the name `name` (`docker rename`); refused when
/// another container has it. The identity as it is now.
pub fn rename(
    paths: &Paths,
    lock: &RegistryLock,
    id: &ContainerId,
    name: ContainerName,
) -> Result<ContainerPart> {
    let Some(mut part) = identity_with(paths, id, Some(lock))? else {
        return Err(RegistryError::NotFound(id.to_string()));
    };
    part.name = Some(name);
    check_name_free(paths, lock, &part)?;
    json_file::write_atomic(&paths.container_dir(id).join(IDENTITY_FILE), &part)?;
    Ok(part)
}

/// The identity of container `id`, if it is registered with one. A container made by a
/// berth older than the registry (a directory with `rootfs.json` or `run.json` and no
/// `container.json`) is adopted: its identity file is written from those, under the lock.
pub fn identity(paths: &Paths, id: &ContainerId) -> Result<Option<ContainerPart>> {
    identity_with(paths, id, None)
}

/// [`identity`] by a caller that may hold the lock already (adopting takes it otherwise).
fn identity_with(
    paths: &Paths,
    id: &ContainerId,
    held: Option<&RegistryLock>,
) -> Result<Option<ContainerPart>> {
    let file = paths.container_dir(id).join(IDENTITY_FILE);
    if let Some(found) = json_file::read_if_exists(&file)? {
        return Ok(Some(found));
    }
    if legacy_identity(paths, id).is_none() {
        return Ok(None);
    }
    let own;
    let _lock = match held {
        Some(lock) => lock,
        None => {
            own = lock(paths)?;
            &own
        }
    };
    // Another process may have adopted or removed it meanwhile: look again, under the lock.
    if let Some(found) = json_file::read_if_exists(&file)? {
        return Ok(Some(found));
    }
    let Some(legacy) = legacy_identity(paths, id) else {
        return Ok(None);
    };
    json_file::write_atomic(&file, &legacy)?;
    tracing::info!(dir = %paths.container_dir(id).display(), "adopted a container made before container.json");
    Ok(Some(legacy))
}

/// Who a container made before the registry is, from the state files berth wrote then:
/// berth-rootfs's `rootfs.json` (`container`), else berth-runtime's `run.json`
/// (`record.container`). One naming another id than its directory is not believed.
fn legacy_identity(paths: &Paths, id: &ContainerId) -> Option<ContainerPart> {
    let dir = paths.container_dir(id);
    let sources: [(&str, &[&str]); 2] = [
        (LEGACY_ROOTFS_STATE, &["container"]),
        (crate::run_state::RUN_STATE, &["record", "container"]),
    ];
    for (name, pointer) in sources {
        let path = dir.join(name);
        let value = match json_file::read_if_exists::<serde_json::Value>(&path) {
            Ok(Some(value)) => value,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a container's old state");
                continue;
            }
        };
        let part = pointer
            .iter()
            .try_fold(&value, |v, key| v.get(key))
            .map(|v| serde_json::from_value::<ContainerPart>(v.clone()));
        match part {
            Some(Ok(part)) if part.id == *id => return Some(part),
            Some(Ok(part)) => {
                tracing::warn!(path = %path.display(), id = %part.id, "state names another container: not adopted")
            }
            Some(Err(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "no container identity: not adopted")
            }
            None => tracing::warn!(path = %path.display(), "no container identity: not adopted"),
        }
    }
    None
}

/// Every container directory of the root (entries that are not ids are not containers).
pub fn ids(paths: &Paths) -> Result<Vec<ContainerId>> {
    let dir = paths.containers();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RegistryError::Io {
                op: "reading",
                path: dir,
                source,
            })
        }
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| RegistryError::Io {
            op: "reading",
            path: dir.clone(),
            source,
        })?;
        if let Some(Ok(id)) = entry.file_name().to_str().map(ContainerId::parse) {
            ids.push(id);
        }
    }
    ids.sort();
    Ok(ids)
}

/// Every registered container's identity. A container whose identity file is unreadable
/// is skipped with a warning rather than hiding every other container.
pub fn all(paths: &Paths) -> Result<Vec<ContainerPart>> {
    all_with(paths, None)
}

fn all_with(paths: &Paths, held: Option<&RegistryLock>) -> Result<Vec<ContainerPart>> {
    let mut out = Vec::new();
    for id in ids(paths)? {
        match identity_with(paths, &id, held) {
            Ok(Some(container)) if container.id == id => out.push(container),
            Ok(Some(container)) => {
                tracing::warn!(dir = %id, id = %container.id, "identity file names another id")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "skipping a container"),
        }
    }
    Ok(out)
}

/// The container `reference` names, as Docker resolves one: a full id (taken as it is,
/// registered or not, so teardown after a partial removal still finds its resources), a
/// name, or an id prefix that matches exactly one container.
pub fn resolve(paths: &Paths, reference: &str) -> Result<ContainerId> {
    if let Ok(id) = ContainerId::parse(reference) {
        return Ok(id);
    }
    if let Ok(name) = ContainerName::parse(reference) {
        if let Some(found) = all(paths)?
            .into_iter()
            .find(|c| c.name == Some(name.clone()))
        {
            return Ok(found.id);
        }
    }
    if is_id_prefix(reference) {
        let mut matches: Vec<ContainerId> = ids(paths)?
            .into_iter()
            .filter(|id| id.starts_with(reference))
            .collect();
        match matches.len() {
            0 => {}
            1 => return Ok(matches.remove(0)),
            count => {
                return Err(RegistryError::Ambiguous {
                    prefix: reference.to_string(),
                    count,
                })
            }
        }
    }
    Err(RegistryError::NotFound(reference.to_string()))
}

fn make_dir(dir: &std::path::Path, may_exist: bool) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if may_exist && e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(RegistryError::Io {
            op: "creating",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(id_digit: char, name: Option<&str>) -> ContainerPart {
        let mut id = String::from("a");
        id.extend(std::iter::repeat_n(id_digit, 63));
        ContainerPart {
            id: ContainerId::parse(&id).unwrap(),
            name: name.map(|n| ContainerName::parse(n).unwrap()),
            created: "2026-01-01T00:00:00Z".into(),
            cgroup_parent: None,
        }
    }

    #[test]
    fn names_have_one_owner_and_references_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
        let lock = lock(&paths).unwrap();
        let (web, db) = (part('1', Some("web")), part('2', None));
        create(&paths, &lock, &web, json_file::Durability::Durable).unwrap();
        create(&paths, &lock, &db, json_file::Durability::Durable).unwrap();
        let err = create(
            &paths,
            &lock,
            &part('3', Some("/web")),
            json_file::Durability::Durable,
        )
        .unwrap_err();
        assert!(err.to_string().contains("is already in use"), "{err}");
        assert!(!paths.container_dir(&part('3', None).id).exists());
        assert!(matches!(
            create(&paths, &lock, &db, json_file::Durability::Durable).unwrap_err(),
            RegistryError::Exists { .. }
        ));
        drop(lock);

        assert_eq!(resolve(&paths, "web").unwrap(), web.id);
        assert_eq!(resolve(&paths, "/web").unwrap(), web.id);
        assert_eq!(resolve(&paths, "a1").unwrap(), web.id);
        assert_eq!(resolve(&paths, &db.id).unwrap(), db.id);
        let err = resolve(&paths, "a").unwrap_err();
        assert!(
            matches!(&err, RegistryError::Ambiguous { count: 2, .. }),
            "{err}"
        );
        for missing in ["a9", "nope", "../x", ""] {
            let err = resolve(&paths, missing).unwrap_err();
            assert_eq!(err.to_string(), format!("No such container: {missing}"));
        }
        assert_eq!(identity(&paths, &web.id).unwrap(), Some(web));
    }

    /// A root written by a berth older than the registry: container directories with only
    /// the stage's `rootfs.json` or the runtime's `run.json`.
    fn legacy_root() -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
        std::fs::create_dir_all(paths.containers()).unwrap();
        (dir, paths)
    }

    fn write_legacy(paths: &Paths, dir_of: &ContainerPart, file: &str, value: serde_json::Value) {
        let dir = paths.container_dir(&dir_of.id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(file), value.to_string()).unwrap();
    }

    #[test]
    fn a_container_made_before_the_registry_is_adopted() {
        let (_dir, paths) = legacy_root();
        let (old, ran, stray) = (
            part('4', Some("old")),
            part('5', Some("ran")),
            part('6', Some("stray")),
        );
        write_legacy(
            &paths,
            &old,
            "rootfs.json",
            serde_json::json!({"container": old, "rootfs": {"path": "/x"}, "layers": []}),
        );
        write_legacy(
            &paths,
            &ran,
            "run.json",
            serde_json::json!({"id": ran.id, "record": {"version": 1, "container": ran}}),
        );
        // A state naming another container than its directory is not believed.
        write_legacy(
            &paths,
            &stray,
            "rootfs.json",
            serde_json::json!({"container": part('7', Some("stray"))}),
        );

        // Taking a name checks the old containers too, under the lock already held.
        let lock = lock(&paths).unwrap();
        let err = create(
            &paths,
            &lock,
            &part('8', Some("old")),
            json_file::Durability::Durable,
        )
        .unwrap_err();
        assert!(matches!(err, RegistryError::NameInUse { .. }), "{err}");
        drop(lock);

        assert_eq!(resolve(&paths, "old").unwrap(), old.id);
        assert_eq!(resolve(&paths, "ran").unwrap(), ran.id);
        for (container, file) in [(&old, "rootfs.json"), (&ran, "run.json")] {
            let written: ContainerPart =
                json_file::read_if_exists(&paths.container_dir(&container.id).join(IDENTITY_FILE))
                    .unwrap()
                    .unwrap_or_else(|| panic!("no container.json from {file}"));
            assert_eq!(&written, container);
        }
        assert!(matches!(
            resolve(&paths, "stray").unwrap_err(),
            RegistryError::NotFound(_)
        ));
        assert!(!paths.container_dir(&stray.id).join(IDENTITY_FILE).exists());
        let mut names: Vec<_> = all(&paths)
            .unwrap()
            .into_iter()
            .filter_map(|c| c.name)
            .map(String::from)
            .collect();
        names.sort();
        assert_eq!(names, ["old", "ran"]);
    }
}
