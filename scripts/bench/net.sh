#!/usr/bin/env bash
# Container-networking benchmark: berth's network setup and teardown per container (the `net` and
# `net-down` stages of `berth-run --trace`), and whole runs of `berth-run --rm busybox true` on the
# default bridge side by side with `docker run --rm busybox true` (default bridge) and
# `podman run --rm busybox true` (netavark), each also with `--network none` and with a published
# port, in one run (hyperfine, rounds with rotating order).
#
#   scripts/bench/net.sh [-n RUNS] [-r ROUNDS] [-o FILE] [--tools LIST] [--host-netns] [--keep]
#
#   -n RUNS       timed runs per tool and round (default: env RUNS or 10)
#   -r ROUNDS     hyperfine rounds, the tool order rotating by one each round (default: env ROUNDS
#                 or 5); each tool gets ROUNDS x RUNS timed runs in all
#   -o FILE       also write the markdown report to FILE
#   --tools LIST  comma-separated subset of: berth,berth-none,berth-p,docker,docker-none,docker-p,
#                 podman,podman-none,podman-p (default: all). TOOL: default bridge network;
#                 TOOL-none: --network none; TOOL-p: bridge plus -p 127.0.0.1:PORT:80
#   --host-netns  run everything in the host's network namespace (default: in a network namespace
#                 of the script's own, see below); refuses a peer whose names are taken there
#   --keep        keep the temp dir (hyperfine JSON, traces, logs); daemons are stopped anyway
#
# env: BERTH_BIN      directory holding berth-run, berth-unpack and berth-net (default:
#                     target/release of this repository)
#      BENCH_TMP      where the temp dir goes (default /var/tmp)
#      WARMUP         untimed warm-up runs per tool and round, and berth --trace warm-up runs (3)
#      TRACE_RUNS     berth runs with --trace per network mode, modes alternating (default 30)
#      FIRST_RUNS     berth runs with --trace on a fresh network state, `berth-net reset` before
#                     each: the "first run on a host" that makes the bridge and table (default 5)
#      BERTH_SUBNET   berth's default network (default 10.214.0.0/24), bridge bb<pid>, nftables
#                     table berth_bench_<pid>
#      DOCKER_BIP     the dockerd's --bip (default 10.215.0.1/24; its bridge is docker0)
#      PODMAN_SUBNET  podman's default network (default 10.88.0.0/16, podman's own; bridge podman0)
#
# Protocol (see docs/benchmarks.md, "Container networking"):
#   * the script re-executes itself in a private mount namespace and, unless --host-netns, a new
#     network namespace (`unshare -m -n`, lo brought up): every bridge, veth, nftables table and
#     iptables rule that berth, dockerd and netavark make lives and dies there, so nothing can
#     collide with or be left in the host's network; /sys/fs/cgroup/unified is unmounted (crun,
#     podman's runtime, refuses the hybrid layout) and tmpfs hide /run, /var/lib/containers and
#     /var/cache/containers (podman's state, netns files and caches stay in the namespace);
#   * docker: a dockerd of its own (data/exec root, socket, pid file and config under the temp
#     dir, cgroup parent berth-bench-PID-docker, bridge docker0 with --bip DOCKER_BIP, iptables
#     and userland proxy as by default, proxies pointed at a closed port), image by `docker load`;
#   * podman: its own --root/--runroot, containers.conf (netavark, cgroupfs, network config dir,
#     tmp dirs under the temp dir), cgroup parent berth-bench-PID-podman, image by `podman load`,
#     --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 (root lacks CAP_SYS_RESOURCE here);
#   * hyperfine -N, WARMUP untimed runs then RUNS timed runs per tool, ROUNDS rounds whose tool
#     order rotates; the rounds' times are pooled;
#   * before the rounds: FIRST_RUNS traced berth runs each on a fresh network state; after them:
#     WARMUP + TRACE_RUNS traced berth runs per mode (bridge, none, -p), alternating.
# Everything is under one temp dir and the cgroups berth-bench-PID*, all removed at the end (also
# on failure); the host's links, nftables tables, iptables rules and forwarding sysctls are
# compared before and after and the report says whether they changed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=net.sh
# shellcheck source=scripts/bench/lib.sh
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)

ARGS=("$@") # for the re-execution in private namespaces, below
RUNS=${RUNS:-10}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-3}
TRACE_RUNS=${TRACE_RUNS:-30}
FIRST_RUNS=${FIRST_RUNS:-5}
BERTH_BIN=${BERTH_BIN:-$repo/target/release}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
BERTH_SUBNET=${BERTH_SUBNET:-10.214.0.0/24}
DOCKER_BIP=${DOCKER_BIP:-10.215.0.1/24}
PODMAN_SUBNET=${PODMAN_SUBNET:-10.88.0.0/16}
host_netns=0
ALL_TOOLS=(berth berth-none berth-p docker docker-none docker-p podman podman-none podman-p)
tools=("${ALL_TOOLS[@]}")

extra_option() { case $1 in --host-netns) host_netns=1; taken=1 ;; esac; }
parse_options "n r o tools keep" "$@"
for v in TRACE_RUNS FIRST_RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "net.sh: $v wants a positive number" >&2; exit 2; }
done
for v in BERTH_SUBNET DOCKER_BIP PODMAN_SUBNET; do
    [[ ${!v} =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]] || { echo "net.sh: $v wants an IPv4 CIDR" >&2; exit 2; }
