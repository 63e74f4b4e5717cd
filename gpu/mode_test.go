package gpu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestParseMode(t *testing.T) {
	for v, want := range map[string]string{"": ModeAuto, "auto": ModeAuto, " AUTO ": ModeAuto,
		"cpu": ModeCPU, "off": ModeCPU, "cuda": ModeCUDA, "CUDA": ModeCUDA, "on": ModeCUDA} {
		if m, ok := parseMode(v); !ok || m != want {
			t.Errorf("parseMode(%q) = %q, %v; want %q", v, m, ok, want)
		}
	}
	if m, ok := parseMode("gpu"); ok || m != ModeAuto {
		t.Errorf("parseMode(gpu) = %q, %v; want auto, false", m, ok)
	}
}

// TestForcedCUDA runs this test binary again with MPCACHE_GPU=cuda: where no GPU is usable
// (no cuda tag, driver or device), Check must fail with ErrForced and MatMul must decline
// without panicking and leave the error to Fault; with a device, Check passes, MatMul
// computes and Fault stays nil.
func TestForcedCUDA(t *testing.T) {
	if os.Getenv("MPCACHE_GPU_TEST_CHILD") == "1" {
		forcedChild()
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestForcedCUDA$", "-test.v")
	cmd.Env = append(os.Environ(), "MPCACHE_GPU=cuda", "MPCACHE_GPU_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	s := string(out)
	if err != nil {
		t.Fatalf("child: %v\n%s", err, s)
	}
	switch {
	case strings.Contains(s, "child: device"):
		t.Log("a device is usable: forced mode computes on it")
	case strings.Contains(s, "child: forced") && strings.Contains(s, "MPCACHE_GPU=cuda, but"):
	default:
		t.Fatalf("unexpected child output:\n%s", s)
	}
}

func forcedChild() {
	if Mode() != ModeCUDA {
		fmt.Println("child: mode", Mode())
		os.Exit(1)
	}
	err := Check()
	if err == nil {
		c := make([]uint64, 1)
		if !MatMul(c, []uint64{3}, []uint64{5}, 1, 1, 1, false) || c[0] != 15 || Fault() != nil {
			fmt.Println("child: forced MatMul declined or wrong, or a fault:", Fault())
			os.Exit(1)
		}
		fmt.Println("child: device")
		return
	}
	if !errors.Is(err, ErrForced) || (!errors.Is(err, ErrNoDriver) && !errors.Is(err, ErrNotBuilt)) {
		fmt.Println("child: Check:", err)
		os.Exit(1)
	}
	if Fault() != nil {
		fmt.Println("child: a fault before any product:", Fault())
		os.Exit(1)
	}
	if MatMul(make([]uint64, 1), []uint64{3}, []uint64{5}, 1, 1, 1, false) {
		fmt.Println("child: MatMul did not decline")
		os.Exit(1)
	}
	if f := Fault(); f == nil || !errors.Is(f, ErrForced) {
		fmt.Println("child: Fault after a forced product:", f)
		os.Exit(1)
	}
	fmt.Printf("child: forced: %v\n", Fault())
}
