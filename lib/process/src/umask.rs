//! A cleared umask for a scope, so created nodes get exactly the modes asked for.

use rustix::fs::Mode;

pub struct Cleared(Mode);

impl Cleared {
    pub fn new() -> Cleared {
        Cleared(rustix::process::umask(Mode::empty()))
    }
}

impl Drop for Cleared {
    fn drop(&mut self) {
        rustix::process::umask(self.0);
    }
}
