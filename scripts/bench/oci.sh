#!/usr/bin/env bash
# OCI runtime benchmark: berth-oci against runc and crun, side by side in one run:
#   * `create` + `start` + `delete --force` of the same bundle (busybox `true`, runc's default
#     spec, the same seccomp profile for all three: Docker's default without its cap-gated rules);
#   * `ctr run --rm` of a busybox image through a private containerd, one per runtime
#     (`--runc-binary`).
#
#   scripts/bench/oci.sh [-n RUNS] [-r ROUNDS] [-o FILE] [--keep]
#
#   -n RUNS    timed runs per runtime and round (default: env RUNS or 20)
#   -r ROUNDS  hyperfine rounds, the order rotating (default: env ROUNDS or 3)
#   -o FILE    also write the markdown report to FILE
#   --keep     keep the temp dir (hyperfine JSON, logs)
#
# env: BERTH_BIN  directory holding berth-oci (default: target/release)
#      BENCH_TMP  where the temp dir goes (default /var/tmp)
#      WARMUP     untimed warm-up runs per runtime and round (default 3)
#
# The run happens in a private mount namespace with /sys/fs/cgroup/unified unmounted (crun
# refuses this hybrid host otherwise). A runtime that cannot run the bundle on this host is
# left out with a message (crun refuses
# hybrid cgroup hosts whose v2 hierarchy has controllers); the ratios are then against runc.
#
# Each runtime has a --root of its own under the temp dir; the containers' cgroups are under
# berth-bench-PID (removed at the end), containerd's root, state and sockets under the temp dir
# (its shims' sockets in /run/containerd/s, as containerd 1.6 puts them).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=oci.sh
# shellcheck source=scripts/bench/lib.sh
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-20}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
BERTH_BIN=${BERTH_BIN:-$repo/target/release}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
ARGS=("$@")
parse_options "n r o keep" "$@"
for t in hyperfine jq runc crun containerd ctr busybox; do
    command -v "$t" >/dev/null || die "$t is needed"
done
BERTH_BIN=$(cd "$BERTH_BIN" && pwd)
[ "$(id -u)" = 0 ] || die "run as root (namespaces, cgroups, mounts)"

# crun refuses a hybrid host whose cgroup2 mount has controllers: as start.sh does, the run
# happens in a private mount namespace with /sys/fs/cgroup/unified unmounted, for all three.
if [ "${_BERTH_OCI_NS:-}" != 1 ]; then
    export _BERTH_OCI_NS=1
    exec unshare -m --propagation private "$BASH" "$0" "${ARGS[@]}"
fi
HIDE_NOTE="no /sys/fs/cgroup/unified on this host, nothing hidden"
if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
    umount /sys/fs/cgroup/unified
    HIDE_NOTE="in a private mount namespace with /sys/fs/cgroup/unified (cgroup2) unmounted"
fi
[ -x "$BERTH_BIN/berth-oci" ] || die "$BERTH_BIN/berth-oci: build it first (cargo build --release -p berth-oci)"

