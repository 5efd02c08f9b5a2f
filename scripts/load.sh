#!/usr/bin/env bash
# Load measurements for BENCHMARKS.md: throughput and latency of the bare hello route,
# `start`, a host route with and without Connect mounted, and a full-flow storm, on axum and
# actix-web, with the memory and the SQLite store; the server pinned to core 0 and the load
# generator (wrk) to core 1. Loopback only.
#
#   bash scripts/load.sh [duration_secs=10] [runs=3] [frameworks="axum actix"] [stores="memory sqlite"]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
RUNS=${2:-3}
FRAMEWORKS=${3:-axum actix}
STORES=${4:-memory sqlite}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
T=${CARGO_TARGET_DIR:-target}/release/examples
cargo build --release --quiet --features actix --example bench_host --example flow_storm --example flow_memory

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# wrk prints latencies as 812.00us, 1.23ms or 2.00s: to microseconds.
to_us() { awk '/us$/ {sub("us",""); print $1; next} /ms$/ {sub("ms",""); print $1*1000; next} /s$/ {sub("s",""); print $1*1000000}'; }
rps() { grep -E '^Requests/sec' | awk '{print $2}'; }
p99() { grep -E '^ +99%' | awk '{print $2}'; }

run_store() {
    local store=$1 fw=$2
    local out
    out=$(mktemp)
    taskset -c 0 $T/bench_host "$store" "$fw" >"$out" &
    local pid=$!
    for _ in $(seq 1 100); do grep -q READY "$out" && break; sleep 0.1; done
    read -r _ WITH WITHOUT KEY < <(grep READY "$out")
    local START="/v1/oauth/mock/start?return_url=http%3A%2F%2F$WITH%2Fdone"
    declare -A R P RS PS
    # Runs interleaved (each round measures every route once), so that drift over the
    # minutes of a measurement (the machine, the heap growing with pending flows) falls on
    # every route alike.
    for _ in $(seq 1 "$RUNS"); do
        for name in hello start host_with host_without; do
            case $name in
                hello) url="http://$WITH/hello" ;;
                start) url="http://$WITH$START" ;;
                host_with) url="http://$WITH/host" ;;
                host_without) url="http://$WITHOUT/host" ;;
            esac
            res=$(taskset -c 1 wrk -t1 -c32 -d"${DUR}s" --latency -H "Authorization: Bearer $KEY" "$url")
            RS[$name]+="$(echo "$res" | rps) "
            PS[$name]+="$(echo "$res" | p99) "
        done
    done
    for name in hello start host_with host_without; do
        R[$name]=$(printf '%s\n' ${RS[$name]} | median)
        P[$name]=$(printf '%s\n' ${PS[$name]} | to_us | median)
        echo "$fw $store $name: median ${R[$name]} req/s, median p99 ${P[$name]} us over $RUNS runs (req/s of runs: ${RS[$name]}; p99 of runs: ${PS[$name]})"
    done
    # Each ratio is taken within a round (the two runs a few seconds apart), and the median
    # of the rounds' ratios reported: on a shared VM the whole machine drifts by tens of
    # percent over a minute, which a ratio of medians taken minutes apart would carry.
    ratio() { paste -d' ' <(printf '%s\n' $1) <(printf '%s\n' $2) | awk '{print $1 / $2}' | median; }
    local tp hp rp
    tp=$(ratio "${RS[start]}" "${RS[hello]}")
    hp=$(ratio "$(printf '%s\n' ${PS[start]} | to_us)" "$(printf '%s\n' ${PS[hello]} | to_us)")
    rp=$(ratio "${RS[host_with]}" "${RS[host_without]}")
    awk -v t="$tp" -v h="$hp" -v r="$rp" -v st="$store" -v fw="$fw" -v n="$RUNS" \
        'BEGIN { printf "%s %s ratios (median of %d rounds): start/hello throughput %.0f%%, start/hello p99 %.2fx, host route with/without Connect %.1f%%\n", fw, st, n, 100*t, h, 100*r }'
    if [ "$store" = memory ] && [ "$fw" = axum ]; then
        taskset -c 1 $T/flow_storm "$WITH" "$KEY" 1000
    fi
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -f "$out"
}

for fw in $FRAMEWORKS; do
    for store in $STORES; do
        run_store "$store" "$fw"
    done
done
$T/flow_memory
