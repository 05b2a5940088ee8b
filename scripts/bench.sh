#!/usr/bin/env bash
# Prints wahealth's performance figures against the CAMS simulator (loopback only):
#  - BenchmarkDiff10k: CPU time and allocations of diffing 10,000 entities.
#  - BenchmarkFileSave: saving a 10,000-entity state to the file store.
#  - BenchmarkThroughput: 1,000 targets at cams.qps 5 with 300 ms latency: achieved calls per
#    second as a ratio of the limit (goal >= 0.95) and the throttled count (goal 0). ~200 s.
#  - scripts/cyclebench: both binaries' sizes (built like scripts/build.sh), the checker's cold
#    start to its first CAMS call, and the CPU seconds and peak memory of full cycles of 10,000
#    and 100,000 entities (goal: 10,000 under 1 s of CPU and under 100 MiB peak). ~1 min.
# Every figure is also printed as a line "figure name=value unit".
# Override the throughput run with e.g. TARGETS=500 QPS=5 LATENCY=300ms; CYCLEBENCH_FLAGS passes
# flags to cyclebench (e.g. "-entities 10000 -repeat 5"; see go run ./scripts/cyclebench -h).
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'Diff10k|FileSave' -benchmem ./pkg/health/ ./pkg/state/

targets=${TARGETS:-1000}
qps=${QPS:-5}
echo "bench.sh: BenchmarkThroughput: $targets targets at qps $qps take about $(awk -v t="$targets" -v q="$qps" 'BEGIN { printf "%d", t / q }') s ..." >&2
# The benchmark's metrics ("4.99 calls/s", "0.998 ratio-of-limit", ...) become figure lines too.
go test -run '^$' -bench Throughput -benchtime 1x -timeout 30m ./pkg/cams/ \
  -args -bench.targets "$targets" -bench.qps "$qps" -bench.latency "${LATENCY:-300ms}" |
  awk '{ print }
    /^BenchmarkThroughput/ {
      for (i = 3; i < NF; i += 2) {
        name = $(i + 1); gsub(/[^A-Za-z0-9]+/, "_", name)
        figures = figures sprintf("figure throughput_%s=%s %s\n", name, $i, $(i + 1))
      }
    }
    END { printf "%s", figures }'

# shellcheck disable=SC2086 # CYCLEBENCH_FLAGS is a list of flags
go run ./scripts/cyclebench ${CYCLEBENCH_FLAGS:-}
