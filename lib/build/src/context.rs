//! The build context and the trees COPY reads from: paths resolved inside their root
//! (a `..` that climbs out refused; a symlink on the way resolved inside the root, never
//! out of it), `.dockerignore` applied, content hashed for the cache (names, modes,
//! owners, contents, link targets; never times).

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Timespec, Timestamps};
use sha2::{Digest as _, Sha256};

use crate::error::{BuildError, Result};
use crate::ignore::{self, Ignore};

const MAX_LINKS: usize = 40;

/// A tree sources are read from: the context (with its `.dockerignore`), or a stage's or
/// image's root filesystem.
pub struct SourceTree {
    pub root: PathBuf,
    pub ignore: Ignore,
    /// Named in errors: "the build context", "stage build".
    pub what: String,
}

impl SourceTree {
    pub fn context(dir: &Path) -> Result<SourceTree> {
        let ignore = match fs::read_to_string(dir.join(".dockerignore")) {
            Ok(text) => Ignore::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::default(),
            Err(e) => return Err(BuildError::io(dir.join(".dockerignore"), e)),
        };
        Ok(SourceTree {
            root: dir.to_path_buf(),
            ignore,
            what: "the build context".into(),
        })
    }

    /// The relative paths a COPY source names: itself, or what its glob matches.
    pub fn resolve(&self, source: &str) -> Result<Vec<String>> {
        if climbs_out(source) {
            return Err(BuildError::Context(format!(
                "forbidden path outside the build context: {source}"
            )));
        }
        let clean = ignore::clean(source);
        if !has_glob(&clean) {
            if clean.is_empty() {
                return Ok(vec![String::new()]);
            }
            if self.ignore.excludes(&clean) || self.locate(&clean)?.is_none() {
                return Err(self.not_found(source));
            }
            return Ok(vec![clean]);
        }
        let mut found = Vec::new();
        self.glob_walk("", &clean, &mut found)?;
        if found.is_empty() {
            return Err(self.not_found(source));
        }
        found.sort();
        Ok(found)
    }

    fn not_found(&self, source: &str) -> BuildError {
        BuildError::Context(format!(
            "\"/{}\": not found in {}",
            ignore::clean(source),
            self.what
        ))
    }

    /// Walks directories whose prefix the pattern can match, collecting matches.
    fn glob_walk(&self, rel: &str, pattern: &str, out: &mut Vec<String>) -> Result<()> {
        let Some(dir) = self.locate(rel)? else {
            return Ok(());
        };
        let mut names: Vec<String> = fs::read_dir(&dir)
            .map_err(|e| BuildError::io(&dir, e))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let depth = rel.split('/').filter(|p| !p.is_empty()).count();
        let pattern_depth = pattern.split('/').count();
        for name in names {
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if self.ignore.excludes(&path) {
                continue;
            }
            if ignore::glob(pattern, &path) {
                out.push(path.clone());
                continue;
            }
            let is_dir = fs::symlink_metadata(dir.join(path.rsplit('/').next().unwrap_or("")))
                .is_ok_and(|m| m.is_dir());
            if is_dir && (depth + 1 < pattern_depth || pattern.contains("**")) {
                self.glob_walk(&path, pattern, out)?;
            }
        }
        Ok(())
    }

    /// The host path of `rel` inside the root, symlinks on the way resolved inside it;
    /// the last component itself is not followed. None when it does not exist.
    pub fn locate(&self, rel: &str) -> Result<Option<PathBuf>> {
        locate_in(&self.root, rel)
    }

