//! Compiled filters kept on disk, so a container start pays for reading a few KB instead of
//! compiling a profile. The key is the sha256 of everything the program depends on: this
//! crate's version and program layout, the running kernel, the profile's bytes and the
//! capability set.
//! A missing, short or unreadable entry is simply compiled again.

use std::path::{Path, PathBuf};

use seccompiler::sock_filter;
use sha2::{Digest, Sha256};

use crate::{from_profile_json, Result};

/// A program ready to install.
pub struct Program(pub Vec<sock_filter>);

impl Program {
    pub fn install(&self) -> Result<()> {
        crate::apply::install(&self.0)
    }

    pub fn instructions(&self) -> usize {
        self.0.len()
    }
}

fn to_bytes(program: &[sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * 8);
    for insn in program {
        out.extend_from_slice(&insn.code.to_le_bytes());
        out.push(insn.jt);
        out.push(insn.jf);
        out.extend_from_slice(&insn.k.to_le_bytes());
    }
    out
}

fn from_bytes(bytes: &[u8]) -> Option<Vec<sock_filter>> {
    if bytes.is_empty()
        || !bytes.len().is_multiple_of(8)
        || bytes.len() / 8 > crate::MAX_INSTRUCTIONS
    {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| sock_filter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

fn key(profile: &[u8], caps: &[String]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update(crate::compile::LAYOUT.as_bytes());
    // minKernel rules resolve against the running kernel.
    hasher.update(format!("{:?}", crate::profile::running_kernel()).as_bytes());
    hasher.update((profile.len() as u64).to_le_bytes());
    hasher.update(profile);
    let mut caps = caps.to_vec();
    caps.sort();
    hasher.update(caps.join(",").as_bytes());
    hex::encode(hasher.finalize())
}

/// The compiled program for `profile` and `caps`, from `dir` when it is there (the
/// directory should be root's alone: what is in it is installed as is).
pub fn compiled(dir: Option<&Path>, profile: &[u8], caps: &[String]) -> Result<Program> {
    let path: Option<PathBuf> = dir.map(|d| d.join(format!("{}.bpf", key(profile, caps))));
    if let Some(program) = path
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| from_bytes(&b))
    {
        return Ok(Program(program));
    }
    let program = from_profile_json(profile, caps)?.program().clone();
    if let (Some(dir), Some(path)) = (dir, &path) {
        // Best effort: a cache that cannot be written only costs the next start a compile.
        let tmp = dir.join(format!(".{}.{}", std::process::id(), rand_suffix()));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            })
            .and_then(|()| std::fs::write(&tmp, to_bytes(&program)))
            .and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(Program(program))
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_program_equals_the_compiled_one() {
        let dir = tempfile::tempdir().unwrap();
        let caps = vec!["CAP_CHOWN".to_string()];
        let profile = crate::DOCKER_DEFAULT_JSON.as_bytes();
        let first = compiled(Some(dir.path()), profile, &caps).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "one cache entry"
        );
        let second = compiled(Some(dir.path()), profile, &caps).unwrap();
        assert_eq!(to_bytes(&first.0), to_bytes(&second.0));
        let direct = crate::docker_default(&caps).unwrap();
        assert_eq!(to_bytes(&second.0), to_bytes(direct.program()));
        let other = compiled(Some(dir.path()), profile, &["CAP_SYS_ADMIN".to_string()]).unwrap();
        assert_ne!(
            to_bytes(&other.0),
            to_bytes(&first.0),
            "another cap set, another entry"
        );
    }

    #[test]
    fn a_corrupt_entry_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let caps: Vec<String> = Vec::new();
        let profile = crate::DOCKER_DEFAULT_JSON.as_bytes();
        std::fs::write(
            dir.path().join(format!("{}.bpf", key(profile, &caps))),
            b"short",
        )
        .unwrap();
        let program = compiled(Some(dir.path()), profile, &caps).unwrap();
        assert!(program.instructions() > 100);
    }
}
