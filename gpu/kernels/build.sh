#!/usr/bin/env bash
# Compiles ring.cu to the PTX that package gpu embeds (go:embed, build tag cuda):
#   ring_sm90.ptx  for compute capability 9.0 (H100, H200) and, through the driver's JIT, newer
#   ring_sm80.ptx  portable: compute_80, JIT-compiled by the driver on any card of cc >= 8.0
# Run from anywhere on a machine with nvcc (CUDA 12 or 13); commit the .ptx files it writes.
#   build.sh          write the PTX next to this script
#   build.sh -v       also assemble each PTX with ptxas and print registers, spills, shared memory
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
NVCC="${NVCC:-nvcc}"
flags=(-ptx -O3 -std=c++17)
"$NVCC" "${flags[@]}" -arch=sm_90 -o "$here/ring_sm90.ptx" "$here/ring.cu"
"$NVCC" "${flags[@]}" -arch=compute_80 -o "$here/ring_sm80.ptx" "$here/ring.cu"
if [[ "${1:-}" == "-v" ]]; then
	PTXAS="${PTXAS:-ptxas}"
	"$PTXAS" -arch=sm_90 -v -o /dev/null "$here/ring_sm90.ptx"
	"$PTXAS" -arch=sm_80 -v -o /dev/null "$here/ring_sm80.ptx"
fi
