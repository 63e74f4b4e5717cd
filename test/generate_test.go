package test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/privinfer/mpcache/parties/localnet"
	"github.com/privinfer/mpcache/parties/role"
)

var protocols = []role.Protocol{role.TwoPC, role.ThreePC}

// checkResult asserts that a generation matched the reference and reported its costs.
func checkResult(t *testing.T, r *result, p role.Protocol, n int) {
	t.Helper()
	if r.MatchesReference == nil || !*r.MatchesReference {
		t.Fatalf("secure tokens %v, reference %v", r.Tokens, r.ReferenceTokens)
	}
	switch {
	case len(r.Tokens) != n:
		t.Fatalf("%d tokens, want %d", len(r.Tokens), n)
	case r.Protocol != string(p) || r.Policy != "full":
		t.Fatalf("protocol %q policy %q, want %s and full", r.Protocol, r.Policy, p)
	case r.OnlineBytes <= 0 || r.Rounds <= 0 || r.LatencyS <= 0 || r.PromptTokens <= 0:
		t.Fatalf("implausible costs: %+v", r)
	}
}

// TestGenerate is the acceptance test: `client generate --check` on stories260K, with real party
// processes over loopback and mutual TLS, gives the reference's tokens in both protocols.
func TestGenerate(t *testing.T) {
	dir := stories(t)
	n := tokens(4, 16)
	prompts := []string{"Once upon a time"}
	if !testing.Short() {
		prompts = append(prompts, "Lily and Ben went to the park")
	}
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			net := startNet(t, p, localnet.Options{})
			provision(t, net, dir)
			for _, prompt := range prompts {
				r, err := generate(t, net, "-model", dir, "-prompt", prompt, "-n", strconv.Itoa(n), "-check")
				if err != nil {
					t.Fatal(err)
				}
				checkResult(t, r, p, n)
				t.Logf("%q -> %q: %.2f s, online %d B, offline %d B, %d rounds", prompt, r.Text, r.LatencyS, r.OnlineBytes, r.OfflineBytes, r.Rounds)
			}
		})
	}
}

// TestConcurrentSessions runs 8 clients at once against one deployment: every session has its
// own engine and link streams, and every one must match the reference.
func TestConcurrentSessions(t *testing.T) {
	dir := stories(t)
	n := tokens(2, 8)
	prompts := []string{"Once upon a time", "The cat", "Tom had a red ball", "One day", "The sun was", "Lily saw a bird", "Ben", "A big dog"}
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			net := startNet(t, p, localnet.Options{})
			provision(t, net, dir)
			start := time.Now()
			var wg sync.WaitGroup
			errs := make([]error, len(prompts))
			for i, prompt := range prompts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := generate(t, net, "-model", dir, "-prompt", prompt, "-n", strconv.Itoa(n), "-check")
					if err == nil && (r.MatchesReference == nil || !*r.MatchesReference || len(r.Tokens) != n) {
						err = fmt.Errorf("secure tokens %v, reference %v", r.Tokens, r.ReferenceTokens)
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("session %d (%q): %v", i, prompts[i], err)
				}
			}
			t.Logf("%d concurrent sessions of %d tokens in %.1f s", len(prompts), n, time.Since(start).Seconds())
		})
	}
}