tmp=$(mktemp -d "$BENCH_TMP/berth-bench-oci.XXXXXX")
CG=berth-bench-$$
ctrd_pid=""
made_run_dir=0
[ -e /run/containerd ] || made_run_dir=1
cleanup() {
    [ -z "$ctrd_pid" ] || kill "$ctrd_pid" 2>/dev/null || true
    stop_tmp_processes
    # only empty directories, and only if this run made them
    [ "$made_run_dir" = 0 ] || rmdir /run/containerd/s /run/containerd 2>/dev/null || true
    unmount_tmp
    remove_cgroups || true
    [ "$keep" = 1 ] && log "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT

declare -A BIN=([berth-oci]="$BERTH_BIN/berth-oci" [runc]="$(command -v runc)" [crun]="$(command -v crun)")
tools=(berth-oci runc crun)

# The bundle: busybox, runc's default spec (from berth-oci spec) running `true`.
bundle=$tmp/bundle
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc"
cp "$(command -v busybox)" "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/sh"
ln -s busybox "$bundle/rootfs/bin/true"
echo 'root:x:0:0:root:/root:/bin/sh' >"$bundle/rootfs/etc/passwd"
echo 'root:x:0:' >"$bundle/rootfs/etc/group"
"${BIN[berth-oci]}" spec --bundle "$bundle"
# Docker's default profile as a runtime spec one: its unconditional rules (the cap- and
# arch-gated ones left out, which runc and crun cannot read).
jq '{defaultAction, defaultErrnoRet,
     architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
     syscalls: [.syscalls[] | select((.includes // {}) == {} and (.excludes // {}) == {})
                | {names, action} + (if .args then {args} else {} end)
                  + (if .errnoRet then {errnoRet} else {} end)]}' \
    "$repo/lib/seccomp/profiles/docker-default.json" >"$tmp/seccomp.json"
jq --slurpfile sc "$tmp/seccomp.json" --arg cg "/$CG/bench" \
    '.process.terminal = false | .process.args = ["/bin/true"] | .linux.cgroupsPath = $cg
     | .linux.seccomp = $sc[0]' "$bundle/config.json" >"$tmp/config.json"
mv "$tmp/config.json" "$bundle/config.json"

declare -A CMD
usable=()
for t in "${tools[@]}"; do
    r="${BIN[$t]} --root $tmp/root-$t"
    CMD[$t]="sh -c '$r create --bundle $bundle c-$t >/dev/null 2>&1 && $r start c-$t && $r delete --force c-$t'"
    # One check that each works before timing; a runtime that cannot run here (crun refuses
    # hybrid cgroup hosts whose v2 hierarchy has controllers) is left out, and said so.
    if eval "${CMD[$t]}" >"$tmp/check-$t.log" 2>&1; then
        usable+=("$t")
    else
        log "$t cannot run this bundle here, left out: $(head -c 300 "$tmp/check-$t.log")"
        "${BIN[$t]}" --root "$tmp/root-$t" delete --force "c-$t" >/dev/null 2>&1 || true
    fi
done
tools=("${usable[@]}")
has_tool berth-oci || die "berth-oci failed the check: $(cat "$tmp/check-berth-oci.log")"
base=runc
has_tool crun && base=crun
run_rounds
declare -A LIFE
ms() { awk '{ printf "%.1f", $1 }'; }
for t in "${tools[@]}"; do LIFE[$t]=$(times_of "$t" | median | ms); done

# ctr run --rm through a private containerd, a busybox docker-archive made here.
img=$tmp/image
mkdir -p "$img/layer"
tar -C "$bundle/rootfs" -cf "$img/layer.tar" .
diff=$(sha256sum "$img/layer.tar" | cut -d' ' -f1)
jq -n --arg d "sha256:$diff" '{architecture: "amd64", os: "linux",
    config: {Cmd: ["/bin/true"]}, rootfs: {type: "layers", diff_ids: [$d]}}' >"$img/config.json"
cfg=$(sha256sum "$img/config.json" | cut -d' ' -f1)
mkdir -p "$img/archive/$diff"
mv "$img/layer.tar" "$img/archive/$diff/layer.tar"
cp "$img/config.json" "$img/archive/$cfg.json"
jq -n --arg c "$cfg.json" --arg l "$diff/layer.tar" \
    '[{Config: $c, RepoTags: ["berth-bench/busybox:latest"], Layers: [$l]}]' >"$img/archive/manifest.json"
tar -C "$img/archive" -cf "$img/busybox.tar" .
cat >"$tmp/containerd.toml" <<TOML
version = 2
root = "$tmp/containerd/root"
state = "$tmp/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$tmp/containerd.sock"
[ttrpc]
  address = "$tmp/containerd.sock.ttrpc"
[debug]
  address = "$tmp/containerd-debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$tmp/containerd/opt"
TOML
env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=localhost,127.0.0.1 \
    containerd --config "$tmp/containerd.toml" >"$tmp/containerd.log" 2>&1 &
ctrd_pid=$!
CTR="ctr --address $tmp/containerd.sock --namespace bench"
for _ in $(seq 100); do $CTR version >/dev/null 2>&1 && break; sleep 0.1; done
$CTR images import "$img/busybox.tar" >/dev/null
for t in "${tools[@]}"; do
    CMD[$t]="$CTR run --rm --runc-binary ${BIN[$t]} --runc-root $tmp/ctr-root-$t --fifo-dir $tmp/fifo --cgroup /$CG/ctr-$t docker.io/berth-bench/busybox:latest ctr-$t /bin/true"
    eval "${CMD[$t]}" || die "$t: ctr run failed"
done
run_rounds
declare -A CTRRUN
for t in "${tools[@]}"; do CTRRUN[$t]=$(times_of "$t" | median | ms); done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
report=$(
    echo "| runtime | create+start+delete (ms, median) | vs $base | ctr run --rm (ms, median) | vs $base |"
    echo "|---|---|---|---|---|"
    for t in "${tools[@]}"; do
        echo "| $t | ${LIFE[$t]} | $(ratio "${LIFE[$t]}" "${LIFE[$base]}") | ${CTRRUN[$t]} | $(ratio "${CTRRUN[$t]}" "${CTRRUN[$base]}") |"
    done
    echo
    echo "$ROUNDS rounds x $RUNS runs per runtime, order rotating; $(nproc) CPUs; $(uname -r); $HIDE_NOTE."
)
echo "$report"
[ -z "$out_file" ] || echo "$report" >"$out_file"