done
[[ " ${tools[*]} " == *" berth "* ]] || { echo "net.sh: the berth row is required (the ratios are to it)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "net.sh: run as root (namespaces, bridges, cgroups, mounts)" >&2; exit 1; }

# ---- private namespaces ---------------------------------------------------------------------------
# fd 7 keeps the network namespace the script was started in (the host's): the before/after
# comparison looks at it through `nsenter --net`.
if [ "${_BERTH_NET_NS:-}" != 1 ]; then
    export _BERTH_NET_NS=1
    exec 7</proc/self/ns/net
    if [ "$host_netns" = 1 ]; then
        exec unshare -m --propagation private "$BASH" "$0" "${ARGS[@]}"
    fi
    exec unshare -m -n --propagation private "$BASH" "$0" "${ARGS[@]}"
fi
HOSTNET=/proc/$$/fd/7
[ -e "$HOSTNET" ] || { echo "net.sh: lost the host's network namespace (fd 7)" >&2; exit 1; }
hostnet() { nsenter --net="$HOSTNET" "$@"; }


drop_tools() { # drop_tools PREFIX REASON: take every PREFIX* row out of the run
    local t kept=()
    for t in "${tools[@]}"; do [[ $t == "$1" || $t == "$1"-* ]] || kept+=("$t"); done
    tools=("${kept[@]}")
    SKIPPED+=("$1: $2")
    log "skipping $1: $2"
}
SKIPPED=()

# ---- dependencies -----------------------------------------------------------------------------
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v nft >/dev/null || missing+=(nftables)
command -v ip >/dev/null || missing+=(iproute2)
command -v jq >/dev/null || missing+=(jq)
{ has_tool docker || has_tool docker-none || has_tool docker-p; } && ! command -v iptables >/dev/null && missing+=(iptables)
{ has_tool podman || has_tool podman-none || has_tool podman-p; } && ! command -v podman >/dev/null && missing+=(podman netavark)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt-get)"
    apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; } || die "cannot install ${missing[*]}"
fi
for t in hyperfine jq awk tar nsenter nft ip sha256sum; do command -v "$t" >/dev/null || die "$t is required"; done
for b in berth-run berth-unpack berth-net; do
    [ -x "$BERTH_BIN/$b" ] || die "$BERTH_BIN/$b not found: cargo build --release -p berth-run -p berth-unpack -p berth-net-cli, or set BERTH_BIN"
done
[ -x /bin/busybox ] || command -v busybox >/dev/null || die "busybox-static is required (apt-get install -y busybox-static)"
if { has_tool docker || has_tool docker-none || has_tool docker-p; } && ! { command -v docker >/dev/null && [ -x /usr/sbin/dockerd ]; }; then
    drop_tools docker "no docker CLI or /usr/sbin/dockerd (Debian docker.io)"
fi
if { has_tool podman || has_tool podman-none || has_tool podman-p; } && ! command -v podman >/dev/null; then
    drop_tools podman "podman is not installed"
fi

# ---- the namespace's mounts: cgroup2 hidden, podman's fixed paths on tmpfs -----------------------------
if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
    umount /sys/fs/cgroup/unified
    HIDE_NOTE="/sys/fs/cgroup/unified (cgroup2) unmounted"
else
    HIDE_NOTE="no /sys/fs/cgroup/unified on this host"
fi
CREATED_DIRS=() # host directories made only to mount a tmpfs on: removed at the end if still empty
for d in /run /var/lib/containers /var/cache/containers; do
    if [ ! -d "$d" ]; then mkdir -p "$d"; CREATED_DIRS+=("$d"); fi
    mount -t tmpfs -o mode=0755,size=256m none "$d"
done
HIDE_NOTE="$HIDE_NOTE; tmpfs on /run, /var/lib/containers, /var/cache/containers"
if [ "$host_netns" = 1 ]; then
    NETNS_NOTE="the host's network namespace (--host-netns)"
else
    ip link set lo up
    NETNS_NOTE="a new network namespace of the script's own (\`unshare -n\`, lo up, net.ipv4.ip_forward $(cat /proc/sys/net/ipv4/ip_forward) as inherited)"
fi

# ---- names, temp dir, cleanup -------------------------------------------------------------------
tmp=$(mktemp -d "$BENCH_TMP/berth-net.XXXXXX")
[[ $tmp != *[[:space:]]* ]] || die "BENCH_TMP must not contain spaces"
CG=berth-bench-$$
CG_DOCKER=$CG-docker
CG_PODMAN=$CG-podman
export BERTH_BRIDGE=bb$$ BERTH_NFT_TABLE=berth_bench_$$ BERTH_DEFAULT_SUBNET=$BERTH_SUBNET
DOCKER_BRIDGE=docker0
PODMAN_BRIDGE=podman0
dockerd_pid=""
dockerd_exec=$tmp/docker/exec
DSOCK=$tmp/docker/d.sock
DOCKER=(docker --config "$tmp/docker/cli" -H "unix://$DSOCK")
PODMAN=(podman --root "$tmp/podman/root" --runroot "$tmp/podman/runroot" --storage-driver overlay)
export CONTAINERS_CONF=$tmp/podman/containers.conf XDG_CONFIG_HOME=$tmp/podman/config
BERTH_NET=("$tmp/bin/berth-net" --root "$tmp/store" --run-dir "$tmp/run")
PODMAN_USED=0
DOCKER_CHAINS_OURS=0
PODMAN_CHAINS_OURS=0
SELF_NETNS=$(readlink /proc/$$/ns/net)

