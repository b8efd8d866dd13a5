use super::*;

/// A tar built by hand (the tar crate's builder refuses some of the hostile names).
struct Raw(Vec<u8>);

impl Raw {
    fn new() -> Raw {
        Raw(Vec::new())
    }

    fn add(mut self, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> Raw {
        let mut header = tar::Header::new_gnu();
        {
            let gnu = header.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_size(data.len() as u64);
        header.set_mtime(1_600_000_000);
        header.set_cksum();
        self.0.extend_from_slice(header.as_bytes());
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    fn file(self, name: &str, data: &[u8]) -> Raw {
        self.add(name, tar::EntryType::Regular, "", data)
    }

    fn bytes(mut self) -> Vec<u8> {
        self.0.extend(std::iter::repeat_n(0u8, 1024));
        self.0
    }
}

fn extract(tar: Vec<u8>, options: ExtractOptions) -> (tempfile::TempDir, Result<()>) {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("in");
    std::fs::create_dir(&dir).unwrap();
    let result = extract_into(&dir, &mut tar.as_slice(), options);
    (top, result)
}

/// Whatever the tar said, nothing but `in/` was made next to the extraction point.
fn nothing_outside(top: &tempfile::TempDir) {
    let names: Vec<_> = std::fs::read_dir(top.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["in"]);
}

#[test]
fn names_are_cleaned_and_may_not_climb_out() {
    assert_eq!(clean("./a//b/./c").unwrap(), ["a", "b", "c"]);
    assert_eq!(clean("a/../b").unwrap(), ["b"]);
    assert_eq!(clean("/abs/x").unwrap(), ["abs", "x"]);
    assert!(clean("../x").is_err());
    assert!(clean("a/../../x").is_err());
    assert!(clean("./").unwrap().is_empty());
    assert!(below("/tmp/x", "/tmp"));
    assert!(!below("/tmpx", "/tmp"));
    assert!(below("/etc", "/"));
}

#[test]
fn an_ordinary_tree_is_extracted() {
    let tar = Raw::new()
        .add("d/", tar::EntryType::Directory, "", b"")
        .file("d/f", b"hello")
        .add("d/l", tar::EntryType::Symlink, "/etc/passwd", b"")
        .add("d/h", tar::EntryType::Link, "d/f", b"")
        .bytes();
    let (top, result) = extract(tar, ExtractOptions::untrusted());
    result.unwrap();
    let dir = top.path().join("in/d");
    assert_eq!(std::fs::read(dir.join("h")).unwrap(), b"hello");
    // The directory keeps its time, though its entries came after it.
    let mtime = std::os::unix::fs::MetadataExt::mtime(&std::fs::metadata(&dir).unwrap());
    assert_eq!(mtime, 1_600_000_000);
    assert_eq!(
        std::fs::read_link(dir.join("l")).unwrap(),
        Path::new("/etc/passwd")
    );
    nothing_outside(&top);
}

#[test]
fn hostile_entries_are_refused_by_name() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Raw::new().file("../x", b"x").bytes(), "\"../x\""),
        (Raw::new().file("/abs", b"x").bytes(), "\"/abs\""),
        (
            Raw::new()
                .add("out", tar::EntryType::Symlink, "..", b"")
                .file("out/x", b"x")
                .bytes(),
            "\"out/x\"",
        ),
        (
            Raw::new()
                .add("h", tar::EntryType::Link, "/etc/passwd", b"")
                .bytes(),
            "\"h\"",
        ),
        (
            Raw::new()
                .add("h", tar::EntryType::Link, "../../etc/passwd", b"")
                .bytes(),
            "h -> ../../etc/passwd",
        ),
        (
            Raw::new().add("dev", tar::EntryType::Char, "", b"").bytes(),
            "\"dev\"",
        ),
    ];
    for (tar, names) in cases {
        let (top, result) = extract(tar, ExtractOptions::untrusted());
        let message = result.expect_err(names).to_string();
        assert!(message.contains(names), "{message:?} names {names}");
        nothing_outside(&top);
    }
}

#[test]
fn in_root_symlinks_resolve_inside_and_must_stay_below_the_extraction_point() {
    let top = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(top.path().join("usr/lib")).unwrap();
    std::fs::create_dir_all(top.path().join("dest")).unwrap();
    std::os::unix::fs::symlink("/usr/lib", top.path().join("dest/lib")).unwrap();
    let root =
        rustix::fs::open(top.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
    let options = ExtractOptions {
        symlinks: Symlinks::InRoot,
        ..ExtractOptions::default()
    };
    let into = |dest: &str, tar: Vec<u8>| {
        Extractor {
            root: root.as_fd(),
            dest: dest.into(),
            options: options.clone(),
        }
        .unpack(&mut tar.as_slice())
    };
    into("/", Raw::new().file("dest/lib/x", b"x").bytes()).unwrap();
    assert!(top.path().join("usr/lib/x").exists());
    let refused = into("/dest", Raw::new().file("lib/y", b"y").bytes()).unwrap_err();
    assert!(
        matches!(refused, ExtractError::LinkEscapes { .. }),
        "{refused}"
    );
}
