//! the container root filesystem: overlayfs over the layers, volumes, binds, tmpfs; safe path resolution inside a root
