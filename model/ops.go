package model

import (
	"math"
	"runtime"
	"sync"
)

// This file holds the arithmetic kernels of the reference forward. Each works on row-major
// matrices of rows×width values and rounds as the arith it is called on says.

// parallelWork is the number of multiply-adds above which linear splits its output columns
// over goroutines. Every output value is computed by one goroutine in a fixed order, so the
// result does not depend on the split.
const parallelWork = 1 << 18

// linear returns y = x·Wᵀ + b for x of rows×in and W of out×in (b may be nil): each
// y[t][o] is one truncated dot product, summed in index order, plus the bias.
func (a arith) linear(x []float64, rows, in int, w, b []float64, out int) []float64 {
	y := make([]float64, rows*out)
	cols := func(lo, hi int) {
		for t := range rows {
			xt := x[t*in : (t+1)*in]
			yt := y[t*out : (t+1)*out]
			o := lo
			for ; o+4 <= hi; o += 4 {
				yt[o], yt[o+1], yt[o+2], yt[o+3] = dot4Rows(xt, w[o*in:(o+4)*in])
			}
			for ; o < hi; o++ {
				yt[o] = arith{}.dot(xt, w[o*in:(o+1)*in])
			}
			for o := lo; o < hi; o++ {
				yt[o] = a.trunc(yt[o])
				if b != nil {
					yt[o] += b[o]
				}
			}
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if workers == 1 || rows*in*out < parallelWork {
		cols(0, out)
		return y
	}
	var wg sync.WaitGroup
	chunk := (out + workers - 1) / workers
	for lo := 0; lo < out; lo += chunk {
		wg.Go(func() { cols(lo, min(lo+chunk, out)) })
	}
	wg.Wait()
	return y
}

// dot4Rows returns the dot products of x with the four consecutive rows of w, each summed
// in index order (the same values as four separate dot products, computed faster).
func dot4Rows(x, w []float64) (s0, s1, s2, s3 float64) {
	n := len(x)
	w0, w1, w2, w3 := w[:n], w[n:2*n], w[2*n:3*n], w[3*n:4*n]
	for i, v := range x {
		s0 += v * w0[i]
		s1 += v * w1[i]
		s2 += v * w2[i]
		s3 += v * w3[i]
	}
	return s0, s1, s2, s3
}

// rmsNorm returns x[t][i]·r_t·g[i] per row, with r_t = 1/√(mean_i x[t][i]² + eps).
func (a arith) rmsNorm(x []float64, rows int, g []float64, eps float64) []float64 {
	d := len(g)
	y := make([]float64, len(x))
	invD, e := a.round(1/float64(d)), a.round(eps)
	for t := range rows {
		xt, yt := x[t*d:(t+1)*d], y[t*d:(t+1)*d]
		ms := a.mul(a.dot(xt, xt), invD)
		r := a.round(1 / math.Sqrt(ms+e))
		for i, v := range xt {
			yt[i] = a.mul(a.mul(v, r), g[i])
		}
	}
	return y
}

// layerNorm returns (x[t][i] − μ_t)·r_t·g[i] + b[i] per row, with μ_t the row mean and
// r_t = 1/√(variance + eps) (the biased variance, as PyTorch's LayerNorm).
func (a arith) layerNorm(x []float64, rows int, g, b []float64, eps float64) []float64 {
	d := len(g)
	y := make([]float64, len(x))
	c := make([]float64, d)
	invD, e := a.round(1/float64(d)), a.round(eps)
	for t := range rows {
		xt, yt := x[t*d:(t+1)*d], y[t*d:(t+1)*d]
		var sum float64
		for _, v := range xt {
			sum += v
		}
		mean := a.mul(sum, invD)
		for i, v := range xt {
			c[i] = v - mean
		}
		r := a.round(1 / math.Sqrt(a.mul(a.dot(c, c), invD)+e))
		for i, v := range c {
			yt[i] = a.mul(a.mul(v, r), g[i]) + b[i]
		}
	}
	return y
}

// rope rotates, in place, each head of each row of x (rows×heads·hd) by its position
// pos0+t: the interleaved pair (2i, 2i+1) of a head turns by the angle
// pos·theta^(−2i/hd), as llama2.c does (see the package doc for the Hugging Face layout).
func (a arith) rope(x []float64, rows, heads, hd, pos0 int, theta float64) {
	for t := range rows {
		pos := float64(pos0 + t)
		for i := 0; i < hd; i += 2 {
			ang := pos * math.Pow(theta, -float64(i)/float64(hd))
			c, s := a.round(math.Cos(ang)), a.round(math.Sin(ang))
			for h := range heads {
				p := x[(t*heads+h)*hd+i:]
				x0, x1 := p[0], p[1]
				p[0] = a.trunc(x0*c - x1*s)
				p[1] = a.trunc(x0*s + x1*c)
			}
		}
	}
}

// softmax replaces s by its softmax: exp(s_j − max s), each rounded, times the rounded
// reciprocal of their sum.
func (a arith) softmax(s []float64) {
	m := math.Inf(-1)
	for _, v := range s {
		m = max(m, v)
	}
	var sum float64
	for j, v := range s {
		s[j] = a.round(math.Exp(v - m))
		sum += s[j]
	}
	inv := a.round(1 / sum)
	for j, v := range s {
		s[j] = a.mul(v, inv)
	}
}

// silu is x·σ(x), rounded.
func (a arith) silu(x float64) float64 { return a.round(x / (1 + math.Exp(-x))) }

// gelu is the tanh form ½x(1 + tanh(√(2/π)(x + 0.044715x³))), rounded; Hugging Face calls
// it gelu_new.
func (a arith) gelu(x float64) float64 {
	return a.round(0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x))))
}

// addInPlace sets x += y (residual connections; exact in fixed point).
func addInPlace(x, y []float64) {
	for i, v := range y {
		x[i] += v
	}
}
