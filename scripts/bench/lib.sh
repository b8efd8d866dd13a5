# Shared by the benchmark scripts (sourced): logging, a median, and stopping the dockerd a
# script started, the rotating hyperfine rounds and reading their results, the help text, the
# options they share (parse_options) and cgroup removal. The sourcing script sets SCRIPT (its name), dockerd_pid and dockerd_exec,
# and for the rounds: tools (names), CMD (name -> command), ROUNDS, WARMUP, RUNS, tmp; CG for
# remove_cgroups.

log() { printf '[%s %s] %s\n' "$SCRIPT" "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The median of the numbers on stdin ("nan" for none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Stops the dockerd this script started (by its PID), then the containerd it supervised if
# that outlives it, and only if it runs from our exec root.
# A dockerd of the run's own under $tmp/docker (data, exec root, config, log), answering on
# $DSOCK, its containers under cgroup parent $CG_DOCKER, its pulls aimed at a closed port; ARGS
# are its network flags. Waits until it answers (`${DOCKER[@]}` is the client); sets
# dockerd_pid for stop_dockerd.
start_dockerd() { # NETWORK-FLAGS...
    local d=$tmp/docker i
    mkdir -p "$d/data" "$d/exec" "$d/cli"
    printf '{"deprecated-key-path": "%s/key.json"}\n' "$d" >"$d/daemon.json"
    # A mount namespace of its own (inside the script's): overlay2's mounts vanish with it, and a
    # tmpfs on /run makes containerd's /run/containerd (shim sockets, runc state) ours alone.
    env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=localhost,127.0.0.1 \
        http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 no_proxy=localhost,127.0.0.1 \
        unshare -m --propagation private sh -c \
        "mount -t tmpfs -o mode=0755,size=64m none /run && exec \"\$@\"" sh \
        /usr/sbin/dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
        -H "unix://$DSOCK" "$@" --storage-driver=overlay2 \
        --cgroup-parent "$CG_DOCKER" --config-file "$d/daemon.json" >"$d/dockerd.log" 2>&1 </dev/null &
    dockerd_pid=$!
    for i in $(seq 600); do
        kill -0 "$dockerd_pid" 2>/dev/null || { tail -5 "$d/dockerd.log" >&2; die "dockerd exited at start (log above)"; }
        "${DOCKER[@]}" info >/dev/null 2>&1 && break
        sleep 0.1
    done
    "${DOCKER[@]}" info >/dev/null 2>&1 || die "dockerd did not answer in 60 s"
}

stop_dockerd() {
    [ -n "$dockerd_pid" ] || return 0
    local pid=$dockerd_pid i cpid
    dockerd_pid=""
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "dockerd $pid did not stop in 30 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
    cpid=$(cat "$dockerd_exec/containerd/containerd.pid" 2>/dev/null || true)
    if [ -n "$cpid" ] && tr '\0' ' ' <"/proc/$cpid/cmdline" 2>/dev/null | grep -qF "$dockerd_exec/"; then
        log "stopping leftover containerd $cpid"
        kill -TERM "$cpid" 2>/dev/null || true
        for i in $(seq 100); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$cpid" 2>/dev/null || true
    fi
}

# The script's header comment, from line 2 to `set -euo`, as its --help.
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }

has_tool() { [[ " ${tools[*]} " == *" $1 "* ]]; }

