//go:build !cuda

package gpu

import "time"

// Init would load the CUDA driver; without the cuda build tag it returns ErrNotBuilt, wrapped
// in an error that also wraps ErrForced when MPCACHE_GPU=cuda.
func Init() error {
	if Mode() == ModeCUDA {
		return forcedError{ErrNotBuilt}
	}
	return ErrNotBuilt
}

// Available reports whether a CUDA device is usable; without the cuda build tag it is false.
func Available() bool { return false }

// Device describes the device in use; without the cuda build tag it returns ErrNotBuilt.
func Device() (Info, error) { return Info{}, ErrNotBuilt }

// Buffer is a device allocation of uint64 words. Without the cuda build tag none can be made.
type Buffer struct{}

// Alloc would allocate n words of device memory; without the cuda build tag it returns
// ErrNotBuilt.
func Alloc(n int) (*Buffer, error) { return nil, ErrNotBuilt }

// Upload would copy src to a new device buffer; without the cuda build tag it returns
// ErrNotBuilt.
func Upload(src []uint64) (*Buffer, error) { return nil, ErrNotBuilt }

// Len returns the buffer's length in words (0 without the cuda build tag).
func (b *Buffer) Len() int { return 0 }

// Write would copy src to the start of the buffer; without the cuda build tag it returns
// ErrNotBuilt.
func (b *Buffer) Write(src []uint64) error { return ErrNotBuilt }

// Read would copy the start of the buffer to dst; without the cuda build tag it returns
// ErrNotBuilt.
func (b *Buffer) Read(dst []uint64) error { return ErrNotBuilt }

// Free would release the buffer's device memory; without the cuda build tag it does nothing.
func (b *Buffer) Free() error { return nil }

// Gemm would compute a matrix product on device buffers; without the cuda build tag it returns
// ErrNotBuilt.
func Gemm(c, a, b *Buffer, cfg GemmConfig) error { return ErrNotBuilt }

// Add would set c = a + b elementwise; without the cuda build tag it returns ErrNotBuilt.
func Add(c, a, b *Buffer) error { return ErrNotBuilt }

// Sub would set c = a − b elementwise; without the cuda build tag it returns ErrNotBuilt.
func Sub(c, a, b *Buffer) error { return ErrNotBuilt }

// Mul would set c = a·b elementwise; without the cuda build tag it returns ErrNotBuilt.
func Mul(c, a, b *Buffer) error { return ErrNotBuilt }

// BeaverMatMul would compute a party's Beaver product share z = e·y + a·f + c; without the
// cuda build tag it returns ErrNotBuilt.
func BeaverMatMul(z, e, y, a, f, c *Buffer, m, k, n int, transB bool) error { return ErrNotBuilt }

// ReplicatedMatMul would compute a party's replicated product share
// z = x0·y0 + x0·y1 + x1·y0; without the cuda build tag it returns ErrNotBuilt.
func ReplicatedMatMul(z, x0, x1, y0, y1 *Buffer, m, k, n int, transB bool) error {
	return ErrNotBuilt
}

// Synchronize would wait for the device's queued work; without the cuda build tag it returns
// ErrNotBuilt.
func Synchronize() error { return ErrNotBuilt }

// Elapsed would time f's device work; without the cuda build tag it returns ErrNotBuilt.
func Elapsed(f func() error) (time.Duration, error) { return 0, ErrNotBuilt }

// MatMul would compute c = a·b (or a·bᵀ when transB) mod 2^64 on the GPU; without the cuda
// build tag it declines by returning false, and when MPCACHE_GPU=cuda forbids the CPU it
// records Init's error for Fault first.
func MatMul(c, a, b []uint64, m, k, n int, transB bool) bool {
	if Mode() == ModeCUDA {
		recordFault(Init())
	}
	return false
}

// Pin would keep a copy of the constant host matrix b on the device for MatMul; without the
// cuda build tag it returns ErrNotBuilt.
func Pin(b []uint64) error { return ErrNotBuilt }

// Unpin would release a matrix kept by Pin; without the cuda build tag it does nothing.
func Unpin(b []uint64) {}
