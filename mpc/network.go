package mpc

import (
	"fmt"
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
	if !ok || err1 != nil || err2 != nil || d < 0 || !(r > 0) {
		return Network{}, fmt.Errorf("mpc: network %q is not wan, lan or RTT@BYTES_PER_SECOND (e.g. 2ms@125e6)", s)
	}
	return Network{RTT: d, Bandwidth: r, MaterialBandwidth: r}, nil
}

// String returns the name ParseNetwork reads back: "wan", "lan" or "RTT@RATE" (the material
// rate is not part of the name; networks with another material rate print it as "+material").
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
