// Package policies names the KV-cache policies a session may ask for, and builds them.
//
// A client names a policy and its public parameters (budgets such as "keep": "64") when it opens
// a session; every party looks the name up here and builds a fresh secure policy for the session,
// and a client that checks the result builds the matching plaintext policy of package model. To
// add a policy, add an entry to the table in registry below (or call Register from an init
// function): a Secure constructor and, when the policy has one, its Reference simulation.
//
// Besides "full", the table holds the eviction policies of package cache, "streaming", "h2o"
// and "mpcache". They take one parameter, "budget": the fraction of the prompt they attend to,
// in (0, 1] (DefaultBudget when absent), mapped to each policy's parameters as
// model.NewPolicySpec maps it (see Budgeted). A client may write a policy and its budget as one
// spec, "mpcache@0.5" (ParseSpec).
package policies

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
)

// Default is the policy used when a request names none.
const Default = "full"

// Params are a policy's public parameters by name. They are part of a session's public
// parameters: every party sees them, and they may say how many tokens are kept, never which.
type Params map[string]string

// Int returns parameter name as an integer, def when it is absent.
func (p Params) Int(name string, def int) (int, error) {
	s, ok := p[name]
	if !ok {
		return def, nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("policy parameter %s=%q is not an integer", name, s)
	}
	return v, nil
}

// Float returns parameter name as a number, def when it is absent.
func (p Params) Float(name string, def float64) (float64, error) {
	s, ok := p[name]
	if !ok {
		return def, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("policy parameter %s=%q is not a number", name, s)
	}
	return v, nil
}

// Policy is one registered policy.
type Policy struct {
	// Secure builds the policy a party runs in one session of a model of shape cfg.
	Secure func(cfg model.Config, p Params) (infer.Policy, error)
	// Reference builds the plaintext simulation that the secure policy matches index for
	// index (for a client's check); nil means the full cache.
	Reference func(cfg model.Config, p Params) (model.Policy, error)
	// Params lists the parameter names the policy accepts; others are refused.
	Params []string
	// Check, when not nil, checks the parameters' values (Lookup calls it), so that a bad
	// value is refused when a session opens rather than when it starts.
	Check func(p Params) error
}

var (
	mu       sync.RWMutex
	registry = map[string]Policy{
		"full": {
			Secure:    func(model.Config, Params) (infer.Policy, error) { return infer.NewFull(), nil },
			Reference: func(model.Config, Params) (model.Policy, error) { return model.Full{}, nil },
		},
		"streaming": budgetedPolicy("streaming"),
		"h2o":       budgetedPolicy("h2o"),
		"mpcache":   budgetedPolicy("mpcache"),
	}
)

// Register adds (or replaces) the policy called name.
func Register(name string, p Policy) {
	mu.Lock()
	defer mu.Unlock()
	registry[name] = p
}

// Names returns the registered policy names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the policy called name ("" means Default) after checking that it accepts
// every parameter in p.
func Lookup(name string, p Params) (Policy, error) {
	if name == "" {
		name = Default
	}
	mu.RLock()
	pol, ok := registry[name]
	mu.RUnlock()
	if !ok {
		return Policy{}, fmt.Errorf("unknown cache policy %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	for k := range p {
		known := false
		for _, a := range pol.Params {
			known = known || a == k
		}
		if !known {
			return Policy{}, fmt.Errorf("cache policy %q takes no parameter %q (it takes: %s)", name, k, list(pol.Params))
		}
	}
	if pol.Check != nil {
		if err := pol.Check(p); err != nil {
			return Policy{}, fmt.Errorf("cache policy %q: %w", name, err)
		}
	}
	return pol, nil
}

// Secure builds the secure policy called name for one session.
func Secure(name string, cfg model.Config, p Params) (infer.Policy, error) {
	pol, err := Lookup(name, p)
	if err != nil {
		return nil, err
	}
	s, err := pol.Secure(cfg, p)
	if err != nil {
		return nil, fmt.Errorf("cache policy %q: %w", name, err)
	}
	return s, nil
}

// Reference builds the plaintext simulation of the policy called name.
func Reference(name string, cfg model.Config, p Params) (model.Policy, error) {
	pol, err := Lookup(name, p)
	if err != nil {
		return nil, err
	}
	if pol.Reference == nil {
		return model.Full{}, nil
	}
	r, err := pol.Reference(cfg, p)
	if err != nil {
		return nil, fmt.Errorf("cache policy %q: %w", name, err)
	}
	return r, nil
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
