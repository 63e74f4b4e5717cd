package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
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
	id := g.modelID
	if id == "" {
		var err error
		if id, err = infer.ModelID(m); err != nil {
			return err
		}
	}
	var ref []int
	if g.check {
		var err error
		if ref, err = client.Reference(m, ids, g.n, policy, params); err != nil {
			return fmt.Errorf("reference: %w", err)
		}
	}
	if !g.json {
		fmt.Fprintf(errOut, "generating %d tokens privately: %s, model %s, policy %s, prompt of %d tokens\n",
			g.n, c.Protocol(), id, g.policy, len(ids))
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
	res, err := c.Generate(ctx, client.Request{ModelID: id, Prompt: ids, MaxNewTokens: g.n, Policy: policy,
		PolicyParams: params, StallTimeout: g.stall}, onToken)
	if err != nil {
		if !g.json {
			fmt.Fprintln(out)
		}
		return err
	}
	r := result{
		Text: tok.Decode(res.Tokens), Tokens: res.Tokens, PromptTokens: len(ids), LatencyS: res.Latency.Seconds(),
		OnlineBytes: res.OnlineBytes, OfflineBytes: res.OfflineBytes, Rounds: res.Rounds,
		Protocol: string(c.Protocol()), Policy: g.policy,
	}
	if g.check {
		match := slices.Equal(ref, res.Tokens)
		r.ReferenceTokens, r.MatchesReference = ref, &match
	}
	if g.json {
		if err := json.NewEncoder(out).Encode(r); err != nil {
			return err
		}
		if g.check && !*r.MatchesReference {
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
			return fmt.Errorf("check: the tokens differ from the float64 reference:\n  secure    %v\n  reference %v", res.Tokens, ref)
		}
	}
	return nil
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
