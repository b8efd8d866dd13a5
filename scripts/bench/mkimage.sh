#!/usr/bin/env bash
# Build the image-unpack benchmark image from this machine's /usr, offline, with plain
# tar/gzip/sha256sum/jq.
#
#   scripts/bench/mkimage.sh OUTDIR
#
# Writes into OUTDIR (which must be empty or missing):
#   layers/L<n>.tar      the uncompressed layer tars (what `tar -xf` extracts: the floor)
#   image.docker.tar     classic `docker save` docker-archive: <id>/{VERSION,json,layer.tar},
#                        <config hex>.json (rootfs.diff_ids), manifest.json, repositories
#   oci/                 OCI image layout, the same layers gzip-compressed (gzip -6 -n), tag "latest"
#   image.env            facts about the image, sourced by unpack.sh (sizes, entries, paths)
#
# The layers (on the project's Debian 12 machine: 4 layers, 7,296 entries, 209.8 MB of layer tars, 67.3 MB gzip):
#   L1  /usr/share/{perl,vim,i18n}                       text, many small files
#   L2  /usr/lib/python3.11                              .py files and a few .so
#   L3  /usr/lib/git-core, /usr/lib/x86_64-linux-gnu/perl binaries and perl modules
#   L4  /usr/bin: symlinks and regular files < 512 KiB   executables
# Each layer also holds its parent directories (usr/, usr/lib/ ...), like layers built by
# docker/buildkit. Entries are in PAX format without atime/ctime/sub-second mtime records (which is
# what Docker's own tar writer produces), numeric owners, sorted depth-first by name (as Docker writes them).
set -euo pipefail

out=${1:?usage: mkimage.sh OUTDIR}
REPO_TAG=${REPO_TAG:-berth-bench/usr:latest}

for t in tar gzip sha256sum jq find sort; do
    command -v "$t" >/dev/null || { echo "mkimage.sh: $t is required" >&2; exit 1; }
done
mkdir -p "$out"
[ -z "$(ls -A "$out")" ] || { echo "mkimage.sh: $out is not empty" >&2; exit 1; }
out=$(cd "$out" && pwd)

LAYER_SPECS=(
    "/usr/share/{perl,vim,i18n}|usr/share/perl usr/share/vim usr/share/i18n"
    "/usr/lib/python3.11|usr/lib/python3.11"
    "/usr/lib/git-core, /usr/lib/x86_64-linux-gnu/perl|usr/lib/git-core usr/lib/x86_64-linux-gnu/perl"
    "/usr/bin (symlinks and files < 512 KiB)|@usrbin"
)

sha() { sha256sum "$1" | cut -d' ' -f1; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }

# dfs_sort: sort paths depth-first by name, each directory followed by its contents (the order of
# Docker's own tar writer, and the one GNU tar needs to restore directory mtimes): '/' sorts first.
dfs_sort() { sed 's|/|\x01|g' | LC_ALL=C sort -u | sed 's|\x01|/|g'; }

# list_layer SPEC: the entries of one layer, relative to /, with their parent directories.
list_layer() {
    local spec=$1 p d
    if [ "$spec" = "@usrbin" ]; then
        { printf '%s\n' usr usr/bin
          (cd / && find usr/bin -mindepth 1 -maxdepth 1 \( -type l -o \( -type f -size -512k \) \)); } | dfs_sort
        return
    fi
    for p in $spec; do
        [ -e "/$p" ] || { echo "mkimage.sh: /$p is missing on this machine" >&2; exit 1; }
    done
    {
        for p in $spec; do # parent directories of each path (usr, usr/share, ...)
            d=$p
            while [ "$(dirname "$d")" != . ]; do d=$(dirname "$d"); echo "$d"; done
        done
        (cd / && find $spec)
    } | dfs_sort
}

