//go:build !cuda

package gpu

import "testing"

// TestStub checks that a build without the cuda tag declines everything.
func TestStub(t *testing.T) {
	if Init() != ErrNotBuilt || Available() {
		t.Fatal("stub reports a device")
	}
	if MatMul(make([]uint64, 1), []uint64{1}, []uint64{1}, 1, 1, 1, false) {
		t.Fatal("stub MatMul accepted")
	}
	if _, err := Upload([]uint64{1}); err != ErrNotBuilt {
		t.Fatalf("stub Upload: %v", err)
	}
}
