#!/usr/bin/env bash
# Load measurements for BENCHMARKS.md: throughput and latency of the bare hello route,
# `start`, a host route with and without ConnectLayer, and a full-flow storm; the server
# pinned to core 0 and the load generator (wrk) to core 1. Loopback only.
#
#   bash scripts/load.sh [duration_secs=10] [runs=3]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
RUNS=${2:-3}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --example bench_host --example flow_storm --example flow_memory

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
rps() { grep -E '^Requests/sec' | awk '{print $2}'; }
p99() { grep -E '^ +99%' | awk '{print $2}'; }

run_store() {
    local store=$1
    local out
    out=$(mktemp)
    taskset -c 0 target/release/examples/bench_host "$store" >"$out" &
    local pid=$!
    for _ in $(seq 1 100); do grep -q READY "$out" && break; sleep 0.1; done
    read -r _ WITH WITHOUT KEY < <(grep READY "$out")
    local START="/v1/oauth/mock/start?return_url=http%3A%2F%2F$WITH%2Fdone"
    declare -A R P
    for name in hello start host_with host_without; do
        case $name in
            hello) url="http://$WITH/hello" ;;
            start) url="http://$WITH$START" ;;
            host_with) url="http://$WITH/host" ;;
            host_without) url="http://$WITHOUT/host" ;;
        esac
        local rs=() ps=()
        for _ in $(seq 1 "$RUNS"); do
            res=$(taskset -c 1 wrk -t1 -c32 -d"${DUR}s" --latency -H "Authorization: Bearer $KEY" "$url")
            rs+=("$(echo "$res" | rps)")
            ps+=("$(echo "$res" | p99)")
        done
        R[$name]=$(printf '%s\n' "${rs[@]}" | median)
        P[$name]=$(printf '%s\n' "${ps[@]}" | tr ' ' '\n' | head -1)
        echo "$store $name: median ${R[$name]} req/s over $RUNS runs (p99 of runs: ${ps[*]})"
    done
    awk -v s="${R[start]}" -v h="${R[hello]}" -v w="${R[host_with]}" -v o="${R[host_without]}" -v st="$store" \
        'BEGIN { printf "%s ratios: start/hello throughput %.0f%%, host route with/without layer %.1f%%\n", st, 100*s/h, 100*w/o }'
    if [ "$store" = memory ]; then
        taskset -c 1 target/release/examples/flow_storm "$WITH" "$KEY" 1000
    fi
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -f "$out"
}

run_store memory
run_store sqlite
target/release/examples/flow_memory