mkdir -p "$out/layers" "$out/docker" "$out/oci/blobs/sha256"
diff_ids=() ; layer_ids=() ; gz_digests=() ; gz_sizes=() ; history='[]'
total_bytes=0 ; total_entries=0 ; total_gz=0 ; n=0 ; parent=""
created="2026-01-01T00:00:00Z"
for s in "${LAYER_SPECS[@]}"; do
    n=$((n + 1))
    desc=${s%%|*} ; spec=${s#*|}
    list="$out/layers/L$n.list"
    list_layer "$spec" >"$list"
    tar -C / --no-recursion --numeric-owner --format=pax \
        --pax-option=delete=atime,delete=ctime,delete=mtime \
        -cf "$out/layers/L$n.tar" -T "$list"
    entries=$(wc -l <"$list")
    bytes=$(stat -c %s "$out/layers/L$n.tar")
    diff_id=$(sha "$out/layers/L$n.tar")
    # classic docker save names each layer directory by its v1 ID; any 64-hex name is valid, use the chain.
    layer_id=$(printf '%s %s' "$parent" "$diff_id" | sha256sum | cut -d' ' -f1)
    mkdir "$out/docker/$layer_id"
    echo -n "1.0" >"$out/docker/$layer_id/VERSION"
    jq -cn --arg id "$layer_id" --arg parent "$parent" --arg c "$created" \
        '{id:$id, created:$c, container_config:{Cmd:null}} + (if $parent == "" then {} else {parent:$parent} end)' \
        >"$out/docker/$layer_id/json"
    ln "$out/layers/L$n.tar" "$out/docker/$layer_id/layer.tar"
    gzip -6 -n -c "$out/layers/L$n.tar" >"$out/oci/blobs/sha256/tmp.gz"
    gz_digest=$(sha "$out/oci/blobs/sha256/tmp.gz")
    mv "$out/oci/blobs/sha256/tmp.gz" "$out/oci/blobs/sha256/$gz_digest"
    gz_size=$(stat -c %s "$out/oci/blobs/sha256/$gz_digest")
    diff_ids+=("sha256:$diff_id") ; layer_ids+=("$layer_id")
    gz_digests+=("sha256:$gz_digest") ; gz_sizes+=("$gz_size")
    history=$(jq -c --arg c "$created" --arg d "berth bench: COPY $desc" '. + [{created:$c, created_by:$d}]' <<<"$history")
    total_bytes=$((total_bytes + bytes)) ; total_entries=$((total_entries + entries))
    total_gz=$((total_gz + gz_size))
    parent=$layer_id
    printf 'L%d %-55s %6d entries %7.1f MB (gzip %6.1f MB)\n' "$n" "$desc" "$entries" \
        "$(mb "$bytes")" "$(mb "$gz_size")" >&2
done

# the image config (valid for both Docker and OCI)
config=$(jq -cn --arg c "$created" --argjson h "$history" \
    --argjson d "$(printf '%s\n' "${diff_ids[@]}" | jq -R . | jq -cs .)" \
    '{architecture:"amd64", os:"linux", created:$c,
      config:{Env:["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd:["/usr/bin/bash"]},
      rootfs:{type:"layers", diff_ids:$d}, history:$h}')
printf '%s' "$config" >"$out/config.json"
config_hex=$(sha "$out/config.json")
config_size=$(stat -c %s "$out/config.json")

# docker-archive (classic docker save layout and member order: layers, config, manifest.json, repositories)
cp "$out/config.json" "$out/docker/$config_hex.json"
layers_json=$(printf '%s/layer.tar\n' "${layer_ids[@]}" | jq -R . | jq -cs .)
jq -cn --arg cfg "$config_hex.json" --arg tag "$REPO_TAG" --argjson l "$layers_json" \
    '[{Config:$cfg, RepoTags:[$tag], Layers:$l}]' >"$out/docker/manifest.json"
jq -cn --arg r "${REPO_TAG%:*}" --arg t "${REPO_TAG##*:}" --arg id "$parent" '{($r):{($t):$id}}' \
    >"$out/docker/repositories"
members=()
for id in "${layer_ids[@]}"; do members+=("$id" "$id/VERSION" "$id/json" "$id/layer.tar"); done
members+=("$config_hex.json" manifest.json repositories)
tar -C "$out/docker" --no-recursion --numeric-owner --format=ustar -cf "$out/image.docker.tar" "${members[@]}"
rm -rf "$out/docker"

# OCI layout, gzip layers
cp "$out/config.json" "$out/oci/blobs/sha256/$config_hex"
layers_desc='[]'
for i in "${!gz_digests[@]}"; do
    layers_desc=$(jq -c --arg d "${gz_digests[$i]}" --argjson s "${gz_sizes[$i]}" \
        '. + [{mediaType:"application/vnd.oci.image.layer.v1.tar+gzip", digest:$d, size:$s}]' <<<"$layers_desc")
done
jq -cn --arg cd "sha256:$config_hex" --argjson cs "$config_size" --argjson l "$layers_desc" \
    '{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
      config:{mediaType:"application/vnd.oci.image.config.v1+json", digest:$cd, size:$cs}, layers:$l}' \
    | tr -d '\n' >"$out/oci/manifest.tmp"
manifest_hex=$(sha "$out/oci/manifest.tmp")
manifest_size=$(stat -c %s "$out/oci/manifest.tmp")
mv "$out/oci/manifest.tmp" "$out/oci/blobs/sha256/$manifest_hex"
echo -n '{"imageLayoutVersion":"1.0.0"}' >"$out/oci/oci-layout"
jq -cn --arg d "sha256:$manifest_hex" --argjson s "$manifest_size" \
    '{schemaVersion:2, mediaType:"application/vnd.oci.image.index.v1+json",
      manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$d, size:$s,
                  annotations:{"org.opencontainers.image.ref.name":"latest"}}]}' >"$out/oci/index.json"

{
    echo "IMG_LAYERS=$n"
    echo "IMG_BYTES=$total_bytes"
    echo "IMG_ENTRIES=$total_entries"
    echo "IMG_GZ_BYTES=$total_gz"
    echo "IMG_TAG=latest"
    echo "IMG_REPO_TAG=$REPO_TAG"
    echo "IMG_CONFIG=sha256:$config_hex"
    printf 'IMG_LAYER_TARS=(%s)\n' "$(for i in $(seq 1 "$n"); do printf '"layers/L%d.tar" ' "$i"; done)"
    printf 'IMG_LAYER_GZ=(%s)\n' "$(for d in "${gz_digests[@]}"; do printf '"oci/blobs/sha256/%s" ' "${d#sha256:}"; done)"
    printf 'IMG_DIFF_IDS=(%s)\n' "${diff_ids[*]}"
} >"$out/image.env"
printf 'image: %d layers, %d entries, %.1f MB uncompressed, %.1f MB gzip; config sha256:%s\n' \
    "$n" "$total_entries" "$(mb "$total_bytes")" "$(mb "$total_gz")" \
    "$config_hex" >&2
