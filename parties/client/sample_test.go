package client

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/model"
)

// TestDrawUniforms checks the fixed-point encoding of the sampling uniforms: the top frac bits
// of each little-endian uint64 of the source.
func TestDrawUniforms(t *testing.T) {
	src := bytes.Repeat([]byte{0xff}, 8)
	src = append(src, 0, 0, 0, 0, 0, 0, 0, 0x80) // 2^63
	src = append(src, make([]byte, 8)...)
	us, err := drawUniforms(bytes.NewReader(src), 3, 16)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{1<<16 - 1, 1 << 15, 0}; !slices.Equal(us, want) {
		t.Fatalf("uniforms %v, want %v", us, want)
	}
	if _, err := drawUniforms(bytes.NewReader(src), 4, 16); err == nil {
		t.Fatal("a short source gave uniforms")
	}
	us, err = drawUniforms(nil, 1000, 16) // crypto/rand
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u >= 1<<16 {
			t.Fatalf("uniform %d is not below 2^16", u)
		}
	}
}

// TestNearBoundary checks -check's explanation of a sampled token that differs from the
// reference's: a token whose CDF interval lies within fixed-point error of u is explained, a
// far one is not.
func TestNearBoundary(t *testing.T) {
	logits := []float64{math.Log(0.5), math.Log(0.3), math.Log(0.2)} // p = 0.5, 0.3, 0.2
	cases := []struct {
		u    float64
		got  int
		topP float64
		near bool
	}{
		{0.499, 1, 1, true},    // 0.001 below token 1's interval [0.5, 0.8)
		{0.49, 1, 1, false},    // 0.01 below it
		{0.499, 2, 1, false},   // token 2 is [0.8, 1)
		{0.801, 1, 1, true},    // just above token 1's interval
		{0.9, 0, 1, false},     // far
		{0.999, 2, 0.6, false}, // the nucleus of top-p 0.6 is {0, 1}; token 2 is far outside
		{0.3, 7, 1, false},     // not a token
	}
	for _, c := range cases {
		why := NearBoundary(logits, 1, c.topP, c.u, c.got, SoftmaxError, 16)
		if (why != "") != c.near {
			t.Errorf("u %v, token %d, top-p %v: %q, want near %v", c.u, c.got, c.topP, why, c.near)
		}
	}
}

// TestReferenceSampled checks the sampled reference against model.NucleusCDF on the same
// uniforms, and its explanation of a first difference.
func TestReferenceSampled(t *testing.T) {
	m, err := model.RandomModel("gpt2-test", 7)
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int{3, 17, 42, 5, 99}
	us := []float64{0.25, 0.75, 0.5}
	toks, near, err := ReferenceSampled(m, prompt, 0.8, 0.9, us, 16, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	smp, _ := model.NewNucleusCDF(0.8, 0.9, func() float64 { next++; return us[next-1] })
	s, _ := model.NewSession(m, model.Options{})
	want, err := model.Generate(s, prompt, len(us), smp)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(toks, want) || near != "" {
		t.Fatalf("reference %v (%q), NucleusCDF %v", toks, near, want)
	}
	if _, near, _ = ReferenceSampled(m, prompt, 0.8, 0.9, us, 16, "", nil, toks); near != "" {
		t.Fatalf("equal tokens explained: %q", near)
	}
	if _, _, err := ReferenceSampled(m, prompt, 0, 0.9, us, 16, "", nil, nil); err == nil || !strings.Contains(err.Error(), "temperature") {
		t.Fatalf("temperature 0: %v", err)
	}
}
