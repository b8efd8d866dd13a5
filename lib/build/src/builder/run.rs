//! A RUN step: its argv, mounts and network, looked up in the cache, else run in a
//! container through the helper and its upper dir committed.

use super::*;

impl Build<'_> {
    pub(super) fn run(
        &self,
        state: &mut State,
        step: &Instruction,
        parent_key: &str,
    ) -> Result<()> {
        let Command::Run {
            line,
            mounts,
            network,
            heredocs,
        } = &step.command
        else {
            unreachable!("run() is called for RUN");
        };
        let config = config::run_config(&mut state.document).clone();
        // A script with a `#!` line runs as a file under its interpreter, as BuildKit runs
        // it: the file is bound read-only into the container for the step.
        let mut script_file: Option<(TempPath, String)> = None;
        let argv = match (line, heredocs.as_slice()) {
            (CommandLine::Shell(text), [doc])
                if text.trim().starts_with("<<")
                    && !text.contains(' ')
                    && doc.content.starts_with("#!") =>
            {
                let file = TempPath::new_file(&self.paths.tmp(), "build-script")?;
                std::fs::write(file.path(), &doc.content)
                    .map_err(|e| BuildError::io(file.path(), e))?;
                std::fs::set_permissions(
                    file.path(),
                    std::os::unix::fs::PermissionsExt::from_mode(0o755),
                )
                .map_err(|e| BuildError::io(file.path(), e))?;
                let target = format!("/.berth-heredoc-{}", doc.name);
                script_file = Some((file, target.clone()));
                vec![target]
            }
            // `RUN <<EOF` alone: the heredoc is the script, run by the shell.
            (CommandLine::Shell(text), [doc])
                if text.trim().starts_with("<<") && !text.contains(' ') =>
            {
                let mut argv = config::shell(&config);
                argv.push(doc.content.clone());
                argv
            }
            (CommandLine::Shell(text), docs) if !docs.is_empty() => {
                let mut script = text.clone();
                for doc in docs {
                    script.push('\n');
                    script.push_str(&doc.content);
                    script.push_str(&doc.name);
                }
                let mut argv = config::shell(&config);
                argv.push(script);
                argv
            }
            (line, _) => config::argv(&config, line),
        };
        let env_names: BTreeSet<String> =
            config::env(&config).into_iter().map(|(k, _)| k).collect();
        let arg_env: Vec<String> = state
            .args
            .iter()
            .filter(|(k, _)| !env_names.contains(*k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let network_on = match network.as_deref() {
            Some("none") => false,
            // As BuildKit without the network.host entitlement: never the host's network.
            Some("host") => {
                return Err(BuildError::Context(
                    "RUN --network=host is not allowed: berth's builder grants no network.host entitlement".into(),
                ))
            }
            Some(_) => true,
            None => self.opts.network,
        };
        let mut mount = berth_rootfs::MountRequest::default();
        let mut mount_key = Vec::new();
        // Cache mounts and binds of another stage's files are made only when the step
        // runs (not on a cache hit).
        let mut deferred: Vec<Deferred<'_>> = Vec::new();
        for m in mounts {
            let target =
                crate::config::absolute(&Self::workdir(state), &self.expand(state, &m.target)?);
            let from = match &m.from {
                Some(from) => {
                    let name = self.expand(state, from)?;
                    let image = self.image_named(&name)?;
                    Some((name, image))
                }
                None => None,
            };
            let source = self.expand(state, m.source.as_deref().unwrap_or_default())?;
            match m.kind {
                MountKind::Cache => {
                    let id = m.id.clone().unwrap_or_else(|| target.clone());
                    mount_key.push(format!("cache:{id}:{target}"));
                    deferred.push(Deferred::Cache {
                        mount: m,
                        id,
                        target,
                        seed: from.map(|(name, image)| (name, image, source)),
                    });
                }
                MountKind::Tmpfs => {
                    let size = m.size.map(|s| format!(":size={s}")).unwrap_or_default();
                    mount.tmpfs.push(format!("{target}{size}"));
                    mount_key.push(format!("tmpfs:{target}"));
                }
                MountKind::Bind => match from {
                    Some((name, image)) => {
                        // The stage's or image's files are part of the step's input.
                        mount_key.push(format!(
                            "bind-from:{}:{source}:{target}:{}",
                            image.manifest_digest, m.readonly
                        ));
                        deferred.push(Deferred::BindFrom {
                            name,
                            image,
                            source,
                            target,
                            readonly: m.readonly,
                        });
                    }
                    None => {
                        let found = self.context.resolve(&source)?;
                        let path = self.context.locate(&found[0])?.ok_or_else(|| {
                            BuildError::Context(format!("{source}: not found in the build context"))
                        })?;
                        // Writes to a bind of the context are never kept (docker discards them).
                        mount
                            .volumes
                            .push(format!("{}:{target}:ro", path.display()));
                        mount_key.push(format!(
                            "bind:{source}:{}:{target}",
                            self.context.hash(&found[0])?
                        ));
                    }
                },
                MountKind::Secret => {
                    // The id defaults to the target's last component, as BuildKit's.
                    let id = m.id.clone().unwrap_or_else(|| {
                        target.rsplit('/').next().unwrap_or_default().to_string()
                    });
                    match self.opts.secrets.iter().find(|(k, _)| *k == id) {
                        // Bound read-only for the step; never in the layer or the key.
                        Some((_, source)) => {
                            mount
                                .volumes
                                .push(format!("{}:{target}:ro", source.display()));
                            mount_key.push(format!("secret:{id}:{target}"));
                        }
                        None if m.required => {
                            return Err(BuildError::Context(format!(
                                "secret {id} is required but was not given (--secret id={id},src=FILE)"
                            )));
                        }
                        None => {}
                    }
                }
            }
        }
        if let Some((file, target)) = &script_file {
            mount
                .volumes
                .push(format!("{}:{target}:ro", file.path().display()));
            mount_key.push(format!("script:{}", heredocs[0].content));
        }
        let key = Cache::key(&[
            parent_key,
            "RUN",
            &json!(argv).to_string(),
            &arg_env.join("\n"),
            &mount_key.join("\n"),
            if network_on { "net" } else { "nonet" },
        ]);
        if self.cached(state, &key)? {
            return Ok(());
        }
        // Held until the step's container is gone: cache locks, private caches, copies.
        let mut held = Held::default();
        for d in deferred {
            self.make_deferred(d, &mut mount, &mut held)?;
        }
        let image = match &state.image {
            Some(image) => image.clone(),
            None => put_unindexed(self.store, &state.document, &[])?,
        };
        let mut run = berth_runtime::RunRequest::new(image.id.to_string());
        run.name = Some(format!("berth-build-{:016x}", rand_u64()));
        run.command = argv.clone();
        run.mount = mount;
        run.cgroup_parent = self.opts.cgroup_parent.clone();
        run.net_host = self.opts.net_host.clone();
        run.net.network = if network_on {
            berth_net::settings::DEFAULT_NETWORK.into()
        } else {
            "none".into()
        };
        run.process.entrypoint = Some(String::new());
        run.process.env = arg_env;
        let answer = self
            .paths
            .tmp()
            .join(format!("build-run-{:016x}.json", rand_u64()));
        let request = RunStepRequest {
            root: self.paths.root().to_path_buf(),
            run_dir: self.paths.run_dir().to_path_buf(),
            manifest: image.manifest_digest.to_string(),
            run,
            parent_chain: state.parent.chain.as_ref().map(|c| c.to_string()),
            clamp_mtime: self.clamp(),
            answer,
        };
        let n = state.n;
        let (code, layer) = run_step(&request, &mut |bytes| self.p().output(n, bytes))?;
        drop(held);
        if code != 0 {
            return Err(BuildError::Step {
                step: String::new(),
                instruction: String::new(),
                line: step.line,
                reason: format!(
                    "process \"{}\" did not complete successfully: exit code: {code}",
                    argv.join(" ")
                ),
                kind: ErrorKind::InvalidInput,
            });
        }
        let layer =
            layer.ok_or_else(|| BuildError::Context("the RUN step made no layer".into()))?;
        let doc = state.document.clone();
        let created_by = format!("RUN {} # buildkit", argv.join(" "));
        self.finish_step(state, &key, doc, Some(&layer), &created_by)
    }
}

/// A RUN mount made only when the step runs.
enum Deferred<'a> {
    Cache {
        mount: &'a dockerfile::RunMount,
        id: String,
        target: String,
        /// `from=` and `source=`: what a new cache starts with.
        seed: Option<(String, ImageInfo, String)>,
    },
    BindFrom {
        name: String,
        image: ImageInfo,
        source: String,
        target: String,
        readonly: bool,
    },
}

