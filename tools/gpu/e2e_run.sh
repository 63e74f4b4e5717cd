#!/usr/bin/env bash
# One call on the GPU machine (no Go there): the cuda-tagged tests of package gpu, then
# end-to-end prefill through cmd/bench with the GPU (MPCACHE_GPU=cuda) and without it
# (MPCACHE_GPU=cpu), same binary, same grid point, alternating backends. Logs and results go
# to $OUT (cuda/, cpu/, test.txt, e2e.txt).
#
# On the Go machine first:
#   CGO_ENABLED=0 go test -c -tags cuda -o .devbin/gpu.test ./gpu
#   CGO_ENABLED=0 go build -tags cuda -o .devbin/bench ./cmd/bench
# then on the GPU machine, from the repository root (carry .devbin):
#   bash tools/gpu/e2e_run.sh
#   CTX=512 LAYERS=2 PROTOS="3pc" STEPS=bench bash tools/gpu/e2e_run.sh
set -uo pipefail
OUT="${OUT:-/tmp/gpu-out}"
mkdir -p "$OUT"
STEPS="${STEPS:-test bench}"
CTX="${CTX:-1024}"
LAYERS="${LAYERS:-1}"
PROTOS="${PROTOS:-3pc 2pc}"
MODEL="${MODEL:-gpt2-124m}"
CUDA_MODE="${CUDA_MODE:-auto}" # MPCACHE_GPU of the cuda runs: auto (the cost model) or cuda (every product)
RUN_TIMEOUT="${RUN_TIMEOUT:-150}"
MAX_RSS_KB="${MAX_RSS_KB:-110000000}" # stop a run whose RSS passes this (the machine has 128 GiB)
root="$(pwd)"
has() { [[ " $STEPS " == *" $1 "* ]]; }
log="$OUT/e2e.txt"

{ nvidia-smi -L; nproc; grep -E "MemTotal|MemAvailable" /proc/meminfo; } 2>&1 | tee "$log"

if has test; then
	(cd gpu && timeout 150 ../.devbin/gpu.test -test.v -test.timeout 140s >"$OUT/test.txt" 2>&1)
	echo "test exit $?" | tee -a "$log"
	head -n 3 "$OUT/test.txt"
	echo "top-level: $(grep -c '^--- PASS' "$OUT/test.txt") pass, $(grep -c '^--- FAIL' "$OUT/test.txt") fail," \
		"$(grep -c '^--- SKIP' "$OUT/test.txt") skip; subtests: $(grep -c '^    --- PASS' "$OUT/test.txt") pass," \
		"$(grep -c '^    --- FAIL' "$OUT/test.txt") fail" | tee -a "$log"
	grep -E "^(--- FAIL|--- SKIP|FAIL|ok|PASS)" "$OUT/test.txt" | head -n 20
fi

# bench_one BACKEND PROTO: one grid point; the RSS of the bench process is watched.
bench_one() {
	local b="$1" p="$2" start peak=0 rss mode=cpu
	[[ $b == cuda ]] && mode=$CUDA_MODE
	start=$(date +%s%N)
	GOMEMLIMIT=90GiB MPCACHE_GPU="$mode" timeout "$RUN_TIMEOUT" ./.devbin/bench run --inproc --models "$MODEL" \
		--protocols "$p" --phases prefill --contexts "$CTX" --layers "$LAYERS" --nets none --policies full \
		--backends "$b" --out "$OUT/$b" >>"$log" 2>&1 &
	local pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		for c in $(pgrep -P "$pid") "$pid"; do
			rss=$(awk '/VmRSS/ {print $2}' "/proc/$c/status" 2>/dev/null || echo 0)
			((rss > peak)) && peak=$rss
			if ((rss > MAX_RSS_KB)); then
				echo "RSS $rss kB: stopping $b $p" | tee -a "$log"
				kill "$c"
			fi
		done
		sleep 1
	done
	wait "$pid"
	rc=$?
	echo "bench $b (MPCACHE_GPU=$mode) $p ctx=$CTX layers=$LAYERS: exit $rc, $((($(date +%s%N) - start) / 1000000)) ms wall, peak RSS $((peak / 1024)) MiB" | tee -a "$log"
}

if has bench; then
	for p in $PROTOS; do
		bench_one cuda "$p"
		if [[ $rc == 124 && $CTX -gt 256 ]]; then # too slow for the call: halve the context
			CTX=$((CTX / 2))
			echo "halving the context to $CTX" | tee -a "$log"
			bench_one cuda "$p"
		fi
		bench_one cpu "$p"
	done
	for b in cuda cpu; do
		[[ -f "$OUT/$b/report.md" ]] && grep -E "^\| full" "$OUT/$b/report.md" | head -n 4
	done
fi
cd "$root"
