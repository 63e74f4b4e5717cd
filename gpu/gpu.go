// Package gpu runs the parties' local Z_2^64 arithmetic on an NVIDIA GPU when the binary is
// built with the build tag cuda and a CUDA driver is present; otherwise every entry point
// declines and callers use the CPU path.
//
// # Building
//
// With -tags cuda the package loads libcuda.so.1 at run time through
// github.com/ebitengine/purego, so it builds with CGO_ENABLED=0 and needs no CUDA toolkit; the
// kernels (gpu/kernels/ring.cu) are embedded as PTX, compiled by gpu/kernels/build.sh for sm_90
// and for the portable target compute_80, which the driver JIT-compiles on other cards of
// compute capability 8.0 or later. A binary built with the tag on a machine without a driver or
// device reports "no CUDA driver" once on standard error and runs on the CPU. Without the tag
// every function here is a stub that declines. The PTX is ISA 9.0 (nvcc 13.0), so the driver
// must support CUDA 13.0 (R580 or later); the package uses device 0's primary context and one
// stream, and serializes its calls.
//
// # Exactness
//
// Every kernel is exact modulo 2^64 and bit-identical to the CPU path of package mpc/ring.
//
// # Device buffers
//
// [Buffer] holds uint64 words in device memory; [Gemm], [Add], [Sub], [Mul], [BeaverMatMul]
// and [ReplicatedMatMul] work on buffers without host round trips, so a layer's local work
// stays on the device between communication rounds. [MatMul] is the host-slice entry point
// used by mpc/ring; [Pin] keeps a constant host matrix (a weight share) resident on the device
// so [MatMul] uploads it once.
//
// # Matrix products
//
// Two strategies compute u64 matrix products ([Strategy]):
//
//   - [Cores]: 64-bit integer multiply-add on CUDA cores, tiles of 128×128 with 8×8 register
//     blocks a thread; products of at most 32 rows (decode) use memory-bound kernels that
//     split k over the threads of a block.
//   - [Int8]: INT8 tensor cores (mma.sync m16n8k32). Each operand is split into eight signed
//     8-bit limbs (balanced digits: the bytes of x+0x8080808080808080 with their top bits
//     flipped); modulo 2^64 only the 36 limb products with i+j < 8 contribute. A CTA keeps the
//     8 sums grouped by i+j in int32 registers for its 64×64 tile and recombines them in u64 in
//     its epilogue. Work items (tile × batch entry × k-split) run on a persistent grid; k is
//     split into items of at most 16320 so int32 accumulation stays exact, and further when
//     that fills the multiprocessors better.
//
// When a product's k is split, the partial results are added with 64-bit atomics, which is
// exact in any order. [Auto] picks Int8 when m and n are at least 64, Cores otherwise.
// docs/GPU.md has the measured rates.
//
// # Choosing the backend
//
// The environment variable MPCACHE_GPU is the one switch, read once per process ([Mode]):
//
//   - unset or "auto": [MatMul] uses the GPU when the binary has the cuda tag, a device is
//     usable and a cost model says the copies pay off for the shape; otherwise the CPU. A
//     binary with the tag but no driver or device says so once on standard error
//     ("gpu: no CUDA driver (...); local arithmetic runs on the CPU") and runs on the CPU.
//   - "cpu" (or "off"): never use the GPU; [Init] returns [ErrDisabled] and loads no driver.
//   - "cuda" (or "on"): [MatMul] uses the GPU for every product (no cost model), and there is
//     no CPU fallback: without the tag, a driver or a device, [Init] returns an error that
//     wraps [ErrForced] (and [ErrNoDriver] or [ErrNotBuilt]), [Check] returns it, and [MatMul]
//     declines and records it for [Fault], as it does a device error during a product; the
//     mpc engine then fails at its next message with that error (the declined product is
//     computed exactly on the CPU first, so no result is wrong).
//
// Programs call [Check] at start-up to fail early with a clear message.
//
// Other variables:
//
//   - MPCACHE_LIBCUDA: the path of the driver library (default libcuda.so.1).
//   - MPCACHE_GPU_PTX_DIR: load ring_sm90.ptx and ring_sm80.ptx from this folder instead of
//     the embedded copies (kernel development).
package gpu

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// Strategy selects the kernel that computes a u64 matrix product.
type Strategy int

const (
	// Auto picks Int8 for shapes with at least 64 rows and columns on cards of compute
	// capability 8.0 or later and Cores otherwise.
	Auto Strategy = iota
	// Cores multiplies 64-bit integers on the CUDA cores.
	Cores
	// Int8 splits each operand into eight 8-bit limbs and multiplies them on the INT8 tensor
	// cores (36 limb products). It needs compute capability 8.0 or later.
	Int8
)

