//! cgroup placement, limits, stats, freeze and kill on cgroup v1, v2 and hybrid hosts
