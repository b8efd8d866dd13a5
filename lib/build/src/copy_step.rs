//! COPY and ADD: what they copy (planned first, so the cache key has the content hash of
//! every source before anything is copied), then the tree of the new layer: the files at
//! their destinations, owned and moded as `--chown`/`--chmod` say (root and the source's
//! modes by default), symlinks as links, local tar archives of ADD unpacked.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use berth_image::compression::{decompress, Compression};
use berth_image::extract::{extract_into, ExtractOptions, Ownership};

use crate::context::{copy_entry, make_dir, CopyAttrs, SourceTree};
use crate::dockerfile::{words, CopySpec};
use crate::error::{BuildError, Result};

enum Item {
    /// A source of the tree: its relative path and where it goes in the image.
    Path {
        rel: String,
        dest: String,
        contents: bool,
        extract: bool,
    },
    Inline {
        dest: String,
        content: String,
    },
}

pub struct CopyPlan {
    items: Vec<Item>,
    attrs: CopyAttrs,
    /// What the cache key holds of the copy: sources' hashes, destinations, attributes.
    pub key: String,
    /// The history entry's text.
    pub created_by: String,
}

/// What a step of a stage needs to plan a copy.
pub struct CopyInput<'a> {
    pub spec: &'a CopySpec,
    pub add: bool,
    pub escape: char,
    pub vars: &'a dyn Fn(&str) -> Option<String>,
    pub tree: &'a SourceTree,
    /// The identity of a `--from` tree (its image), hashed instead of its files.
    pub from_identity: Option<String>,
    pub workdir: String,
    /// The stage's layer directories, lowest first: for `--chown` names and whether the
    /// destination is a directory already.
    pub layers: &'a [PathBuf],
}

fn expand(input: &CopyInput<'_>, word: &str) -> Result<String> {
    words::expand(word, input.escape, input.vars).map_err(|e| BuildError::Context(e.0))
}

pub fn plan(input: &CopyInput<'_>) -> Result<CopyPlan> {
    let spec = input.spec;
    let keyword = if input.add { "ADD" } else { "COPY" };
    let dest_word = expand(input, &spec.dest)?;
    let dest = crate::config::absolute(&input.workdir, &dest_word);
    let attrs = CopyAttrs {
        chmod: spec
            .chmod
            .as_deref()
            .map(|m| {
                let m = expand(input, m)?;
                u32::from_str_radix(&m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        BuildError::Context(format!("invalid --chmod={m}: not an octal mode"))
                    })
            })
            .transpose()?,
        ..owner(input)?
    };
    let mut sources = Vec::new();
    for source in &spec.sources {
        let source = expand(input, source)?;
        if input.add
            && (source.starts_with("http://")
                || source.starts_with("https://")
                || source.starts_with("git@"))
        {
            return Err(BuildError::Context(format!(
                "ADD {source}: fetching a URL needs the network, which berth's builder does not use for ADD; download it into the context and ADD or COPY that file"
            )));
        }
        for rel in input.tree.resolve(&source)? {
            sources.push(rel);
        }
    }
    let heredoc_count = spec.heredocs.len();
    let many = sources.len() + heredoc_count > 1;
    let dest_is_dir = dest_word.ends_with('/') || many || is_dir_in(input.layers, &dest);
    let mut items = Vec::new();
    let mut key = format!(
        "{keyword}\0{dest}\0{:?}\0",
        (attrs.uid, attrs.gid, attrs.chmod)
    );
    for rel in &sources {
        let path = input.tree.locate(rel)?.ok_or_else(|| {
            BuildError::Context(format!("\"/{rel}\": not found in {}", input.tree.what))
        })?;
        let meta = fs::symlink_metadata(&path).map_err(|e| BuildError::io(&path, e))?;
        let base = rel.rsplit('/').next().unwrap_or(rel);
        let extract =
            input.add && input.from_identity.is_none() && meta.is_file() && is_archive(&path);
        let (target, contents) = if meta.is_dir() || extract {
            (dest.clone(), true)
        } else if dest_is_dir {
            (format!("{}/{base}", dest.trim_end_matches('/')), false)
        } else {
            (dest.clone(), false)
        };
        match &input.from_identity {
            Some(identity) => key.push_str(&format!("{identity}:{rel}\0")),
            None => key.push_str(&format!("{rel}:{}\0", input.tree.hash(rel)?)),
        }
        key.push_str(&format!("{target}\0{contents}\0{extract}\0"));
        items.push(Item::Path {
            rel: rel.clone(),
            dest: target,
            contents,
            extract,
        });
    }
    for doc in &spec.heredocs {
        let content = if doc.expand {
            expand_heredoc(input, &doc.content)?
        } else {
            doc.content.clone()
        };
        let target = if dest_is_dir {
            format!("{}/{}", dest.trim_end_matches('/'), doc.name)
        } else {
            dest.clone()
        };
        key.push_str(&format!("<<{}\0{content}\0{target}\0", doc.name));
        items.push(Item::Inline {
            dest: target,
            content,
        });
    }
    let mut shown: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    shown.extend(spec.heredocs.iter().map(|d| format!("<<{}", d.name)));
    Ok(CopyPlan {
        items,
        attrs,
        key,
        created_by: format!("{keyword} {} {dest_word} # buildkit", shown.join(" ")),
    })
}

