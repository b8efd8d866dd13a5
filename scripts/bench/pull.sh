#!/usr/bin/env bash
# Pull benchmark: the same ~200 MB image (4 gzip layers of mixed text and random data) from the
# same loopback docker-registry, side by side in one run, each into a fresh place:
#   * berth:   `berth-unpack --root FRESH pull -q` (download, verify, unpack);
#   * dockerd: `docker pull` from a private dockerd, after `docker rmi` (download, unpack);
#   * skopeo:  `skopeo copy docker://… dir:FRESH` (download and verify only: no unpack).
# Then push, berth against dockerd, of that image to a second registry emptied and restarted
# before every run: `berth-unpack push` against `docker push`.
# Targets (issue 14): berth >= 3x faster than docker pull, within 1.2x of skopeo.
#
#   scripts/bench/pull.sh [-n RUNS] [-r ROUNDS] [-o FILE] [--keep]
#
#   -n RUNS    timed runs per tool and round (default: env RUNS or 5)
#   -r ROUNDS  hyperfine rounds, the order rotating (default: env ROUNDS or 3)
#   -o FILE    also write the markdown report to FILE
#   --keep     keep the temp dir; the registry and dockerd are stopped anyway
#
# env: BERTH_BIN  directory holding berth-unpack (default: target/release)
#      BENCH_TMP  where the temp dir goes (default /var/tmp)
#      WARMUP     untimed warm-up runs per tool and round (default 1)
#      SIZE_MB    the image's rough size (default 200)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=pull.sh
# shellcheck source=scripts/bench/lib.sh
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-1}
SIZE_MB=${SIZE_MB:-200}
BERTH_BIN=${BERTH_BIN:-$repo/target/release}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
parse_options "n r o keep" "$@"
[ "$(id -u)" = 0 ] || die "run as root"
for t in hyperfine jq docker skopeo /usr/sbin/dockerd /usr/bin/docker-registry "$BERTH_BIN/berth-unpack"; do
    command -v "$t" >/dev/null || die "missing $t"
done

tmp=$(mktemp -d "$BENCH_TMP/berth-pull.XXXXXX")
CG=berth-bench-$$
CG_DOCKER=$CG-docker
dockerd_pid="" registry_pid=""
dockerd_exec=$tmp/docker/exec
DSOCK=$tmp/docker/d.sock
DOCKER=(docker --config "$tmp/docker/cli" -H "unix://$DSOCK")
export HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=localhost,127.0.0.1

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_dockerd
    if [ -n "$registry_pid" ]; then kill -TERM "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
    stop_tmp_processes
    remove_cgroups || true
    unmount_tmp
    if [ "$keep" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# An OCI layout of 4 layers, each a quarter of SIZE_MB: half random (incompressible), half
# text (compressible), as real images mix binaries and files that compress.
make_layout() {
    local dir=$tmp/layout i per=$((SIZE_MB / 4)) diff_ids=() layers=() d digest size cfg cdigest man mdigest
    mkdir -p "$dir/blobs/sha256"
    for i in 1 2 3 4; do
        d=$tmp/layer$i
        mkdir -p "$d/data$i"
        head -c $((per / 2))M /dev/urandom >"$d/data$i/random.bin"
        # yes ends on SIGPIPE when head has enough: only head's file counts.
        { yes "berth pull benchmark layer $i line of text $(seq -s, 1 20)" || true; } | head -c $((per / 2))M >"$d/data$i/text.txt"
        tar --numeric-owner --owner=0 --group=0 -C "$d" -cf "$tmp/layer$i.tar" .
        diff_ids+=("\"sha256:$(sha256sum "$tmp/layer$i.tar" | cut -d' ' -f1)\"")
        gzip -n -6 -c "$tmp/layer$i.tar" >"$tmp/layer$i.tar.gz"
        digest=$(sha256sum "$tmp/layer$i.tar.gz" | cut -d' ' -f1)
        size=$(stat -c %s "$tmp/layer$i.tar.gz")
        mv "$tmp/layer$i.tar.gz" "$dir/blobs/sha256/$digest"
        rm -rf "$d" "$tmp/layer$i.tar"
        layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$size}")
    done
    cfg=$(printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$(IFS=,; echo "${diff_ids[*]}")")
    printf '%s' "$cfg" >"$tmp/config.json"
    cdigest=$(sha256sum "$tmp/config.json" | cut -d' ' -f1)
    mv "$tmp/config.json" "$dir/blobs/sha256/$cdigest"
    man=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
        "$cdigest" "${#cfg}" "$(IFS=,; echo "${layers[*]}")")
    printf '%s' "$man" >"$tmp/manifest.json"
    mdigest=$(sha256sum "$tmp/manifest.json" | cut -d' ' -f1)
    mv "$tmp/manifest.json" "$dir/blobs/sha256/$mdigest"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' \
        "$mdigest" "${#man}" >"$dir/index.json"
}

log "making the ${SIZE_MB} MB image"
make_layout
# A loopback port nothing answers on.
while :; do
    PORT=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
done
REG=127.0.0.1:$PORT
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
    "$tmp/registry" "$REG" >"$tmp/registry.yml"
/usr/bin/docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 </dev/null &
registry_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$tmp/layout:1" "docker://$REG/bench:1"
IMAGE=$REG/bench:1

log "starting dockerd"
start_dockerd --bridge=none --iptables=false --insecure-registry "$REG"

