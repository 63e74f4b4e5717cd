package mpc

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Network describes the links between the parties for planning. Where a protocol can trade
// rounds for bytes (the tournaments of protocols.Max and protocols.Argmax), it picks the plan
// this network makes fastest: a plan depends on the network and on shapes only, both public.
// Every party of a session must plan for the same network, or their plans, and with them their
// messages, disagree (the receiving party then reports a message of the wrong size).
type Network struct {
	RTT       time.Duration // round trip between the computing parties
	Bandwidth float64       // bytes per second, each direction
	// MaterialBandwidth is the rate, in bytes per second, at which a computing party receives
	// correlated randomness (from the 2pc dealer, or from P2 in 3pc). Zero leaves material
	// out of the plan, as when it is dealt ahead of time and off the critical path.
	MaterialBandwidth float64
}

// The named networks: the transport's profiles (transport.LAN, transport.WAN), with material
// over links of the same rate. WANNetwork is the default (Config.Network).
var (
	WANNetwork = Network{RTT: 40 * time.Millisecond, Bandwidth: 50e6, MaterialBandwidth: 50e6}
	LANNetwork = Network{RTT: 400 * time.Microsecond, Bandwidth: 625e6, MaterialBandwidth: 625e6}
)

// ParseNetwork returns the network named s: "wan" (WANNetwork, also for ""), "lan"
// (LANNetwork), or "RTT@RATE" for a round trip and a rate in bytes per second that serves both
// online bytes and material, for instance "2ms@125e6".
func ParseNetwork(s string) (Network, error) {
	switch s {
	case "", "wan":
		return WANNetwork, nil
	case "lan":
		return LANNetwork, nil
	}
	rtt, rate, ok := strings.Cut(s, "@")
	d, err1 := time.ParseDuration(rtt)
	r, err2 := strconv.ParseFloat(rate, 64)
	n := Network{RTT: d, Bandwidth: r, MaterialBandwidth: r}
	if !ok || err1 != nil || err2 != nil || n.check() != nil {
		return Network{}, fmt.Errorf("mpc: network %q is not wan, lan or RTT@BYTES_PER_SECOND (e.g. 2ms@125e6)", s)
	}
	return n, nil
}

// check reports a network the planner cannot use: a negative round trip, a bandwidth that is
// not a positive finite number, or a material bandwidth that is negative or not finite.
func (n Network) check() error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if n.RTT < 0 || !(n.Bandwidth > 0) || !finite(n.Bandwidth) || !(n.MaterialBandwidth >= 0) || !finite(n.MaterialBandwidth) {
		return fmt.Errorf("mpc: network %+v: want a round trip ≥ 0, a finite bandwidth > 0 and a finite material bandwidth ≥ 0", n)
	}
	return nil
}

// String returns the network's name: "wan", "lan" or "RTT@RATE", which ParseNetwork reads
// back, and for a material rate other than the bandwidth "RTT@RATE+material@RATE", which it
// does not.
func (n Network) String() string {
	switch n {
	case WANNetwork:
		return "wan"
	case LANNetwork:
		return "lan"
	}
	s := n.RTT.String() + "@" + strconv.FormatFloat(n.Bandwidth, 'g', -1, 64)
	if n.MaterialBandwidth != n.Bandwidth {
		s += "+material@" + strconv.FormatFloat(n.MaterialBandwidth, 'g', -1, 64)
	}
	return s
}
