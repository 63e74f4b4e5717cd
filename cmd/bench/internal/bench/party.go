package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/privinfer/mpcache/gpu"
	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/prg"
	"github.com/privinfer/mpcache/mpc/transport"
)

// Job is what one party needs to run a Point: the point, the model's (possibly shortened)
// config, and where its weight shares come from.
type Job struct {
	Point Point        `json:"point"`
	Party int          `json:"party"`
	Model model.Config `json:"model_config"` // the config the parties run (Layers may be a prefix)
	// Depth is the model's full number of layers, for scaling.
	Depth int `json:"depth"`
	// Synthetic: the weights are RandomShares from Point.Seed; otherwise SharesFile is this
	// party's share file (processes) or Shares holds it (in process).
	Synthetic  bool               `json:"synthetic"`
	SharesFile string             `json:"shares_file,omitempty"`
	Shares     *infer.ModelShares `json:"-"`
	Hooks      PartyHooks         `json:"-"`
	TLS        *TLSMaterial       `json:"tls,omitempty"`
	Listen     string             `json:"listen,omitempty"` // processes: this party's address
	Peers      map[int]string     `json:"peers,omitempty"`
	Session    [16]byte           `json:"session"`
	Timeout    time.Duration      `json:"timeout"`
}

// PartyHooks lets the harness follow a party: Segment is called as segment i (−1: set-up)
// begins, and CPU returns the party's CPU seconds so far (nil where it is measured outside).
type PartyHooks struct {
	Segment func(i int)
	CPU     func() float64
}

// PartyResult is what one party measured.
type PartyResult struct {
	Party    int       `json:"party"`
	Backend  string    `json:"backend"` // what ran: cpu or cuda
	GPU      string    `json:"gpu,omitempty"`
	SetupS   float64   `json:"setup_s"` // session set-up (weights fixed), the last one for prefill
	StartS   float64   `json:"start_s"` // building the KV cache before the first segment (decode)
	Segments []Segment `json:"segments"`
	MaxRSS   int64     `json:"max_rss_bytes,omitempty"`
}

// Segment is one party's measurement on one network.
type Segment struct {
	Net       string              `json:"net"`
	NetIndex  int                 `json:"net_index"` // index in Point.Nets
	WallS     float64             `json:"wall_s"`
	CPUS      float64             `json:"cpu_s"`
	Stats     map[string]mpc.Stat `json:"stats"`      // meter deltas by label
	LinkBytes [3]int64            `json:"link_bytes"` // bytes sent to each party
	LinkMsgs  [3]int64            `json:"link_msgs"`
}

// linkOf returns the link from party self to peer on net n: the 2pc dealer's links stay
// unshaped unless shapeDealer (its material is then treated as produced ahead of time).
func linkOf(p mpc.Protocol, shapeDealer bool, self, peer int, n Net) transport.Link {
	if p == mpc.TwoPC && !shapeDealer && (self == mpc.Dealer || peer == mpc.Dealer) {
		return transport.Link{}
	}
	return n.Link
}

func setNet(sh *transport.Shaper, j *Job, n Net) {
	for peer := range transport.MaxParties {
		if peer != sh.Self() {
			sh.SetLink(peer, linkOf(j.Point.Protocol, j.Point.ShapeDealer, sh.Self(), peer, n))
		}
	}
}