    /// The entries of the directory `dir` (at `rel` in the tree) that `.dockerignore`
    /// keeps, sorted by name: each name and its path in the tree.
    fn children(&self, dir: &Path, rel: &str) -> Result<Vec<(std::ffi::OsString, String)>> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(|e| BuildError::io(dir, e))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        Ok(names
            .into_iter()
            .map(|name| {
                let child = if rel.is_empty() {
                    name.to_string_lossy().into_owned()
                } else {
                    format!("{rel}/{}", name.to_string_lossy())
                };
                (name, child)
            })
            .filter(|(_, child)| {
                !self.ignore.excludes(child) || self.ignore.may_include_below(child)
            })
            .collect())
    }

    /// A hash of what copying `rel` would copy (after `.dockerignore`).
    pub fn hash(&self, rel: &str) -> Result<String> {
        let mut hasher = Sha256::new();
        if let Some(path) = self.locate(rel)? {
            self.hash_into(&path, rel, &mut hasher)?;
        }
        Ok(hex::encode(hasher.finalize()))
    }

    fn hash_into(&self, path: &Path, rel: &str, hasher: &mut Sha256) -> Result<()> {
        let meta = fs::symlink_metadata(path).map_err(|e| BuildError::io(path, e))?;
        hasher.update(format!(
            "{rel}\0{:o}\0{}:{}\0",
            meta.mode(),
            meta.uid(),
            meta.gid()
        ));
        if meta.file_type().is_symlink() {
            let target = fs::read_link(path).map_err(|e| BuildError::io(path, e))?;
            hasher.update(target.as_os_str().as_encoded_bytes());
        } else if meta.is_file() {
            let mut file = fs::File::open(path).map_err(|e| BuildError::io(path, e))?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = file.read(&mut buf).map_err(|e| BuildError::io(path, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        } else if meta.is_dir() {
            for (name, child) in self.children(path, rel)? {
                self.hash_into(&path.join(&name), &child, hasher)?;
            }
        }
        Ok(())
    }
}

/// Whether a source climbs out of its root (`../x`, `a/../../x`); an absolute source is
/// inside the context (`/x` is the context's `x`), as docker reads it.
pub fn climbs_out(source: &str) -> bool {
    let mut depth: i64 = 0;
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

fn has_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// `rel` inside `root` without leaving it: each symlinked directory on the way is
/// resolved as if `root` were `/`.
pub fn locate_in(root: &Path, rel: &str) -> Result<Option<PathBuf>> {
    let mut parts: Vec<String> = ignore::clean(rel)
        .split('/')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    parts.reverse();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = parts.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved
            .iter()
            .fold(root.to_path_buf(), |p, c| p.join(c))
            .join(&part);
        let meta = match fs::symlink_metadata(&candidate) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BuildError::io(&candidate, e)),
        };
        // The last component is what gets copied: a link stays a link.
        if meta.file_type().is_symlink() && !parts.is_empty() {
            links += 1;
            if links > MAX_LINKS {
                return Err(BuildError::Context(format!(
                    "{rel}: too many levels of symbolic links"
                )));
            }
            let target = fs::read_link(&candidate).map_err(|e| BuildError::io(&candidate, e))?;
            if target.is_absolute() {
                resolved.clear();
            }
            let mut more: Vec<String> = target
                .components()
                .filter_map(|c| match c {
                    Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                    Component::ParentDir => Some("..".into()),
                    _ => None,
                })
                .collect();
            more.reverse();
            parts.extend(more);
            continue;
        }
        resolved.push(part);
    }
    Ok(Some(
        resolved.iter().fold(root.to_path_buf(), |p, c| p.join(c)),
    ))
}

/// Ownership and modes a COPY gives what it copies.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyAttrs {
    pub uid: u32,
    pub gid: u32,
    pub chmod: Option<u32>,
    /// Each copy keeps its source's owner (uid and gid are not used): a `RUN --mount`
    /// of another stage's files shows them as they are.
    pub keep_owner: bool,
}

impl CopyAttrs {
    fn for_source(self, meta: &fs::Metadata) -> CopyAttrs {
        if self.keep_owner {
            CopyAttrs {
                uid: meta.uid(),
                gid: meta.gid(),
                ..self
            }
        } else {
            self
        }
    }
}

