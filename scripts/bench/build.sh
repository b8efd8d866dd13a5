#!/usr/bin/env bash
# Build benchmark: the same 5-stage Dockerfile built by berth-build and by a private dockerd's
# classic builder (Debian's docker.io, `DOCKER_BUILDKIT=0 docker build`), side by side in one run:
#   * a cold build (`--no-cache` every time; four independent stages, then one that copies
#     from all four), hyperfine, rounds alternating the builders;
#   * a rebuild with no change (everything from the cache), hyperfine;
#   * a check that both images hold the same files (names, modes, owners, sizes, link targets)
#     and the same Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts and Labels.
#
#   scripts/bench/build.sh [-n RUNS] [-r ROUNDS] [-o FILE] [--keep]
#
#   -n RUNS    timed runs per builder and round (default: env RUNS or 5)
#   -r ROUNDS  hyperfine rounds, the order alternating (default: env ROUNDS or 2)
#   -o FILE    also write the markdown report to FILE
#   --keep     keep the temp dir (hyperfine JSON, logs); dockerd is stopped anyway
#
# env: BERTH_BIN  directory holding berth-build and berth-unpack (default: target/release)
#      BENCH_TMP  where the temp dir goes (default /var/tmp)
#      WARMUP     untimed warm-up runs per builder and round (default 1)
#
# berth-build gets a root of its own and cgroup parent berth-bench-PID; dockerd a data root,
# socket and cgroup parent of its own, proxies at a closed loopback port, no bridge. RUN steps
# have no network on either side. Everything is under one temp dir, removed at the end.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=build.sh
# shellcheck source=scripts/bench/lib.sh
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-2}
WARMUP=${WARMUP:-1}
BERTH_BIN=${BERTH_BIN:-$repo/target/release}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
parse_options "n r o keep" "$@"
[ "$(id -u)" = 0 ] || die "run as root"
for t in hyperfine jq docker /usr/sbin/dockerd "$BERTH_BIN/berth-build" "$BERTH_BIN/berth-unpack" "$BERTH_BIN/berth-run"; do
    command -v "$t" >/dev/null || die "missing $t"
done