tools=(berth dockerd skopeo)
declare -A CMD PREP
CMD[berth]="$BERTH_BIN/berth-unpack --root $tmp/berth-root --run-dir $tmp/berth-run pull -q $IMAGE"
PREP[berth]="rm -rf $tmp/berth-root"
CMD[dockerd]="${DOCKER[*]} pull -q $IMAGE"
PREP[dockerd]="sh -c '${DOCKER[*]} rmi -f $IMAGE >/dev/null 2>&1; true'"
CMD[skopeo]="skopeo --insecure-policy copy -q --src-tls-verify=false docker://$IMAGE dir:$tmp/skopeo-dir"
PREP[skopeo]="rm -rf $tmp/skopeo-dir"

log "timing: ${tools[*]}; $ROUNDS round(s) x ($WARMUP warm-up + $RUNS timed) runs per tool"
for ((r = 0; r < ROUNDS; r++)); do
    # hyperfine takes one --prepare per command, in the commands' order.
    preps=() cmds=()
    for ((i = 0; i < ${#tools[@]}; i++)); do
        t=${tools[$(((i + r) % ${#tools[@]}))]}
        preps+=(--prepare "${PREP[$t]}")
        cmds+=(-n "$t" "${CMD[$t]}")
    done
    hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$tmp/round$r.json" "${preps[@]}" "${cmds[@]}" \
        >"$tmp/round$r.txt" 2>&1 || { cat "$tmp/round$r.txt" >&2; die "hyperfine failed in round $((r + 1))"; }
done

med() { times_of "$1" | median | xargs printf "%.0f"; }
B=$(med berth) D=$(med dockerd) S=$(med skopeo)

log "push: a second registry, emptied and restarted before each run"
while :; do
    PORT2=$((20000 + RANDOM % 30000))
    [ "$PORT2" != "$PORT" ] || continue
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT2") 2>/dev/null || break
done
REG2=127.0.0.1:$PORT2
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
    "$tmp/push-storage" "$REG2" >"$tmp/push-registry.yml"
cat >"$tmp/fresh-push-registry.sh" <<EOS
#!/usr/bin/env bash
# Stops the push registry (by its PID file), empties its storage, starts it again.
pid=\$(cat "$tmp/push-registry.pid" 2>/dev/null || true)
if [ -n "\$pid" ]; then kill "\$pid" 2>/dev/null || true; while kill -0 "\$pid" 2>/dev/null; do sleep 0.05; done; fi
rm -rf "$tmp/push-storage"
setsid /usr/bin/docker-registry serve "$tmp/push-registry.yml" >>"$tmp/push-registry.log" 2>&1 </dev/null &
echo \$! >"$tmp/push-registry.pid"
for _ in \$(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT2") 2>/dev/null && exit 0; sleep 0.05; done
exit 1
EOS
chmod +x "$tmp/fresh-push-registry.sh"
"$BERTH_BIN/berth-unpack" --root "$tmp/push-root" --run-dir "$tmp/berth-run" pull -q "$IMAGE" >/dev/null
"$BERTH_BIN/berth-unpack" --root "$tmp/push-root" --run-dir "$tmp/berth-run" tag "$IMAGE" "$REG2/bench:1"
"${DOCKER[@]}" pull -q "$IMAGE" >/dev/null
"${DOCKER[@]}" tag "$IMAGE" "$REG2/bench:1"
ptools=(berth-push docker-push)
CMD[berth-push]="$BERTH_BIN/berth-unpack --root $tmp/push-root --run-dir $tmp/berth-run push -q $REG2/bench:1"
CMD[docker-push]="${DOCKER[*]} push -q $REG2/bench:1"
for ((r = 0; r < ROUNDS; r++)); do
    preps=() cmds=()
    for ((i = 0; i < ${#ptools[@]}; i++)); do
        t=${ptools[$(((i + r) % ${#ptools[@]}))]}
        preps+=(--prepare "$tmp/fresh-push-registry.sh")
        cmds+=(-n "$t" "${CMD[$t]}")
    done
    hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$tmp/push$r.json" "${preps[@]}" "${cmds[@]}" \
        >"$tmp/push$r.txt" 2>&1 || { cat "$tmp/push$r.txt" >&2; die "hyperfine failed in push round $((r + 1))"; }
done
pmed() { cat "$tmp"/push*.json | jq -r --arg n "$1" '.results[] | select(.command == $n) | .times[] * 1000' | median | xargs printf "%.0f"; }
PB=$(pmed berth-push) PD=$(pmed docker-push)
kill "$(cat "$tmp/push-registry.pid")" 2>/dev/null || true
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0 || a == "nan" || b == "nan") print "nan"; else printf "%.2f", a / b }'; }
report=$(cat <<EOT
### Pull ($(date -u '+%Y-%m-%d'), ${SIZE_MB} MB image, 4 gzip layers, loopback docker-registry)

median of $((ROUNDS * RUNS)) runs each; dockerd $(/usr/sbin/dockerd --version | cut -d' ' -f3 | tr -d ,), skopeo $(skopeo --version | cut -d' ' -f3)

| tool | ms | berth / tool | target |
|---|---|---|---|
| berth-unpack pull | $B | 1.00 | |
| docker pull (dockerd) | $D | $(ratio "$B" "$D") | ≤ 0.33 |
| skopeo copy to dir: (no unpack) | $S | $(ratio "$B" "$S") | ≤ 1.2 |
| berth-unpack push (to an empty registry) | $PB | 1.00 | |
| docker push (dockerd) | $PD | $(ratio "$PB" "$PD") | |
EOT
)
printf '%s\n' "$report"
[ -z "$out_file" ] || printf '%s\n' "$report" >"$out_file"