/// Copies `from` (file, directory contents, or symlink as a link) to `to` in a tree being
/// built; `.dockerignore` applies below `rel`.
pub fn copy_entry(
    tree: &SourceTree,
    from: &Path,
    rel: &str,
    to: &Path,
    attrs: CopyAttrs,
    contents_of_dir: bool,
) -> Result<()> {
    let meta = fs::symlink_metadata(from).map_err(|e| BuildError::io(from, e))?;
    let kind = meta.file_type();
    let own = attrs.for_source(&meta);
    if kind.is_dir() {
        let dest = to;
        let made = !contents_of_dir || !dest.exists();
        if made {
            make_dir(dest, attrs.chmod.unwrap_or(meta.mode() & 0o7777), own)?;
        }
        for (name, child) in tree.children(from, rel)? {
            copy_entry(
                tree,
                &from.join(&name),
                &child,
                &dest.join(&name),
                attrs,
                false,
            )?;
        }
        // Last: adding the children changed it.
        if made {
            set_times(dest, meta.mtime(), AtFlags::empty())?;
        }
        return Ok(());
    }
    if tree.ignore.excludes(rel) {
        return Ok(());
    }
    if let Some(parent) = to.parent() {
        if !parent.exists() {
            fs::create_dir_all(parent).map_err(|e| BuildError::io(parent, e))?;
        }
    }
    remove_existing(to)?;
    if kind.is_symlink() {
        let target = fs::read_link(from).map_err(|e| BuildError::io(from, e))?;
        std::os::unix::fs::symlink(&target, to).map_err(|e| BuildError::io(to, e))?;
        std::os::unix::fs::lchown(to, Some(own.uid), Some(own.gid))
            .map_err(|e| BuildError::io(to, e))?;
        return set_times(to, meta.mtime(), AtFlags::SYMLINK_NOFOLLOW);
    }
    if kind.is_file() {
        fs::copy(from, to).map_err(|e| BuildError::io(to, e))?;
        std::os::unix::fs::chown(to, Some(own.uid), Some(own.gid))
            .map_err(|e| BuildError::io(to, e))?;
        let mode = attrs.chmod.unwrap_or(meta.mode() & 0o7777);
        fs::set_permissions(to, fs::Permissions::from_mode(mode))
            .map_err(|e| BuildError::io(to, e))?;
        return set_times(to, meta.mtime(), AtFlags::empty());
    }
    // Devices, fifos and sockets in a context are not copied (docker skips sockets and
    // refuses devices from a context).
    Ok(())
}

fn remove_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(|e| BuildError::io(path, e)),
        Ok(_) => fs::remove_file(path).map_err(|e| BuildError::io(path, e)),
        Err(_) => Ok(()),
    }
}

/// A directory made by the copy, owned as the copy says.
pub fn make_dir(path: &Path, mode: u32, attrs: CopyAttrs) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| BuildError::io(parent, e))?;
    }
    match fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => {}
        Err(e) => return Err(BuildError::io(path, e)),
    }
    std::os::unix::fs::chown(path, Some(attrs.uid), Some(attrs.gid))
        .map_err(|e| BuildError::io(path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| BuildError::io(path, e))
}

/// Access and modification times of what a copy made: the source's modification time, as
/// docker keeps it.
fn set_times(path: &Path, secs: i64, flags: AtFlags) -> Result<()> {
    let at = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: at,
        last_modification: at,
    };
    rustix::fs::utimensat(rustix::fs::CWD, path, &times, flags)
        .map_err(|e| BuildError::io(path, e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_stay_inside_the_context() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d/a.txt"), "a").unwrap();
        fs::write(dir.path().join("b.txt"), "b").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("up")).unwrap();
        let tree = SourceTree::context(dir.path()).unwrap();
        assert!(climbs_out("../x"));
        assert!(climbs_out("a/../../x"));
        assert!(!climbs_out("/x"));
        assert!(tree.resolve("../etc/passwd").is_err());
        // Absolute: the context's own path, here absent; never the host's.
        assert!(tree.resolve("/etc/passwd").is_err());
        // Through a symlink to /etc: resolved inside the context, where there is no etc.
        assert!(tree.resolve("up/passwd").is_err());
        assert_eq!(tree.resolve("*.txt").unwrap(), ["b.txt"]);
        assert_eq!(tree.resolve("d/*.txt").unwrap(), ["d/a.txt"]);
        assert_eq!(tree.resolve("/d/../b.txt").unwrap(), ["b.txt"]);
    }

    #[test]
    fn the_hash_follows_content_not_times() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), "one").unwrap();
        let tree = SourceTree::context(dir.path()).unwrap();
        let first = tree.hash("").unwrap();
        set_times(&dir.path().join("f"), 1000, AtFlags::empty()).unwrap();
        assert_eq!(tree.hash("").unwrap(), first);
        fs::write(dir.path().join("f"), "two").unwrap();
        assert_ne!(tree.hash("").unwrap(), first);
    }
}
