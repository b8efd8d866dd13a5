//! Many failures as one error. A teardown runs every step even when one fails, collects
//! what failed here, and reports it all at once (as netavark's error list), so one failure
//! never hides the others or leaves the later steps undone.

use std::fmt;

/// The failures of the steps of one operation, in the order they happened.
#[derive(Debug)]
pub struct ErrorList<E> {
    errors: Vec<E>,
}

impl<E> Default for ErrorList<E> {
    fn default() -> Self {
        ErrorList { errors: Vec::new() }
    }
}

impl<E> ErrorList<E> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, error: impl Into<E>) {
        self.errors.push(error.into());
    }

    /// Keeps the error of `result`, if any, and goes on: the value when it succeeded.
    pub fn check<T, F: Into<E>>(&mut self, result: Result<T, F>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.push(e);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, E> {
        self.errors.iter()
    }

    pub fn into_vec(self) -> Vec<E> {
        self.errors
    }

    /// Ok when nothing failed, else the list made into the caller's error by `wrap`.
    pub fn finish<X>(self, wrap: impl FnOnce(Self) -> X) -> Result<(), X> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(wrap(self))
        }
    }
}

impl<E> Extend<E> for ErrorList<E> {
    fn extend<I: IntoIterator<Item = E>>(&mut self, iter: I) {
        self.errors.extend(iter);
    }
}

impl<E> IntoIterator for ErrorList<E> {
    type Item = E;
    type IntoIter = std::vec::IntoIter<E>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

/// One failure reads as itself; several as `N errors: first; second; …`.
impl<E: fmt::Display> fmt::Display for ErrorList<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.as_slice() {
            [] => f.write_str("no error"),
            [only] => write!(f, "{only}"),
            all => {
                write!(f, "{} errors: ", all.len())?;
                for (i, e) in all.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl<E: fmt::Display + fmt::Debug> std::error::Error for ErrorList<E> {}

#[cfg(test)]
mod tests {
    use super::ErrorList;

    #[derive(Debug, thiserror::Error)]
    enum StepError {
        #[error("cannot remove {0}")]
        Remove(String),
    }

    #[test]
    fn every_step_runs_and_every_failure_is_reported() {
        let mut errors = ErrorList::<StepError>::new();
        let mut ran = Vec::new();
        for (step, fails) in [("mount", true), ("link", false), ("cgroup", true)] {
            ran.push(step);
            let result: Result<u8, StepError> = if fails {
                Err(StepError::Remove(step.into()))
            } else {
                Ok(1)
            };
            errors.check(result);
        }
        assert_eq!(ran, ["mount", "link", "cgroup"]);
        assert_eq!(errors.len(), 2);
        let err = errors.finish(|e| e).unwrap_err();
        assert_eq!(
            err.to_string(),
            "2 errors: cannot remove mount; cannot remove cgroup"
        );
    }

    #[test]
    fn one_failure_reads_as_itself_and_none_is_ok() {
        let mut errors = ErrorList::<StepError>::new();
        assert_eq!(errors.check(Ok::<_, StepError>(7)), Some(7));
        assert!(ErrorList::<StepError>::new().finish(|e| e).is_ok());
        errors.push(StepError::Remove("/run/x".into()));
        assert_eq!(errors.to_string(), "cannot remove /run/x");
    }
}