#[derive(Default)]
struct Held {
    _caches: Vec<crate::cache::CacheMount>,
    _copies: Vec<TempPath>,
}

impl Build<'_> {
    fn make_deferred(
        &self,
        deferred: Deferred<'_>,
        mount: &mut berth_rootfs::MountRequest,
        held: &mut Held,
    ) -> Result<()> {
        match deferred {
            Deferred::Cache {
                mount: m,
                id,
                target,
                seed,
            } => {
                let defaults = crate::cache::CacheOwner::default();
                let owner = crate::cache::CacheOwner {
                    uid: m.uid.unwrap_or(defaults.uid),
                    gid: m.gid.unwrap_or(defaults.gid),
                    mode: m.mode.unwrap_or(defaults.mode),
                };
                let cache = self.cache.mount(&id, m.sharing, owner, &self.paths.tmp())?;
                if cache.fresh {
                    if let Some((name, image, source)) = &seed {
                        self.copy_out_of(image, name, source, &cache.path, true)?;
                    }
                }
                let ro = if m.readonly { ":ro" } else { "" };
                mount
                    .volumes
                    .push(format!("{}:{target}{ro}", cache.path.display()));
                held._caches.push(cache);
            }
            Deferred::BindFrom {
                name,
                image,
                source,
                target,
                readonly,
            } => {
                // A copy, so that a rw bind's writes are thrown away with it (as BuildKit
                // discards them) and the stage's layers are never touched.
                let copy = TempPath::new_dir(&self.paths.tmp(), "build-bind")?;
                let dest = copy.path().join("src");
                self.copy_out_of(&image, &name, &source, &dest, false)?;
                let ro = if readonly { ":ro" } else { "" };
                mount
                    .volumes
                    .push(format!("{}:{target}{ro}", dest.display()));
                held._copies.push(copy);
            }
        }
        Ok(())
    }
}
