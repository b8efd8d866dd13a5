//! the container process: namespaces, pivot_root, /proc /dev /sys, capabilities, user, exec
