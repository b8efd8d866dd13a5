#!/usr/bin/env bash
# Container-start benchmark: `berth-run --rm --network none busybox true` against `crun run` and
# `runc run` of an OCI bundle of the same busybox rootfs and `docker run --rm --network none` of
# the same image, side by side in one run (hyperfine), plus berth's per-stage times (--trace) and
# the seccomp figures (BPF instruction count, getppid cost inside a berth and a docker container).
#
#   scripts/bench/start.sh [-n RUNS] [-r ROUNDS] [-o FILE] [--tools LIST] [--keep]
#
#   -n RUNS       timed runs per tool and round (default: env RUNS or 10)
#   -r ROUNDS     hyperfine rounds, the tool order rotating by one each round (default: env ROUNDS
#                 or 5); each tool gets ROUNDS x RUNS timed runs in all
#   -o FILE       also write the markdown report to FILE
#   --tools LIST  comma-separated subset of: floor,ns-floor,berth,berth-nosec,crun,crun-seccomp,runc,docker
#                 (floor: `sh -c 'exec /bin/true'`, the wrapper every command pays; ns-floor: the
#                 same with `unshare --fork --pid --mount --uts --ipc --net`; berth-nosec: berth
#                 with --security-opt seccomp=unconfined, as the bundle has no seccomp;
#                 crun-seccomp: crun with the seccomp section of the OCI config that this run's
#                 dockerd wrote for a container, i.e. Docker's default profile as runc gets it;
#                 needs docker)
#   --keep        keep the temp dir (hyperfine JSON, traces, logs); dockerd is stopped anyway
#
# env: BERTH_BIN   directory holding berth-run and berth-unpack (default: target/release of this
#                  repository; seccomp-probe is used from there too when it exists)
#      BENCH_TMP   where the temp dir goes (default /var/tmp)
#      WARMUP      untimed warm-up runs per tool and round (default 3)
#      TRACE_RUNS  berth runs with --trace for the per-stage medians (default 30)
#      PPID_CALLS  getppid calls per probe run (default 1000000); PPID_RUNS probe runs per place
#                  (default 5); PPID_CALLS=0 skips the getppid comparison
#      PROBE       the static berth-probe binary (default: newest target/*/build/berth-tests-*/out/berth-probe)
#
# Protocol (see docs/benchmarks.md, "Container start"):
#   * the script re-executes itself in a private mount namespace (`unshare -m --propagation
#     private`) and unmounts /sys/fs/cgroup/unified there: crun refuses this host's hybrid cgroup
#     layout, so every tool (and dockerd, started from it) runs in that namespace and sees the
#     same v1-only cgroup tree; nothing of it reaches the host's mount table;
#   * every command runs as `sh -c 'exec TOOL …'`: the sh names each crun/runc container (`b$$`,
#     unique per run) and costs every tool the same (row "sh floor", ~1 ms);
#   * hyperfine -N (no extra shell), WARMUP untimed runs then RUNS timed runs per tool, in ROUNDS
#     rounds whose tool order rotates; the rounds' times are pooled;
#   * docker: a dockerd of its own (own data/exec root, socket, pid file, config, no bridge, no
#     iptables, proxies pointed at a closed port, cgroup parent berth-bench-PID-docker) in a private
#     mount namespace with /run and /sys/fs/cgroup/unified hidden, stopped by its PID at the end.
# Everything is created under one temp dir and the cgroups berth-bench-PID*, all removed at the end.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=start.sh
# shellcheck source=scripts/bench/lib.sh
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)

ARGS=("$@") # for the re-execution in a private mount namespace, below
RUNS=${RUNS:-10}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-3}
TRACE_RUNS=${TRACE_RUNS:-30}
PPID_CALLS=${PPID_CALLS:-1000000}
PPID_RUNS=${PPID_RUNS:-5}
BERTH_BIN=${BERTH_BIN:-$repo/target/release}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
ALL_TOOLS=(floor ns-floor berth berth-nosec crun crun-seccomp runc docker)
tools=("${ALL_TOOLS[@]}")

