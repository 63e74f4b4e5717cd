package mpc

import (
	"strings"
	"testing"
	"time"
)

func TestParseNetwork(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Network
		name string
	}{
		{"", WANNetwork, "wan"},
		{"wan", WANNetwork, "wan"},
		{"lan", LANNetwork, "lan"},
		{"2ms@125e6", Network{RTT: 2 * time.Millisecond, Bandwidth: 125e6, MaterialBandwidth: 125e6}, "2ms@1.25e+08"},
		{"0s@1e9", Network{Bandwidth: 1e9, MaterialBandwidth: 1e9}, "0s@1e+09"},
	} {
		t.Run(c.in, func(t *testing.T) {
			n, err := ParseNetwork(c.in)
			if err != nil || n != c.want {
				t.Fatalf("got %+v, %v; want %+v", n, err, c.want)
			}
			if n.String() != c.name {
				t.Fatalf("name %q, want %q", n.String(), c.name)
			}
			if back, err := ParseNetwork(n.String()); err != nil || back != n {
				t.Fatalf("%q reads back as %+v, %v", n.String(), back, err)
			}
		})
	}
	for _, bad := range []string{"fast", "2ms", "@1e6", "2ms@", "2ms@0", "-1ms@1e6", "2ms@-5", "2ms@NaN"} {
		t.Run("bad/"+bad, func(t *testing.T) {
			if _, err := ParseNetwork(bad); err == nil || !strings.Contains(err.Error(), "is not wan, lan") {
				t.Fatalf("ParseNetwork(%q): %v", bad, err)
			}
		})
	}
	other := Network{RTT: time.Millisecond, Bandwidth: 1e9, MaterialBandwidth: 1e8}
	if s := other.String(); s != "1ms@1e+09+material@1e+08" {
		t.Fatalf("name %q", s)
	}
}
