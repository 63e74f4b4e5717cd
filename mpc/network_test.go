package mpc

import (
	"math"
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
	for _, bad := range []string{"fast", "2ms", "@1e6", "2ms@", "2ms@0", "-1ms@1e6", "2ms@-5", "2ms@NaN", "2ms@Inf"} {
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

// TestConfigNetwork checks that engines refuse a network the planner cannot use, with an error
// that names it, and take the WAN when none is set.
func TestConfigNetwork(t *testing.T) {
	for _, c := range []struct {
		name string
		net  Network
	}{
		{"zero bandwidth", Network{RTT: time.Millisecond, MaterialBandwidth: 1e6}},
		{"negative round trip", Network{RTT: -time.Millisecond, Bandwidth: 1e6}},
		{"negative material", Network{Bandwidth: 1e6, MaterialBandwidth: -1}},
		{"infinite", Network{Bandwidth: math.Inf(1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewDry(Config{Network: c.net}, &Counter{})
			if err == nil || !strings.Contains(err.Error(), "mpc: network") {
				t.Fatalf("NewDry with %+v: %v", c.net, err)
			}
		})
	}
	e, err := NewDry(Config{}, &Counter{})
	if err != nil || e.Network() != WANNetwork {
		t.Fatalf("default network %v, %v", e.Network(), err)
	}
}

// FuzzParseNetwork: ParseNetwork never panics, accepts only networks the engine takes, and
// what it accepts reads back from its name.
func FuzzParseNetwork(f *testing.F) {
	for _, s := range []string{"", "wan", "lan", "2ms@125e6", "0s@1", "1h@1e300", "-1s@1", "x@y", "@", "1ms@Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNetwork(s)
		if err != nil {
			return
		}
		if err := n.check(); err != nil {
			t.Fatalf("%q parsed to %+v, which the engine refuses: %v", s, n, err)
		}
		if back, err := ParseNetwork(n.String()); err != nil || back != n {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, n, n.String(), back, err)
		}
	})
}
