// Command dealerfree measures the offline cost of decoding in 2pc, dealer against dealer-free
// (mpc/twoparty), for a model shape at a long context: both parties (and the dealer) in this
// process over the in-memory network, random weights (infer.RandomShares) and a random full
// KV cache of -context rows (infer.RandomKV, Session.Resume), then -steps decode steps. The
// first step also carries the one-time upload of the weights' encrypted masks (dealer-free);
// it is reported apart, and the per-token figures are the mean of the later steps.
//
//	go run ./tools/dealerfree -shape gpt2-124m -layers 1 -context 1024 -steps 3
//
// Per-layer figures scale with the layers; the embedding, classifier and argmax do not (the
// output says which is which). Memory: the dealer-free run holds every party's weight shares,
// masks and the peer's cached mask encryptions (about 28 bytes per weight per party).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/inproc"
	"github.com/privinfer/mpcache/mpc/prg"
	"github.com/privinfer/mpcache/mpc/twoparty"
)

// Step is one decode step's figures at P0 (the parties are symmetric in dealer-free 2pc; with
// the dealer, P1 receives more offline bytes than P0, and OfflineRecv is P1's).
type Step struct {
	Seconds        float64 `json:"seconds"`         // wall time of the step (slowest computing party)
	CPUSeconds     float64 `json:"cpu_seconds"`     // process CPU time in the step, all parties
	OnlineSent     int64   `json:"online_sent"`     // P0's online bytes sent
	OfflineSent    int64   `json:"offline_sent"`    // P0's offline bytes sent (dealer-free) / the dealer's total (dealer)
	OfflineRecv    int64   `json:"offline_recv"`    // the most offline bytes a computing party received
	Rounds         int64   `json:"rounds"`          // P0's rounds
	OfflineSeconds float64 `json:"offline_seconds"` // dealer-free: P0's wall time inside material calls; dealer: the dealer's step time
	// Layer0 is P0's traffic and time under the meter label decode/layer0 (one layer's share;
	// the rest is the embedding, the classifier and the argmax).
	Layer0 mpc.Stat `json:"layer0"`
}

// Result is one mode's run.
type Result struct {
	Mode       string              `json:"mode"`
	Shape      string              `json:"shape"`
	Config     model.Config        `json:"config"`
	Context    int                 `json:"context"`
	Setup      Step                `json:"setup"` // NewSession (fixing the weights)
	Steps      []Step              `json:"steps"`
	Kinds      map[string]KindCost `json:"kinds,omitempty"` // dealer-free, P0, the steps after the first
	GOMAXPROCS int                 `json:"gomaxprocs"`
	CPUs       int                 `json:"cpus"`
}

// KindCost is one kind of material's cost per step at P0.
type KindCost struct {
	Elements int64   `json:"elements"`
	Sent     int64   `json:"sent"`
	Seconds  float64 `json:"seconds"`
}

func cpu() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func main() {
	shape := flag.String("shape", "gpt2-124m", "model shape (model.Shapes)")
	layers := flag.Int("layers", 1, "layers to run (0: all); per-layer figures scale with the depth")
	vocab := flag.Int("vocab", 0, "override the vocabulary (0: the shape's), to bound memory")
	context := flag.Int("context", 1024, "rows of the random KV cache: decoding starts at this position")
	steps := flag.Int("steps", 3, "decode steps (the first also carries the one-time mask upload)")
	modes := flag.String("modes", "dealer,dealer-free", "comma-separated: dealer, dealer-circuit, dealer-free")
	cacheGiB := flag.Float64("cache-gib", 8, "dealer-free: bound of the peer's mask-encryption cache (GiB)")
	budget := flag.Bool("budget", true, "also compute the material budget of a decode step from shapes (infer.MaterialBudget)")
	out := flag.String("json", "", "write the results as JSON here")
	flag.Parse()

	cfg, err := model.Shape(*shape)
	if err != nil {
		fail(err)
	}
	if *layers > 0 {
		cfg.Layers = *layers
	}
	if *vocab > 0 {
		cfg.Vocab = *vocab
	}
	cfg.MaxSeq = max(cfg.MaxSeq, *context+*steps+1)
	var results []Result
	for _, mode := range strings.FieldsFunc(*modes, func(c rune) bool { return c == ',' }) {
		fmt.Fprintf(os.Stderr, "dealerfree: %s: %s (%d layers, vocab %d) at context %d, %d steps\n", mode, *shape, cfg.Layers, cfg.Vocab, *context, *steps)
		r, err := run(mode, cfg, *context, *steps, int64(*cacheGiB*(1<<30)))
		if err != nil {
			fail(fmt.Errorf("%s: %w", mode, err))
		}
		r.Shape = *shape
		results = append(results, r)
		report(r)
	}
	if *budget {
		t0 := time.Now()
		b, err := infer.MaterialBudget(cfg, 16, *context, 2, nil)
		if err != nil {
			fail(err)
		}
		d := b.Decode
		bt := twoparty.BatchFor(d)
		fmt.Printf("budget of one decode step at position %d (from shapes, %.1f s): %d triples, %d AND words, %d private-AND words, %d bit pairs, truncs %v, one-hot rows %v, %d matrix triples (%d output elements); precomputed elementwise material %.1f MB per party\n",
			*context, time.Since(t0).Seconds(), d.Triples, d.ANDs, d.PrivateANDs, d.BitPairs, d.Truncs, d.OneHots, sum(d.Matrices), d.MatrixElements(), float64(bt.Bytes())/1e6)
	}
	if *out != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			fail(err)
		}
	}
}

