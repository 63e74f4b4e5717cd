#!/usr/bin/env bash
# The decode headline of docs/BENCHMARKS.md §2.1 on the GPU machine's host CPUs (16 cores; no Go
# there), in one device call of at most 10 minutes: party processes over loopback TLS, no GPU in
# use (MPCACHE_GPU=cpu), the tournaments planned for PLAN (lan or wan). Results, report and plots
# go to $OUT/headline-$PLAN; the machine's cores and memory to $OUT/machine.txt.
#
# On the Go machine first:
#   CGO_ENABLED=0 go build -o .devbin/bench ./cmd/bench
# then on the device machine, from the repository root (carry .devbin):
#   bash tools/bench/host_run.sh
#   PLAN=wan POLICIES=full,mpcache@0.03 bash tools/bench/host_run.sh
set -uo pipefail
OUT="${OUT:-/tmp/host-out}"
PLAN="${PLAN:-lan}"
POLICIES="${POLICIES:-full,mpcache@0.05,mpcache@0.03}"
REPEATS="${REPEATS:-3}"
mkdir -p "$OUT"
{ nproc; grep -E "MemTotal|MemAvailable" /proc/meminfo; } 2>&1 | tee "$OUT/machine.txt"
# Stop short of the call's limit, so that the finished runs come back.
MPCACHE_GPU=cpu timeout "${RUN_TIMEOUT:-560}" ./.devbin/bench run --models gpt2-124m --protocols 3pc,2pc \
	--policies "$POLICIES" --contexts 2048,4096 --phases decode --nets none --layers 3 --tokens 3 \
	--warmup 1 --repeats "$REPEATS" --plan "$PLAN" --out "$OUT/headline-$PLAN" 2>&1 | tail -n 5
