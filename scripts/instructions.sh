#!/usr/bin/env bash
# Instructions per request through a real server (callgrind on the bench host, wrk on
# loopback): the host route without Connect and with it, per framework and mount, and the
# bare hello route beside `start`. Valgrind counts instructions, not seconds, so the figures
# do not depend on what else the machine is doing; its CPU has no SHA extensions.
#
#   bash scripts/instructions.sh [seconds_per_figure=4] [targets="axum:wrap axum:route_layer axum:merge actix"]
#
# Each figure: counters zeroed, wrk (one connection, `seconds` long) against one route, counters
# dumped; instructions / requests. The server's idle work in that window (timers) is included,
# and is the same for every route.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-4}
TARGETS=${2:-axum:wrap axum:route_layer axum:merge actix}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
T=${CARGO_TARGET_DIR:-target}/release/examples
cargo build --release --quiet --features actix --example bench_host
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for target in $TARGETS; do
    fw=${target%%:*}
    mount=${target#*:}
    [ "$mount" = "$target" ] && mount=wrap
    # stdin from /dev/null: valgrind waits on a terminal otherwise.
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" "$T/bench_host" memory "$fw" "$mount" \
        </dev/null >"$work/out" 2>"$work/err" &
    vpid=$!
    for _ in $(seq 1 300); do grep -q READY "$work/out" && break; sleep 0.2; done
    read -r _ WITH WITHOUT KEY < <(grep READY "$work/out")
    START="/v1/oauth/mock/start?return_url=http%3A%2F%2F$WITH%2Fdone"
    per() {
        callgrind_control -z "$vpid" >/dev/null
        local n
        n=$(wrk -t1 -c1 -d"${DUR}s" -H "Authorization: Bearer $KEY" "$1" | awk '/requests in/ {print $1}')
        callgrind_control -d "$vpid" >/dev/null
        sleep 0.3
        local f
        f=$(ls -t "$work"/cg."$vpid".* | head -1)
        awk -v n="$n" '/^totals:/ {printf "%.0f\n", $2 / n; exit}' "$f"
    }
    wrk -t1 -c1 -d2s "http://$WITH/host" >/dev/null # warm up both listeners
    wrk -t1 -c1 -d2s "http://$WITHOUT/host" >/dev/null
    without=$(per "http://$WITHOUT/host")
    with=$(per "http://$WITH/host")
    hello=$(per "http://$WITH/hello")
    start=$(per "http://$WITH$START")
    awk -v t="$fw $mount" -v w="$with" -v o="$without" -v h="$hello" -v s="$start" 'BEGIN {
        printf "%-18s host route: %d without Connect, %d with: %.3fx | hello %d, start %d: %.2fx\n", t, o, w, w / o, h, s, s / h }'
    kill "$vpid"
    wait "$vpid" 2>/dev/null || true
done