func sum(m map[mpc.MatrixShape]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dealerfree:", err)
	os.Exit(1)
}

func report(r Result) {
	mb := func(b int64) string { return fmt.Sprintf("%.2f MB", float64(b)/1e6) }
	fmt.Printf("%s: setup %.1f s, offline sent %s recv %s\n", r.Mode, r.Setup.Seconds, mb(r.Setup.OfflineSent), mb(r.Setup.OfflineRecv))
	for i, s := range r.Steps {
		fmt.Printf("%s: step %d: %.2f s (cpu %.2f s), online %s, offline sent %s recv %s, offline %.2f s, %d rounds; layer0: online %s, offline sent %s recv %s, %.2f s\n",
			r.Mode, i, s.Seconds, s.CPUSeconds, mb(s.OnlineSent), mb(s.OfflineSent), mb(s.OfflineRecv), s.OfflineSeconds, s.Rounds,
			mb(s.Layer0.OnlineSent), mb(s.Layer0.OfflineSent), mb(s.Layer0.OfflineRecv), s.Layer0.Seconds)
	}
	for k, c := range r.Kinds {
		fmt.Printf("%s: per step %-14s %10d elements %12s %.2f s\n", r.Mode, k, c.Elements, mb(c.Sent), c.Seconds)
	}
}

// partyOut is what one party measures.
type partyOut struct {
	setup Step
	steps []Step
	kinds map[string]KindCost
}

