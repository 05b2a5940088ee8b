#!/usr/bin/env bash
# Prints wahealth's performance figures against the CAMS simulator (loopback only):
#  - BenchmarkThroughput: 500 targets at cams.qps 5 with 300 ms latency: achieved calls per
#    second as a ratio of the limit (goal >= 0.95) and the throttled count (goal 0). ~100 s.
#  - BenchmarkDiff10k: CPU time and allocations of diffing 10,000 entities.
#  - BenchmarkFileSave: saving a 10,000-entity state to the file store.
# Override the throughput run with e.g. TARGETS=1000 QPS=5 LATENCY=300ms.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'Diff10k|FileSave' -benchmem ./pkg/health/ ./pkg/state/
go test -run '^$' -bench Throughput -benchtime 1x ./pkg/cams/ \
  -args -bench.targets "${TARGETS:-500}" -bench.qps "${QPS:-5}" -bench.latency "${LATENCY:-300ms}"