# the host's network state, read through fd 7 (the same namespace as ours with --host-netns)
host_state() {
    echo "## links"; hostnet ip -br link | awk '{ print $1 }' | sed 's/@.*//' | sort
    echo "## nft tables"; hostnet nft list tables | sort
    echo "## iptables"; hostnet iptables -S 2>/dev/null
    echo "## iptables -t nat"; hostnet iptables -t nat -S 2>/dev/null
    echo "## iptables -t mangle"; hostnet iptables -t mangle -S 2>/dev/null
    echo "## ip6tables"; hostnet ip6tables -S 2>/dev/null
    echo "## ip6tables -t nat"; hostnet ip6tables -t nat -S 2>/dev/null
    echo "## sysctl"
    local s
    for s in net/ipv4/ip_forward net/ipv4/conf/all/forwarding net/bridge/bridge-nf-call-iptables; do
        echo "$s = $(hostnet cat "/proc/sys/$s" 2>/dev/null || echo -)"
    done
}

# the routes and addresses of our namespace (the host's with --host-netns) overlapping CIDR
ip2int() { local IFS=.; read -r a b c d <<<"$1"; echo $(((a << 24) + (b << 16) + (c << 8) + d)); }
overlaps() { # CIDR CIDR
    local a=${1%/*} al=${1#*/} b=${2%/*} bl=${2#*/} l
    l=$((al < bl ? al : bl))
    [ "$l" -gt 0 ] || return 0
    [ $(($(ip2int "$a") >> (32 - l))) = $(($(ip2int "$b") >> (32 - l))) ]
}
subnet_users() {
    local c
    { ip -4 -o route show table main | awk '$1 != "default" { print $1 }'; ip -4 -o addr show | awk '{ print $4 }'; } |
        while read -r c; do
            [[ $c == */* ]] || c=$c/32
            if overlaps "$1" "$c"; then echo "$c"; fi
        done | sort -u | tr '\n' ' '
}
link_exists() { ip link show "$1" >/dev/null 2>&1; }
chains_with() { # TABLE PREFIX: the iptables chains (of our namespace) whose name starts with PREFIX
    iptables -t "$1" -S 2>/dev/null | awk -v p="$2" '$1 == "-N" && index($2, p) == 1 { print $2 }'
}

# Removes, in our namespace, the iptables chains named PREFIX* and every rule that jumps to them
# or names LINK (only called for chains this run made: none existed before it).
purge_iptables() { # PREFIX LINK
    local t rule c
    for t in filter nat; do
        iptables -t "$t" -S 2>/dev/null | grep -E -- "^-A [A-Z]+ .*(-j $1|[io] $2( |\$))" | while read -r rule; do
            eval "iptables -t $t ${rule/#-A/-D}" 2>/dev/null || log "could not delete ($t) $rule"
        done
        for c in $(chains_with "$t" "$1"); do iptables -t "$t" -F "$c" 2>/dev/null || true; done
        for c in $(chains_with "$t" "$1"); do iptables -t "$t" -X "$c" 2>/dev/null || log "could not delete chain ($t) $c"; done
    done
}

# Undoes what the engines made, in order; safe to call twice (the report calls it, then the trap).
TEARDOWN_LOG=()
teardown() {
    stop_dockerd
    if [ "$PODMAN_USED" = 1 ]; then
        PODMAN_USED=0
        "${PODMAN[@]}" system reset -f >"$tmp/podman-reset.log" 2>&1 || log "podman system reset failed (see $tmp/podman-reset.log)"
    fi
    if [ -x "$tmp/bin/berth-net" ] && [ -d "$tmp/store" ]; then
        "${BERTH_NET[@]}" reset >"$tmp/berth-net-reset.log" 2>&1 || log "berth-net reset failed (see $tmp/berth-net-reset.log)"
    fi
    # what the tools should have removed themselves; all of it made by this run
    if link_exists "$BERTH_BRIDGE"; then ip link del "$BERTH_BRIDGE"; TEARDOWN_LOG+=("deleted link $BERTH_BRIDGE left by berth-net reset"); fi
    if nft list table ip "$BERTH_NFT_TABLE" >/dev/null 2>&1; then nft delete table ip "$BERTH_NFT_TABLE"; TEARDOWN_LOG+=("deleted nftables table $BERTH_NFT_TABLE left by berth-net reset"); fi
    if [ "$DOCKER_CHAINS_OURS" = 1 ]; then
        DOCKER_CHAINS_OURS=0
        if link_exists "$DOCKER_BRIDGE"; then ip link del "$DOCKER_BRIDGE"; TEARDOWN_LOG+=("deleted $DOCKER_BRIDGE, made by this run's dockerd (dockerd leaves its bridge)"); fi
        if [ -n "$(chains_with filter DOCKER)$(chains_with nat DOCKER)" ]; then
            purge_iptables DOCKER "$DOCKER_BRIDGE"
            TEARDOWN_LOG+=("deleted the DOCKER* iptables chains and FORWARD/POSTROUTING rules of this run's dockerd (dockerd leaves them)")
        fi
    fi
    if [ "$PODMAN_CHAINS_OURS" = 1 ]; then
        PODMAN_CHAINS_OURS=0
        if link_exists "$PODMAN_BRIDGE"; then ip link del "$PODMAN_BRIDGE"; TEARDOWN_LOG+=("deleted $PODMAN_BRIDGE, made by this run's podman"); fi
        if [ -n "$(chains_with filter NETAVARK)$(chains_with nat NETAVARK)" ]; then
            purge_iptables NETAVARK "$PODMAN_BRIDGE"
            TEARDOWN_LOG+=("deleted the NETAVARK* iptables chains of this run's netavark (netavark leaves them)")
        fi
    fi
    # iptables-nft tables that did not exist before the run and hold nothing now: made by
    # dockerd's and netavark's iptables calls in the host's namespace
    local t
    if [ "$host_netns" = 1 ] && [ -f "$tmp/host-before.txt" ]; then
        for t in filter nat mangle; do
            ! grep -qx "table ip $t" "$tmp/host-before.txt" || continue
            nft list table ip "$t" >/dev/null 2>&1 || continue
            if ! nft list table ip "$t" | grep -qvE '^[[:space:]]*(table |chain |type .*policy accept;$|}|$)'; then
                nft delete table ip "$t"
                TEARDOWN_LOG+=("deleted the empty iptables-nft table ip $t, made by this run's engines")
            fi
        done
    fi
}

cleanup() {
    local rc=$? p d
    trap - EXIT INT TERM
    teardown || true
    # processes left by the run: in our own network namespace (not --host-netns) or running from
    # our temp dir; all started by this script
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" != $$ ] || continue
        if { [ "$host_netns" = 0 ] && [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$SELF_NETNS" ]; } ||
            tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF "$tmp/"; then
            log "stopping leftover process $p: $(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-100)"
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    sleep 0.2
    remove_cgroups || true
    unmount_tmp
    if [ "$keep" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
    for d in /var/cache/containers /var/lib/containers /run; do umount "$d" 2>/dev/null || umount -l "$d" 2>/dev/null || true; done
    for d in "${CREATED_DIRS[@]}"; do rmdir "$d" 2>/dev/null || log "left $d (made for a mount point, not empty)"; done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

host_state >"$tmp/host-before.txt"
IPT_FORWARD_BEFORE=$(hostnet iptables -S FORWARD 2>/dev/null | head -1 || echo "?")

# ---- the names must be free (always so in a new namespace) ------------------------------------------
[ -z "$(subnet_users "$BERTH_SUBNET")" ] || die "BERTH_SUBNET $BERTH_SUBNET overlaps $(subnet_users "$BERTH_SUBNET")"
! link_exists "$BERTH_BRIDGE" || die "a link $BERTH_BRIDGE exists"
if has_tool docker || has_tool docker-none || has_tool docker-p; then
    if link_exists "$DOCKER_BRIDGE"; then
        drop_tools docker "a $DOCKER_BRIDGE exists in this network namespace (another engine's): not shared"
    elif [ -n "$(chains_with filter DOCKER)$(chains_with nat DOCKER)" ]; then
        drop_tools docker "DOCKER* iptables chains exist (another dockerd's): not shared"
    elif [ -n "$(subnet_users "$DOCKER_BIP")" ]; then
        drop_tools docker "DOCKER_BIP $DOCKER_BIP overlaps $(subnet_users "$DOCKER_BIP")"
    fi
fi
if has_tool podman || has_tool podman-none || has_tool podman-p; then
    if link_exists "$PODMAN_BRIDGE"; then
        drop_tools podman "a $PODMAN_BRIDGE exists in this network namespace (another engine's): not shared"
    elif [ -n "$(chains_with filter NETAVARK)$(chains_with nat NETAVARK)" ]; then
        drop_tools podman "NETAVARK* iptables chains exist (another podman's): not shared"
    elif [ -n "$(subnet_users "$PODMAN_SUBNET")" ]; then
        drop_tools podman "PODMAN_SUBNET $PODMAN_SUBNET overlaps $(subnet_users "$PODMAN_SUBNET")"
    fi
fi
[ ${#tools[@]} -gt 0 ] || die "nothing left to run"

# a free loopback port per engine for the -p rows
port_free() { [ -z "$(ss -Hltun "( sport = :$1 )" 2>/dev/null)" ]; }
port=18080
for e in BERTH DOCKER PODMAN; do
    while ! port_free "$port"; do port=$((port + 1)); done
    printf -v "PORT_$e" %s "$port"
    port=$((port + 1))
done

# every run uses the same binaries, even if target/ is rebuilt meanwhile
mkdir -p "$tmp/bin" "$tmp/run"
cp "$BERTH_BIN/berth-run" "$BERTH_BIN/berth-unpack" "$BERTH_BIN/berth-net" "$tmp/bin/"
BERTH_ID="sha256 $(sha256sum "$BERTH_BIN/berth-run" | cut -c1-12), built $(date -u -r "$BERTH_BIN/berth-run" '+%Y-%m-%d %H:%M UTC')"
if git -C "$repo" rev-parse --verify -q HEAD >/dev/null 2>&1; then # the tree the default BERTH_BIN is built from
    BERTH_ID+="; the repository is at $(TZ=UTC git -C "$repo" log -1 --format='%h (%cd)' --date=format-local:'%H:%M UTC')"
    dirty=$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null | awk '{ print $2 }' | cut -d/ -f1-2 | sort -u | tr '\n' ' ')
    [ -z "$dirty" ] || BERTH_ID+=" with uncommitted changes in ${dirty% }"
    if [ "$(stat -c %Y "$BERTH_BIN/berth-run")" -lt "$(git -C "$repo" log -1 --format=%ct)" ]; then
        BERTH_ID+="; the binary is older than that commit"
    fi
fi
BR=$tmp/bin/berth-run
BARGS=(--root "$tmp/store" --run-dir "$tmp/run" --cgroup-parent "$CG" --rm)

# ---- the image ----------------------------------------------------------------------------------------
log "making the busybox image (scripts/make-busybox-image.sh)"
BERTH_BIN=$tmp/bin "$repo/scripts/make-busybox-image.sh" --root "$tmp/store" --out "$tmp/rootfs.tar" >"$tmp/mkimage.log" 2>&1 ||
    { cat "$tmp/mkimage.log" >&2; die "make-busybox-image.sh failed"; }
"$tmp/bin/berth-unpack" --root "$tmp/store" --run-dir "$tmp/run" save -o "$tmp/busybox.docker.tar" busybox:latest

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
DIRTY_START=$(awk '/^Dirty:/ { d = $2 } /^Writeback:/ { w = $2 } END { printf "%d MB dirty, %d MB under writeback", d / 1024, w / 1024 }' /proc/meminfo)

# ---- berth: the first run on a host (a fresh network state before each) ---------------------------------
trace_run() { # FILE ARGS...: one traced berth run, its stage lines appended to FILE
    local f=$1
    shift
    "$BR" "${BARGS[@]}" --trace "$@" busybox true 2>"$tmp/trace.one" >/dev/null || { cat "$tmp/trace.one" >&2; die "berth-run --trace $* failed"; }
    grep -E '^[a-z-]+ +[0-9.]+ ms$' "$tmp/trace.one" >>"$f" || die "no --trace lines from berth-run: $(head -3 "$tmp/trace.one")"
}
log "berth: $FIRST_RUNS first runs, \`berth-net reset\` before each"
: >"$tmp/trace-first.txt"
for ((i = 0; i < FIRST_RUNS; i++)); do
    "${BERTH_NET[@]}" reset >/dev/null 2>&1 || die "berth-net reset failed"
    ! link_exists "$BERTH_BRIDGE" || die "berth-net reset left $BERTH_BRIDGE"
    trace_run "$tmp/trace-first.txt"
done

# ---- dockerd ------------------------------------------------------------------------------------
if has_tool docker || has_tool docker-none || has_tool docker-p; then
    log "starting dockerd (own data root, socket, cgroup parent $CG_DOCKER, --bip $DOCKER_BIP)"
    start_dockerd --bip "$DOCKER_BIP"
    DOCKER_CHAINS_OURS=1
    "${DOCKER[@]}" load -q -i "$tmp/busybox.docker.tar" >/dev/null
    [ "$("${DOCKER[@]}" image inspect busybox:latest --format '{{json .RootFS.Layers}}' | jq -r '.[]')" = \
      "sha256:$(sha256sum "$tmp/rootfs.tar" | cut -d' ' -f1)" ] || die "docker loaded a different layer"
    DOCKER_NOTE="docker CLI $(docker --version | sed 's/^Docker version \([^,]*\).*/\1/') → dockerd $(/usr/sbin/dockerd --version | sed 's/^Docker version \([^,]*\).*/\1/') ($("${DOCKER[@]}" info --format 'runtime {{.DefaultRuntime}}, cgroup driver {{.CgroupDriver}}'), bridge $DOCKER_BRIDGE --bip $DOCKER_BIP, iptables on, userland proxy on)"
fi

# ---- podman -------------------------------------------------------------------------------------
if has_tool podman || has_tool podman-none || has_tool podman-p; then
    log "setting up podman (own root, runroot, containers.conf, network config dir)"
    p=$tmp/podman
    mkdir -p "$p/root" "$p/runroot" "$p/tmp" "$p/net" "$p/vol" "$p/config"
    cat >"$CONTAINERS_CONF" <<EOF
[network]
network_backend = "netavark"
network_config_dir = "$p/net"
default_subnet = "$PODMAN_SUBNET"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$p/tmp"
volume_path = "$p/vol"
image_copy_tmp_dir = "$p/tmp"
EOF
    PODMAN_USED=1
    PODMAN_CHAINS_OURS=1
    TMPDIR=$p/tmp "${PODMAN[@]}" load -q -i "$tmp/busybox.docker.tar" >"$tmp/podman-load.log" 2>&1 ||
        { cat "$tmp/podman-load.log" >&2; die "podman load failed"; }
    backend=$("${PODMAN[@]}" info --format '{{.Host.NetworkBackend}}')
    if [ "$backend" != netavark ]; then
        drop_tools podman "its network backend is $backend, not netavark (apt-get install netavark)"
    else
        PODMAN_NOTE="podman $(podman --version | awk '{ print $3 }') (network backend netavark $(/usr/lib/podman/netavark --version 2>/dev/null | awk '{ print $2 }'), runtime $("${PODMAN[@]}" info --format '{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Version}}' | head -1 | awk '{ print $1, $4 }' | tr -d ,), cgroupfs, default network podman: $PODMAN_BRIDGE $PODMAN_SUBNET)"
    fi
fi

# ---- the commands -------------------------------------------------------------------------------
PODMAN_RUN="${PODMAN[*]} run --rm --pull never --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --cgroup-parent /$CG_PODMAN"
declare -A CMD LABEL
CMD[berth]="$BR ${BARGS[*]} busybox true"
CMD[berth-none]="$BR ${BARGS[*]} --network none busybox true"
CMD[berth-p]="$BR ${BARGS[*]} -p 127.0.0.1:$PORT_BERTH:80 busybox true"
CMD[docker]="${DOCKER[*]} run --rm busybox true"
CMD[docker-none]="${DOCKER[*]} run --rm --network none busybox true"
CMD[docker-p]="${DOCKER[*]} run --rm -p 127.0.0.1:$PORT_DOCKER:80 busybox true"
CMD[podman]="$PODMAN_RUN busybox true"
CMD[podman-none]="$PODMAN_RUN --network none busybox true"
CMD[podman-p]="$PODMAN_RUN -p 127.0.0.1:$PORT_PODMAN:80 busybox true"
LABEL[berth]="**\`berth-run --rm busybox true\`** (bridge)"
LABEL[berth-none]="\`berth-run --rm --network none busybox true\`"
LABEL[berth-p]="\`berth-run --rm -p 127.0.0.1:$PORT_BERTH:80 busybox true\`"
LABEL[docker]="\`docker run --rm busybox true\` (bridge)"
LABEL[docker-none]="\`docker run --rm --network none busybox true\`"
LABEL[docker-p]="\`docker run --rm -p 127.0.0.1:$PORT_DOCKER:80 busybox true\`"
LABEL[podman]="\`podman run --rm busybox true\` (bridge, netavark)"
LABEL[podman-none]="\`podman run --rm --network none busybox true\`"
LABEL[podman-p]="\`podman run --rm -p 127.0.0.1:$PORT_PODMAN:80 busybox true\`"
declare -A SUBNET=([berth]=$BERTH_SUBNET [docker]=$DOCKER_BIP [podman]=$PODMAN_SUBNET)

# each command once with `ip -4 -o addr` instead of `true`: eth0 in the engine's subnet on the
# bridge, no eth0 with none; then once as timed, so that a failure shows before any timing
CHECKS=()
for t in "${tools[@]}"; do
    c=${CMD[$t]% true}
    out=$($c ip -4 -o addr 2>"$tmp/check.$t.log") || { cat "$tmp/check.$t.log" >&2; die "$t failed: $c ip -4 -o addr"; }
    addr=$(awk '$2 == "eth0" { print $4 }' <<<"$out")
    if [[ $t == *-none ]]; then
        [ -z "$addr" ] || die "$t: the container has eth0 $addr"
        CHECKS+=("$t: only lo")
    else
        if [ -z "$addr" ] || ! overlaps "$addr" "${SUBNET[${t%-p}]}"; then die "$t: eth0 '$addr' is not in ${SUBNET[${t%-p}]}: $out"; fi
        CHECKS+=("$t: eth0 $addr")
    fi
    ${CMD[$t]} >"$tmp/check.$t.log" 2>&1 || { cat "$tmp/check.$t.log" >&2; die "$t failed: ${CMD[$t]}"; }
done

# ---- the timed rounds ---------------------------------------------------------------------------
run_rounds

# ---- berth's stages (--trace), warm ---------------------------------------------------------------
MODES=(bridge none)
has_tool berth-p && MODES+=(p)
declare -A MODE_ARGS=([bridge]="" [none]="--network none" [p]="-p 127.0.0.1:$PORT_BERTH:80")
log "berth --trace: $WARMUP warm-up, then $TRACE_RUNS per mode (${MODES[*]}), alternating"
for m in "${MODES[@]}"; do : >"$tmp/trace-$m.txt"; done
for ((i = 0; i < WARMUP; i++)); do for m in "${MODES[@]}"; do
    # shellcheck disable=SC2086 # MODE_ARGS are words
    trace_run "$tmp/trace-warmup.txt" ${MODE_ARGS[$m]}
done; done
for ((i = 0; i < TRACE_RUNS; i++)); do for m in "${MODES[@]}"; do
    # shellcheck disable=SC2086
    trace_run "$tmp/trace-$m.txt" ${MODE_ARGS[$m]}
done; done

# what the --rm runs left behind: mounts, container dirs, netns files, endpoints, veths on the bridge
LEFT_MOUNTS=$(awk -v p="$tmp/" 'index($5, p) == 1' /proc/self/mountinfo | wc -l)
LEFT_DIRS=$(find "$tmp/run" "$tmp/store" -mindepth 2 -maxdepth 2 -path '*/containers/*' 2>/dev/null | wc -l)
LEFT_NETNS=$(find "$tmp/run/netns" -mindepth 1 2>/dev/null | wc -l)
LEFT_ENDPOINTS=$(find "$tmp/store/networks" -path '*/endpoints/*' -type f 2>/dev/null | wc -l)
LEFT_VETH=$(ip -br link show master "$BERTH_BRIDGE" 2>/dev/null | wc -l)
LEFT_PORTS=$(nft list table ip "$BERTH_NFT_TABLE" 2>/dev/null | grep -c "$PORT_BERTH" || true)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
NS_FORWARD=$(iptables -S FORWARD 2>/dev/null | head -1 || echo "?")

# ---- teardown and the host's state after -------------------------------------------------------------
log "teardown: dockerd, podman, berth-net reset"
teardown
sleep 0.2
host_state >"$tmp/host-after.txt"
IPT_FORWARD_AFTER=$(hostnet iptables -S FORWARD 2>/dev/null | head -1 || echo "?")
HOST_DIFF=$(diff "$tmp/host-before.txt" "$tmp/host-after.txt" | grep -E '^[<>]' || true)
HOST_MOUNTS=$(grep -cF "$tmp/" /proc/1/mountinfo || true)
left_procs=()
for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" != $$ ] || continue
    if { [ "$host_netns" = 0 ] && [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$SELF_NETNS" ]; } ||
        tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF "$tmp/"; then
        left_procs+=("$p:$(cat "/proc/$p/comm" 2>/dev/null)")
    fi
done

# ---- the report -----------------------------------------------------------------------------------
stats() { # median mean sd min max n p90 (p90: nearest rank)
    sort -g | awk '{ v[NR] = $1; s += $1; q += $1 * $1 }
        END { if (NR == 0) { print "nan nan nan nan nan 0 nan"; exit }
              m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; mean = s / NR
              sd = NR > 1 ? sqrt((q - NR * mean * mean) / (NR - 1)) : 0
              i = int(0.9 * NR); if (i < 0.9 * NR) i++
              printf "%.2f %.2f %.2f %.2f %.2f %d %.2f\n", m, mean, sd, v[1], v[NR], NR, v[i] }'
}
stage() { awk -v s="$2" '$1 == s { print $2 }' "$1" | stats; } # FILE STAGE
declare -A MED MEAN SD MIN MAX N P90
for t in "${tools[@]}"; do
    read -r "MED[$t]" "MEAN[$t]" "SD[$t]" "MIN[$t]" "MAX[$t]" "N[$t]" "P90[$t]" < <(times_of "$t" | stats)
done
per_round() { # A B: A's median / B's median in each round
    local r a b out=""
    for ((r = 0; r < ROUNDS; r++)); do
        a=$(round_median "$r" "$1"); b=$(round_median "$r" "$2")
        out+="$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }'), "
    done
    echo "${out%, }"
}
per_round_diff() { # A B: A's median - B's median in each round (ms)
    local r a b out=""
    for ((r = 0; r < ROUNDS; r++)); do
        a=$(round_median "$r" "$1"); b=$(round_median "$r" "$2")
        out+="$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", a - b }'), "
    done
    echo "${out%, }"
}
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
join() { local sep=$1 out="" x; shift; for x in "$@"; do out+="$x$sep"; done; echo "${out%"$sep"}"; }
below() { awk -v v="$1" -v t="$2" 'BEGIN { print (v < t) ? "yes" : "**no**" }'; }

read -r F_NET_MED _ _ F_NET_MIN F_NET_MAX F_N _ < <(stage "$tmp/trace-first.txt" net)
read -r F_TOT_MED _ _ F_TOT_MIN F_TOT_MAX _ _ < <(stage "$tmp/trace-first.txt" total)
read -r F_DOWN_MED _ _ F_DOWN_MIN F_DOWN_MAX _ _ < <(stage "$tmp/trace-first.txt" net-down)
read -r NET_MED _ _ NET_MIN NET_MAX NET_N NET_P90 < <(stage "$tmp/trace-bridge.txt" net)
read -r DOWN_MED _ _ DOWN_MIN DOWN_MAX _ DOWN_P90 < <(stage "$tmp/trace-bridge.txt" net-down)

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
report=$tmp/report.md
{
    args_note="-n $RUNS -r $ROUNDS"
    [ "$host_netns" = 0 ] || args_note+=" --host-netns"
    [ "${#ALL_TOOLS[@]}" = "${#tools[@]}" ] || args_note+=" --tools $(IFS=,; echo "${tools[*]}")"
    echo "Run of \`scripts/bench/net.sh $args_note\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores ($cpu), $(free -g | awk '/^Mem/ { print $2 }') GB RAM,"
    echo "kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME"); load average $LOAD_START at the start, $LOAD_END at the end; page cache at the start: $DIRTY_START."
    echo "berth-run: \`$BERTH_BIN/berth-run\` ($BERTH_ID); default network: bridge $BERTH_BRIDGE, $BERTH_SUBNET, nftables table $BERTH_NFT_TABLE."
    vers=("hyperfine $(hyperfine --version | awk '{ print $2 }')")
    [ -z "${DOCKER_NOTE:-}" ] || vers+=("$DOCKER_NOTE")
    [ -z "${PODMAN_NOTE:-}" ] || vers+=("$PODMAN_NOTE")
    echo "Peers: $(join '; ' "${vers[@]}")."
    for s in "${SKIPPED[@]}"; do echo "**Not run:** $s."; done
    echo "Namespaces: one private mount namespace for the whole run ($HIDE_NOTE) and $NETNS_NOTE."
    echo "Image: busybox-static rootfs from \`scripts/make-busybox-image.sh\`, one layer, the same for all (docker and podman: \`berth-unpack save\` → \`load\`)."
    echo "Checked before timing (\`ip -4 -o addr\` in a container of each row): $(join '; ' "${CHECKS[@]}")."
    echo
    echo "#### berth's network setup and teardown per container (\`--trace\`)"
    echo
    echo "First run on a host (\`berth-net reset\` before each of $F_N runs: the run defines the default network, makes the bridge, sets its sysctls and loads the nftables table): \`net\` median $F_NET_MED ms ($F_NET_MIN – $F_NET_MAX), \`net-down\` $F_DOWN_MED ms ($F_DOWN_MIN – $F_DOWN_MAX), whole run (\`total\`) $F_TOT_MED ms ($F_TOT_MIN – $F_TOT_MAX)."
    echo
    echo "Then $WARMUP warm-up runs per mode and $TRACE_RUNS traced runs per mode, the modes alternating (ms):"
    echo
    hdr="| stage | bridge: median | p90 | min – max | none: median | p90 |"
    sep="|---|---:|---:|---:|---:|---:|"
    if [[ " ${MODES[*]} " == *" p "* ]]; then hdr+=" -p: median | p90 |"; sep+="---:|---:|"; fi
    echo "$hdr"; echo "$sep"
    awk '!seen[$1]++ { print $1 }' "$tmp/trace-bridge.txt" | while read -r s; do
        line="| $s"
        read -r m _ _ lo hi _ p90 < <(stage "$tmp/trace-bridge.txt" "$s"); line+=" | $m | $p90 | $lo – $hi"
        read -r m _ _ _ _ _ p90 < <(stage "$tmp/trace-none.txt" "$s"); line+=" | $m | $p90"
        if [[ " ${MODES[*]} " == *" p "* ]]; then read -r m _ _ _ _ _ p90 < <(stage "$tmp/trace-p.txt" "$s"); line+=" | $m | $p90"; fi
        [ "$s" != net ] && [ "$s" != net-down ] && [ "$s" != total ] || line=$(sed -E 's/^\| ([a-z-]+)/| **\1**/' <<<"$line")
        echo "$line |"
    done
    echo
    echo "#### Whole runs, side by side"
    echo
    echo "hyperfine -N; $ROUNDS rounds of $WARMUP warm-up + $RUNS timed runs per row, row order rotating; times pooled over the rounds."
    echo
    echo "| row | median ms | p90 ms | mean ± sd ms | min – max ms | runs |"
    echo "|---|---:|---:|---:|---:|---:|"
    for t in "${tools[@]}"; do
        echo "| ${LABEL[$t]} | ${MED[$t]} | ${P90[$t]} | ${MEAN[$t]} ± ${SD[$t]} | ${MIN[$t]} – ${MAX[$t]} | ${N[$t]} |"
    done
    echo
    echo "What the network costs each engine (difference of the medians; in brackets the same per round, ms):"
    echo
    echo "| engine | bridge − none | -p − bridge |"
    echo "|---|---:|---:|"
    for e in berth docker podman; do
        has_tool "$e" || continue
        a="–"; b="–"
        if has_tool "$e-none"; then a="$(calc "${MED[$e]} - ${MED[$e-none]}" 1) ($(per_round_diff "$e" "$e-none"))"; fi
        if has_tool "$e-p"; then b="$(calc "${MED[$e-p]} - ${MED[$e]}" 1) ($(per_round_diff "$e-p" "$e"))"; fi
        echo "| $e | $a | $b |"
    done
    echo
    echo "| target | figure | met |"
    echo "|---|---:|---|"
    echo "| berth network setup < 5 ms per container | \`net\` median $NET_MED ms, p90 $NET_P90 ms (min – max $NET_MIN – $NET_MAX, $NET_N runs) | $(below "$NET_P90" 5) |"
    echo "| (info) berth network teardown | \`net-down\` median $DOWN_MED ms, p90 $DOWN_P90 ms (min – max $DOWN_MIN – $DOWN_MAX) | |"
    if has_tool docker; then
        r=$(calc "${MED[berth]} / ${MED[docker]}" 3)
        echo "| berth's whole run < 0.1x docker's, both on the bridge | berth / docker $r (rounds: $(per_round berth docker)) | $(below "$r" 0.1) |"
        if has_tool berth-none && has_tool docker-none; then
            echo "| (info) the same with --network none | $(calc "${MED[berth-none]} / ${MED[docker-none]}" 3) | |"
        fi
        if has_tool berth-p && has_tool docker-p; then
            echo "| (info) the same with -p | $(calc "${MED[berth-p]} / ${MED[docker-p]}" 3) | |"
        fi
    fi
    if ! has_tool docker; then
        echo "| berth's whole run < 0.1x docker's, both on the bridge | not measured (no docker row) | |"
    fi
    if has_tool podman; then
        echo "| (info) berth / podman, both on the bridge | $(calc "${MED[berth]} / ${MED[podman]}" 3) (rounds: $(per_round berth podman)) | |"
    fi
    echo
    echo "After all runs (every one with --rm): $LEFT_MOUNTS mount(s) under the temp dir, $LEFT_DIRS container director(y/ies), $LEFT_NETNS netns file(s) in berth's run dir, $LEFT_ENDPOINTS endpoint(s) in its store, $LEFT_VETH link(s) on $BERTH_BRIDGE, $LEFT_PORTS published-port element(s) in $BERTH_NFT_TABLE."
    echo "iptables FORWARD policy: in the host's namespace \`$IPT_FORWARD_BEFORE\` before, \`$IPT_FORWARD_AFTER\` after; in the run's namespace after the runs \`$NS_FORWARD\`."
    if [ ${#TEARDOWN_LOG[@]} -gt 0 ]; then
        echo "Teardown: $(join '; ' "${TEARDOWN_LOG[@]}")."
    fi
    if [ -z "$HOST_DIFF" ]; then
        echo "The host's links, nftables tables, iptables rules (filter, nat, mangle; ip6tables filter, nat) and forwarding sysctls after the teardown: the same as before."
    else
        echo "The host's network state changed during the run (other users of the host included):"
        echo
        while read -r l; do echo "    $l"; done <<<"$HOST_DIFF"
    fi
    echo "Mounts of the temp dir in the host's mount table: $HOST_MOUNTS; processes of the run left after the teardown: ${#left_procs[@]}${left_procs[*]:+ (${left_procs[*]})}."
} >"$report"

cp "$report" "$tmp/report.keep.md"
cat "$report"
if [ -n "$out_file" ]; then cp "$report" "$out_file"; log "report written to $out_file"; fi
