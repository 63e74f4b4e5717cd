package mpc_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/gpu"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/mpctest"
)

// TestGPUFault runs this test binary again under MPCACHE_GPU=cuda. Where no GPU is usable (no
// cuda tag, driver or device), a product cannot run where it must: the engines must fail at
// their next message with gpu's error naming the operation, without a panic; with a usable
// device the same work succeeds.
func TestGPUFault(t *testing.T) {
	if os.Getenv("MPCACHE_GPU_FAULT_CHILD") == "1" {
		gpuFaultChild(t)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestGPUFault$", "-test.v")
	cmd.Env = append(os.Environ(), "MPCACHE_GPU=cuda", "MPCACHE_GPU_FAULT_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "child: ok") {
		t.Fatalf("unexpected child output:\n%s", out)
	}
}

func gpuFaultChild(t *testing.T) {
	for _, p := range protocols {
		x := &mpc.Tensor{Shape: []int{2, 3}, Data: []uint64{1, 2, 3, 4, 5, 6}}
		y := &mpc.Tensor{Shape: []int{3, 2}, Data: []uint64{1, 0, 0, 1, 1, 1}}
		xs, ys := split(t, p, x), split(t, p, y)
		_, err := mpctest.RunErr(p, mpctest.Memory, mpc.Config{}, func(e mpc.Engine) (*mpc.Share, error) {
			z, err := e.MatMul(xs[e.Party()], ys[e.Party()])
			if err != nil {
				return nil, err
			}
			return e.Mul(z, z)
		})
		if gpu.Check() == nil {
			if err != nil {
				t.Fatalf("%s: with a device: %v", p, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "MPCACHE_GPU=cuda, but") || !strings.Contains(err.Error(), "mpc: ") {
			t.Fatalf("%s: forced cuda without a GPU: error %v", p, err)
		}
		t.Logf("%s: %v", p, err)
	}
	t.Log("child: ok")
}
