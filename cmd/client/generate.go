package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/parties/client"
	"github.com/privinfer/mpcache/parties/policies"
)

// genFlags are the flags generate and local share.
type genFlags struct {
	model   string
	modelID string
	prompt  string
	n       int
	policy  string
	params  paramFlag
	json    bool
	check   bool
	stall   time.Duration
	// Top-p sampling: temperature 0 is greedy decoding; top-p defaults to 1 when a temperature
	// is given. testSeed (tests only) seeds the uniforms instead of crypto/rand.
	temperature float64
	topP        float64
	testSeed    uint64
	fs          *flag.FlagSet
}

func (g *genFlags) bind(fs *flag.FlagSet) {
	g.params = paramFlag{}
	fs.StringVar(&g.model, "model", "", "the model: a llama2.c or Hugging Face directory (default: the embedded default model, "+client.DefaultModelName+")")
	fs.StringVar(&g.prompt, "prompt", "", `the prompt (default "ROMEO:" for the default model, else "Once upon a time")`)
	fs.IntVar(&g.n, "n", 16, "the number of tokens to generate")
	fs.StringVar(&g.policy, "policy", policies.Default, "the KV-cache policy, name or name@budget (a fraction of the prompt, default "+
		strconv.FormatFloat(policies.DefaultBudget, 'g', -1, 64)+"; e.g. mpcache@0.5): "+strings.Join(policies.Names(), ", "))
	fs.Var(g.params, "policy-param", "a public parameter of the policy, name=value; repeatable")
	fs.BoolVar(&g.json, "json", false, "print one JSON object at the end instead of text")
	fs.BoolVar(&g.check, "check", false, "also run the float64 reference locally and compare the tokens")
	fs.DurationVar(&g.stall, "timeout", client.DefaultStallTimeout, "give up when the parties make no progress for this long")
	fs.Float64Var(&g.temperature, "temperature", 0, "sample by top-p at this temperature (> 0) instead of greedy decoding (0); the client draws the randomness, and the parties see it only as shares")
	fs.Float64Var(&g.topP, "top-p", 1, "with -temperature: sample from the smallest set of most probable tokens holding this much of the probability, in (0, 1]")
	fs.Uint64Var(&g.testSeed, "test-seed", 0, "TESTING ONLY, NOT PRIVATE: draw the sampling randomness from this seed instead of crypto/rand, so a run can be repeated")
	g.fs = fs
}

// set reports whether the flag name was given.
func (g *genFlags) set(name string) bool {
	found := false
	g.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// sampling returns the top-p sampling parameters -temperature and -top-p give, checked: both
// zero for greedy decoding.
func (g *genFlags) sampling() (temperature, topP float64, err error) {
	switch {
	case g.temperature == 0 && g.set("top-p"):
		return 0, 0, fmt.Errorf("-top-p needs -temperature > 0 (temperature 0 is greedy decoding)")
	case g.temperature == 0 && g.set("test-seed"):
		return 0, 0, fmt.Errorf("-test-seed needs -temperature > 0 (greedy decoding draws no randomness)")
	case g.temperature == 0:
		return 0, 0, nil
	}
	if err := model.CheckNucleus(g.temperature, g.topP); err != nil {
		return 0, 0, fmt.Errorf("-temperature %v -top-p %v: %w", g.temperature, g.topP, err)
	}
	return g.temperature, g.topP, nil
}

// uniforms is the source of the sampling randomness: nil (crypto/rand) unless -test-seed is given.
func (g *genFlags) uniforms() io.Reader {
	if !g.set("test-seed") {
		return nil
	}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], g.testSeed)
	return rand.NewChaCha8(seed)
}

// cachePolicy returns the name and parameters of the policy -policy (name or name@budget) and
// -policy-param give, checked.
func (g *genFlags) cachePolicy() (string, policies.Params, error) {
	name, params, err := policies.ParseSpec(g.policy, policies.Params(g.params))
	if err == nil {
		_, err = policies.Lookup(name, params)
	}
	if err != nil {
		return "", nil, fmt.Errorf("-policy: %w", err)
	}
	return name, params, nil
}

