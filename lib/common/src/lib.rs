//! What every berth stage shares: where state lives, how processes take turns on it,
//! and the container record that flows from stage to stage.

pub mod edge;
pub mod error_kind;
pub mod error_list;
pub mod events;
pub mod fault;
pub mod human;
pub mod identity;
pub mod json_file;
pub mod lock;
pub mod paths;
pub mod pidfd;
pub mod proc_stat;
pub mod record;
pub mod registry;
pub mod run_state;
pub mod signal;
pub mod signal_block;
pub mod stage;
pub mod table;
pub mod units;
pub mod userns;

pub use error_kind::ErrorKind;
pub use error_list::ErrorList;
pub use identity::{ContainerId, ContainerName, ContainerRef, IdentityError};
pub use lock::{FileLock, LockError, LockMode};
pub use paths::{Paths, DEFAULT_ROOT, DEFAULT_RUN_DIR};
pub use record::{
    CgroupPart, ContainerPart, ContainerRecord, Endpoint, ImageConfig, ImagePart, Limits,
    MountEntry, MountKind, NetworkPart, PortMapping, RootfsPart, RECORD_VERSION,
};
pub use signal_block::TerminationBlocked;
pub use userns::{IdRange, UserNamespace};
