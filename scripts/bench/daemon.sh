#!/usr/bin/env bash
# Daemon benchmark: the same docker CLI against berthd and against a private dockerd (Debian's
# docker.io), side by side in one run:
#   * `docker run --rm --network none busybox true` (hyperfine, rounds alternating the daemons);
#   * 50 x `docker run -d --network none busybox sleep 600`, one after another (wall time);
#   * `docker ps` with 100 containers running (hyperfine);
#   * memory: idle RSS of berthd (no container), and with the 100 containers: berthd plus its
#     monitors against dockerd plus containerd plus its shims (the containers' own processes
#     are left out on both sides).
#
#   scripts/bench/daemon.sh [-n RUNS] [-r ROUNDS] [-o FILE] [--keep]
#
#   -n RUNS    timed runs per daemon and round (default: env RUNS or 10)
#   -r ROUNDS  hyperfine rounds, the order alternating (default: env ROUNDS or 3)
#   -o FILE    also write the markdown report to FILE
#   --keep     keep the temp dir (hyperfine JSON, logs); the daemons are stopped anyway
#
# env: BERTH_BIN  directory holding berthd and berth-unpack (default: target/release)
#      BENCH_TMP  where the temp dir goes (default /var/tmp)
#      WARMUP     untimed warm-up runs per daemon and round (default 2)
#      MANY       containers for the `ps` and memory figures (default 100)
#
# Both daemons get a root, socket and cgroup parent of their own (berth-bench-PID-*), proxies at
# a closed loopback port, no network for the containers (dockerd: --bridge=none
# --iptables=false). Everything is under one temp dir, removed at the end with the cgroups.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=daemon.sh
# shellcheck source=scripts/bench/lib.sh
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-10}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
MANY=${MANY:-100}
BERTH_BIN=${BERTH_BIN:-$repo/target/release}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
parse_options "n r o keep" "$@"
[ "$(id -u)" = 0 ] || die "run as root"
for t in hyperfine jq curl docker /usr/sbin/dockerd "$BERTH_BIN/berthd" "$BERTH_BIN/berth-unpack"; do
    command -v "$t" >/dev/null || die "missing $t"
done

tmp=$(mktemp -d "$BENCH_TMP/berth-daemon.XXXXXX")
CG=berth-bench-$$
CG_DOCKER=$CG-docker
dockerd_pid="" berthd_pid=""
dockerd_exec=$tmp/docker/exec
DSOCK=$tmp/docker/d.sock
BSOCK=$tmp/berth/b.sock
DOCKER=(docker --config "$tmp/docker/cli" -H "unix://$DSOCK")
BERTH=(docker --config "$tmp/docker/cli" -H "unix://$BSOCK")