func run(mode string, cfg model.Config, context, steps int, cacheBytes int64) (Result, error) {
	ecfg := mpc.Config{Frac: 16}
	gens := make([]*twoparty.Generator, 2)
	var gmu sync.Mutex
	switch mode {
	case "dealer":
	case "dealer-circuit":
		ecfg.Comparison = mpc.CompareCircuit
	case "dealer-free":
		o := twoparty.Options{CacheBytes: cacheBytes}
		ecfg.Material = func(l mpc.Link) (mpc.Material, error) {
			g, err := twoparty.New(l, o)
			if err == nil {
				gmu.Lock()
				gens[l.Party()] = g
				gmu.Unlock()
			}
			return g, err
		}
	default:
		return Result{}, fmt.Errorf("unknown mode %q", mode)
	}
	seed := prg.Seed{1, 2, 3}
	nparties := 3
	if ecfg.Material != nil {
		nparties = 2
	}
	res, err := inproc.Run(mpc.TwoPC, inproc.Memory, ecfg, func(e mpc.Engine) (partyOut, error) {
		var out partyOut
		var l0 mpc.Stat
		mark := func() (mpc.Stat, float64, time.Time, map[string]twoparty.KindStats) {
			l0 = e.Meter().Under("decode/layer0")
			var ks map[string]twoparty.KindStats
			if e.Party() < 2 {
				gmu.Lock()
				if g := gens[e.Party()]; g != nil {
					ks = g.Stats()
				}
				gmu.Unlock()
			}
			return e.Meter().Total(), cpu(), time.Now(), ks
		}
		step := func(before mpc.Stat, c0 float64, t0 time.Time, k0 map[string]twoparty.KindStats) (Step, map[string]KindCost) {
			l0before := l0
			after, c1, t1, k1 := mark()
			d := after.Sub(before)
			s := Step{Seconds: t1.Sub(t0).Seconds(), CPUSeconds: c1 - c0, OnlineSent: d.OnlineSent,
				OfflineSent: d.OfflineSent, OfflineRecv: d.OfflineRecv, Rounds: d.Rounds}
			s.Layer0 = l0.Sub(l0before)
			kinds := map[string]KindCost{}
			for k, v := range k1 {
				d := KindCost{Elements: v.Elements - k0[k].Elements, Sent: v.Sent - k0[k].Sent, Seconds: v.Seconds - k0[k].Seconds}
				s.OfflineSeconds += d.Seconds
				if d.Elements != 0 || d.Sent != 0 {
					kinds[k] = d
				}
			}
			if e.IsDealer() {
				s.OfflineSeconds = s.Seconds
			}
			return s, kinds
		}
		b, c0, t0, k0 := mark()
		w, err := infer.RandomShares(cfg, mpc.TwoPC, e.Party(), 16, seed.Derive("weights"))
		if err != nil {
			return out, err
		}
		pol := infer.NewFull()
		s, err := infer.NewSession(e, w, infer.Options{Policy: pol})
		if err != nil {
			return out, err
		}
		if err := pol.Start(e, cfg, context); err != nil {
			return out, err
		}
		for l := range cfg.Layers {
			k, v := infer.RandomKV(e, cfg, l, context, seed.Derive("kv"))
			if err := pol.Prefill(e, l, k, v, nil); err != nil {
				return out, err
			}
		}
		if err := s.Resume(context); err != nil {
			return out, err
		}
		out.setup, _ = step(b, c0, t0, k0)
		tok := &mpc.Share{Shape: []int{1, cfg.Vocab}}
		if !e.IsDealer() {
			tok.Own = make([]uint64, cfg.Vocab)
			if e.Party() == 0 {
				tok.Own[0] = 1
			}
		}
		for i := range steps {
			b, c0, t0, k0 := mark()
			logits, err := s.Decode(tok)
			if err != nil {
				return out, err
			}
			if tok, _, err = s.Next(logits); err != nil {
				return out, err
			}
			st, kinds := step(b, c0, t0, k0)
			out.steps = append(out.steps, st)
			if i > 0 {
				if out.kinds == nil {
					out.kinds = map[string]KindCost{}
				}
				for k, v := range kinds {
					t := out.kinds[k]
					t.Elements += v.Elements
					t.Sent += v.Sent
					t.Seconds += v.Seconds
					out.kinds[k] = t
				}
			}
			runtime.GC()
		}
		return out, nil
	})
	if err != nil {
		return Result{}, err
	}
	r := Result{Mode: mode, Config: cfg, Context: context, GOMAXPROCS: runtime.GOMAXPROCS(0), CPUs: runtime.NumCPU()}
	merge := func(get func(p partyOut) Step) Step {
		var s Step
		p0 := get(res[0])
		s.OnlineSent, s.OfflineSent, s.Rounds, s.OfflineSeconds, s.CPUSeconds, s.Layer0 = p0.OnlineSent, p0.OfflineSent, p0.Rounds, p0.OfflineSeconds, p0.CPUSeconds, p0.Layer0
		if nparties == 3 {
			s.Layer0.OfflineRecv = get(res[1]).Layer0.OfflineRecv
		}
		for p := range nparties {
			q := get(res[p])
			if p < 2 {
				s.Seconds = max(s.Seconds, q.Seconds)
				s.OfflineRecv = max(s.OfflineRecv, q.OfflineRecv)
			} else {
				s.OfflineSent = q.OfflineSent // the dealer's
				s.OfflineSeconds = q.OfflineSeconds
			}
		}
		return s
	}
	r.Setup = merge(func(p partyOut) Step { return p.setup })
	for i := range steps {
		r.Steps = append(r.Steps, merge(func(p partyOut) Step { return p.steps[i] }))
	}
	if n := int64(steps - 1); n > 0 && res[0].kinds != nil {
		r.Kinds = map[string]KindCost{}
		for k, v := range res[0].kinds {
			r.Kinds[k] = KindCost{Elements: v.Elements / n, Sent: v.Sent / n, Seconds: v.Seconds / float64(n)}
		}
	}
	return r, nil
}
