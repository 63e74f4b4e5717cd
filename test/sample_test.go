package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/privinfer/mpcache/parties/client"
	"github.com/privinfer/mpcache/parties/policies"
	"github.com/privinfer/mpcache/parties/role"
)

// sampleResult is the JSON result of a sampled generation.
type sampleResult struct {
	result
	Temperature  float64 `json:"temperature"`
	TopP         float64 `json:"top_p"`
	NearBoundary string  `json:"near_boundary"`
}

// sampleSeed seeds the uniforms of the sampled runs (-test-seed, a testing-only flag: a real
// client draws them from crypto/rand), so that the runs, and their comparison with the
// reference, repeat. With it the default prompt's 4 sampled tokens differ from greedy
// decoding's and each u stands at least 0.016 from every boundary of the reference's nucleus
// CDF, also with the nucleus changed as fixed point might change it: the second step's
// nucleus (46 tokens) has its threshold token 2e-5 above the next probability and its mass
// without that token 3e-4 below top-p, so the parties may take a token more or less there
// whatever the uniforms. (Random uniforms rarely hit a boundary: 160 draws of `client local
// -n 8` all matched.)
const sampleSeed = "12"

// localSample runs `client local -json -check` with top-p sampling at temperature 0.8 and top-p
// 0.9 and the test seed, and args.
func localSample(t *testing.T, p role.Protocol, args ...string) *sampleResult {
	t.Helper()
	args = append([]string{"local", "-protocol", string(p), "-json", "-check", "-temperature", "0.8", "-top-p", "0.9", "-test-seed", sampleSeed}, args...)
	out, errOut, err := runClient(t, 8*time.Minute, args...)
	if err != nil {
		t.Fatalf("client %v: %v\n%s\n%s", args, err, out, errOut)
	}
	var r sampleResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("client output is not the JSON result: %v\n%s\n%s", err, out, errOut)
	}
	if r.MatchesReference == nil || !*r.MatchesReference {
		t.Fatalf("secure tokens %v, reference %v (%s)", r.Tokens, r.ReferenceTokens, r.NearBoundary)
	}
	if r.Temperature != 0.8 || r.TopP != 0.9 || r.NearBoundary != "" {
		t.Fatalf("result reports temperature %v, top-p %v, near boundary %q", r.Temperature, r.TopP, r.NearBoundary)
	}
	return &r
}

// TestLocalSample runs `client local` with top-p sampling (the uniforms drawn by the client and
// sent secret-shared with the prompt) in both protocols on the embedded default model: the
// tokens equal the float64 reference's (model.NucleusCDF on the same uniforms), both protocols
// draw the same tokens from the same seed, and they are not greedy decoding's.
func TestLocalSample(t *testing.T) {
	const n = 4
	m, tok, err := client.OpenModel("")
	if err != nil {
		t.Fatal(err)
	}
	greedy, err := client.Reference(m, tok.Encode("ROMEO:"), n, policies.Default, nil)
	if err != nil {
		t.Fatal(err)
	}
	var first []int
	for _, p := range []role.Protocol{role.ThreePC, role.TwoPC} {
		t.Run(string(p), func(t *testing.T) {
			r := localSample(t, p, "-n", strconv.Itoa(n))
			checkLocal(t, &r.result, p, policies.Default, n)
			if slices.Equal(r.Tokens, greedy) {
				t.Fatalf("sampled tokens %v are greedy decoding's: choose another seed", r.Tokens)
			}
			if first == nil {
				first = r.Tokens
			} else if !slices.Equal(r.Tokens, first) {
				t.Fatalf("the same seed sampled %v here and %v in the other protocol", r.Tokens, first)
			}
		})
	}
}

// TestLocalSampleDealerFree samples in a dealer-free 2pc deployment whose parties precompute
// the session's budget (infer.SampledMaterialBudget), on the one-layer default model: the
// session uses up exactly the precomputed material. It takes about 20 s on 2 cores, so
// -short skips it.
func TestLocalSampleDealerFree(t *testing.T) {
	if testing.Short() {
		t.Skip("dealer-free sampling takes about 20 s on 2 cores; TestLocalDealerFreeOneLayer covers dealer-free under -short")
	}
	keep := filepath.Join(t.TempDir(), "keep")
	r := localSample(t, role.TwoPC, "-preprocessing", "dealer-free", "-precompute", "-model", oneLayerModel(t), "-n", "2", "-keep", keep)
	if len(r.Tokens) != 2 {
		t.Fatalf("tokens %v, want 2", r.Tokens)
	}
	for _, p := range []role.Role{role.P0, role.P1} {
		b, err := os.ReadFile(filepath.Join(keep, string(p)+".log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"dealer-free material precomputed", "precomputed_left=0"} {
			if !strings.Contains(string(b), want) {
				t.Fatalf("%s's log has no %q:\n%s", p, want, b)
			}
		}
	}
	t.Logf("dealer-free 2pc, 1 layer, sampled: %q in %.1f s, offline %d B", r.Text, r.LatencyS, r.OfflineBytes)
}

// TestSampleRefusals: bad sampling flags are refused before any party starts.
func TestSampleRefusals(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-temperature", "0.8", "-top-p", "1.5"}, "top-p must lie in (0, 1]"},
		{[]string{"-temperature", "-1"}, "temperature > 0"},
		{[]string{"-top-p", "0.9"}, "-top-p needs -temperature > 0"},
	} {
		args := append([]string{"local", "-protocol", "3pc", "-n", "1"}, c.args...)
		_, errOut, err := runClient(t, time.Minute, args...)
		if err == nil || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "starting") {
			t.Errorf("client %v: %v, stderr %q; want a refusal about %q", args, err, errOut, c.want)
		}
	}
}