parse_options "n r o tools keep" "$@"
for v in TRACE_RUNS PPID_RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "start.sh: $v wants a positive number" >&2; exit 2; }
done
[[ $PPID_CALLS =~ ^[0-9]+$ ]] || { echo "start.sh: PPID_CALLS wants a number" >&2; exit 2; }
if has_tool crun-seccomp && ! has_tool docker; then
    echo "start.sh: crun-seccomp takes its seccomp section from docker: add docker to --tools" >&2; exit 2
fi
[ "$(id -u)" = 0 ] || { echo "start.sh: run as root (namespaces, cgroups, mounts)" >&2; exit 1; }

# ---- a private mount namespace with the cgroup v2 mount of this hybrid host hidden -------------
if [ "${_BERTH_START_NS:-}" != 1 ]; then
    export _BERTH_START_NS=1
    exec unshare -m --propagation private "$BASH" "$0" "${ARGS[@]}"
fi
if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
    umount /sys/fs/cgroup/unified
    HIDE_NOTE="in it /sys/fs/cgroup/unified (cgroup2) unmounted"
else
    HIDE_NOTE="no /sys/fs/cgroup/unified on this host, nothing hidden"
fi


# ---- dependencies -----------------------------------------------------------------------------
missing=()
if { has_tool crun || has_tool crun-seccomp; } && ! command -v crun >/dev/null; then missing+=(crun); fi
if has_tool runc && ! command -v runc >/dev/null; then missing+=(runc); fi
# `runc spec` writes the bundles' config for both OCI runtimes
if { has_tool crun || has_tool runc; } && ! command -v runc >/dev/null; then missing+=(runc); fi
command -v hyperfine >/dev/null || missing+=(hyperfine)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt-get)"
    apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; } || die "cannot install ${missing[*]}"
fi
need=(hyperfine jq awk tar unshare sha256sum)
has_tool docker && need+=(docker /usr/sbin/dockerd)
for t in "${need[@]}"; do command -v "$t" >/dev/null || die "$t is required"; done
for b in berth-run berth-unpack; do
    [ -x "$BERTH_BIN/$b" ] || die "$BERTH_BIN/$b not found: cargo build --release -p berth-run -p berth-unpack, or set BERTH_BIN"
done
[ -x /bin/busybox ] || command -v busybox >/dev/null || die "busybox-static is required (apt-get install -y busybox-static)"

# ---- temp dir, cgroup names and cleanup -------------------------------------------------------
tmp=$(mktemp -d "$BENCH_TMP/berth-start.XXXXXX")
[[ $tmp != *[[:space:]]* ]] || die "BENCH_TMP must not contain spaces"
CG=berth-bench-$$           # berth's --cgroup-parent
CG_OCI=$CG-oci              # crun's and runc's cgroupsPath parent
CG_DOCKER=$CG-docker        # dockerd's --cgroup-parent
dockerd_pid=""
dockerd_exec=$tmp/docker/exec
DSOCK=$tmp/docker/d.sock
DOCKER=(docker --config "$tmp/docker/cli" -H "unix://$DSOCK")

