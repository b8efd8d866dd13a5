//! The stages of a build: which the target needs, what each uses, and building them side by
//! side as soon as what they use is built.

use super::*;

impl Build<'_> {
    /// Builds the stages, each as soon as those it needs are built: independent stages
    /// side by side, one thread each (their RUN steps fork only in their helpers). The
    /// first failure is the build's; stages already under way finish first.
    pub(super) fn run_stages(&self, needed: &[usize]) -> Result<()> {
        let deps: HashMap<usize, Vec<usize>> =
            needed.iter().map(|i| (*i, self.deps_of(*i))).collect();
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<ImageInfo>)>();
            let mut started = BTreeSet::new();
            let mut done = BTreeSet::new();
            let mut running = 0;
            let mut failure = None;
            loop {
                if failure.is_none() {
                    for index in needed {
                        let ready = deps[index].iter().all(|d| done.contains(d));
                        if ready && started.insert(*index) {
                            let tx = tx.clone();
                            let index = *index;
                            running += 1;
                            scope.spawn(move || {
                                let _ = tx.send((index, self.stage(index)));
                            });
                        }
                    }
                }
                if running == 0 {
                    break;
                }
                let (index, result) = rx.recv().expect("a stage thread sends its result");
                running -= 1;
                match result {
                    Ok(image) => {
                        self.results
                            .lock()
                            .expect("not poisoned")
                            .insert(index, image);
                        done.insert(index);
                    }
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
            match failure {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })
    }

    pub(super) fn stage_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .position(|s| s.alias.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.stages.len())
            })
    }

    pub(super) fn target_index(&self) -> Result<usize> {
        match &self.opts.target {
            None => Ok(self.stages.len() - 1),
            Some(t) => self
                .stages
                .iter()
                .position(|s| s.alias.as_deref() == Some(t.to_ascii_lowercase().as_str()))
                .ok_or_else(|| BuildError::NoTarget(t.clone())),
        }
    }

    /// The stages `target` needs, in Dockerfile order; the others are skipped.
    pub(super) fn needed(&self, target: usize) -> Vec<usize> {
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(index) = todo.pop() {
            if needed.insert(index) {
                todo.extend(self.deps_of(index));
            }
        }
        needed.into_iter().collect()
    }

    /// The earlier stages a stage uses: FROM one, COPY --from, RUN --mount from.
    fn deps_of(&self, index: usize) -> Vec<usize> {
        let stage = &self.stages[index];
        let mut refs: Vec<String> = vec![stage.base.clone()];
        for step in &stage.steps {
            match &step.command {
                Command::Copy(c) | Command::Add(c) => refs.extend(c.from.clone()),
                Command::Run { mounts, .. } => {
                    refs.extend(mounts.iter().filter_map(|m| m.from.clone()))
                }
                _ => {}
            }
        }
        let mut deps: Vec<usize> = refs
            .iter()
            .filter_map(|name| self.stage_index(&self.expand_global(name)))
            .filter(|d| *d < index)
            .collect();
        deps.sort();
        deps.dedup();
        deps
    }

    pub(super) fn expand_global(&self, word: &str) -> String {
        words::expand(word, self.escape, &|n| self.global_args.get(n).cloned())
            .unwrap_or_else(|_| word.to_string())
    }
}
