#!/usr/bin/env bash
# Client benchmark, side by side in one run:
#   * `berth ps` against `docker ps`, both against the same berthd with MANY containers running
#     (the clients' own cost: start-up, one request, the table);
#   * `run --rm --network none busybox true`: berth in-process (no daemon) against
#     `podman run --rm` and `docker run --rm` against a private dockerd (Debian's docker.io).
#
#   scripts/bench/client.sh [-n RUNS] [-r ROUNDS] [-o FILE] [--keep]
#
#   -n RUNS    timed runs per tool and round (default: env RUNS or 10)
#   -r ROUNDS  hyperfine rounds, the order rotating (default: env ROUNDS or 3)
#   -o FILE    also write the markdown report to FILE
#   --keep     keep the temp dir (hyperfine JSON, logs); the daemons are stopped anyway
#
# env: BERTH_BIN  directory holding berth, berthd and berth-unpack (default: target/release)
#      BENCH_TMP  where the temp dir goes (default /var/tmp)
#      WARMUP     untimed warm-up runs per tool and round (default 2)
#      MANY       containers running for the ps figure (default 20)
#
# Every store, socket and cgroup parent is the run's own (berth-bench-PID-*), proxies point
# at a closed loopback port, containers get no network. All under one temp dir, removed at
# the end with the cgroups.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=client.sh
# shellcheck source=scripts/bench/lib.sh
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-10}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
MANY=${MANY:-20}
BERTH_BIN=${BERTH_BIN:-$repo/target/release}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
parse_options "n r o keep" "$@"
[ "$(id -u)" = 0 ] || die "run as root"
for t in hyperfine jq docker podman /usr/sbin/dockerd "$BERTH_BIN/berth" "$BERTH_BIN/berthd" "$BERTH_BIN/berth-unpack"; do
    command -v "$t" >/dev/null || die "missing $t"
done

tmp=$(mktemp -d "$BENCH_TMP/berth-client.XXXXXX")
CG=berth-bench-$$
CG_DOCKER=$CG-docker
dockerd_pid="" berthd_pid=""
dockerd_exec=$tmp/docker/exec
DSOCK=$tmp/docker/d.sock
BSOCK=$tmp/berthd/b.sock
export HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=localhost,127.0.0.1
DOCKER=(docker --config "$tmp/docker/cli" -H "unix://$DSOCK")
ON_BERTHD=(docker --config "$tmp/docker/cli" -H "unix://$BSOCK")
BERTH_TO_BERTHD=("$tmp/bin/berth" --config "$tmp/berth-cli" -H "unix://$BSOCK")
BERTH_LOCAL=("$tmp/bin/berth" --config "$tmp/berth-cli" --root "$tmp/local/root" --run-dir "$tmp/local/run" --cgroup-parent "$CG-local")
PODMAN=(podman --root "$tmp/podman/root" --runroot "$tmp/podman/run" --tmpdir "$tmp/podman/tmp"
    --cgroup-manager cgroupfs --events-backend none --storage-driver overlay)