cleanup() {
    local rc=$? id
    trap - EXIT INT TERM
    stop_dockerd
    # OCI containers left behind by an interrupted run (normally `run` deletes its container)
    for rt in crun runc; do
        [ -d "$tmp/$rt-state" ] && command -v $rt >/dev/null || continue
        for id in $($rt --root "$tmp/$rt-state" list -q 2>/dev/null); do
            log "deleting leftover $rt container $id"
            $rt --root "$tmp/$rt-state" delete -f "$id" >/dev/null 2>&1 || true
        done
    done
    # any process still running from our temp dir was started by this script: stop it by PID
    stop_tmp_processes
    remove_cgroups || true
    # mounts under our temp dir in this namespace (every tool ran in a private one: normally none)
    unmount_tmp
    if [ "$keep" = 1 ]; then
        log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# every run uses the same binaries, even if target/ is rebuilt meanwhile
mkdir -p "$tmp/bin"
cp "$BERTH_BIN/berth-run" "$BERTH_BIN/berth-unpack" "$tmp/bin/"
BERTH_ID="sha256 $(sha256sum "$BERTH_BIN/berth-run" | cut -c1-12), built $(date -u -r "$BERTH_BIN/berth-run" '+%Y-%m-%d %H:%M UTC')"
SECCOMP_PROBE=""
if [ -x "$BERTH_BIN/seccomp-probe" ]; then cp "$BERTH_BIN/seccomp-probe" "$tmp/bin/"; SECCOMP_PROBE=$tmp/bin/seccomp-probe; fi
if [ -z "${PROBE:-}" ]; then
    PROBE=$(ls -t "$repo"/target/*/build/berth-tests-*/out/berth-probe 2>/dev/null | head -1 || true)
fi
if [ -n "$PROBE" ] && [ -x "$PROBE" ]; then cp "$PROBE" "$tmp/bin/berth-probe"; PROBE=$tmp/bin/berth-probe; else PROBE=""; fi
BR=$tmp/bin/berth-run

# the wrapper every command gets (the same for all); its sh names the OCI containers
wrap() { printf "sh -c 'exec %s'" "$*"; }

# ---- the image, the bundle, the store -----------------------------------------------------------
log "making the busybox image (scripts/make-busybox-image.sh)"
BERTH_BIN=$tmp/bin "$repo/scripts/make-busybox-image.sh" --root "$tmp/store" --out "$tmp/rootfs.tar" >"$tmp/mkimage.log" 2>&1 ||
    { cat "$tmp/mkimage.log" >&2; die "make-busybox-image.sh failed"; }
mkdir -p "$tmp/run" "$tmp/oci/rootfs"
tar -xf "$tmp/rootfs.tar" -C "$tmp/oci/rootfs"
layer=$(ls -d "$tmp"/store/layers/*/diff | head -1)
if ! diff -r --no-dereference "$layer" "$tmp/oci/rootfs" >/dev/null 2>&1; then
    die "the bundle's rootfs differs from berth's layer $layer"
fi
ROOTFS_ENTRIES=$(find "$tmp/oci/rootfs" -mindepth 1 | wc -l)
ROOTFS_MB=$(du -sm "$tmp/oci/rootfs" | cut -f1)
if has_tool crun || has_tool crun-seccomp || has_tool runc; then
    (cd "$tmp/oci" && runc spec)
    for rt in crun runc; do
        mkdir -p "$tmp/oci/bundle-$rt" "$tmp/$rt-state"
        jq --arg root "$tmp/oci/rootfs" --arg cg "/$CG_OCI/$rt" \
            '.root.path = $root | .root.readonly = false | .process.args = ["true"] | .process.terminal = false
             | .linux.cgroupsPath = $cg' "$tmp/oci/config.json" >"$tmp/oci/bundle-$rt/config.json"
    done
    OCI_NS=$(jq -r '[.linux.namespaces[].type] | join(", ")' "$tmp/oci/config.json")
fi

# ---- dockerd ------------------------------------------------------------------------------------
if has_tool docker; then
    log "starting dockerd (own data root, socket, cgroup parent $CG_DOCKER)"
    start_dockerd --bridge=none --iptables=false --ip-masq=false
    "$tmp/bin/berth-unpack" --root "$tmp/store" --run-dir "$tmp/run" save -o "$tmp/busybox.docker.tar" busybox:latest
    "${DOCKER[@]}" load -q -i "$tmp/busybox.docker.tar" >/dev/null
    # the loaded image must be the same single layer (diff ID = sha256 of the rootfs tarball)
    [ "$("${DOCKER[@]}" image inspect busybox:latest --format '{{json .RootFS.Layers}}' | jq -r '.[]')" = \
      "sha256:$(sha256sum "$tmp/rootfs.tar" | cut -d' ' -f1)" ] || die "docker loaded a different layer"
    DOCKER_SECCOMP=$("${DOCKER[@]}" info --format '{{json .SecurityOptions}}')
    if has_tool crun-seccomp; then
        # Docker's default profile exactly as dockerd hands it to runc: from the OCI config of a
        # container of this dockerd (containerd keeps it in the task's bundle under our exec root)
        cid=$("${DOCKER[@]}" run -d --network none busybox sleep 60)
        cfg=$(find "$tmp/docker/exec" -path "*/$cid/config.json" | head -1)
        [ -n "$cfg" ] || die "no OCI config.json for docker container $cid under $tmp/docker/exec"
        jq '.linux.seccomp' "$cfg" >"$tmp/oci/docker-seccomp.json"
        "${DOCKER[@]}" rm -f "$cid" >/dev/null
        mkdir -p "$tmp/oci/bundle-crun-seccomp"
        jq --slurpfile sec "$tmp/oci/docker-seccomp.json" '.linux.seccomp = $sec[0] | .linux.cgroupsPath = .linux.cgroupsPath + "-seccomp"' \
            "$tmp/oci/bundle-crun/config.json" >"$tmp/oci/bundle-crun-seccomp/config.json"
        DSEC_NOTE="$(jq -r '"defaultAction \(.defaultAction), \(.syscalls | length) rules naming \([.syscalls[].names[]] | length) syscalls, architectures \(.architectures | join(" "))"' "$tmp/oci/docker-seccomp.json")"
    fi
fi

# ---- the commands -------------------------------------------------------------------------------
BERTH_ARGS="--root $tmp/store --run-dir $tmp/run --cgroup-parent $CG --rm --network none"
declare -A CMD LABEL
CMD[floor]=$(wrap /bin/true)
CMD[ns-floor]=$(wrap unshare --fork --pid --mount --uts --ipc --net /bin/true)
CMD[berth]=$(wrap "$BR $BERTH_ARGS busybox true")
CMD[berth-nosec]=$(wrap "$BR $BERTH_ARGS --security-opt seccomp=unconfined busybox true")
CMD[crun]=$(wrap "crun --root $tmp/crun-state run --bundle $tmp/oci/bundle-crun b\$\$")
CMD[crun-seccomp]=$(wrap "crun --root $tmp/crun-state run --bundle $tmp/oci/bundle-crun-seccomp s\$\$")
CMD[runc]=$(wrap "runc --root $tmp/runc-state run --bundle $tmp/oci/bundle-runc b\$\$")
CMD[docker]=$(wrap "docker --config $tmp/docker/cli -H unix://$DSOCK run --rm --network none busybox true")
LABEL[floor]='sh floor: `sh -c "exec /bin/true"`'
LABEL[ns-floor]='namespace floor: `… unshare --fork --pid --mount --uts --ipc --net /bin/true`'
LABEL[berth]='**`berth-run --rm --network none busybox true`**'
LABEL[berth-nosec]='`berth-run … --security-opt seccomp=unconfined` (info)'
LABEL[crun]='`crun run` of the bundle'
LABEL[crun-seccomp]='`crun run` of the bundle with Docker'"'"'s seccomp profile (info)'
LABEL[runc]='`runc run` of the bundle'
LABEL[docker]='`docker run --rm --network none busybox true`'

# each command once, with its output, so that a failure shows before any timing
for t in "${tools[@]}"; do
    if ! eval "${CMD[$t]}" >"$tmp/check.$t.log" 2>&1; then
        cat "$tmp/check.$t.log" >&2
        die "$t failed: ${CMD[$t]}"
    fi
done
# ---- the timed rounds ---------------------------------------------------------------------------
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
run_rounds

# ---- berth's stages (--trace) -------------------------------------------------------------------
TRACE_CMD=$(wrap "$BR $BERTH_ARGS --trace busybox true")
TRACE_NOSEC_CMD=$(wrap "$BR $BERTH_ARGS --trace --security-opt seccomp=unconfined busybox true")
if has_tool berth; then
    log "berth --trace x $TRACE_RUNS (and as many with seccomp=unconfined, alternating)"
    : >"$tmp/trace.txt"
    : >"$tmp/trace-nosec.txt"
    for ((i = 0; i < TRACE_RUNS; i++)); do
        eval "$TRACE_CMD" 2>>"$tmp/trace.txt" >/dev/null || die "berth-run --trace failed"
        eval "$TRACE_NOSEC_CMD" 2>>"$tmp/trace-nosec.txt" >/dev/null || die "berth-run --trace failed"
    done
fi

# ---- seccomp: getppid inside the containers -------------------------------------------------------
: >"$tmp/ppid.tsv"
if [ -n "$PROBE" ] && [ "$PPID_CALLS" -gt 0 ] && has_tool berth; then
    log "getppid-loop $PPID_CALLS x $PPID_RUNS in each place"
    declare -A PCMD
    PCMD[host]="$PROBE getppid-loop $PPID_CALLS"
    PCMD[berth]=$(wrap "$BR $BERTH_ARGS -v $PROBE:/probe:ro busybox /probe getppid-loop $PPID_CALLS")
    PCMD[berth-nosec]=$(wrap "$BR $BERTH_ARGS --security-opt seccomp=unconfined -v $PROBE:/probe:ro busybox /probe getppid-loop $PPID_CALLS")
    places=(host berth berth-nosec)
    if has_tool docker; then
        PCMD[docker]=$(wrap "docker --config $tmp/docker/cli -H unix://$DSOCK run --rm --network none -v $PROBE:/probe:ro busybox /probe getppid-loop $PPID_CALLS")
        places+=(docker)
    fi
    for ((i = 0; i < PPID_RUNS; i++)); do
        for p in "${places[@]}"; do
            out=$(eval "${PCMD[$p]}" 2>"$tmp/ppid.err") || { cat "$tmp/ppid.err" >&2; die "getppid-loop failed in $p"; }
            ns=$(printf '%s\n' "$out" | jq -r 'select(.ns_per_call != null) | .ns_per_call' | tail -1)
            [ -n "$ns" ] || die "no ns_per_call from getppid-loop in $p: $out"
            printf '%s\t%s\n' "$p" "$ns" >>"$tmp/ppid.tsv"
        done
    done
fi
# what the runs left behind (all with --rm): mounts under the temp dir, container directories
LEFT_MOUNTS=$(awk -v p="$tmp/" 'index($5, p) == 1' /proc/self/mountinfo | wc -l)
LEFT_DIRS=$(find "$tmp/run" "$tmp/store" -mindepth 2 -maxdepth 2 -path '*/containers/*' 2>/dev/null | wc -l)
SECCOMP_JSON=""
[ -z "$SECCOMP_PROBE" ] || SECCOMP_JSON=$("$SECCOMP_PROBE" --dump 2>/dev/null || true)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the report -----------------------------------------------------------------------------------
# all timed runs of a tool, in ms, one a line
stats() { # median mean sd min max n
    sort -g | awk '{ v[NR] = $1; s += $1; q += $1 * $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; mean = s / NR
              sd = NR > 1 ? sqrt((q - NR * mean * mean) / (NR - 1)) : 0
              printf "%.2f %.2f %.2f %.2f %.2f %d\n", m, mean, sd, v[1], v[NR], NR }'
}
declare -A MED MEAN SD MIN MAX N
for t in "${tools[@]}"; do
    read -r MED[$t] MEAN[$t] SD[$t] MIN[$t] MAX[$t] N[$t] < <(times_of "$t" | stats)
done
# ratio PEER: peer's median / berth's median, and in brackets the per-round ratios
ratio() {
    local p=$1 per="" r a b
    for ((r = 0; r < ROUNDS; r++)); do
        a=$(round_median "$r" "$p"); b=$(round_median "$r" berth)
        per+="$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }') "
    done
    awk -v p="${MED[$p]}" -v b="${MED[berth]}" -v per="${per% }" 'BEGIN { gsub(/ /, ", ", per); printf "%.2fx (rounds: %s)", p / b, per }'
}
ratio_num() { awk -v p="${MED[$1]}" -v b="${MED[berth]}" 'BEGIN { print p / b }'; }
net() { if has_tool floor; then awk -v a="${MED[$1]}" -v f="${MED[floor]}" 'BEGIN { printf "%.2f", a - f }'; else echo "–"; fi; }
net_ratio() { if has_tool floor; then awk -v p="$(net "$1")" -v b="$(net berth)" 'BEGIN { printf "%.2fx", p / b }'; else echo "–"; fi; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t) ? "yes" : "**no**" }'; }

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
report=$tmp/report.md
{
    echo "Run of \`scripts/bench/start.sh -n $RUNS -r $ROUNDS\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores ($cpu), $(free -g | awk '/^Mem/ { print $2 }') GB RAM,"
    echo "kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME"); load average $LOAD_START at the start, $LOAD_END at the end."
    echo "berth-run: \`$BERTH_BIN/berth-run\` ($BERTH_ID)."
    vers=("hyperfine $(hyperfine --version | awk '{ print $2 }')")
    has_tool crun && vers+=("crun $(crun --version | awk 'NR == 1 { print $3 }')")
    has_tool runc && vers+=("runc $(runc --version | awk 'NR == 1 { print $3 }')")
    has_tool docker && vers+=("docker CLI $(docker --version | sed 's/^Docker version \([^,]*\).*/\1/') → dockerd $(/usr/sbin/dockerd --version | sed 's/^Docker version \([^,]*\).*/\1/') (security options: $DOCKER_SECCOMP)")
    echo "Peers: $(IFS=';'; echo "${vers[*]}" | sed 's/;/, /g')."
    echo "Image: busybox-static rootfs from \`scripts/make-busybox-image.sh\`, $ROOTFS_ENTRIES entries, $ROOTFS_MB MB, one layer; the OCI bundle's rootfs is \`tar -xf\` of the same tarball (checked identical to berth's layer directory)."
    if has_tool crun || has_tool runc; then
        echo "Bundle: \`runc spec\` (used by both runtimes), root.readonly false, process.args [\"true\"], terminal false, namespaces $OCI_NS, no seccomp, cgroupsPath /$CG_OCI/<runtime>."
        [ -z "${DSEC_NOTE:-}" ] || echo "crun-seccomp: the same bundle plus the seccomp section dockerd wrote for a container in this run ($DSEC_NOTE)."
    fi
    echo "The whole run is in one private mount namespace ($HIDE_NOTE); every command runs as \`sh -c 'exec …'\` under hyperfine -N; $ROUNDS rounds of $WARMUP warm-up + $RUNS timed runs per tool, tool order rotating; times pooled over the rounds."
    echo
    echo "| tool | median ms | mean ± sd ms | min – max ms | runs | median − sh floor |"
    echo "|---|---:|---:|---:|---:|---:|"
    for t in "${tools[@]}"; do
        echo "| ${LABEL[$t]} | ${MED[$t]} | ${MEAN[$t]} ± ${SD[$t]} | ${MIN[$t]} – ${MAX[$t]} | ${N[$t]} | $(net "$t") |"
    done
    if has_tool berth; then
        echo
        echo "Peer's median / berth's median (in brackets: the same per round), and the same with the sh floor taken off both:"
        echo
        echo "| comparison | ratio | less sh floor | target | met |"
        echo "|---|---:|---:|---:|---|"
        if has_tool crun; then echo "| crun / berth | $(ratio crun) | $(net_ratio crun) | ≥ 1x (berth median ≤ crun's) | $(verdict "$(ratio_num crun)" 1) |"; fi
        if has_tool crun-seccomp; then echo "| crun with Docker's seccomp / berth (info: same filter duty) | $(ratio crun-seccomp) | $(net_ratio crun-seccomp) | | |"; fi
        if has_tool crun && has_tool berth-nosec; then echo "| crun / berth seccomp=unconfined (info: neither filters) | $(awk -v a="${MED[crun]}" -v b="${MED[berth-nosec]}" 'BEGIN { printf "%.2fx", a / b }') | $(awk -v a="$(net crun)" -v b="$(net berth-nosec)" 'BEGIN { printf "%.2fx", a / b }') | | |"; fi
        if has_tool runc; then echo "| runc / berth | $(ratio runc) | $(net_ratio runc) | | |"; fi
        if has_tool docker; then echo "| docker / berth | $(ratio docker) | $(net_ratio docker) | ≥ 10x | $(verdict "$(ratio_num docker)" 10) |"; fi
        if has_tool berth-nosec; then echo "| berth (default seccomp) / berth seccomp=unconfined (info) | $(awk -v a="${MED[berth]}" -v b="${MED[berth-nosec]}" 'BEGIN { printf "%.2fx", a / b }') | $(awk -v a="$(net berth)" -v b="$(net berth-nosec)" 'BEGIN { printf "%.2fx", a / b }') | | |"; fi
        echo
        echo "After all runs (every one with --rm): $LEFT_MOUNTS mount(s) left under the temp dir, $LEFT_DIRS container director(y/ies) left in berth's run dir and store."
        echo
        echo "berth's stages, median of $TRACE_RUNS runs with \`--trace\` each way, alternating (ms):"
        echo
        echo "| stage | median ms | min – max ms | seccomp=unconfined: median | min – max |"
        echo "|---|---:|---:|---:|---:|"
        for s in $(awk '{ print $1 }' "$tmp/trace.txt" | awk '!seen[$0]++'); do
            a=$(awk -v s="$s" '$1 == s { print $2 }' "$tmp/trace.txt" | stats)
            b=$(awk -v s="$s" '$1 == s { print $2 }' "$tmp/trace-nosec.txt" | stats)
            awk -v s="$s" -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
                printf "| %s | %.2f | %.2f – %.2f | %.2f | %.2f – %.2f |\n", s, x[1], x[4], x[5], y[1], y[4], y[5] }'
        done
    fi
    if [ -n "$SECCOMP_JSON" ] || [ -s "$tmp/ppid.tsv" ]; then
        echo
        echo "Seccomp:"
        echo
        if [ -n "$SECCOMP_JSON" ]; then
            echo "- berth's default filter (Docker's default profile, Docker's 14 default capabilities): $(jq -r .instructions <<<"$SECCOMP_JSON") BPF instructions (\`seccomp-probe --dump\`; $(jq -r '.skipped | length' <<<"$SECCOMP_JSON") names of the profile that no covered ABI has, skipped: $(jq -r '.skipped | join(", ")' <<<"$SECCOMP_JSON"))."
        else
            echo "- instruction count: not measured (no \`$BERTH_BIN/seccomp-probe\`)."
        fi
        if [ -s "$tmp/ppid.tsv" ]; then
            echo "- \`berth-probe getppid-loop $PPID_CALLS\` (static binary bind-mounted read-only into the container), median ns per call of $PPID_RUNS runs each, alternating:"
            echo
            echo "| where | ns per getppid | min – max |"
            echo "|---|---:|---:|"
            for p in host berth berth-nosec docker; do
                grep -q "^$p	" "$tmp/ppid.tsv" || continue
                awk -F'\t' -v p="$p" '$1 == p { print $2 }' "$tmp/ppid.tsv" | stats |
                    awk -v p="$p" '{ printf "| %s | %.0f | %.0f – %.0f |\n", p, $1, $4, $5 }'
            done | sed -e 's/^| host |/| host, no filter |/' -e 's/^| berth |/| berth container, default filter |/' \
                -e 's/^| berth-nosec |/| berth container, seccomp=unconfined |/' -e 's/^| docker |/| docker container, default profile |/'
        fi
    elif [ -z "$PROBE" ]; then
        echo
        echo "getppid comparison skipped: no berth-probe binary (target/*/build/berth-tests-*/out/berth-probe; build the tests)."
    fi
} >"$report"

cp "$report" "$tmp/report.keep.md"
cat "$report"
if [ -n "$out_file" ]; then cp "$report" "$out_file"; log "report written to $out_file"; fi