# The options the scripts share, parsed the one way: -n RUNS, -r ROUNDS, -o FILE (into
# out_file, made absolute), --tools LIST (into tools, each checked against ALL_TOOLS),
# --keep (keep=1), -h/--help. ACCEPTED names the ones this script takes ("n r o tools
# keep"); a script with options of its own defines extra_option, which is called with the
# arguments left and sets `taken` to how many it used (0: not its option). Then RUNS and
# ROUNDS (when set) must be positive numbers and WARMUP (when set) a number.
parse_options() { # ACCEPTED ARGS...
    local accepted=" $1 " taken opt t
    shift
    out_file="" keep=0
    while [ $# -gt 0 ]; do
        opt=$1
        case $opt in
            -n | -r | -o | --tools) [ $# -ge 2 ] || { log "$opt needs a value"; usage 2 >&2; } ;;
        esac
        case $opt in
            -h | --help) usage 0 ;;
            -n | -r | -o | --tools | --keep)
                [[ $accepted == *" ${opt#"${opt%%[!-]*}"} "* ]] || { log "$SCRIPT takes no $opt"; usage 2 >&2; }
                case $opt in
                    -n) RUNS=$2 ;;
                    -r) ROUNDS=$2 ;;
                    -o) out_file=$(realpath -m "$2") ;;
                    --tools) IFS=, read -r -a tools <<<"$2" ;;
                    --keep) keep=1; shift; continue ;;
                esac
                shift 2
                ;;
            *)
                taken=0
                if declare -F extra_option >/dev/null; then extra_option "$@"; fi
                [ "$taken" -gt 0 ] || { log "unknown argument $opt"; usage 2 >&2; }
                shift "$taken"
                ;;
        esac
    done
    [[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "-n (RUNS) wants a positive number, not '$RUNS'"
    [[ ${ROUNDS-1} =~ ^[1-9][0-9]*$ ]] || die "-r (ROUNDS) wants a positive number, not '$ROUNDS'"
    [[ ${WARMUP-0} =~ ^[0-9]+$ ]] || die "WARMUP wants a number, not '$WARMUP'"
    if [[ $accepted == *" tools "* ]]; then
        for t in "${tools[@]}"; do
            [[ " ${ALL_TOOLS[*]} " == *" $t "* ]] || die "unknown tool $t (the tools: ${ALL_TOOLS[*]})"
        done
    fi
}

# Every cgroup named $CG* at the top of any hierarchy, children first.
remove_cgroups() {
    local d left=0
    for d in /sys/fs/cgroup/*/"$CG" /sys/fs/cgroup/*/"$CG"-*; do
        [ -d "$d" ] || continue
        if [ "$(stat -f -c %T "$d")" = tmpfs ]; then
            # not a cgroup: crun, seeing a "0::/" line in /proc/self/cgroup, writes
            # /sys/fs/cgroup/unified/<path>/cgroup.procs into the tmpfs under the hidden mount
            rm -rf "$d"
            continue
        fi
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
        [ ! -d "$d" ] || { log "cannot remove cgroup $d (tasks: $(find "$d" -name tasks -exec cat {} + | tr '\n' ' '))"; left=1; }
    done
    return $left
}

# Any process still running from $tmp was started by this script: stopped by PID.
stop_tmp_processes() {
    local p
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" != $$ ] || continue
        # a process may end between the glob and the read
        if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF "$tmp/"; then
            log "stopping leftover process $p: $({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-100)"
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    sleep 0.2
}

# Mounts under $tmp in this namespace, deepest first.
unmount_tmp() {
    awk -v p="$tmp/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" || true
    done
}

# ROUNDS hyperfine runs of every tool, the order rotating by one each round, into
# $tmp/round<R>.json and .txt.
run_rounds() {
    local k=${#tools[@]} r i t args order
    log "timing: ${tools[*]}; $ROUNDS round(s) x ($WARMUP warm-up + $RUNS timed) runs per tool"
    for ((r = 0; r < ROUNDS; r++)); do
        args=()
        order=()
        for ((i = 0; i < k; i++)); do
            t=${tools[$(((i + r) % k))]}
            order+=("$t")
            args+=(-n "$t" "${CMD[$t]}")
        done
        log "round $((r + 1))/$ROUNDS: ${order[*]}"
        hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$tmp/round$r.json" "${args[@]}" \
            >"$tmp/round$r.txt" 2>&1 || { cat "$tmp/round$r.txt" >&2; die "hyperfine failed in round $((r + 1))"; }
    done
}

# Every timed run of tool $1 over all rounds, in ms; the median of tool $2 in round $1.
times_of() { cat "$tmp"/round*.json | jq -r --arg n "$1" '.results[] | select(.command == $n) | .times[] * 1000'; }
round_median() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .times[] * 1000' "$tmp/round$1.json" | median; }