/// Variables in a heredoc body, line by line, quotes kept as written.
fn expand_heredoc(input: &CopyInput<'_>, content: &str) -> Result<String> {
    let escaped = content.replace('"', "\\\"");
    words::expand(&format!("\"{escaped}\""), input.escape, input.vars)
        .map_err(|e| BuildError::Context(e.0))
}

/// Writes the planned copy into `tree_dir`, the root of the new layer.
pub fn materialize(plan: &CopyPlan, tree: &SourceTree, tree_dir: &Path) -> Result<()> {
    let root_attrs = CopyAttrs::default();
    for item in &plan.items {
        let dest = match item {
            Item::Path { dest, .. } | Item::Inline { dest, .. } => dest,
        };
        let host = tree_dir.join(dest.trim_start_matches('/'));
        // Parent directories the copy makes are root's, 0755.
        if let Some(parent) = host.parent() {
            make_parents(tree_dir, parent, root_attrs)?;
        }
        match item {
            Item::Inline { content, .. } => {
                fs::write(&host, content).map_err(|e| BuildError::io(&host, e))?;
                let attrs = plan.attrs;
                std::os::unix::fs::chown(&host, Some(attrs.uid), Some(attrs.gid))
                    .map_err(|e| BuildError::io(&host, e))?;
                set_mode(&host, attrs.chmod.unwrap_or(0o644))?;
            }
            Item::Path {
                rel,
                contents,
                extract,
                ..
            } => {
                let from = tree
                    .locate(rel)?
                    .ok_or_else(|| BuildError::Context(format!("\"/{rel}\" vanished")))?;
                if *extract {
                    make_dir(&host, 0o755, plan.attrs)?;
                    unpack_archive(&from, &host)?;
                } else {
                    copy_entry(tree, &from, rel, &host, plan.attrs, *contents)?;
                }
            }
        }
    }
    Ok(())
}

fn make_parents(tree_dir: &Path, dir: &Path, attrs: CopyAttrs) -> Result<()> {
    if dir == tree_dir || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_parents(tree_dir, parent, attrs)?;
    }
    make_dir(dir, 0o755, attrs)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| BuildError::io(path, e))
}

/// A plain, gzip or zstd tar, by its first bytes (never by its name).
fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut file) = fs::File::open(path) else {
        return false;
    };
    let n = file.read(&mut head).unwrap_or(0);
    Compression::sniff(&head[..n]) != Compression::None || n >= 262 && &head[257..262] == b"ustar"
}

/// ADD's local archive, unpacked into the step's tree as docker does (owners and modes
/// from the tar), through the one extractor of other people's tars: nothing it says can
/// leave `into`.
fn unpack_archive(path: &Path, into: &Path) -> Result<()> {
    let file = fs::File::open(path).map_err(|e| BuildError::io(path, e))?;
    let (_, mut stream) =
        decompress(std::io::BufReader::new(file)).map_err(|e| BuildError::io(path, e))?;
    let options = ExtractOptions {
        ownership: Ownership::Archive,
        devices: true,
        ..ExtractOptions::default()
    };
    extract_into(into, &mut stream, options)
        .map_err(|e| BuildError::Context(format!("{}: {e}", path.display())))
}

/// `--chown=user[:group]`: numbers as they are, names from the stage's /etc/passwd and
/// /etc/group.
fn owner(input: &CopyInput<'_>) -> Result<CopyAttrs> {
    let Some(chown) = input.spec.chown.as_deref() else {
        return Ok(CopyAttrs::default());
    };
    let chown = expand(input, chown)?;
    let (user, group) = match chown.split_once(':') {
        Some((u, g)) => (u.to_string(), Some(g.to_string())),
        None => (chown.clone(), None),
    };
    let lookup = |file: &str, name: &str, field: usize| -> Result<(u32, Option<u32>)> {
        if let Ok(id) = name.parse::<u32>() {
            return Ok((id, None));
        }
        let text = find_file(input.layers, file).unwrap_or_default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.first() == Some(&name) {
                let id = fields.get(field).and_then(|f| f.parse().ok());
                let gid = fields.get(3).and_then(|f| f.parse().ok());
                if let Some(id) = id {
                    return Ok((id, gid));
                }
            }
        }
        Err(BuildError::Context(format!(
            "unable to find {} {name} in the image's {file}",
            if file.ends_with("passwd") {
                "user"
            } else {
                "group"
            }
        )))
    };
    let (uid, primary) = lookup("etc/passwd", &user, 2)?;
    let gid = match group {
        Some(g) => lookup("etc/group", &g, 2)?.0,
        None => primary.unwrap_or(uid),
    };
    Ok(CopyAttrs {
        uid,
        gid,
        chmod: None,
        keep_owner: false,
    })
}

/// A small file of the stage's filesystem, looked up from the top layer down.
fn find_file(layers: &[PathBuf], rel: &str) -> Option<String> {
    for layer in layers.iter().rev() {
        let path = crate::context::locate_in(layer, rel).ok()??;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => return fs::read_to_string(&path).ok(),
            // A whiteout (0/0 character device): deleted above the layers below.
            Ok(_) => return None,
            Err(_) => continue,
        }
    }
    None
}

/// Whether the stage already has a directory at `path`.
fn is_dir_in(layers: &[PathBuf], path: &str) -> bool {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() {
        return true;
    }
    for layer in layers.iter().rev() {
        let Ok(Some(found)) = crate::context::locate_in(layer, rel) else {
            continue;
        };
        match fs::symlink_metadata(&found) {
            Ok(m) => return m.is_dir(),
            Err(_) => continue,
        }
    }
    false
}
