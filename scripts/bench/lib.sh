# Shared by the benchmark scripts (sourced): logging, a median, and stopping the dockerd a
# script started. The sourcing script sets SCRIPT (its name), dockerd_pid and dockerd_exec.

log() { printf '[%s %s] %s\n' "$SCRIPT" "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The median of the numbers on stdin ("nan" for none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Stops the dockerd this script started (by its PID), then the containerd it supervised if
# that outlives it, and only if it runs from our exec root.
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
