//! `docker build` and `docker builder prune` for berthd: the uploaded context unpacked
//! into the store's tmp/, the build run by the builder in a helper process (berthd is
//! multi-threaded and a build forks), its JSON stream passed on line by line.

use std::path::{Path, PathBuf};

use berth_api::build::{BuildPruneReport, BuildRequest};
use berth_api::{BackendError, BuildBackend};
use berth_builder::builder::BuildOptions;
use berth_builder::helper::{build_in_helper, HelperBuild};
use berth_image::extract::{extract_into, ExtractOptions};
use berth_image::store::TempPath;

use crate::images::image_error;
use crate::Engine;

fn internal(e: impl std::fmt::Display) -> BackendError {
    BackendError::internal(e.to_string())
}

impl BuildBackend for Engine {
    fn scratch_dir(&self) -> Result<PathBuf, BackendError> {
        self.upload_dir("build")
    }

    fn build(
        &self,
        request: &BuildRequest,
        context: &Path,
        out: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), BackendError> {
        let unpacked = TempPath::new_dir(&self.paths().tmp(), "build-context")
            .map_err(|e| BackendError::new(e.kind(), e.to_string()))?;
        let file = std::fs::File::open(context).map_err(internal)?;
        extract_into(
            unpacked.path(),
            &mut std::io::BufReader::new(file),
            ExtractOptions::untrusted(),
        )
        .map_err(|e| BackendError::new(e.kind(), format!("the build context: {e}")))?;
        let dockerfile = berth_builder::ignore::clean(&request.dockerfile);
        let options = BuildOptions {
            context: unpacked.path().to_path_buf(),
            dockerfile: Some(unpacked.path().join(dockerfile)),
            tags: request.tags.clone(),
            build_args: request.build_args.clone(),
            target: request.target.clone(),
            no_cache: request.no_cache,
            network: request.network,
            labels: request.labels.clone(),
            secrets: Vec::new(),
            cgroup_parent: self.settings().cgroup_parent.clone(),
            net_host: self.settings().net.clone(),
            pull: request.pull,
            platform: request.platform.clone(),
            insecure_registries: self.settings().insecure_registries.clone(),
            // A daemon takes only the credentials its client sends (none on this path).
            docker_config: false,
        };
        let helper = HelperBuild {
            root: self.paths().root().to_path_buf(),
            run_dir: self.paths().run_dir().to_path_buf(),
            options,
            quiet: request.quiet,
        };
        let built = build_in_helper(&helper, out)
            .map_err(|e| BackendError::new(e.kind(), e.to_string()))?;
        if !built {
            // The helper's own errorDetail line is in the stream already.
            tracing::info!(tags = ?request.tags, "build failed");
        }
        Ok(())
    }

    fn prune(&self) -> Result<BuildPruneReport, BackendError> {
        let store = self.store()?;
        let cache = berth_builder::cache::Cache::open(&store)
            .map_err(|e| BackendError::new(e.kind(), e.to_string()))?;
        let steps = cache
            .prune(&store)
            .map_err(|e| BackendError::new(e.kind(), e.to_string()))?;
        let report = store.collect_unused().map_err(image_error)?;
        let mut caches = report.layers.clone();
        caches.extend(report.blobs.iter().cloned());
        tracing::info!(
            steps = steps.steps,
            mounts = steps.mounts,
            "build cache pruned"
        );
        Ok(BuildPruneReport {
            caches,
            space: report.bytes,
        })
    }
}
