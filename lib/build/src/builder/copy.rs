//! A COPY or ADD step: planned, looked up in the cache, else its tree written as a layer.

use super::*;

static UNPACKING: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Build<'_> {
    /// What `--from=NAME` names: a stage built before, or an image of the store.
    pub(super) fn image_named(&self, from: &str) -> Result<ImageInfo> {
        match self.stage_index(from) {
            Some(i) => self
                .results
                .lock()
                .expect("not poisoned")
                .get(&i)
                .cloned()
                .ok_or_else(|| {
                    BuildError::Context(format!("stage {from} is not built before this step"))
                }),
            None => Ok(self.store.resolve(from)?),
        }
    }

    /// `image`'s filesystem mounted read-only, and a tree over it to copy from.
    pub(super) fn image_tree(
        &self,
        image: &ImageInfo,
        what: &str,
    ) -> Result<(crate::mount::ImageTree, SourceTree)> {
        let mount = crate::mount::ImageTree::mount(self.store, image)?;
        let tree = SourceTree {
            root: mount.path(),
            ignore: Default::default(),
            what: what.to_string(),
        };
        Ok((mount, tree))
    }

    /// Copies `source` of `image` (its root when empty) to `dest`, owners, modes and
    /// links as they are: a `RUN --mount` of another stage's or image's files, or the
    /// seed of a new cache mount. `contents_of_dir`: into an existing `dest`.
    pub(super) fn copy_out_of(
        &self,
        image: &ImageInfo,
        what: &str,
        source: &str,
        dest: &std::path::Path,
        contents_of_dir: bool,
    ) -> Result<()> {
        let (_mount, tree) = self.image_tree(image, what)?;
        let rel = source.trim_start_matches('/');
        let path = tree
            .locate(rel)?
            .ok_or_else(|| BuildError::Context(format!("{source}: not found in {what}")))?;
        let attrs = crate::context::CopyAttrs {
            keep_owner: true,
            ..Default::default()
        };
        crate::context::copy_entry(&tree, &path, rel, dest, attrs, contents_of_dir)
    }

    pub(super) fn copy(
        &self,
        state: &mut State,
        spec: &dockerfile::CopySpec,
        add: bool,
        parent_key: &str,
    ) -> Result<()> {
        let layers = self.layer_dirs(state)?;
        // --from: a stage built before, or an image of the store, mounted read-only.
        let from = match &spec.from {
            Some(from) => {
                let from = self.expand(state, from)?;
                let image = self.image_named(&from)?;
                let (mount, tree) = self.image_tree(&image, &from)?;
                Some((mount, tree, image.manifest_digest.to_string()))
            }
            None => None,
        };
        let outcome = {
            let tree = from.as_ref().map_or(&self.context, |(_, t, _)| t);
            let vars = Self::lookup(state);
            let input = CopyInput {
                spec,
                add,
                escape: self.escape,
                vars: &vars,
                tree,
                from_identity: from.as_ref().map(|(_, _, id)| id.clone()),
                workdir: Self::workdir(state),
                layers: &layers,
            };
            let plan = copy_step::plan(&input)?;
            let key = Cache::key(&[parent_key, &plan.key]);
            let hit = (!self.opts.no_cache)
                .then(|| self.cache.get(self.store, &key))
                .flatten();
            match hit {
                Some(image) => Ok(image),
                None => {
                    let work = TempPath::new_dir(&self.paths.tmp(), "build-copy")?;
                    copy_step::materialize(&plan, tree, work.path())?;
                    // The unpacker clears the process's umask while it runs: one at a
                    // time, so stages side by side never see each other's.
                    let _one = UNPACKING.lock().unwrap_or_else(|e| e.into_inner());
                    let layer = write_layer(
                        self.store,
                        work.path(),
                        state.parent.chain.as_ref(),
                        &LayerTarOptions {
                            skip: Vec::new(),
                            clamp_mtime: self.clamp(),
                        },
                    )?;
                    Err((key, layer, plan.created_by))
                }
            }
        };
        drop(from);
        match outcome {
            Ok(image) => {
                self.p().cached(state.n, image.id.as_str());
                self.move_to(state, image)
            }
            Err((key, layer, created_by)) => {
                let doc = state.document.clone();
                self.finish_step(state, &key, doc, Some(&layer), &created_by)
            }
        }
    }
}
