package model

import (
	"fmt"
	"math"
)

// DefaultFracBits is the number of fractional bits of the project's fixed-point encoding.
const DefaultFracBits = 16

// maxFracBits keeps a product of two encoded values (2f fractional bits) exact in a float64
// mantissa for magnitudes up to 2^(52-2f).
const maxFracBits = 24

// arith is the number system of a forward pass: exact float64 (scale 0) or emulated fixed
// point with f fractional bits (scale 2^f).
//
// Fixed-point emulation follows ring arithmetic: weights and inputs are encoded by rounding
// to the nearest multiple of 2^-f; a product or a sum of products (a dot product) is computed
// exactly and then truncated toward −∞ to f bits, as an arithmetic right shift by f does;
// additions are exact; the outputs of nonlinear functions (exp, reciprocal, rsqrt, SiLU,
// GeLU, cos, sin) are rounded to nearest.
type arith struct{ scale float64 }

func newArith(fracBits int) (arith, error) {
	if fracBits < 0 || fracBits > maxFracBits {
		return arith{}, fmt.Errorf("model: fixed-point fraction bits %d outside [0, %d]", fracBits, maxFracBits)
	}
	if fracBits == 0 {
		return arith{}, nil
	}
	return arith{scale: math.Ldexp(1, fracBits)}, nil
}

// trunc truncates a product or a sum of products to the fixed-point grid.
func (a arith) trunc(x float64) float64 {
	if a.scale == 0 {
		return x
	}
	return math.Floor(x*a.scale) / a.scale
}

// round encodes a value (a weight, a constant or a nonlinearity output) to the nearest grid point.
func (a arith) round(x float64) float64 {
	if a.scale == 0 {
		return x
	}
	return math.Round(x*a.scale) / a.scale
}

// mul is one truncated product.
func (a arith) mul(x, y float64) float64 { return a.trunc(x * y) }

// dot is Σ x[i]·y[i], truncated once, as a ring dot product is.
func (a arith) dot(x, y []float64) float64 {
	y = y[:len(x)]
	var s float64
	for i, v := range x {
		s += v * y[i]
	}
	return a.trunc(s)
}

// Quantize returns a copy of w with every weight rounded to the nearest multiple of
// 2^-fracBits, the encoding a fixed-point forward uses; fracBits is in [1, 24].
func Quantize(cfg Config, w *Weights, fracBits int) (*Weights, error) {
	a, err := newArith(fracBits)
	if err != nil {
		return nil, err
	}
	if fracBits == 0 {
		return nil, fmt.Errorf("model: quantize needs fraction bits ≥ 1")
	}
	return w.mapTensors(cfg, a.round), nil
}
