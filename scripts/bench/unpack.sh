#!/usr/bin/env bash
# Image-unpack benchmark: berth-unpack against tar (the floor), umoci, skopeo and docker load,
# side by side in one run, on an image built from this machine's /usr (scripts/bench/mkimage.sh).
#
#   scripts/bench/unpack.sh [-n RUNS] [-o FILE] [--image DIR] [--tools LIST] [--keep]
#
#   -n RUNS       timed rounds (default: env RUNS or 5); one untimed warm-up round runs first
#   -o FILE       also write the markdown report to FILE
#   --image DIR   reuse (or build once and keep) the benchmark image in DIR instead of building it
#                 in the temp dir
#   --tools LIST  comma-separated subset of: tar,targz,berth,berth-oci,umoci,skopeo,docker
#   --keep        keep the temp dir (outputs of every run) for inspection; dockerd is stopped anyway
#
# env: BERTH_BIN  directory holding berth-unpack (default: target/release of this repository)
#      BENCH_TMP  where the temp dir goes (default /var/tmp; must be a disk, not tmpfs)
#      WARMUP     untimed warm-up rounds (default 1); the first one is also checked for correctness
#      VERIFY     1 (default): compare berth's and umoci's output with tar's, entry by entry
#
# Protocol (see docs/benchmarks.md, "Image unpack"):
#   * every run writes into a new directory / store / docker data root; nothing is deleted until all
#     timing is done (deleting makes ext4 without a journal slow to allocate inodes for minutes);
#   * the tools alternate within each round, and the order rotates from round to round;
#   * `sync` (untimed) before each run, so no run pays for the write-back of the previous one;
#   * inputs are in the page cache (every tool reads the same files in the warm-up round);
#   * docker: for each run a new dockerd (own --data-root/--exec-root/socket/pid file, no bridge, no
#     iptables, proxies pointed at a closed port, in a private mount namespace) is started and
#     waited for untimed, only `docker load -i` is timed, and the daemon is stopped untimed.
# Reports medians (seconds), MB/s (layer tar bytes / 10^6 / s), peak RSS (/usr/bin/time %M, for
# docker dockerd's VmHWM), and berth's speed ratios to the peers (peer time / berth time).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
VERIFY=${VERIFY:-1}
BERTH_BIN=${BERTH_BIN:-$repo/target/release}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
image_dir=""
ALL_TOOLS=(tar targz berth berth-oci umoci skopeo docker)
tools=("${ALL_TOOLS[@]}")

