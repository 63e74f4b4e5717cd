package model

import (
	"math"
	"testing"
)

func near(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

// TestKernels checks each kernel of the forward on values worked out independently.
func TestKernels(t *testing.T) {
	a := arith{}
	cases := []struct {
		name string
		got  func() []float64
		want []float64
	}{
		{"gelu_new", func() []float64 { return []float64{a.gelu(1), a.gelu(-1), a.gelu(0), a.gelu(3)} },
			[]float64{0.8411919906082768, -0.15880800939172324, 0, 2.996362607918227}},
		{"silu", func() []float64 { return []float64{a.silu(1), a.silu(-2), a.silu(0)} },
			[]float64{0.7310585786300049, -0.23840584404423537, 0}},
		{"softmax", func() []float64 { s := []float64{1, 2, 3}; a.softmax(s); return s },
			[]float64{0.09003057317038046, 0.24472847105479767, 0.6652409557748219}},
		{"layernorm", func() []float64 {
			return a.layerNorm([]float64{1, 2, 3, 4}, 1, []float64{1, 1, 2, 1}, []float64{0, 0, 0, 1}, 0)
		}, []float64{-1.3416407864998738, -0.4472135954999579, 0.8944271909999159, 2.3416407864998738}},
		{"rmsnorm", func() []float64 { return a.rmsNorm([]float64{3, 4}, 1, []float64{1, 2}, 0) },
			[]float64{3 / math.Sqrt(12.5), 8 / math.Sqrt(12.5)}},
		{"rope pos 0", func() []float64 { x := []float64{1, 2, 3, 4}; a.rope(x, 1, 1, 4, 0, 10000); return x },
			[]float64{1, 2, 3, 4}},
		{"rope pos 1", func() []float64 { x := []float64{1, 0, 1, 0}; a.rope(x, 1, 1, 4, 1, 10000); return x },
			[]float64{math.Cos(1), math.Sin(1), math.Cos(0.01), math.Sin(0.01)}},
		{"linear", func() []float64 {
			return a.linear([]float64{1, 2, 3, 4}, 2, 2, []float64{1, 0, 1, 1, 0, 2}, []float64{0, 0, 1}, 3)
		}, []float64{1, 3, 5, 3, 7, 9}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.got(); !near(got, c.want, 1e-9) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

// TestArith checks the fixed-point rounding rules: products truncate toward −∞,
// encodings round to nearest.
func TestArith(t *testing.T) {
	a, err := newArith(4) // grid 1/16
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		got, want float64
	}{
		{"trunc positive", a.trunc(0.13), 0.125},
		{"trunc negative", a.trunc(-0.13), -0.1875},
		{"round", a.round(0.13), 0.125},
		{"round up", a.round(0.16), 0.1875},
		{"mul", a.mul(0.5, 0.3125), 0.125},
		{"dot truncates once", a.dot([]float64{0.0625, 0.0625}, []float64{0.5, 0.5}), 0.0625},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if _, err := newArith(-1); err == nil {
		t.Error("negative fraction bits accepted")
	}
}
