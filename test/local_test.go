package test

import (
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/privinfer/mpcache/parties/client"
	"github.com/privinfer/mpcache/parties/policies"
	"github.com/privinfer/mpcache/parties/role"
)

// local runs `client local -json -check` with args (the README's main job: certificates, party
// processes, provisioning and generation, all by the client binary) and returns its result.
func local(t *testing.T, p role.Protocol, args ...string) *result {
	t.Helper()
	args = append([]string{"local", "-protocol", string(p), "-json", "-check"}, args...)
	out, errOut, err := runClient(t, 3*time.Minute, args...)
	if err != nil {
		t.Fatalf("client %v: %v\n%s", args, err, errOut)
	}
	var r result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("client output is not the JSON result: %v\n%s\n%s", err, out, errOut)
	}
	return &r
}

// checkLocal asserts that a generation of n tokens by protocol p under policy matched its
// reference and reported its costs.
func checkLocal(t *testing.T, r *result, p role.Protocol, policy string, n int) {
	t.Helper()
	if r.MatchesReference == nil || !*r.MatchesReference {
		t.Fatalf("secure tokens %v, reference %v", r.Tokens, r.ReferenceTokens)
	}
	switch {
	case len(r.Tokens) != n || r.Text == "":
		t.Fatalf("tokens %v (text %q), want %d tokens", r.Tokens, r.Text, n)
	case !slices.Equal(r.Tokens, r.ReferenceTokens):
		t.Fatalf("matches_reference, but secure tokens %v and reference %v differ", r.Tokens, r.ReferenceTokens)
	case r.Protocol != string(p) || r.Policy != policy:
		t.Fatalf("protocol %q policy %q, want %s and %s", r.Protocol, r.Policy, p, policy)
	case r.OnlineBytes <= 0 || r.Rounds <= 0 || r.LatencyS <= 0 || r.PromptTokens <= 0:
		t.Fatalf("implausible costs: %+v", r)
	}
	t.Logf("%s %s: %q in %.2f s, online %d B, offline %d B, %d rounds", p, policy, r.Text, r.LatencyS, r.OnlineBytes, r.OfflineBytes, r.Rounds)
}

// TestLocal runs the README's main job, `client local`, on the embedded default model (no
// ../shared needed): both protocols match the float64 reference.
func TestLocal(t *testing.T) {
	n := tokens(4, 8)
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			r := local(t, p, "-n", strconv.Itoa(n))
			checkLocal(t, r, p, policies.Default, n)
		})
	}
}

// policyPrompt is long enough (24 tokens of the default model) for the eviction policies to
// evict, and for mpcache at the default budget to change the continuation of the full cache.
const policyPrompt = "ROMEO: But soft, what light through yonder window breaks?"

// TestLocalPolicy runs `client local -policy` with the secure eviction policies of package cache
// (mpcache in 3pc under -short; every policy in both protocols otherwise): the secure tokens
// match the plaintext simulation of the same policy, which -check must use, not the full cache.
func TestLocalPolicy(t *testing.T) {
	const n = 4
	m, tok, err := client.OpenModel("")
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode(policyPrompt)
	full, err := client.Reference(m, ids, n, policies.Default, nil)
	if err != nil {
		t.Fatal(err)
	}
	type tc struct {
		p      role.Protocol
		policy string // as -policy takes it
	}
	cases := []tc{{role.ThreePC, "mpcache"}}
	if !testing.Short() {
		cases = append(cases, tc{role.TwoPC, "mpcache"}, tc{role.ThreePC, "mpcache@0.5"})
		for _, pol := range []string{"streaming", "h2o@0.3"} {
			for _, p := range protocols {
				cases = append(cases, tc{p, pol})
			}
		}
	}
	for _, c := range cases {
		t.Run(string(c.p)+"/"+c.policy, func(t *testing.T) {
			name, params, err := policies.ParseSpec(c.policy, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := client.Reference(m, ids, n, name, params)
			if err != nil {
				t.Fatal(err)
			}
			r := local(t, c.p, "-policy", c.policy, "-prompt", policyPrompt, "-n", strconv.Itoa(n))
			checkLocal(t, r, c.p, c.policy, n)
			if r.PromptTokens != len(ids) {
				t.Fatalf("prompt of %d tokens, want %d", r.PromptTokens, len(ids))
			}
			if !slices.Equal(r.ReferenceTokens, want) {
				t.Fatalf("-check compared with %v, but the plaintext %s gives %v", r.ReferenceTokens, c.policy, want)
			}
			if c.policy == "mpcache" && slices.Equal(want, full) {
				// Otherwise a check against the full cache would pass too, and this case would
				// not show that -check uses the policy: pick another prompt if the model changes.
				t.Fatalf("on this prompt mpcache gives the full cache's tokens %v", full)
			}
		})
	}
}
