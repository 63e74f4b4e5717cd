//go:build cuda

package gpu

// Bindings of the CUDA driver API (libcuda.so.1) through purego: no cgo, no CUDA headers.
// Only the calls this package needs; names follow the driver's (the _v2 ABI where one exists).

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/ebitengine/purego"
)

// cuResult is the driver's CUresult.
type cuResult int32

// Device attributes (CUdevice_attribute) and function attributes (CUfunction_attribute).
const (
	attrMultiprocessorCount    = 16
	attrComputeCapabilityMajor = 75
	attrComputeCapabilityMinor = 76
	attrMaxSharedPerBlockOptin = 97
	funcAttrNumRegs            = 4
	funcAttrLocalSizeBytes     = 3
	funcAttrMaxDynamicShared   = 8
	jitInfoLogBuffer           = 3
	jitInfoLogBufferSize       = 4
	jitErrorLogBuffer          = 5
	jitErrorLogBufferSize      = 6
)

// driver holds the bound entry points of libcuda.
type driver struct {
	init                   func(flags uint32) cuResult
	driverGetVersion       func(v *int32) cuResult
	deviceGetCount         func(n *int32) cuResult
	deviceGet              func(dev *int32, ordinal int32) cuResult
	deviceGetName          func(name *byte, n int32, dev int32) cuResult
	deviceGetAttribute     func(v *int32, attr int32, dev int32) cuResult
	deviceTotalMem         func(bytes *uintptr, dev int32) cuResult
	devicePrimaryCtxRetain func(ctx *uintptr, dev int32) cuResult
	ctxSetCurrent          func(ctx uintptr) cuResult
	moduleLoadDataEx       func(mod *uintptr, image *byte, n uint32, opts *int32, vals *uintptr) cuResult
	moduleGetFunction      func(fn *uintptr, mod uintptr, name *byte) cuResult
	funcSetAttribute       func(fn uintptr, attr int32, v int32) cuResult
	funcGetAttribute       func(v *int32, attr int32, fn uintptr) cuResult
	memAlloc               func(p *uintptr, size uintptr) cuResult
	memFree                func(p uintptr) cuResult
	memcpyHtoDAsync        func(dst uintptr, src unsafe.Pointer, n uintptr, stream uintptr) cuResult
	memcpyDtoHAsync        func(dst unsafe.Pointer, src uintptr, n uintptr, stream uintptr) cuResult
	memcpyDtoDAsync        func(dst, src uintptr, n uintptr, stream uintptr) cuResult
	launchKernel           func(f uintptr, gx, gy, gz, bx, by, bz, shmem uint32, stream uintptr, params unsafe.Pointer, extra unsafe.Pointer) cuResult
	streamCreate           func(s *uintptr, flags uint32) cuResult
	streamSynchronize      func(s uintptr) cuResult
	eventCreate            func(e *uintptr, flags uint32) cuResult
	eventRecord            func(e, s uintptr) cuResult
	eventSynchronize       func(e uintptr) cuResult
	eventElapsedTime       func(ms *float32, start, end uintptr) cuResult
	eventDestroy           func(e uintptr) cuResult
	getErrorName           func(err cuResult, s **byte) cuResult
}

// cuda is the loaded driver; valid once loadDriver has succeeded.
var cuda driver

// loadDriver opens libcuda (MPCACHE_LIBCUDA overrides the path) and binds every entry point.
// It reports a missing library or symbol as an error wrapping ErrNoDriver; it never panics.
func loadDriver() error {
	names := []string{"libcuda.so.1", "libcuda.so"}
	if p := os.Getenv("MPCACHE_LIBCUDA"); p != "" {
		names = []string{p}
	}
	var lib uintptr
	var openErr error
	for _, name := range names {
		h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			lib = h
			break
		}
		if openErr == nil {
			openErr = err
		}
	}
	if lib == 0 {
		return fmt.Errorf("%w (%v)", ErrNoDriver, openErr)
	}
	bind := []struct {
		fn   any
		name string
	}{
		{&cuda.init, "cuInit"},
		{&cuda.driverGetVersion, "cuDriverGetVersion"},
		{&cuda.deviceGetCount, "cuDeviceGetCount"},
		{&cuda.deviceGet, "cuDeviceGet"},
		{&cuda.deviceGetName, "cuDeviceGetName"},
		{&cuda.deviceGetAttribute, "cuDeviceGetAttribute"},
		{&cuda.deviceTotalMem, "cuDeviceTotalMem_v2"},
		{&cuda.devicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
		{&cuda.ctxSetCurrent, "cuCtxSetCurrent"},
		{&cuda.moduleLoadDataEx, "cuModuleLoadDataEx"},
		{&cuda.moduleGetFunction, "cuModuleGetFunction"},
		{&cuda.funcSetAttribute, "cuFuncSetAttribute"},
		{&cuda.funcGetAttribute, "cuFuncGetAttribute"},
		{&cuda.memAlloc, "cuMemAlloc_v2"},
		{&cuda.memFree, "cuMemFree_v2"},
		{&cuda.memcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"},
		{&cuda.memcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"},
		{&cuda.memcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"},
		{&cuda.launchKernel, "cuLaunchKernel"},
		{&cuda.streamCreate, "cuStreamCreate"},
		{&cuda.streamSynchronize, "cuStreamSynchronize"},
		{&cuda.eventCreate, "cuEventCreate"},
		{&cuda.eventRecord, "cuEventRecord"},
		{&cuda.eventSynchronize, "cuEventSynchronize"},
		{&cuda.eventElapsedTime, "cuEventElapsedTime"},
		{&cuda.eventDestroy, "cuEventDestroy_v2"},
		{&cuda.getErrorName, "cuGetErrorName"},
	}
	for _, b := range bind {
		sym, err := purego.Dlsym(lib, b.name)
		if err != nil {
			return fmt.Errorf("%w (libcuda lacks %s: %v)", ErrNoDriver, b.name, err)
		}
		purego.RegisterFunc(b.fn, sym)
	}
	return nil
}

// driverError is a failed driver call.
type driverError struct {
	op   string
	code cuResult
}

func (e *driverError) Error() string {
	name := "unknown error"
	if cuda.getErrorName != nil {
		var s *byte
		if cuda.getErrorName(e.code, &s) == 0 && s != nil {
			name = cString(s)
		}
	}
	return fmt.Sprintf("gpu: %s: %s (%d)", e.op, name, int(e.code))
}

// check turns a CUresult into nil or a *driverError naming op.
func check(op string, r cuResult) error {
	if r == 0 {
		return nil
	}
	return &driverError{op, r}
}

// cString copies a NUL-terminated C string.
func cString(p *byte) string {
	var b []byte
	for q := unsafe.Pointer(p); *(*byte)(q) != 0; q = unsafe.Add(q, 1) {
		b = append(b, *(*byte)(q))
	}
	return string(b)
}