type paramFlag map[string]string

func (p paramFlag) String() string {
	var s []string
	for k, v := range p {
		s = append(s, k+"="+v)
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

func (p paramFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	p[k] = val
	return nil
}

func generate(args []string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	cfg := fs.String("config", "", "the client's deployment file (client.toml, written by `client certs`); required")
	var g genFlags
	g.bind(fs)
	fs.StringVar(&g.modelID, "model-id", "", "the model's id at the parties (default: computed from -model)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfg == "" {
		return fmt.Errorf("generate: -config is required")
	}
	d, err := client.LoadDeployment(*cfg)
	if err != nil {
		return err
	}
	m, tok, err := client.OpenModel(g.model)
	if err != nil {
		return err
	}
	c, err := client.Dial(d)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runGeneration(ctx, c, m, tok, g, os.Stdout, os.Stderr)
}

// result is the object `--json` prints.
type result struct {
	Text             string  `json:"text"`
	Tokens           []int   `json:"tokens"`
	PromptTokens     int     `json:"prompt_tokens"`
	LatencyS         float64 `json:"latency_s"`
	OnlineBytes      int64   `json:"online_bytes"`
	OfflineBytes     int64   `json:"offline_bytes"`
	Rounds           int64   `json:"rounds"`
	Protocol         string  `json:"protocol"`
	Policy           string  `json:"policy"`
	ReferenceTokens  []int   `json:"reference_tokens,omitempty"`
	MatchesReference *bool   `json:"matches_reference,omitempty"`
	// Temperature and TopP are set when the generation sampled (absent for greedy decoding).
	Temperature float64 `json:"temperature,omitempty"`
	TopP        float64 `json:"top_p,omitempty"`
	// NearBoundary is set when a sampled generation differs from the reference first at a
	// step whose draw lies within fixed-point error of a boundary (the parties compute in fixed
	// point, so the difference may be legitimate): it says how close.
	NearBoundary string `json:"near_boundary,omitempty"`
}

// runGeneration tokenizes the prompt, runs the generation on c's deployment and prints the
// continuation as it arrives (or, with -json, one object at the end) to out; notes go to errOut.
func runGeneration(ctx context.Context, c *client.Client, m *model.Model, tok model.Tokenizer, g genFlags, out, errOut io.Writer) error {
	prompt := g.prompt
	if prompt == "" {
		prompt = "Once upon a time"
		if g.model == "" {
			prompt = "ROMEO:"
		}
	}
	ids := tok.Encode(prompt)
	if len(ids) == 0 {
		return fmt.Errorf("the prompt %q encodes to no tokens", prompt)
	}
	if g.n < 1 {
		return fmt.Errorf("-n %d: generate at least one token", g.n)
	}
	if need := len(ids) + g.n - 1; need > m.Config.MaxSeq {
		return fmt.Errorf("the prompt has %d tokens; with %d new tokens that needs %d positions, more than the model's context of %d",
			len(ids), g.n, need, m.Config.MaxSeq)
	}
	policy, params, err := g.cachePolicy()
	if err != nil {
		return err
	}
	temperature, topP, err := g.sampling()
	if err != nil {
		return err
	}
	sampling := topP != 0
	id := g.modelID
	if id == "" {
		var err error
		if id, err = infer.ModelID(m); err != nil {
			return err
		}
	}
	var ref []int
	if g.check && !sampling {
		var err error
		if ref, err = client.Reference(m, ids, g.n, policy, params); err != nil {
			return fmt.Errorf("reference: %w", err)
		}
	}
	if !g.json {
		if sampling {
			fmt.Fprintf(errOut, "generating %d tokens privately: %s, model %s, policy %s, prompt of %d tokens, top-p %v at temperature %v\n",
				g.n, c.Protocol(), id, g.policy, len(ids), topP, temperature)
		} else {
			fmt.Fprintf(errOut, "generating %d tokens privately: %s, model %s, policy %s, prompt of %d tokens\n",
				g.n, c.Protocol(), id, g.policy, len(ids))
		}
		fmt.Fprint(out, prompt)
	}
	var toks []int
	shown := ""
	onToken := func(_, t int) {
		toks = append(toks, t)
		if g.json {
			return
		}
		text := tok.Decode(toks)
		if strings.HasPrefix(text, shown) {
			fmt.Fprint(out, text[len(shown):])
		}
		shown = text
	}
	req := client.Request{ModelID: id, Prompt: ids, MaxNewTokens: g.n, Policy: policy,
		PolicyParams: params, StallTimeout: g.stall}
	if sampling {
		req.Temperature, req.TopP, req.Rand = temperature, topP, g.uniforms()
	}
	res, err := c.Generate(ctx, req, onToken)
	if err != nil {
		if !g.json {
			fmt.Fprintln(out)
		}
		return err
	}
	var near string // for a sampled -check
	if g.check && sampling {
		// The reference replays the uniforms the client drew for the parties.
		if ref, near, err = client.ReferenceSampled(m, ids, temperature, topP, res.Uniforms, uint(res.Model.GetFixedPointBits()), policy, params, res.Tokens); err != nil {
			return fmt.Errorf("reference: %w", err)
		}
	}
	r := result{
		Text: tok.Decode(res.Tokens), Tokens: res.Tokens, PromptTokens: len(ids), LatencyS: res.Latency.Seconds(),
		OnlineBytes: res.OnlineBytes, OfflineBytes: res.OfflineBytes, Rounds: res.Rounds,
		Protocol: string(c.Protocol()), Policy: g.policy,
	}
	if sampling {
		r.Temperature, r.TopP = temperature, topP
	}
	if g.check {
		match := slices.Equal(ref, res.Tokens)
		r.ReferenceTokens, r.MatchesReference = ref, &match
		if !match {
			r.NearBoundary = near
		}
	}
	if g.json {
		if err := json.NewEncoder(out).Encode(r); err != nil {
			return err
		}
		if g.check && !*r.MatchesReference {
			if r.NearBoundary != "" {
				return nearBoundaryError(r.NearBoundary)
			}
			return fmt.Errorf("check: the tokens differ from the float64 reference")
		}
		return nil
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "\n%d tokens in %.2f s (first token after %.2f s", len(res.Tokens), res.Latency.Seconds(), res.FirstToken.Seconds())
	if len(res.Tokens) > 1 {
		per := (res.Latency - res.FirstToken).Seconds() / float64(len(res.Tokens)-1)
		fmt.Fprintf(out, ", then %.3f s per token", per)
	}
	fmt.Fprintf(out, "); online %s, offline %s, %d rounds\n", bytesString(res.OnlineBytes), bytesString(res.OfflineBytes), res.Rounds)
	fmt.Fprintf(out, "%-8s %14s %14s %8s %10s\n", "party", "online sent", "offline sent", "rounds", "compute")
	for _, p := range res.Parties {
		fmt.Fprintf(out, "%-8s %14s %14s %8d %9.2fs\n", p.Role, bytesString(p.OnlineSent), bytesString(p.OfflineSent), p.Rounds, p.Seconds)
	}
	if g.check {
		if *r.MatchesReference {
			fmt.Fprintf(out, "check: the tokens match the float64 reference\n")
		} else {
			if r.NearBoundary != "" {
				return fmt.Errorf("%w:\n  secure    %v\n  reference %v", nearBoundaryError(r.NearBoundary), res.Tokens, ref)
			}
			return fmt.Errorf("check: the tokens differ from the float64 reference:\n  secure    %v\n  reference %v", res.Tokens, ref)
		}
	}
	return nil
}

// nearBoundaryError is -check's report of a sampled generation that differs from the reference
// first where the reference's draw is within fixed-point error of a boundary.
func nearBoundaryError(where string) error {
	return fmt.Errorf("check: the tokens differ from the float64 reference, first at a draw within fixed-point error of a boundary (%s): "+
		"the parties' fixed-point probabilities may legitimately pick the neighbouring token there, so this is not by itself a fault; run again to draw other uniforms", where)
}

func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