// String returns "auto", "cores" or "int8".
func (s Strategy) String() string {
	switch s {
	case Auto:
		return "auto"
	case Cores:
		return "cores"
	case Int8:
		return "int8"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// GemmConfig describes a (batched) matrix product on device buffers: for each of Batch
// products, c = a·b (or a·bᵀ with TransB), where a is M×K, b is K×N (N×K with TransB) and c is
// M×N, all row-major and stored back to back (product z at offset z·M·K in a, and so on).
type GemmConfig struct {
	Batch   int // number of products; 0 means 1
	M, K, N int
	// TransB says b holds N×K matrices: c = a·bᵀ.
	TransB bool
	// Accumulate adds the product to c (c += a·b) instead of overwriting it.
	Accumulate bool
	// Strategy picks the kernel; the zero value is Auto.
	Strategy Strategy
}

// Info describes the device in use.
type Info struct {
	Name            string // as the driver reports it, e.g. "NVIDIA H100 80GB HBM3"
	Major, Minor    int    // compute capability
	Multiprocessors int
	MemoryBytes     int64 // total device memory
	DriverVersion   int   // e.g. 13000 for CUDA 13.0
}

// String formats the device as "name (sm_XY, N SMs, G GiB, driver CUDA a.b)".
func (i Info) String() string {
	return fmt.Sprintf("%s (sm_%d%d, %d SMs, %.0f GiB, driver CUDA %d.%d)", i.Name, i.Major,
		i.Minor, i.Multiprocessors, float64(i.MemoryBytes)/(1<<30), i.DriverVersion/1000,
		i.DriverVersion%1000/10)
}

var (
	// ErrNotBuilt is returned by every function of a binary built without the cuda tag.
	ErrNotBuilt = errors.New("gpu: built without the cuda build tag")
	// ErrNoDriver is returned (wrapped) when libcuda.so.1 cannot be loaded or has no device.
	ErrNoDriver = errors.New("gpu: no CUDA driver")
	// ErrDisabled is returned when MPCACHE_GPU=cpu (or off).
	ErrDisabled = errors.New("gpu: disabled by MPCACHE_GPU=cpu")
	// ErrForced is wrapped by Init's error when MPCACHE_GPU=cuda but no device is usable.
	ErrForced = errors.New("gpu: MPCACHE_GPU=cuda")
	// ErrFreed is returned when a Buffer is used after Free.
	ErrFreed = errors.New("gpu: use of a freed Buffer")
)

// shapeError reports operands too small for the requested shape.
func shapeError(op, name string, have, need int) error {
	return fmt.Errorf("gpu: %s: %s holds %d words, the shape needs %d", op, name, have, need)
}

// checkGemm validates cfg and returns the batch count and the word counts of a, b and c.
func checkGemm(cfg *GemmConfig) (batch, na, nb, nc int, err error) {
	batch = cfg.Batch
	if batch == 0 {
		batch = 1
	}
	if batch < 0 || cfg.M < 0 || cfg.K < 0 || cfg.N < 0 {
		return 0, 0, 0, 0, fmt.Errorf("gpu: Gemm: negative dimension in %+v", *cfg)
	}
	switch cfg.Strategy {
	case Auto, Cores, Int8:
	default:
		return 0, 0, 0, 0, fmt.Errorf("gpu: Gemm: unknown %v", cfg.Strategy)
	}
	return batch, batch * cfg.M * cfg.K, batch * cfg.K * cfg.N, batch * cfg.M * cfg.N, nil
}

// Backend modes, as MPCACHE_GPU selects them (see [Mode]).
const (
	ModeAuto = "auto" // the GPU where it pays off and is present, else the CPU
	ModeCPU  = "cpu"  // never the GPU
	ModeCUDA = "cuda" // always the GPU; an error where there is none
)

var (
	modeOnce sync.Once
	mode     string
)

// Mode returns the backend MPCACHE_GPU selects: ModeAuto (unset, "" or "auto"), ModeCPU
// ("cpu" or "off") or ModeCUDA ("cuda" or "on"); case and surrounding space are ignored. It is
// read once per process; another value is reported once on standard error and means ModeAuto.
func Mode() string {
	modeOnce.Do(func() {
		v := os.Getenv("MPCACHE_GPU")
		var ok bool
		if mode, ok = parseMode(v); !ok {
			fmt.Fprintf(os.Stderr, "gpu: MPCACHE_GPU=%q is not auto, cpu or cuda; using auto\n", v)
		}
	})
	return mode
}

// parseMode maps a value of MPCACHE_GPU to its mode; ok is false (and the mode ModeAuto) for
// an unknown value.
func parseMode(v string) (m string, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", ModeAuto:
		return ModeAuto, true
	case ModeCPU, "off":
		return ModeCPU, true
	case ModeCUDA, "on":
		return ModeCUDA, true
	}
	return ModeAuto, false
}

// Check returns nil unless MPCACHE_GPU=cuda asks for a GPU that is not usable; then it returns
// Init's error, which wraps ErrForced and says why (no cuda build tag, no driver, no device).
func Check() error {
	if Mode() != ModeCUDA {
		return nil
	}
	return Init()
}

// fault is the first error that kept a MatMul off the GPU under MPCACHE_GPU=cuda.
var fault struct {
	sync.Mutex
	err error
}

// Fault returns the first error that kept MatMul off the GPU while MPCACHE_GPU=cuda forbids
// the CPU (Init's error, or a device error during a product), or nil. MatMul never panics:
// under forced cuda it records the error here and declines, so that the caller's CPU path
// still computes the product exactly; callers (the mpc engine, before every message it sends)
// fail with this error instead of running on. The fault is kept for the life of the process:
// under forced cuda a device that failed once is not trusted again.
func Fault() error {
	fault.Lock()
	defer fault.Unlock()
	return fault.err
}

// recordFault keeps err as Fault's error unless one is kept already.
func recordFault(err error) {
	fault.Lock()
	defer fault.Unlock()
	if fault.err == nil {
		fault.err = err
	}
}

// forcedError is Init's error under MPCACHE_GPU=cuda: it wraps ErrForced and the cause.
type forcedError struct{ cause error }

func (e forcedError) Error() string {
	return ErrForced.Error() + ", but " + strings.TrimPrefix(e.cause.Error(), "gpu: ") +
		"; unset it or set MPCACHE_GPU=cpu to run on the CPU"
}

func (e forcedError) Unwrap() []error { return []error{ErrForced, e.cause} }