// Backend reports the local-arithmetic backend this process uses: "cuda" when the binary was
// built with the cuda tag, a device is present and MPCACHE_GPU is not "cpu"; else "cpu". With
// MPCACHE_GPU=cuda and no usable GPU it exits with gpu's error instead (no CPU fallback).
func Backend() (backend, device string) {
	if err := gpu.Check(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	info, err := gpu.Device()
	if err != nil {
		return "cpu", ""
	}
	return "cuda", info.String()
}

// shares returns this party's weight shares.
func (j *Job) shares(e mpc.Engine) (*infer.ModelShares, error) {
	if j.Synthetic {
		var seed prg.Seed
		copy(seed[:], fmt.Sprintf("bench-weights-%d", j.Point.Seed))
		return infer.RandomShares(j.Model, j.Point.Protocol, e.Party(), j.Point.Frac, seed)
	}
	w := j.Shares
	if w == nil {
		f, err := os.Open(j.SharesFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if w, err = infer.LoadShares(f, infer.Expect{Protocol: j.Point.Protocol, Party: e.Party(), CheckParty: true}); err != nil {
			return nil, err
		}
	}
	return truncateLayers(w, j.Model.Layers), nil
}

// timeout is the bound on waiting for a peer.
func (j *Job) timeout() time.Duration {
	if j.Timeout <= 0 {
		return 2 * time.Minute
	}
	return j.Timeout
}

// truncateLayers returns w restricted to its first n layers.
func truncateLayers(w *infer.ModelShares, n int) *infer.ModelShares {
	if n >= w.Config.Layers {
		return w
	}
	c := *w
	c.Config.Layers = n
	c.Layers = w.Layers[:n]
	return &c
}

// promptIDs returns n token ids drawn from seed: the prompt does not change the cost.
func promptIDs(seed uint64, n, vocab int) []int {
	r := rand.New(rand.NewPCG(seed, 0x70726f6d7074))
	ids := make([]int, n)
	for i := range ids {
		ids[i] = r.IntN(vocab)
	}
	return ids
}

// input shares the one-hot rows of ids, with P0 in the client's role (charged to the meter
// label "client", outside every measured phase).
func input(e mpc.Engine, ids []int, vocab int) (*mpc.Share, error) {
	defer e.Meter().Scope("client")()
	var t *mpc.Tensor
	if e.Party() == 0 {
		t = mpc.NewTensor(len(ids), vocab)
		for i, id := range ids {
			t.Data[i*vocab+id] = 1
		}
	}
	return e.Input(0, t, []int{len(ids), vocab})
}

// RunParty runs job on engine e, whose transport is sh, and returns what this party
// measured. Every party of the session calls it with the same job (but its own Party).
func RunParty(e mpc.Engine, sh *transport.Shaper, j *Job) (*PartyResult, error) {
	pt := &j.Point
	hooks := j.Hooks
	if hooks.Segment == nil {
		hooks.Segment = func(int) {}
	}
	if hooks.CPU == nil {
		hooks.CPU = func() float64 { return 0 }
	}
	res := &PartyResult{Party: e.Party()}
	res.Backend, res.GPU = Backend()
	hooks.Segment(-1)
	setNet(sh, j, Net{Name: "none"})
	w, err := j.shares(e)
	if err != nil {
		return nil, fmt.Errorf("bench: party %d: shares: %w", e.Party(), err)
	}
	var seed prg.Seed
	copy(seed[:], fmt.Sprintf("bench-kv-%d", pt.Seed))
	random := pt.Phase == Decode && pt.KVStart == KVRandom
	kind, err := LookupPolicy(pt.Policy.Name)
	if err != nil {
		return nil, err
	}
	newSession := func() (*infer.Session, infer.Policy, error) {
		pol, err := kind.New(PolicyArgs{Config: j.Model, Depth: j.Depth, Prompt: pt.Context, Budget: pt.Policy.Budget})
		if err != nil {
			return nil, nil, err
		}
		t0 := time.Now()
		s, err := infer.NewSession(e, w, infer.Options{Policy: pol})
		res.SetupS = time.Since(t0).Seconds()
		return s, pol, err
	}
	ids := promptIDs(pt.Seed, pt.Context, j.Model.Vocab)

	// measure runs f as segment i on net n.
	//
	// Every segment starts with a barrier on unshaped links, so that no party (the 2pc dealer
	// above all, which never waits for the others) works ahead into it: each segment pays
	// for its own correlated randomness, whatever ran before.
	measure := func(i, ni int, n Net, f func() error) error {
		hooks.Segment(i)
		setNet(sh, j, Net{Name: "none"})
		bctx, cancel := context.WithTimeout(context.Background(), j.timeout())
		err := barrier(bctx, sh)
		cancel()
		if err != nil {
			return err
		}
		setNet(sh, j, n)
		before := e.Meter().Stats()
		var sent, msgs [3]int64
		for p := range sent {
			msgs[p], sent[p] = sh.Sent(p)
		}
		cpu0, t0 := hooks.CPU(), time.Now()
		if err := f(); err != nil {
			return err
		}
		seg := Segment{Net: n.Name, NetIndex: ni, WallS: time.Since(t0).Seconds(), CPUS: hooks.CPU() - cpu0,
			Stats: diffStats(e.Meter().Stats(), before)}
		for p := range sent {
			m, b := sh.Sent(p)
			seg.LinkMsgs[p], seg.LinkBytes[p] = m-msgs[p], b-sent[p]
		}
		res.Segments = append(res.Segments, seg)
		return nil
	}

	switch pt.Phase {
	case Decode:
		s, pol, err := newSession()
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		var oh *mpc.Share
		if random {
			// The cache as if Context tokens had been prefilled; the first decode input
			// comes from the client.
			if err := startRandom(e, kind, pol, j.Model, pt.Context, seed); err != nil {
				return nil, err
			}
			if err := s.Resume(pt.Context); err != nil {
				return nil, err
			}
			if oh, err = input(e, ids[:1], j.Model.Vocab); err != nil {
				return nil, err
			}
		} else {
			tokens, err := input(e, ids, j.Model.Vocab)
			if err != nil {
				return nil, err
			}
			if oh, _, err = s.PrefillNext(tokens); err != nil {
				return nil, err
			}
		}
		step := func() error {
			oh, _, err = s.DecodeNext(oh)
			return err
		}
		for range pt.Warmup {
			if err := step(); err != nil {
				return nil, err
			}
		}
		res.StartS = time.Since(t0).Seconds()
		for i, ni := range pt.Schedule() {
			if err := measure(i, ni, pt.Nets[ni], func() error {
				for range pt.Tokens {
					if err := step(); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
	case Prefill:
		for i, ni := range pt.Schedule() {
			hooks.Segment(-1)
			setNet(sh, j, Net{Name: "none"})
			s, _, err := newSession()
			if err != nil {
				return nil, err
			}
			tokens, err := input(e, ids, j.Model.Vocab)
			if err != nil {
				return nil, err
			}
			if err := measure(i, ni, pt.Nets[ni], func() error {
				_, _, err := s.PrefillNext(tokens)
				return err
			}); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("bench: unknown phase %q", pt.Phase)
	}
	hooks.Segment(len(pt.Schedule()))
	setNet(sh, j, Net{Name: "none"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sh.Flush(ctx); err != nil {
		return nil, err
	}
	res.MaxRSS = maxRSS()
	return res, barrier(ctx, sh)
}

// barrier exchanges one byte with every other party, so that no party closes its links while
// a peer still waits for its last messages.
func barrier(ctx context.Context, t transport.Transport) error {
	for p := range transport.MaxParties {
		if p != t.Self() {
			if err := t.Send(ctx, p, []byte{0xba}); err != nil {
				return fmt.Errorf("bench: closing barrier: %w", err)
			}
		}
	}
	for p := range transport.MaxParties {
		if p != t.Self() {
			if _, err := t.Recv(ctx, p); err != nil {
				return fmt.Errorf("bench: closing barrier: %w", err)
			}
		}
	}
	return nil
}

// diffStats returns after − before, label by label, dropping labels with nothing in them.
func diffStats(after, before map[string]mpc.Stat) map[string]mpc.Stat {
	out := map[string]mpc.Stat{}
	for k, a := range after {
		d := a.Sub(before[k])
		if d != (mpc.Stat{}) {
			out[k] = d
		}
	}
	return out
}
