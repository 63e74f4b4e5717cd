#!/usr/bin/env bash
# One call on the GPU machine (no Go there): build the PTX with nvcc, run the cuda-tagged
# tests and benchmarks of package gpu from a test binary built on the Go machine, and the CPU
# benchmark of mpc/ring for comparison. Logs go to $OUT.
#
# On the Go machine first:
#   CGO_ENABLED=0 go test -c -tags cuda -o .devbin/gpu.test ./gpu
#   CGO_ENABLED=0 go test -c -o .devbin/ring.test ./mpc/ring
# then on the GPU machine, from the repository root (carry .devbin):
#   bash tools/gpu/device_run.sh            # env, PTX, tests, benchmarks
#   STEPS="ptx bench" BENCH=Gemm/int8 bash tools/gpu/device_run.sh
set -uo pipefail
OUT="${OUT:-/tmp/gpu-out}"
mkdir -p "$OUT"
STEPS="${STEPS:-env ptx test bench ring}"
root="$(pwd)"
has() { [[ " $STEPS " == *" $1 "* ]]; }

if has env; then
	{ nvcc --version; nvidia-smi; ls /usr/local/cuda*/lib64 2>/dev/null | grep -i cublas; nproc; } >"$OUT/env.txt" 2>&1
	head -n 30 "$OUT/env.txt"
fi
if has ptx; then
	if ! bash gpu/kernels/build.sh -v >"$OUT/ptxas.txt" 2>&1; then
		cat "$OUT/ptxas.txt"
		exit 1
	fi
	cp gpu/kernels/ring_sm90.ptx gpu/kernels/ring_sm80.ptx "$OUT/"
	grep -E "Compiling entry|registers|spill" "$OUT/ptxas.txt" | head -n 40
	export MPCACHE_GPU_PTX_DIR="$root/gpu/kernels"
fi
cd gpu
if has test; then
	timeout 400 ../.devbin/gpu.test -test.v -test.timeout 390s ${TESTRUN:+-test.run "$TESTRUN"} >"$OUT/test.txt" 2>&1
	echo "test exit $?"
	head -n 12 "$OUT/test.txt"
	grep -E "^(--- FAIL|FAIL|ok|PASS)|cuda_test.go" "$OUT/test.txt" | head -n 40
fi
if has bench; then
	timeout 400 ../.devbin/gpu.test -test.run '^$' -test.bench "${BENCH:-.}" -test.benchtime "${BT:-300ms}" \
		${COUNT:+-test.count "$COUNT"} >"$OUT/bench.txt" 2>&1
	echo "bench exit $?"
	grep -E "^Benchmark" "$OUT/bench.txt" | awk '{printf "%-70s %10s %s %s %s %s\n", $1, $2, $3, $4, $5, $6}'
fi
# ABDIR=dir: the INT8 benchmarks again with the PTX in dir (an earlier kernel version, same
# parameters), for a comparison on the same card.
if [[ -n "${ABDIR:-}" ]]; then
	MPCACHE_GPU_PTX_DIR="$root/$ABDIR" timeout 200 ../.devbin/gpu.test -test.run '^$' -test.bench 'Gemm/int8/' \
		-test.benchtime "${BT:-300ms}" ${COUNT:+-test.count "$COUNT"} >"$OUT/bench_ab.txt" 2>&1
	echo "A/B ($ABDIR) exit $?"
	grep -E "^Benchmark" "$OUT/bench_ab.txt" | awk '{printf "%-70s %s %s\n", $1, $5, $6}'
fi
cd "$root"
if has ring; then
	cd mpc/ring
	timeout 300 ../../.devbin/ring.test -test.run '^$' -test.bench "${RINGBENCH:-MatMul}" -test.benchtime "${RBT:-3x}" >"$OUT/ring.txt" 2>&1
	echo "ring exit $?"
	grep -E "^Benchmark" "$OUT/ring.txt" | head -n 40
fi
