// Package role names the processes of a deployment and maps them to MPC party numbers.
//
// A deployment runs one protocol. In 2pc, p0 and p1 compute and the dealer supplies correlated
// randomness; in 3pc, p0, p1 and p2 compute. Every setting has three party processes, numbered
// 0, 1 and 2 as in mpc/transport: party 2 is the dealer in 2pc and p2 in 3pc. Clients (and the
// model owner's provisioning tool) hold certificates of role client.
package role

import (
	"fmt"
	"strings"
)

// Role is the job of one process in a deployment.
type Role string

// The roles.
const (
	P0     Role = "p0"
	P1     Role = "p1"
	P2     Role = "p2"
	Dealer Role = "dealer"
	Client Role = "client"
)

// Parse returns the role named s (case-insensitive), or an error listing the valid names.
func Parse(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	switch r {
	case P0, P1, P2, Dealer, Client:
		return r, nil
	}
	return "", fmt.Errorf("role: unknown role %q (want p0, p1, p2, dealer or client)", s)
}

// IsParty reports whether r is a party role (not a client).
func (r Role) IsParty() bool { return r == P0 || r == P1 || r == P2 || r == Dealer }

// Protocol is the MPC setting of a deployment.
type Protocol string

// The protocols.
const (
	// TwoPC: p0 and p1 compute with a dealer.
	TwoPC Protocol = "2pc"
	// ThreePC: p0, p1 and p2 hold replicated shares.
	ThreePC Protocol = "3pc"
)

// Parties is the number of party processes of either protocol.
const Parties = 3

// ParseProtocol returns the protocol named s ("2pc" or "3pc").
func ParseProtocol(s string) (Protocol, error) {
	p := Protocol(strings.ToLower(strings.TrimSpace(s)))
	if p == TwoPC || p == ThreePC {
		return p, nil
	}
	return "", fmt.Errorf("role: unknown protocol %q (want 2pc or 3pc)", s)
}

// Roles returns the party roles of p, indexed by party number.
func (p Protocol) Roles() []Role {
	switch p {
	case TwoPC:
		return []Role{P0, P1, Dealer}
	case ThreePC:
		return []Role{P0, P1, P2}
	}
	return nil
}

// Party returns the party number of r under p, or an error when p has no such role.
func (p Protocol) Party(r Role) (int, error) {
	for i, x := range p.Roles() {
		if x == r {
			return i, nil
		}
	}
	if p != TwoPC && p != ThreePC {
		return -1, fmt.Errorf("role: unknown protocol %q", string(p))
	}
	return -1, fmt.Errorf("role: a %s deployment has no role %q (its parties are %s)", p, string(r), p.list())
}

// Role returns the role of party number i under p.
func (p Protocol) Role(i int) (Role, error) {
	rs := p.Roles()
	if rs == nil {
		return "", fmt.Errorf("role: unknown protocol %q", string(p))
	}
	if i < 0 || i >= len(rs) {
		return "", fmt.Errorf("role: %s has no party %d", p, i)
	}
	return rs[i], nil
}

func (p Protocol) list() string {
	var b strings.Builder
	for i, r := range p.Roles() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(r))
	}
	return b.String()
}

// Preprocessing is where the correlated randomness of a 2pc deployment comes from.
type Preprocessing string

// The preprocessing sources.
const (
	// FromDealer: a third process, the dealer, produces the material (the default; the only
	// source of 3pc, where P2 plays that part).
	FromDealer Preprocessing = "dealer"
	// DealerFree: p0 and p1 produce the material between themselves (oblivious transfer and
	// homomorphic encryption, package mpc/twoparty); a 2pc deployment then has no dealer.
	DealerFree Preprocessing = "dealer-free"
)

// ParsePreprocessing returns the source named s; "" is FromDealer.
func ParsePreprocessing(s string) (Preprocessing, error) {
	p := Preprocessing(strings.ToLower(strings.TrimSpace(s)))
	switch p {
	case "":
		return FromDealer, nil
	case FromDealer, DealerFree:
		return p, nil
	}
	return "", fmt.Errorf("role: unknown preprocessing %q (want %s or %s)", s, FromDealer, DealerFree)
}

// OrDealer returns pre, or FromDealer when pre is unset ("").
func (pre Preprocessing) OrDealer() Preprocessing {
	if pre == "" {
		return FromDealer
	}
	return pre
}

// Field is pre as the optional preprocessing field of deployment files and session parameters
// holds it: "" with a dealer (as before the field existed), else its name.
func (pre Preprocessing) Field() string {
	if pre == DealerFree {
		return string(pre)
	}
	return ""
}

// Check reports whether protocol p can run with preprocessing pre: dealer-free is for 2pc only.
func (pre Preprocessing) Check(p Protocol) error {
	if pre == DealerFree && p != TwoPC {
		return fmt.Errorf("role: %s preprocessing is for 2pc only (in %s, p2 produces the material)", DealerFree, p)
	}
	return nil
}

// RolesWith returns the party roles of p when its material comes from pre, indexed by party
// number: dealer-free 2pc has p0 and p1 only.
func (p Protocol) RolesWith(pre Preprocessing) []Role {
	rs := p.Roles()
	if p == TwoPC && pre == DealerFree {
		return rs[:2]
	}
	return rs
}

// Describe names the setting, e.g. "2pc" or "dealer-free 2pc".
func (p Protocol) Describe(pre Preprocessing) string {
	if p == TwoPC && pre == DealerFree {
		return "dealer-free 2pc"
	}
	return string(p)
}
