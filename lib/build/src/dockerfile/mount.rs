//! `RUN --mount=type=cache|bind|tmpfs|secret,…`: BuildKit's mount options.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    Cache,
    Tmpfs,
    Secret,
}

/// How concurrent builds share one cache mount (BuildKit's `sharing=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sharing {
    /// Every user at once (the default).
    #[default]
    Shared,
    /// One user at a time: the others wait.
    Locked,
    /// The cache when no one else uses it, else a fresh empty directory for this step.
    Private,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    pub kind: MountKind,
    /// Where it appears in the container (secrets default to `/run/secrets/<id>`).
    pub target: String,
    /// Bind: the path in the context or in `from`; cache: the path inside the cache.
    pub source: Option<String>,
    /// Bind or cache: a stage or image whose files are used.
    pub from: Option<String>,
    /// Cache and secret: which one (a cache defaults to its target).
    pub id: Option<String>,
    pub readonly: bool,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub required: bool,
    pub sharing: Sharing,
}

impl RunMount {
    /// One `--mount` value: `type=cache,target=/root/.cache,id=x`.
    pub fn parse(spec: &str) -> Result<RunMount, String> {
        let mut kind = MountKind::Bind;
        let mut fields = Vec::new();
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
                None => (part.trim().to_ascii_lowercase(), None),
            };
            if key == "type" {
                kind = match value.as_deref() {
                    Some("bind") => MountKind::Bind,
                    Some("cache") => MountKind::Cache,
                    Some("tmpfs") => MountKind::Tmpfs,
                    Some("secret") => MountKind::Secret,
                    Some(other) => return Err(format!("unsupported mount type \"{other}\"")),
                    None => return Err("--mount: type needs a value".into()),
                };
            } else {
                fields.push((key, value));
            }
        }
        let mut mount = RunMount {
            kind,
            target: String::new(),
            source: None,
            from: None,
            id: None,
            readonly: matches!(kind, MountKind::Bind | MountKind::Secret),
            mode: None,
            uid: None,
            gid: None,
            size: None,
            required: false,
            sharing: Sharing::Shared,
        };
        let number = |key: &str, value: &Option<String>, radix: u32| -> Result<u32, String> {
            let v = value.as_deref().unwrap_or_default();
            u32::from_str_radix(v, radix).map_err(|_| format!("--mount: {key}={v}: not a number"))
        };
        for (key, value) in fields {
            let val = || value.clone().unwrap_or_default();
            match key.as_str() {
                "target" | "dst" | "destination" => mount.target = val(),
                "source" | "src" => mount.source = Some(val()),
                "from" => mount.from = Some(val()),
                "id" => mount.id = Some(val()),
                "ro" | "readonly" => mount.readonly = value.as_deref() != Some("false"),
                "rw" | "readwrite" => mount.readonly = value.as_deref() == Some("false"),
                "mode" => mount.mode = Some(number("mode", &value, 8)?),
                "uid" => mount.uid = Some(number("uid", &value, 10)?),
                "gid" => mount.gid = Some(number("gid", &value, 10)?),
                "size" => {
                    let v = val();
                    mount.size = Some(
                        v.parse()
                            .map_err(|_| format!("--mount: size={v}: not a number of bytes"))?,
                    );
                }
                "required" => mount.required = value.as_deref() != Some("false"),
                "sharing" => {
                    mount.sharing = match value.as_deref() {
                        Some("shared") => Sharing::Shared,
                        Some("locked") => Sharing::Locked,
                        Some("private") => Sharing::Private,
                        _ => {
                            return Err(format!(
                                "--mount: sharing={}: shared, locked or private",
                                val()
                            ))
                        }
                    }
                }
                "env" => {}
                other => return Err(format!("unexpected key '{other}' in '{spec}'")),
            }
        }
        if mount.kind == MountKind::Secret && mount.target.is_empty() {
            let id = mount
                .id
                .clone()
                .or_else(|| mount.source.clone())
                .ok_or_else(|| "--mount=type=secret needs an id or a target".to_string())?;
            mount.target = format!("/run/secrets/{id}");
        }
        if mount.target.is_empty() {
            return Err("--mount: the mount needs a target".into());
        }
        if mount.kind == MountKind::Cache && mount.id.is_none() {
            mount.id = Some(mount.target.clone());
        }
        Ok(mount)
    }
}