SCRIPT=unpack.sh
# shellcheck source=scripts/bench/lib.sh
. "$(dirname "$0")/lib.sh"
extra_option() { case $1 in --image) [ $# -ge 2 ] || die "--image needs a DIR"; image_dir=$2; taken=2 ;; esac; }
parse_options "n o tools keep" "$@"

# ---- dependencies -----------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root (tar, umoci and dockerd need it)"
if [ ! -x /usr/bin/time ]; then
    log "/usr/bin/time (Debian package 'time') is missing: installing it"
    apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi
need=(tar gzip sha256sum jq awk find sync)
has_tool umoci && need+=(umoci)
has_tool skopeo && need+=(skopeo)
has_tool docker && need+=(docker /usr/sbin/dockerd unshare)
for t in "${need[@]}"; do command -v "$t" >/dev/null || die "$t is required"; done
BERTH=$BERTH_BIN/berth-unpack
if has_tool berth || has_tool berth-oci; then
    [ -x "$BERTH" ] || die "$BERTH not found: cargo build --release -p berth-unpack, or set BERTH_BIN"
fi

# ---- temp dir and cleanup ---------------------------------------------------------------------
tmp=$(mktemp -d "$BENCH_TMP/berth-bench.XXXXXX")
dockerd_pid=""
dockerd_exec=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_dockerd
    # anything mounted under our temp dir (in our mount namespace), deepest first
    awk -v p="$tmp/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" || true
    done
    if [ "$keep" = 1 ]; then
        log "kept $tmp"
    else
        log "removing $tmp"
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# every run uses the same binary, even if target/ is rebuilt meanwhile
if has_tool berth || has_tool berth-oci; then
    mkdir "$tmp/bin"
    cp "$BERTH" "$tmp/bin/berth-unpack"
    BERTH_ID="$(sha256sum "$BERTH" | cut -c1-12), built $(date -u -r "$BERTH" '+%Y-%m-%d %H:%M UTC')"
    BERTH=$tmp/bin/berth-unpack
fi

# ---- the image --------------------------------------------------------------------------------
if [ -n "$image_dir" ]; then
    if [ ! -f "$image_dir/image.env" ]; then
        log "building the image into $image_dir (kept)"
        [ ! -e "$image_dir" ] || [ -z "$(ls -A "$image_dir")" ] || die "$image_dir is neither an image dir nor empty"
        "$here/mkimage.sh" "$image_dir"
    fi
    img=$(cd "$image_dir" && pwd)
else
    log "building the image from /usr"
    img=$tmp/img
    "$here/mkimage.sh" "$img"
fi
# shellcheck disable=SC1091
source "$img/image.env"
IMG_MB=$(awk -v b="$IMG_BYTES" 'BEGIN { printf "%.1f", b / 1e6 }')
IMG_GZ_MB=$(awk -v b="$IMG_GZ_BYTES" 'BEGIN { printf "%.1f", b / 1e6 }')
layer_tars=() ; layer_gz=()
for l in "${IMG_LAYER_TARS[@]}"; do layer_tars+=("$img/$l"); done
for l in "${IMG_LAYER_GZ[@]}"; do layer_gz+=("$img/$l"); done

# room for every run's output at once (nothing is deleted while timing); docker keeps ~2 copies
need_kb=$(( (RUNS + WARMUP) * (${#tools[@]} + 2) * IMG_BYTES / 1024 * 13 / 10 ))
avail_kb=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
[ "$avail_kb" -gt "$need_kb" ] || die "need ~$((need_kb / 1024 / 1024)) GB free in $BENCH_TMP, have $((avail_kb / 1024 / 1024)) GB"

mkdir -p "$tmp/runs" "$tmp/logs"
results=$tmp/results.tsv
: >"$results"

# ---- the tools --------------------------------------------------------------------------------
# run_<tool> DEST: the timed command, writing into the new directory DEST (which does not exist yet)
run_tar() { mkdir "$1" && for l in "${layer_tars[@]}"; do tar -xf "$l" -C "$1" || return 1; done; }
run_targz() { mkdir "$1" && for l in "${layer_gz[@]}"; do tar -xzf "$l" -C "$1" || return 1; done; }
run_berth() { "$BERTH" --root "$1/store" --run-dir "$1/run" load -q "$img/image.docker.tar"; }
run_berth-oci() { "$BERTH" --root "$1/store" --run-dir "$1/run" load -q "$img/oci"; }
run_umoci() { umoci unpack --image "$img/oci:$IMG_TAG" "$1"; }
run_skopeo() {
    mkdir "$1.tmp" && TMPDIR=$1.tmp skopeo --insecure-policy copy -q --dest-oci-accept-uncompressed-layers \
        "docker-archive:$img/image.docker.tar" "oci:$1:$IMG_TAG"
}
run_docker() { DOCKER_CONFIG=$1/cli docker -H "unix://$1/d.sock" load -q -i "$img/image.docker.tar"; }
export -f run_tar run_targz run_berth run_berth-oci run_umoci run_skopeo run_docker
export BERTH img IMG_TAG
layer_tars_s=$(printf '%q ' "${layer_tars[@]}") layer_gz_s=$(printf '%q ' "${layer_gz[@]}")
export layer_tars_s layer_gz_s

declare -A LABEL=(
    [tar]='`tar -xf` of the layer tars, in order (floor)'
    [targz]='`tar -xzf` of the gzip layers (gzip floor)'
    [berth]='`berth-unpack load` docker-archive'
    [berth-oci]='`berth-unpack load` OCI layout, gzip'
    [umoci]='`umoci unpack` OCI layout, gzip'
    [skopeo]='`skopeo copy docker-archive: oci:` (copy only, no unpack)'
    [docker]='`docker load -i` docker-archive (dockerd 20.10, overlay2)'
)

start_dockerd() { # DIR
    local d=$1 i
    mkdir -p "$d/data" "$d/exec"
    dockerd_exec=$d/exec
    printf '{"deprecated-key-path": "%s/key.json"}\n' "$d" >"$d/daemon.json"
    # A private mount namespace: dockerd's own mounts (overlay2 binds its data root) stay out of
    # the host's table and vanish with it. If a system containerd listens on /run/containerd,
    # hide it, so that this dockerd starts and supervises its own.
    env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=localhost,127.0.0.1 \
        http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 no_proxy=localhost,127.0.0.1 \
        unshare -m --propagation private sh -c \
        '[ ! -S /run/containerd/containerd.sock ] || mount -t tmpfs -o size=1m,mode=0711 none /run/containerd || exit 1; exec "$@"' sh \
        /usr/sbin/dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
        -H "unix://$d/d.sock" --bridge=none --iptables=false --ip-masq=false --storage-driver=overlay2 \
        --config-file "$d/daemon.json" >"$d/dockerd.log" 2>&1 </dev/null &
    dockerd_pid=$!
    for i in $(seq 600); do
        kill -0 "$dockerd_pid" 2>/dev/null || { tail -5 "$d/dockerd.log" >&2; die "dockerd exited at start (log above)"; }
        DOCKER_CONFIG=$d/cli docker -H "unix://$d/d.sock" info >/dev/null 2>&1 && break
        sleep 0.1
    done
    DOCKER_CONFIG=$d/cli docker -H "unix://$d/d.sock" info >/dev/null 2>&1 || die "dockerd did not answer in 60 s"
    sleep 1 # let its start-up work settle before the timed load
}

# timed TOOL ROUND: one run into a new destination, appends "tool round seconds rss_kb" to results
timed() {
    local tool=$1 round=$2 dest=$tmp/runs/$1.$2 t0 t1 secs rss lg=$tmp/logs/$1.$2.log
    [ "$tool" != docker ] || start_dockerd "$dest"
    sync
    t0=$EPOCHREALTIME
    if ! /usr/bin/time -f '%M' -o "$dest.rss" bash -c \
        'eval "layer_tars=($layer_tars_s)"; eval "layer_gz=($layer_gz_s)"; "run_$0" "$1"' "$tool" "$dest" \
        >"$lg" 2>&1; then
        tail -20 "$lg" >&2
        die "$tool failed in round $round (log: $lg)"
    fi
    t1=$EPOCHREALTIME
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    rss=$(tail -1 "$dest.rss")
    if [ "$tool" = docker ]; then
        rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$dockerd_pid/status")
        # the image must be there with the right layers (untimed)
        DOCKER_CONFIG=$dest/cli docker -H "unix://$dest/d.sock" image inspect "$IMG_REPO_TAG" \
            --format '{{json .RootFS.Layers}}' >"$dest.layers"
        [ "$(jq -r '.[]' "$dest.layers" | tr '\n' ' ')" = "${IMG_DIFF_IDS[*]} " ] || die "docker loaded the wrong layers"
        stop_dockerd
    fi
    printf '%s\t%s\t%s\t%s\n' "$tool" "$round" "$secs" "$rss" >>"$results"
    log "$(printf '%-10s round %-3s %7.3f s  %6d MB RSS' "$tool" "$round" "$secs" $((rss / 1024)))"
}

# ---- correctness (untimed, on the warm-up round's outputs) ------------------------------------
# One line per entry: path, type, mode, uid, gid, size (not for directories), link target, mtime (s)
meta() {
    (cd "$1" && find . -mindepth 1 -printf '%P\t%y\t%m\t%U\t%G\t%s\t%l\t%T@\n') |
        awk -F'\t' -v OFS='\t' '{ if ($2 == "d") $6 = "-"; sub(/\..*/, "", $8); print }' | LC_ALL=C sort
}
WHAT_SAME="type, mode, owner, size, link target, mtime (s), content"
# verify_tree NAME GOT WANT: sets VT_ENTRIES, and VT_BAD to a note when GOT differs from WANT
verify_tree() {
    local name=$1 got=$2 want=$3 bad
    meta "$want" >"$tmp/want.meta"
    meta "$got" >"$tmp/got.meta"
    VT_ENTRIES=$(wc -l <"$tmp/want.meta")
    VT_BAD=""
    if ! diff "$tmp/want.meta" "$tmp/got.meta" >"$tmp/logs/verify.$name.diff"; then
        bad=$(grep -c '^[<>]' "$tmp/logs/verify.$name.diff" || true)
        log "VERIFY $name: metadata differs from tar's ($bad lines, first ones:)"
        head -6 "$tmp/logs/verify.$name.diff" >&2
        VT_BAD="$name: **metadata differs** from \`tar -xf\` in $bad lines (e.g. \`$(grep -m1 '^[<>]' "$tmp/logs/verify.$name.diff" | tr '\t' ' ' | cut -c1-120)\`)"
    elif ! diff -rq --no-dereference "$want" "$got" >"$tmp/logs/verify.$name.content" 2>&1; then
        log "VERIFY $name: content differs from tar's"
        head -5 "$tmp/logs/verify.$name.content" >&2
        VT_BAD="$name: **content differs** from \`tar -xf\` ($(wc -l <"$tmp/logs/verify.$name.content") files)"
    fi
}
chain_ids() { # the layers' chain IDs, lowest first
    local c="" d
    for d in "${IMG_DIFF_IDS[@]}"; do
        if [ -z "$c" ]; then c=$d; else c="sha256:$(printf '%s %s' "$c" "$d" | sha256sum | cut -d' ' -f1)"; fi
        echo "$c"
    done
}
verify_berth() { # NAME STORE
    local name=$1 store=$2 i=0 c dir cand total=0 ok=1
    for c in $(chain_ids); do
        i=$((i + 1))
        dir=""
        for cand in "$store/layers/$c/diff" "$store/layers/${c#sha256:}/diff"; do [ -d "$cand" ] && dir=$cand; done
        if [ -z "$dir" ]; then
            VERIFY_NOTES+=("$name: **no layers/<chainid>/diff for layer $i** ($c)")
            ok=0
            continue
        fi
        verify_tree "$name layer $i" "$dir" "$tmp/ref/L$i"
        total=$((total + VT_ENTRIES))
        if [ -n "$VT_BAD" ]; then VERIFY_NOTES+=("$VT_BAD"); ok=0; fi
    done
    [ "$ok" = 0 ] || VERIFY_NOTES+=("$name: each of the $i layer directories is identical to \`tar -xf\` of that layer alone ($total entries: $WHAT_SAME)")
}
VERIFY_NOTES=()
verify_all() {
    local r=w1 i
    log "verifying the warm-up outputs against tar -xf (untimed)"
    if has_tool berth || has_tool berth-oci; then
        for i in "${!layer_tars[@]}"; do
            mkdir -p "$tmp/ref/L$((i + 1))"
            tar -xf "${layer_tars[$i]}" -C "$tmp/ref/L$((i + 1))"
        done
    fi
    has_tool berth && verify_berth "berth (docker-archive)" "$tmp/runs/berth.$r/store"
    has_tool berth-oci && verify_berth "berth (OCI, gzip)" "$tmp/runs/berth-oci.$r/store"
    if has_tool umoci && has_tool tar; then
        verify_tree "umoci" "$tmp/runs/umoci.$r/rootfs" "$tmp/runs/tar.$r"
        VERIFY_NOTES+=("${VT_BAD:-"umoci: the bundle's rootfs is identical to \`tar -xf\` of all layers ($VT_ENTRIES entries: $WHAT_SAME)"}")
    fi
    has_tool docker && VERIFY_NOTES+=("docker: loaded image has the image's diff IDs (every run)")
    return 0
}

# ---- the run ----------------------------------------------------------------------------------
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "image: $IMG_LAYERS layers, $IMG_ENTRIES entries, $IMG_MB MB (gzip $IMG_GZ_MB MB); tools: ${tools[*]}; $WARMUP warm-up + $RUNS timed rounds"
k=${#tools[@]}
round_no=0
for ((w = 1; w <= WARMUP; w++)); do
    for ((i = 0; i < k; i++)); do timed "${tools[$(((i + round_no) % k))]}" "w$w"; done
    round_no=$((round_no + 1))
done
[ "$VERIFY" != 1 ] || [ "$WARMUP" -lt 1 ] || verify_all
for ((r = 1; r <= RUNS; r++)); do
    for ((i = 0; i < k; i++)); do timed "${tools[$(((i + round_no) % k))]}" "$r"; done
    round_no=$((round_no + 1))
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the report -------------------------------------------------------------------------------
timed_rows() { awk -F'\t' -v t="$1" '$1 == t && $2 !~ /^w/' "$results"; }
med() { timed_rows "$1" | cut -f3 | median; }
declare -A MED MIN MAX RSS
for t in "${tools[@]}"; do
    MED[$t]=$(med "$t")
    MIN[$t]=$(timed_rows "$t" | cut -f3 | sort -g | head -1)
    MAX[$t]=$(timed_rows "$t" | cut -f3 | sort -g | tail -1)
    RSS[$t]=$(awk -F'\t' -v t="$t" '$1 == t && $4 > m { m = $4 } END { print m + 0 }' "$results")
done
# ratio PEER BERTH: peer time / berth time, of the medians and as the median of per-round ratios
ratio() {
    local p=$1 b=$2 paired
    paired=$(join -t $'\t' <(timed_rows "$p" | cut -f2,3 | sort) <(timed_rows "$b" | cut -f2,3 | sort) |
        awk -F'\t' '{ print $2 / $3 }' | median)
    awk -v p="${MED[$p]}" -v b="${MED[$b]}" -v q="$paired" 'BEGIN { printf "%.2fx (%.2fx)", p / b, q }'
}
ratio_num() { awk -v p="${MED[$1]}" -v b="${MED[$2]}" 'BEGIN { print p / b }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v < t; print ok ? "yes" : "**no**" }'; }

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
fs=$(findmnt -n -o FSTYPE --target "$tmp")
if [ "${fs%%[0-9]*}" = ext ]; then
    dev=$(basename "$(findmnt -n -o SOURCE --target "$tmp")")
    if compgen -G "/proc/fs/jbd2/$dev-*" >/dev/null; then
        fs="$fs with a journal"
    else
        fs="$fs without a journal"
    fi
fi
report=$tmp/report.md
{
    echo "Run of \`scripts/bench/unpack.sh -n $RUNS\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores ($cpu), $(free -g | awk '/^Mem/ { print $2 }') GB RAM,"
    echo "kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME"), temp dir on $fs; load average $LOAD_START at the start, $LOAD_END at the end."
    if has_tool berth || has_tool berth-oci; then echo "berth-unpack: \`$BERTH_BIN/berth-unpack\` (sha256 $BERTH_ID)."; fi
    vers=()
    has_tool tar && vers+=("GNU tar $(tar --version | awk 'NR == 1 { print $NF }')")
    has_tool targz && vers+=("gzip $(gzip --version | awk 'NR == 1 { print $NF }')")
    has_tool umoci && vers+=("umoci $(umoci --version | awk '{ print $NF }')")
    has_tool skopeo && vers+=("skopeo $(skopeo --version | awk '{ print $NF }')")
    has_tool docker && vers+=("docker CLI $(docker --version | sed 's/^Docker version \([^,]*\).*/\1/'), dockerd $(/usr/sbin/dockerd --version | sed 's/^Docker version \([^,]*\).*/\1/')")
    [ ${#vers[@]} -eq 0 ] || echo "Peers: $(IFS=';'; echo "${vers[*]}" | sed 's/;/, /g')."
    echo "Image: $IMG_LAYERS layers from this machine's /usr, $IMG_ENTRIES entries, $IMG_MB MB of layer tars ($IMG_GZ_MB MB gzip)."
    echo "$WARMUP untimed warm-up round(s), then $RUNS timed rounds; each round runs every tool once, the order rotating."
    echo
    echo "| tool | median s | min – max s | MB/s | peak RSS MB |"
    echo "|---|---:|---:|---:|---:|"
    for t in "${tools[@]}"; do
        awk -v l="${LABEL[$t]}" -v m="${MED[$t]}" -v lo="${MIN[$t]}" -v hi="${MAX[$t]}" -v b="$IMG_BYTES" -v r="${RSS[$t]}" -v t="$t" \
            'BEGIN { printf "| %s | %.3f | %.3f – %.3f | %.0f | %.1f%s |\n", l, m, lo, hi, b / 1e6 / m, r / 1024, t == "docker" ? " (dockerd)" : "" }'
    done
    if has_tool berth || has_tool berth-oci; then
        echo
        echo "berth's speed relative to each peer: peer's median time / berth's median time (in brackets: median of the per-round ratios)."
        echo
        echo "| comparison (same input) | ratio | target | met |"
        echo "|---|---:|---:|---|"
        if has_tool berth && has_tool tar; then
            echo "| berth docker-archive vs \`tar -xf\` floor | $(ratio tar berth) | ≥ 0.8x | $(verdict "$(ratio_num tar berth)" 0.8 ">=") |"
        fi
        if has_tool berth-oci && has_tool targz; then
            echo "| berth OCI gzip vs \`tar -xzf\` floor | $(ratio targz berth-oci) | (info) | |"
        fi
        if has_tool berth-oci && has_tool umoci; then
            echo "| berth OCI gzip vs \`umoci unpack\` | $(ratio umoci berth-oci) | ≥ 2x | $(verdict "$(ratio_num umoci berth-oci)" 2 ">=") |"
        fi
        if has_tool berth && has_tool docker; then
            echo "| berth docker-archive vs \`docker load\` | $(ratio docker berth) | ≥ 5x | $(verdict "$(ratio_num docker berth)" 5 ">=") |"
        fi
        if has_tool berth && has_tool skopeo; then
            echo "| berth docker-archive vs \`skopeo copy\` (copy only) | $(ratio skopeo berth) | (info) | |"
        fi
        peak=0
        for t in berth berth-oci; do has_tool "$t" && [ "${RSS[$t]}" -gt "$peak" ] && peak=${RSS[$t]}; done
        echo "| berth peak RSS (both inputs, all runs) | $(awk -v r="$peak" 'BEGIN { printf "%.1f MB", r / 1024 }') | < 64 MB | $(verdict "$((peak / 1024))" 64 "<") |"
    fi
    if [ ${#VERIFY_NOTES[@]} -gt 0 ]; then
        echo
        echo "Checked on the warm-up round's output (untimed):"
        for n in "${VERIFY_NOTES[@]}"; do echo "- $n"; done
    fi
} >"$report"

cp "$tmp/results.tsv" "$tmp/report.tsv"
cat "$report"
if [ -n "$out_file" ]; then cp "$report" "$out_file"; log "report written to $out_file"; fi