tmp=$(mktemp -d "$BENCH_TMP/berth-build.XXXXXX")
CG=berth-bench-$$
CG_DOCKER=$CG-docker
dockerd_pid=""
dockerd_exec=$tmp/docker/exec
DSOCK=$tmp/docker/d.sock
DOCKER=(docker --config "$tmp/docker/cli" -H "unix://$DSOCK")
R=(--root "$tmp/berth/root" --run-dir "$tmp/berth/run")

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    "${DOCKER[@]}" rm -f $("${DOCKER[@]}" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
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

mkdir -p "$tmp/bin" "$tmp/berth" "$tmp/docker/cli" "$tmp/ctx"
cp "$BERTH_BIN/berth-build" "$BERTH_BIN/berth-unpack" "$BERTH_BIN/berth-run" "$tmp/bin/"
BERTH_ID="sha256 $(sha256sum "$BERTH_BIN/berth-build" | cut -c1-12), built $(date -u -r "$BERTH_BIN/berth-build" '+%Y-%m-%d %H:%M UTC')"

log "making the busybox image"
BERTH_BIN=$tmp/bin "$repo/scripts/make-busybox-image.sh" --root "$tmp/berth/root" >"$tmp/mkimage.log" 2>&1 ||
    { cat "$tmp/mkimage.log" >&2; die "make-busybox-image.sh failed"; }
"$tmp/bin/berth-unpack" "${R[@]}" save -o "$tmp/busybox.tar" busybox:latest
start_dockerd --bridge=none --iptables=false
"${DOCKER[@]}" load -q -i "$tmp/busybox.tar" >/dev/null

# ---- the context -----------------------------------------------------------------------------------
for s in 1 2 3 4; do
    mkdir -p "$tmp/ctx/src$s"
    for f in $(seq 20); do head -c 20000 /dev/urandom | base64 >"$tmp/ctx/src$s/file$f.txt"; done
done
cat >"$tmp/ctx/Dockerfile" <<'DOCKERFILE'
FROM busybox AS one
COPY src1 /src
RUN mkdir -p /out && for f in /src/*; do sha256sum "$f" >> /out/one.sum; done

FROM busybox AS two
COPY src2 /src
RUN mkdir -p /out && cat /src/* | gzip -1 -n > /out/two.gz

FROM busybox AS three
WORKDIR /work
COPY src3 ./
RUN cat *.txt | wc -c > /work/three.count && rm file1.txt

FROM busybox AS four
COPY src4 /src
RUN mkdir -p /out && i=0; while [ $i -lt 200 ]; do echo line $i >> /out/four.txt; i=$((i+1)); done

FROM busybox
ENV APP=bench
LABEL org.example.bench=build
COPY --from=one /out/one.sum /app/
COPY --from=two /out/two.gz /app/
COPY --from=three /work /app/three
COPY --from=four /out/four.txt /app/
WORKDIR /app
EXPOSE 8080
CMD ["ls", "-l", "/app"]
DOCKERFILE

BB=("$tmp/bin/berth-build" "${R[@]}" --cgroup-parent "$CG" --progress quiet)
log "checking that both builders build it"
"${BB[@]}" -t bench:berth "$tmp/ctx" >"$tmp/berth-build.log" 2>&1 || { cat "$tmp/berth-build.log" >&2; die "berth-build failed"; }
DOCKER_BUILDKIT=0 "${DOCKER[@]}" build -q -t bench:docker "$tmp/ctx" >"$tmp/docker-build.log" 2>&1 ||
    { cat "$tmp/docker-build.log" >&2; die "docker build failed"; }

# ---- the same files and config ------------------------------------------------------------------------
LIST='find / -xdev \( -path /proc -o -path /sys -o -path /dev \) -prune -o -print | sort | while read -r p; do stat -c "%n %f %u:%g %s" "$p"; [ -L "$p" ] && readlink "$p"; done; true'
"$tmp/bin/berth-run" "${R[@]}" --cgroup-parent "$CG" --rm --network none bench:berth sh -c "$LIST" |
    grep -vE '^/etc/(hosts|hostname|resolv.conf) ' >"$tmp/files.berth"
"${DOCKER[@]}" run --rm --network none bench:docker sh -c "$LIST" |
    grep -vE '^/(etc/(hosts|hostname|resolv.conf|mtab)|\.dockerenv|proc/mounts$)( |$)' >"$tmp/files.docker"
# Directory sizes are the filesystem's own: compared without them. Docker's init layer
# (/etc/mtab, /.dockerenv) is no part of its image.
strip_dir_sizes() { awk '$2 ~ /^4/ { $4 = "-" } { print }' "$1"; }
if diff <(strip_dir_sizes "$tmp/files.berth") <(strip_dir_sizes "$tmp/files.docker") >"$tmp/files.diff"; then
    SAME_FILES=yes
else
    SAME_FILES="no ($(grep -c '^[<>]' "$tmp/files.diff") lines differ; --keep shows files.diff)"
fi
config_of_berth() { "$tmp/bin/berth-unpack" "${R[@]}" inspect bench:berth | jq -S '(if type == "array" then .[0] else . end).Config | {Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Labels} | map_values(if . == "" then null else . end)'; }
config_of_docker() { "${DOCKER[@]}" image inspect bench:docker | jq -S '.[0].Config | {Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Labels} | map_values(if . == "" then null else . end)'; }
if diff <(config_of_berth) <(config_of_docker) >"$tmp/config.diff"; then SAME_CONFIG=yes; else SAME_CONFIG="no (--keep shows config.diff)"; fi

# ---- timings --------------------------------------------------------------------------------------------
tools=(berth dockerd)
declare -A CMD
CMD[berth]="${BB[*]} --no-cache -t bench:berth $tmp/ctx"
CMD[dockerd]="env DOCKER_BUILDKIT=0 ${DOCKER[*]} build -q --no-cache -t bench:docker $tmp/ctx"
run_rounds
for f in "$tmp"/round*.json; do mv "$f" "$tmp/cold-${f##*/}"; done
CMD[berth]="${BB[*]} -t bench:berth $tmp/ctx"
CMD[dockerd]="env DOCKER_BUILDKIT=0 ${DOCKER[*]} build -q -t bench:docker $tmp/ctx"
run_rounds
for f in "$tmp"/round*.json; do mv "$f" "$tmp/warm-${f##*/}"; done

# ---- report ---------------------------------------------------------------------------------------------
med() { cat "$tmp"/"$1"-round*.json | jq -r --arg n "$2" '.results[] | select(.command == $n) | .times[] * 1000' | median; }
ms() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
COLD_B=$(med cold berth) COLD_D=$(med cold dockerd)
WARM_B=$(med warm berth) WARM_D=$(med warm dockerd)
report=$(cat <<REPORT
### Build benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')

berth-build $BERTH_ID against dockerd $(/usr/sbin/dockerd --version | cut -d' ' -f3 | tr -d ,)'s classic builder
(\`DOCKER_BUILDKIT=0\`, CLI $(docker version --format '{{.Client.Version}}' 2>/dev/null)); a 5-stage Dockerfile (four
independent stages, one copying from all four); $ROUNDS rounds x $RUNS runs per builder; load at start $(cut -d' ' -f1-3 /proc/loadavg).

| figure | berth-build | dockerd | berth / dockerd | target |
|---|---:|---:|---:|---|
| cold build (\`--no-cache\`), median ms | $(ms "$COLD_B") | $(ms "$COLD_D") | $(ratio "$COLD_B" "$COLD_D") | ≤ 0.5 |
| rebuild with no change, median ms | $(ms "$WARM_B") | $(ms "$WARM_D") | $(ratio "$WARM_B" "$WARM_D") | ≤ 0.2 |

Same files in both images: $SAME_FILES. Same config (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts,
Labels): $SAME_CONFIG.
REPORT
)
echo "$report"
[ -z "$out_file" ] || echo "$report" >"$out_file"