stop_berthd() {
    [ -n "$berthd_pid" ] || return 0
    kill -TERM "$berthd_pid" 2>/dev/null || true
    wait "$berthd_pid" 2>/dev/null || true
    berthd_pid=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    "${ON_BERTHD[@]}" rm -f $("${ON_BERTHD[@]}" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    "${DOCKER[@]}" rm -f $("${DOCKER[@]}" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    "${BERTH_LOCAL[@]}" rm -f $("${BERTH_LOCAL[@]}" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    "${PODMAN[@]}" rm -af >/dev/null 2>&1 || true
    stop_berthd
    stop_dockerd
    stop_tmp_processes
    remove_cgroups || true
    unmount_tmp
    if [ "$keep" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/bin" "$tmp/berthd" "$tmp/docker/cli" "$tmp/berth-cli" "$tmp/local" "$tmp/podman/tmp"
cp "$BERTH_BIN/berth" "$BERTH_BIN/berthd" "$BERTH_BIN/berth-unpack" "$tmp/bin/"
BERTH_ID="sha256 $(sha256sum "$BERTH_BIN/berth" | cut -c1-12), built $(date -u -r "$BERTH_BIN/berth" '+%Y-%m-%d %H:%M UTC')"

log "making the busybox image"
BERTH_BIN=$tmp/bin "$repo/scripts/make-busybox-image.sh" --root "$tmp/berthd/root" >"$tmp/mkimage.log" 2>&1 ||
    { cat "$tmp/mkimage.log" >&2; die "make-busybox-image.sh failed"; }
"$tmp/bin/berth-unpack" --root "$tmp/berthd/root" --run-dir "$tmp/berthd/run" save -o "$tmp/busybox.tar" busybox:latest

log "starting berthd and dockerd; loading busybox everywhere"
"$tmp/bin/berthd" --root "$tmp/berthd/root" --run-dir "$tmp/berthd/run" -H "unix://$BSOCK" \
    --config-file /dev/null --cgroup-parent "$CG" --log-level warn 2>"$tmp/berthd.log" </dev/null &
berthd_pid=$!
for _ in $(seq 100); do "${ON_BERTHD[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${ON_BERTHD[@]}" version >/dev/null || { cat "$tmp/berthd.log" >&2; die "berthd did not answer"; }
start_dockerd --bridge=none --iptables=false
"${DOCKER[@]}" load -q -i "$tmp/busybox.tar" >/dev/null
"${BERTH_LOCAL[@]}" load -q -i "$tmp/busybox.tar" >/dev/null
"${PODMAN[@]}" load -q -i "$tmp/busybox.tar" >/dev/null

# ---- ps against the same berthd ---------------------------------------------------------------
log "starting $MANY containers on berthd"
for _ in $(seq "$MANY"); do "${ON_BERTHD[@]}" run -d --network none busybox sleep 600 >/dev/null; done
tools=(berth docker)
declare -A CMD
CMD[berth]="${BERTH_TO_BERTHD[*]} ps"
CMD[docker]="${ON_BERTHD[*]} ps"
run_rounds
for f in "$tmp"/round*.json; do mv "$f" "$tmp/ps-${f##*/}"; done

# ---- run --rm --------------------------------------------------------------------------------------
# crun (podman's runtime) refuses this host's hybrid cgroup layout while
# /sys/fs/cgroup/unified is mounted: every tool runs in a mount namespace without it, the same
# wrapper for all. podman also needs the limits set here (root lacks CAP_SYS_RESOURCE).
NOUNIFIED="unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec \"\$@\"' sh"
tools=(berth podman docker)
CMD[berth]="$NOUNIFIED ${BERTH_LOCAL[*]} run --rm --network none busybox true"
CMD[podman]="$NOUNIFIED ${PODMAN[*]} run --rm --network none --cgroup-parent /$CG-podman --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 busybox true"
CMD[docker]="$NOUNIFIED ${DOCKER[*]} run --rm --network none busybox true"
run_rounds

# ---- report ----------------------------------------------------------------------------------------
ps_med() { cat "$tmp"/ps-round*.json | jq -r --arg n "$1" '.results[] | select(.command == $n) | .times[] * 1000' | median; }
ms() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
PS_B=$(ps_med berth) PS_D=$(ps_med docker)
RUN_B=$(times_of berth | median) RUN_P=$(times_of podman | median) RUN_D=$(times_of docker | median)
report=$(cat <<REPORT
### Client benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')

berth $BERTH_ID; docker CLI $(docker version --format '{{.Client.Version}}' 2>/dev/null), podman $(podman --version | cut -d' ' -f3), dockerd $(/usr/sbin/dockerd --version | cut -d' ' -f3 | tr -d ,); $ROUNDS rounds x $RUNS runs per tool; load at start $(cut -d' ' -f1-3 /proc/loadavg).

| figure | berth | peer | berth / peer | target |
|---|---:|---:|---:|---|
| \`ps\` against one berthd with $MANY running, median ms (peer: docker CLI) | $(ms "$PS_B") | $(ms "$PS_D") | $(ratio "$PS_B" "$PS_D") | |
| \`run --rm --network none busybox true\`, median ms: berth in-process / podman | $(ms "$RUN_B") | $(ms "$RUN_P") | $(ratio "$RUN_B" "$RUN_P") | ≤ 0.1 |
| the same: berth in-process / docker CLI + dockerd | $(ms "$RUN_B") | $(ms "$RUN_D") | $(ratio "$RUN_B" "$RUN_D") | |
REPORT
)
echo "$report"
[ -z "$out_file" ] || echo "$report" >"$out_file"