stop_berthd() {
    [ -n "$berthd_pid" ] || return 0
    kill -TERM "$berthd_pid" 2>/dev/null || true
    wait "$berthd_pid" 2>/dev/null || true
    berthd_pid=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # containers first, while their daemons still answer
    "${BERTH[@]}" rm -f $("${BERTH[@]}" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    "${DOCKER[@]}" rm -f $("${DOCKER[@]}" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
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

mkdir -p "$tmp/bin" "$tmp/berth" "$tmp/docker/cli"
cp "$BERTH_BIN/berthd" "$BERTH_BIN/berth-unpack" "$tmp/bin/"
[ -x "$BERTH_BIN/berth-run" ] && cp "$BERTH_BIN/berth-run" "$tmp/bin/"
BERTH_ID="sha256 $(sha256sum "$BERTH_BIN/berthd" | cut -c1-12), built $(date -u -r "$BERTH_BIN/berthd" '+%Y-%m-%d %H:%M UTC')"

log "making the busybox image"
BERTH_BIN=$tmp/bin "$repo/scripts/make-busybox-image.sh" --root "$tmp/berth/root" >"$tmp/mkimage.log" 2>&1 ||
    { cat "$tmp/mkimage.log" >&2; die "make-busybox-image.sh failed"; }
"$tmp/bin/berth-unpack" --root "$tmp/berth/root" --run-dir "$tmp/berth/run" save -o "$tmp/busybox.tar" busybox:latest

log "starting berthd and dockerd"
HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=localhost,127.0.0.1 \
    "$tmp/bin/berthd" --root "$tmp/berth/root" --run-dir "$tmp/berth/run" -H "unix://$BSOCK" \
    --config-file /dev/null --cgroup-parent "$CG" --log-level warn 2>"$tmp/berthd.log" </dev/null &
berthd_pid=$!
for _ in $(seq 100); do "${BERTH[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${BERTH[@]}" version >/dev/null || { cat "$tmp/berthd.log" >&2; die "berthd did not answer"; }
start_dockerd --bridge=none --iptables=false
"${DOCKER[@]}" load -q -i "$tmp/busybox.tar" >/dev/null

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# The RSS (kB) of every process whose command name matches $1 (an ERE), summed; with $2,
# only those whose command line holds $2.
rss_of_comm() {
    local p sum=0 c
    for p in /proc/[0-9]*; do
        c=$(cat "$p/comm" 2>/dev/null) || continue
        [[ $c =~ $1 ]] || continue
        if [ -n "${2:-}" ]; then { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF "$2" || continue; fi
        sum=$((sum + $(rss_kb "${p#/proc/}")))
    done
    echo "$sum"
}
IDLE_BERTHD=$(rss_kb "$berthd_pid")

# ---- run --rm ------------------------------------------------------------------------------------
tools=(berthd dockerd)
declare -A CMD
CMD[berthd]="${BERTH[*]} run --rm --network none busybox true"
CMD[dockerd]="${DOCKER[*]} run --rm --network none busybox true"
run_rounds

# ---- 50 x run -d ---------------------------------------------------------------------------------
run_d() { # CLI... : 50 detached containers one after another; the wall time in ms
    local start end i
    start=$(date +%s%N)
    for i in $(seq 50); do "$@" run -d --network none busybox sleep 600 >/dev/null; done
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}
log "50 x run -d on each"
D50_BERTH=$(run_d "${BERTH[@]}")
D50_DOCKER=$(run_d "${DOCKER[@]}")

# ---- ps with MANY running --------------------------------------------------------------------------
log "topping up to $MANY running containers on each"
for cli in BERTH DOCKER; do
    declare -n c=$cli
    n=$("${c[@]}" ps -q | wc -l)
    for _ in $(seq $((MANY - n))); do "${c[@]}" run -d --network none busybox sleep 600 >/dev/null; done
    unset -n c
done
sleep 2
MON_BERTH=$(rss_of_comm '^berth-monitor' "$tmp/berth/run")
RSS_BERTHD=$(rss_kb "$berthd_pid")
RSS_DOCKERD=$(rss_kb "$dockerd_pid")
RSS_CONTAINERD=$(rss_of_comm '^containerd$')
RSS_SHIMS=$(rss_of_comm '^containerd-shim')
CMD[berthd]="${BERTH[*]} ps"
CMD[dockerd]="${DOCKER[*]} ps"
for f in "$tmp"/round*.json; do mv "$f" "$tmp/run-${f##*/}"; done
run_rounds
# the daemon's part alone: the same request without the CLI's own start-up
for f in "$tmp"/round*.json; do mv "$f" "$tmp/ps-${f##*/}"; done
CMD[berthd]="curl -sf -o /dev/null --unix-socket $BSOCK http://d/containers/json"
CMD[dockerd]="curl -sf -o /dev/null --unix-socket $DSOCK http://d/containers/json"
run_rounds

# ---- report ----------------------------------------------------------------------------------------
run_med() { cat "$tmp"/run-round*.json | jq -r --arg n "$1" '.results[] | select(.command == $n) | .times[] * 1000' | median; }
ps_med() { cat "$tmp"/ps-round*.json | jq -r --arg n "$1" '.results[] | select(.command == $n) | .times[] * 1000' | median; }
api_med() { times_of "$1" | median; }
ms() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
RUN_B=$(run_med berthd) RUN_D=$(run_med dockerd)
PS_B=$(ps_med berthd) PS_D=$(ps_med dockerd)
API_B=$(api_med berthd) API_D=$(api_med dockerd)
TOTAL_B=$((RSS_BERTHD + MON_BERTH))
TOTAL_D=$((RSS_DOCKERD + RSS_CONTAINERD + RSS_SHIMS))
report=$(cat <<REPORT
### Daemon benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')

berthd $BERTH_ID against dockerd $(/usr/sbin/dockerd --version | cut -d' ' -f3 | tr -d ,), the same docker CLI
($(docker version --format '{{.Client.Version}}' 2>/dev/null)); $ROUNDS rounds x $RUNS runs per daemon; load at start $(cut -d' ' -f1-3 /proc/loadavg).

| figure | berthd | dockerd | berthd / dockerd | target |
|---|---:|---:|---:|---|
| \`docker run --rm --network none busybox true\`, median ms | $(ms "$RUN_B") | $(ms "$RUN_D") | $(ratio "$RUN_B" "$RUN_D") | ≤ 0.15 |
| 50 x \`docker run -d\`, one after another, ms | $D50_BERTH | $D50_DOCKER | $(ratio "$D50_BERTH" "$D50_DOCKER") | ≤ 0.1 |
| \`docker ps\` with $MANY running, median ms | $(ms "$PS_B") | $(ms "$PS_D") | $(ratio "$PS_B" "$PS_D") | ≤ 0.2 |
| the same list by curl (\`GET /containers/json\`, no CLI), median ms | $(ms "$API_B") | $(ms "$API_D") | $(ratio "$API_B" "$API_D") | |
| idle RSS of the daemon, MB | $(ratio "$IDLE_BERTHD" 1024) | | | ≤ 12 |
| RSS with $MANY running, MB: berthd + monitors / dockerd + containerd + shims | $(ratio "$TOTAL_B" 1024) ($(ratio "$RSS_BERTHD" 1024) + $(ratio "$MON_BERTH" 1024)) | $(ratio "$TOTAL_D" 1024) ($(ratio "$RSS_DOCKERD" 1024) + $(ratio "$RSS_CONTAINERD" 1024) + $(ratio "$RSS_SHIMS" 1024)) | $(ratio "$TOTAL_B" "$TOTAL_D") | ≤ 0.2 |
REPORT
)
echo "$report"
[ -z "$out_file" ] || echo "$report" >"$out_file"
