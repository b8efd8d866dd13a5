//! docker's flags as clap parses them, for the flag groups two binaries share (`berth-run`
//! has them all, each stage its own), and the conversion of each group into the library
//! request it stands for. clap lives here and in the binaries, never in `lib/`.

pub mod limits;
pub mod mount;
pub mod net;
pub mod process;

pub use limits::LimitArgs;
pub use mount::MountArgs;
pub use net::{HostArgs, NetArgs};
pub use process::ProcessArgs;
