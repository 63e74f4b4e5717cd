package main

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
)

// TestSamplingFlags checks -temperature, -top-p and -test-seed: greedy by default, top-p 1 when
// only a temperature is given, and clear refusals of bad values.
func TestSamplingFlags(t *testing.T) {
	cases := []struct {
		args    []string
		temp, p float64
		err     string
	}{
		{nil, 0, 0, ""},
		{[]string{"-temperature", "0"}, 0, 0, ""},
		{[]string{"-temperature", "0.8"}, 0.8, 1, ""},
		{[]string{"-temperature", "0.8", "-top-p", "0.9"}, 0.8, 0.9, ""},
		{[]string{"-temperature", "0.8", "-top-p", "0.9", "-test-seed", "3"}, 0.8, 0.9, ""},
		{[]string{"-top-p", "0.9"}, 0, 0, "-top-p needs -temperature > 0"},
		{[]string{"-test-seed", "3"}, 0, 0, "-test-seed needs -temperature > 0"},
		{[]string{"-temperature", "0.8", "-top-p", "1.5"}, 0, 0, "top-p must lie in (0, 1]"},
		{[]string{"-temperature", "0.8", "-top-p", "0"}, 0, 0, "top-p must lie in (0, 1]"},
		{[]string{"-temperature", "-1"}, 0, 0, "temperature > 0"},
		{[]string{"-temperature", "+Inf"}, 0, 0, "temperature > 0"},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		var g genFlags
		g.bind(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		temp, p, err := g.sampling()
		switch {
		case c.err == "" && (err != nil || temp != c.temp || p != c.p):
			t.Errorf("%v: %v, %v, %v; want %v, %v", c.args, temp, p, err, c.temp, c.p)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v: %v, want an error about %q", c.args, err, c.err)
		}
	}
}

// TestTestSeed checks that -test-seed repeats the uniforms and that without it they come from
// crypto/rand (a nil source).
func TestTestSeed(t *testing.T) {
	read := func(args ...string) []byte {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		var g genFlags
		g.bind(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		r := g.uniforms()
		if r == nil {
			return nil
		}
		b := make([]byte, 32)
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	if read("-temperature", "0.8") != nil {
		t.Fatal("without -test-seed the uniforms must come from crypto/rand")
	}
	a, b, c := read("-test-seed", "1"), read("-test-seed", "1"), read("-test-seed", "2")
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatalf("seeded sources: %x, %x, %x", a, b, c)
	}
}
