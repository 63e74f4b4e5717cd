package cache

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/inproc"
	"github.com/privinfer/mpcache/mpc/mpctest"
	"github.com/privinfer/mpcache/mpc/transport"
)

// This file is the obliviousness test of the secure policies (issue 7, item 4): no party learns
// which tokens a decode step selects. The same policy runs twice, on two prompts of the same
// length whose selections differ (checked by opening the selections inside the test only, after
// the recorded steps). During the decode steps (the forward of one token and the argmax that
// picks the next) every party's transport records each message the party sends and receives,
// with the meter label open at the time, and every party's engine, as infer, the policy and
// protocols call it, records every Open and OpenTo. Each party's two views must be alike:
//
//   - opens: nothing calls Open or OpenTo during a decode step, so nothing is revealed except
//     through the engine's masked openings inside its primitives;
//   - shape: the same sequence of (sender, meter label, length) messages in both runs, so the
//     rounds, sizes and control flow do not depend on the selection;
//   - received bytes: uniform (a chi-square test over all of the view, and per operation), the
//     8-byte words uniform (Kolmogorov–Smirnov) and no more words than chance allows small as
//     signed ring integers (|x| < 2^40, which an index, bit, count or fixed-point value would
//     be); and the two runs not told apart (two-sample chi-square and Kolmogorov–Smirnov);
//   - opened values (2pc): every online round of 2pc is an exchange in which P0 and P1 send each
//     other their halves of a masked value, so what a party learns from the round is the sum
//     (arithmetic openings) or XOR (boolean ones) of the message it sent and the one it
//     received; both must pass the same checks. A received message alone is uniform even when
//     it is a share of an unmasked secret; this check sees what the party reconstructs. (In 3pc
//     what a party learns also involves its own shares, so the test stops at its messages; the
//     engine's own view test, mpc/view_test.go, covers its primitives.)
//
// A control run with a policy that opens the secret part of its selection during decode must
// fail the checks (TestDecodeObliviousControl).
//
// StreamingLLM is left out: its selection is a function of the public position only, so there is
// nothing secret to leak (its decode steps open what the full cache's do). The full cache lives
// in infer and selects everything.

// viewMsg is one message sent or received.
type viewMsg struct {
	peer  int    // sender of a received message, receiver of a sent one
	label string // meter path at the time
	data  []byte
}

// openMsg is one call of Open or OpenTo.
type openMsg struct {
	label string
	shape []int
	data  []uint64 // what this party learnt (nil for OpenTo another party)
}

// partyView is what one party sent, received and opened during the recorded steps.
type partyView struct {
	recv, sent []viewMsg
	opens      []openMsg
}

// recorder wraps a party's transport and keeps every message its party sends and receives
// while on is set. It passes Backlog through, so that the 2pc dealer paces itself as without it.
type recorder struct {
	transport.Transport
	on    atomic.Bool
	mu    sync.Mutex
	meter *mpc.Meter
	view  partyView
}

func (r *recorder) label() string {
	if r.meter == nil {
		return "?"
	}
	return r.meter.Path()
}

func (r *recorder) Send(ctx context.Context, to int, msg []byte) error {
	if r.on.Load() {
		r.mu.Lock()
		r.view.sent = append(r.view.sent, viewMsg{peer: to, label: r.label(), data: bytes.Clone(msg)})
		r.mu.Unlock()
	}
	return r.Transport.Send(ctx, to, msg)
}

func (r *recorder) Recv(ctx context.Context, from int) ([]byte, error) {
	b, err := r.Transport.Recv(ctx, from)
	if err == nil && r.on.Load() {
		r.mu.Lock()
		r.view.recv = append(r.view.recv, viewMsg{peer: from, label: r.label(), data: bytes.Clone(b)})
		r.mu.Unlock()
	}
	return b, err
}

func (r *recorder) Backlog(to int) int64 {
	if b, ok := r.Transport.(transport.Backlogger); ok {
		return b.Backlog(to)
	}
	return 0
}

// openWatch is the engine that infer, the policy and protocols see: it records their Open and
// OpenTo calls while its recorder is on.
type openWatch struct {
	mpc.Engine
	r *recorder
}

func (w *openWatch) note(x *mpc.Share, t *mpc.Tensor) {
	if w.r.on.Load() {
		var data []uint64
		if t != nil {
			data = slices.Clone(t.Data)
		}
		w.r.mu.Lock()
		w.r.view.opens = append(w.r.view.opens, openMsg{label: w.r.label(), shape: slices.Clone(x.Shape), data: data})
		w.r.mu.Unlock()
	}
}

func (w *openWatch) Open(x *mpc.Share) (*mpc.Tensor, error) {
	t, err := w.Engine.Open(x)
	w.note(x, t)
	return t, err
}

func (w *openWatch) OpenTo(to int, x *mpc.Share) (*mpc.Tensor, error) {
	t, err := w.Engine.OpenTo(to, x)
	w.note(x, t)
	return t, err
}

// selection returns, with communication that must happen outside the recorded steps, the
// shares of what a decode step of one layer selected: the attended positions [KVHeads, S] and
// the secret part of the choice (H2O: the heavy slots' positions; MPCache: the one-hot rows of
// the selected middle level-2 clusters), or nil for none.
type selection func(o *ops) (pos, choice *mpc.Share)

// snapshotter records, after each Scores, what the step selected (by reference: shares are not
// changed in place, so nothing is computed and nothing is sent during the step).
type snapshotter struct {
	infer.Policy
	snaps []selection
	// leak, for the control: open the secret choice to every party during the step.
	leak bool
}

func (s *snapshotter) Scores(e mpc.Engine, layer int, q, k, v *mpc.Share) (*mpc.Share, error) {
	z, err := s.Policy.Scores(e, layer, q, k, v)
	if err != nil {
		return z, err
	}
	sel, err := snapshot(s.Policy, layer)
	if err != nil {
		return nil, err
	}
	s.snaps = append(s.snaps, sel)
	if s.leak {
		if _, choice := sel(&ops{e: e}); choice != nil {
			if _, err := e.Open(choice); err != nil {
				return nil, err
			}
		}
	}
	return z, nil
}

// snapshot captures what layer's step just selected.
func snapshot(p infer.Policy, layer int) (selection, error) {
	switch p := p.(type) {
	case *H2O:
		ly := p.layers[layer]
		kv := p.cfg.KVHeads
		return func(o *ops) (*mpc.Share, *mpc.Share) {
			recent := o.public(broadcastPositions(span(ly.first, ly.first+ly.r), kv))
			return o.concat(1, ly.pos, recent), ly.pos
		}, nil
	case *MPCache:
		c, own := p.layers[layer].choice, p.sched[layer]
		var choice *mpc.Share
		if own == layer {
			choice = c.sel
		}
		return func(o *ops) (*mpc.Share, *mpc.Share) {
			return p.positions(o, c, &p.layers[own]), choice
		}, nil
	}
	return nil, fmt.Errorf("policy %T has no selection to snapshot", p)
}

// viewRun is one run: each party's view of the decode steps, and what the steps selected,
// revealed.
type viewRun struct {
	views [3]partyView
	// pos[i][g] are the sorted positions that the i-th (decode step, layer) attends to on KV
	// head g; choice[i] the revealed secret choice (nil for none).
	pos    [][][]int
	choice [][]uint64
}

// recordDecode runs prefill on prompt, then steps decode steps of the policy that newPolicy
// returns, on every party of protocol p, recording each party's view of the decode steps; then
// (not recorded) it reveals the selections, as only a test may.
func recordDecode(t *testing.T, p mpc.Protocol, m *model.Model, prompt []int, steps int, newPolicy func() infer.Policy, leak bool) viewRun {
	t.Helper()
	shares, in := shareInputs(t, p, m, prompt)
	var recs [3]*recorder
	type party struct{ pos, choice []*mpc.Share }
	res, err := inproc.RunWrapped(p, inproc.Memory, mpc.Config{Frac: testFrac, Comparison: testComparison},
		func(i int, tr transport.Transport) transport.Transport {
			recs[i] = &recorder{Transport: tr}
			return recs[i]
		},
		func(e mpc.Engine) (*party, error) {
			rec := recs[e.Party()]
			rec.mu.Lock()
			rec.meter = e.Meter()
			rec.mu.Unlock()
			pol := &snapshotter{Policy: newPolicy(), leak: leak}
			s, err := infer.NewSession(&openWatch{Engine: e, r: rec}, shares[e.Party()], infer.Options{Policy: pol})
			if err != nil {
				return nil, err
			}
			logits, err := s.Prefill(in[e.Party()])
			if err != nil {
				return nil, err
			}
			next, _, err := s.Next(logits)
			for i := 0; i < steps && err == nil; i++ {
				rec.on.Store(true)
				if logits, err = s.Decode(next); err == nil {
					next, _, err = s.Next(logits)
				}
				rec.on.Store(false)
			}
			if err != nil {
				return nil, err
			}
			out := &party{}
			o := &ops{e: e}
			for _, sel := range pol.snaps {
				pos, choice := sel(o)
				out.pos, out.choice = append(out.pos, pos), append(out.choice, choice)
			}
			return out, o.err
		})
	if err != nil {
		t.Fatal(err)
	}
	var run viewRun
	for i, r := range recs {
		run.views[i] = r.view
	}
	reveal := func(f func(*party) *mpc.Share) *mpc.Tensor {
		return mpctest.Reveal(t, p, []*mpc.Share{f(res[0]), f(res[1]), f(res[2])})
	}
	for i := range res[0].pos {
		heads := headPositions(reveal(func(q *party) *mpc.Share { return q.pos[i] }))
		for _, h := range heads {
			slices.Sort(h)
		}
		run.pos = append(run.pos, heads)
		var choice []uint64
		if res[0].choice[i] != nil {
			choice = reveal(func(q *party) *mpc.Share { return q.choice[i] }).Data
		}
		run.choice = append(run.choice, choice)
	}
	return run
}

// Thresholds of the statistical checks. Each check of uniform data fails with probability below
// about 1e−9, so the test does not flake, while an opened tensor of a few dozen plaintext words
// fails the small-word check by orders of magnitude (see the control).
const (
	zLimit   = 6.0  // chi-square tests: Wilson–Hilferty z score
	ksLimit  = 3.5  // Kolmogorov–Smirnov: √n·D (two-sided p ≈ 2·exp(−2·3.5²) ≈ 5e−11)
	tailP    = 1e-9 // small-word count: Poisson tail
	minBytes = 4096 // chi-square tests need at least this many bytes (16 per cell)
	minWords = 1000 // Kolmogorov–Smirnov tests need at least this many words
	// smallBound: a word w is small when |int64(w)| < 2^40, probability 2^−23 if w is uniform.
	smallBound = uint64(1) << 40
)

// byteStats are the statistics of a stream of messages.
type byteStats struct {
	bytes   int
	hist    [256]float64
	byOp    map[string]*[256]float64 // per label with the layer removed
	words   int                      // aligned words of messages whose length is a multiple of 8
	top     []float64                // their histogram by the top 16 bits
	small   int
	smallOp map[string]int
}

func statsOf(msgs []viewMsg) *byteStats {
	s := &byteStats{byOp: map[string]*[256]float64{}, smallOp: map[string]int{}, top: make([]float64, 1<<16)}
	for _, m := range msgs {
		op := layerLabel.ReplaceAllString(m.label, "")
		h := s.byOp[op]
		if h == nil {
			h = new([256]float64)
			s.byOp[op] = h
		}
		for _, b := range m.data {
			s.hist[b]++
			h[b]++
		}
		s.bytes += len(m.data)
		if len(m.data)%8 != 0 {
			continue // bit-packed openings (b2a): uniform bits, counted in the histograms only
		}
		for i := 0; i < len(m.data); i += 8 {
			w := binary.LittleEndian.Uint64(m.data[i:])
			s.words++
			s.top[w>>48]++
			if w+smallBound < 2*smallBound {
				s.small++
				s.smallOp[op]++
			}
		}
	}
	return s
}

// problems returns what tells the stream from uniform randomness.
func (s *byteStats) problems() []string {
	var problems []string
	if s.bytes >= minBytes {
		if z := chiUniform(&s.hist); z > zLimit {
			problems = append(problems, fmt.Sprintf("bytes not uniform (chi-square z = %.1f over %d bytes)", z, s.bytes))
		}
	}
	for _, op := range slices.Sorted(maps.Keys(s.byOp)) {
		if h := s.byOp[op]; sum256(h) >= minBytes {
			if z := chiUniform(h); z > zLimit {
				problems = append(problems, fmt.Sprintf("bytes at %q not uniform (chi-square z = %.1f over %.0f bytes)", op, z, sum256(h)))
			}
		}
	}
	if s.words >= minWords {
		if d := ksUniform(s.top, s.words); d > ksLimit {
			problems = append(problems, fmt.Sprintf("words not uniform (Kolmogorov–Smirnov √n·D = %.2f over %d words)", d, s.words))
		}
	}
	if limit := poissonLimit(float64(s.words) / (1 << 23)); s.small > limit {
		var where []string
		for _, op := range slices.Sorted(maps.Keys(s.smallOp)) {
			where = append(where, fmt.Sprintf("%s: %d", op, s.smallOp[op]))
		}
		problems = append(problems, fmt.Sprintf("%d of %d words are small ring integers (|x| < 2^40; chance allows %d): %s",
			s.small, s.words, limit, strings.Join(where, ", ")))
	}
	return problems
}

// distinguish returns what tells the streams a and b apart.
func distinguish(a, b *byteStats) []string {
	var problems []string
	if a.bytes >= minBytes && b.bytes >= minBytes {
		if z := chiHomogeneity(&a.hist, &b.hist); z > zLimit {
			problems = append(problems, fmt.Sprintf("byte histograms differ (two-sample chi-square z = %.1f)", z))
		}
	}
	if a.words >= minWords && b.words >= minWords {
		if d := ksTwo(a.top, a.words, b.top, b.words); d > ksLimit {
			problems = append(problems, fmt.Sprintf("words differ (two-sample Kolmogorov–Smirnov √(nm/(n+m))·D = %.2f)", d))
		}
	}
	return problems
}

func sum256(h *[256]float64) float64 {
	t := 0.0
	for _, c := range h {
		t += c
	}
	return t
}

// chiUniform returns the Wilson–Hilferty z score of the chi-square statistic of h against the
// uniform distribution over the 256 byte values.
func chiUniform(h *[256]float64) float64 {
	exp := sum256(h) / 256
	chi := 0.0
	for _, c := range h {
		chi += (c - exp) * (c - exp) / exp
	}
	return wilsonHilferty(chi, 255)
}

// chiHomogeneity returns the z score of the chi-square test that a and b (byte histograms) come
// from the same distribution.
func chiHomogeneity(a, b *[256]float64) float64 {
	na, nb := sum256(a), sum256(b)
	chi, dof := 0.0, -1
	for i := range a {
		col := a[i] + b[i]
		if col == 0 {
			continue
		}
		dof++
		ea, eb := col*na/(na+nb), col*nb/(na+nb)
		chi += (a[i]-ea)*(a[i]-ea)/ea + (b[i]-eb)*(b[i]-eb)/eb
	}
	return wilsonHilferty(chi, dof)
}

// wilsonHilferty maps a chi-square statistic with k degrees of freedom to an approximately
// standard normal z score.
func wilsonHilferty(chi float64, k int) float64 {
	if k < 1 {
		return 0
	}
	v := 2 / (9 * float64(k))
	return (math.Cbrt(chi/float64(k)) - (1 - v)) / math.Sqrt(v)
}

// ksUniform returns √n·D of n words, given as the histogram h of their top 16 bits, against the
// uniform distribution over the ring (the bins change √n·D by at most √n·2^−16).
func ksUniform(h []float64, n int) float64 {
	c, d := 0.0, 0.0
	for i, x := range h {
		c += x
		d = max(d, math.Abs(c/float64(n)-float64(i+1)/float64(len(h))))
	}
	return math.Sqrt(float64(n)) * d
}

// ksTwo returns √(nm/(n+m))·D of two word samples given as histograms of their top 16 bits.
func ksTwo(a []float64, n int, b []float64, m int) float64 {
	ca, cb, d := 0.0, 0.0, 0.0
	for i := range a {
		ca, cb = ca+a[i], cb+b[i]
		d = max(d, math.Abs(ca/float64(n)-cb/float64(m)))
	}
	return math.Sqrt(float64(n)*float64(m)/float64(n+m)) * d
}

// poissonLimit returns the smallest k with P(X > k) < tailP for X ~ Poisson(lambda).
func poissonLimit(lambda float64) int {
	pmf := math.Exp(-lambda)
	cdf := pmf
	k := 0
	for 1-cdf >= tailP && k < 1<<20 {
		k++
		pmf *= lambda / float64(k)
		cdf += pmf
	}
	return k
}

// opened returns what a 2pc computing party learns from each online round, as two streams of
// messages: the sums (word by word) and the XORs (byte by byte) of the message it sent to its
// peer and the one it received from it. Every online round of 2pc sends and receives one message
// of the same length between P0 and P1 (Open, and the masked openings of Mul, MatMul, Trunc,
// Fix, OneHot and the comparison circuit); anything else is a problem.
func opened(v partyView, peer int) (sums, xors []viewMsg, problems []string) {
	var out, in []viewMsg
	for _, m := range v.sent {
		if m.peer == peer {
			out = append(out, m)
		}
	}
	for _, m := range v.recv {
		if m.peer == peer {
			in = append(in, m)
		}
	}
	if len(out) != len(in) {
		problems = append(problems, fmt.Sprintf("sent %d messages to party %d and received %d: not every round is an exchange", len(out), peer, len(in)))
	}
	for i := range min(len(out), len(in)) {
		a, b := out[i], in[i]
		if a.label != b.label || len(a.data) != len(b.data) {
			problems = append(problems, fmt.Sprintf("round %d sent %d bytes at %q and received %d at %q", i, len(a.data), a.label, len(b.data), b.label))
			break
		}
		x := make([]byte, len(a.data))
		for j := range x {
			x[j] = a.data[j] ^ b.data[j]
		}
		xors = append(xors, viewMsg{peer: peer, label: a.label, data: x})
		if len(a.data)%8 != 0 {
			continue
		}
		s := make([]byte, len(a.data))
		for j := 0; j < len(s); j += 8 {
			binary.LittleEndian.PutUint64(s[j:], binary.LittleEndian.Uint64(a.data[j:])+binary.LittleEndian.Uint64(b.data[j:]))
		}
		sums = append(sums, viewMsg{peer: peer, label: a.label, data: s})
	}
	return sums, xors, problems
}

// partyStats are the streams of one party's view that the checks read.
type partyStats struct {
	recv, sums, xors *byteStats // sums and xors: 2pc computing parties only
	problems         []string   // structural: opens, unpaired rounds
}

func statsOfParty(p mpc.Protocol, party int, v partyView) partyStats {
	ps := partyStats{recv: statsOf(v.recv)}
	for _, o := range v.opens {
		ps.problems = append(ps.problems, fmt.Sprintf("opened a %v tensor at %q", o.shape, o.label))
	}
	if p == mpc.TwoPC && party < 2 {
		sums, xors, problems := opened(v, 1-party)
		ps.sums, ps.xors = statsOf(sums), statsOf(xors)
		ps.problems = append(ps.problems, problems...)
	}
	return ps
}

// check returns what tells one party's view from one that reveals nothing.
func (ps partyStats) check() []string {
	problems := slices.Clone(ps.problems)
	add := func(what string, s *byteStats) {
		if s == nil {
			return
		}
		for _, p := range s.problems() {
			problems = append(problems, what+": "+p)
		}
	}
	add("received", ps.recv)
	add("opened (sums)", ps.sums)
	add("opened (XORs)", ps.xors)
	return problems
}

// compareViews returns what tells apart one party's views a and b of two runs, or tells either
// from a view that reveals nothing (empty when nothing does), and a summary of a for the log.
func compareViews(p mpc.Protocol, party int, a, b partyView) (problems []string, summary string) {
	if len(a.recv) != len(b.recv) {
		problems = append(problems, fmt.Sprintf("shape: received %d messages in one run, %d in the other", len(a.recv), len(b.recv)))
	} else {
		for i, x := range a.recv {
			if y := b.recv[i]; x.peer != y.peer || x.label != y.label || len(x.data) != len(y.data) {
				problems = append(problems, fmt.Sprintf("shape: message %d is %d bytes from party %d at %q in one run, %d bytes from party %d at %q in the other",
					i, len(x.data), x.peer, x.label, len(y.data), y.peer, y.label))
				break
			}
		}
	}
	sa, sb := statsOfParty(p, party, a), statsOfParty(p, party, b)
	for r, s := range []partyStats{sa, sb} {
		for _, pr := range s.check() {
			problems = append(problems, fmt.Sprintf("run %d: %s", r, pr))
		}
	}
	for _, pr := range distinguish(sa.recv, sb.recv) {
		problems = append(problems, "received: "+pr)
	}
	if sa.sums != nil && sb.sums != nil {
		for _, pr := range distinguish(sa.sums, sb.sums) {
			problems = append(problems, "opened (sums): "+pr)
		}
		for _, pr := range distinguish(sa.xors, sb.xors) {
			problems = append(problems, "opened (XORs): "+pr)
		}
	}
	summary = fmt.Sprintf("received %d messages, %d bytes (%d in the policy's Scores and Mix), %d small words of %d; %d opens",
		len(a.recv), sa.recv.bytes, policyBytes(a.recv), sa.recv.small, sa.recv.words, len(a.opens))
	if sa.sums != nil {
		summary += fmt.Sprintf("; opened values: %d small words of %d (sums), %d of %d (XORs)", sa.sums.small, sa.sums.words, sa.xors.small, sa.xors.words)
	}
	return problems, summary
}

// policyBytes counts the bytes of msgs inside the policy's Scores and Mix.
func policyBytes(msgs []viewMsg) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m.label, "/attn/scores") || strings.Contains(m.label, "/attn/mix") {
			n += len(m.data)
		}
	}
	return n
}

// obliviousSetup returns the model and sizes of the test: llama-test's shape (GQA, RoPE,
// SwiGLU) with seeded random weights, cut to two layers (three without -short) so that MPCache
// has an owner layer and a layer that reuses its selection.
func obliviousSetup(t *testing.T) (m *model.Model, T, steps int, sched model.Schedule) {
	cfg, err := model.Shape("llama-test")
	if err != nil {
		t.Fatal(err)
	}
	T, steps, sched = 24, 2, model.Schedule{0, 0}
	if !testing.Short() {
		T, steps, sched = 64, 3, model.Schedule{0, 0, 2}
	}
	cfg.Layers, cfg.MaxSeq = len(sched), T+steps+1
	w, err := model.RandomWeights(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	return &model.Model{Config: cfg, Weights: w}, T, steps, sched
}

// randomPrompt returns T random token ids drawn from seed.
func randomPrompt(vocab, T int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 1))
	p := make([]int, T)
	for i := range p {
		p[i] = r.IntN(vocab)
	}
	return p
}

// obliviousCase is a policy of the test.
type obliviousCase struct {
	name   string
	policy func() infer.Policy
}

// obliviousCases returns H2O and MPCache with budgets that select a strict subset at every
// level. H2O keeps T/6 heavy hitters and a window of T/6. MPCache keeps K = 3T/4 prompt rows in
// clusters of 4 and 2 tokens; at T = 24 a decode step (n = 19 or 20 rows) keeps 2 of the 3
// middle level-1 clusters, then 3 of the 6 candidate level-2 clusters.
func obliviousCases(t *testing.T, T int, sched model.Schedule) []obliviousCase {
	params := model.DefaultMPCacheParams()
	params.StaticRatio, params.Cluster1, params.Cluster2, params.Ratio2 = 0.75, 4, 2, 0.3
	params.Schedule = sched
	heavy, recent := T/6, T/6
	return []obliviousCase{
		{"h2o", func() infer.Policy { return NewH2O(heavy, recent) }},
		{"mpcache", func() infer.Policy {
			p, err := NewMPCache(params)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}},
	}
}

// TestDecodeOblivious checks that what every party sees during decode steps does not depend on
// which tokens the steps select (see the top of this file), for H2O and MPCache in 2pc and 3pc.
func TestDecodeOblivious(t *testing.T) {
	m, T, steps, sched := obliviousSetup(t)
	prompts := [2][]int{randomPrompt(m.Config.Vocab, T, 1), randomPrompt(m.Config.Vocab, T, 2)}
	for _, c := range obliviousCases(t, T, sched) {
		for _, p := range backends {
			t.Run(fmt.Sprintf("%s/%s", c.name, p), func(t *testing.T) {
				runs := [2]viewRun{
					recordDecode(t, p, m, prompts[0], steps, c.policy, false),
					recordDecode(t, p, m, prompts[1], steps, c.policy, false),
				}
				checkSelectionsDiffer(t, runs, m.Config.Layers)
				for party := range 3 {
					problems, summary := compareViews(p, party, runs[0].views[party], runs[1].views[party])
					t.Logf("party %d: %s", party, summary)
					for _, pr := range problems {
						t.Errorf("party %d: %s", party, pr)
					}
				}
				if policyBytes(runs[0].views[0].recv) == 0 {
					t.Fatal("P0 received nothing inside the policy during decode: the test checks nothing")
				}
			})
		}
	}
}

// checkSelectionsDiffer fails the test unless the two runs select differently at every decode
// step (in some layer and KV head), both in attended positions and in the secret choice.
func checkSelectionsDiffer(t *testing.T, runs [2]viewRun, layers int) {
	t.Helper()
	a, b := runs[0], runs[1]
	if len(a.pos) != len(b.pos) || len(a.pos) == 0 {
		t.Fatalf("the runs traced %d and %d layer steps", len(a.pos), len(b.pos))
	}
	posDiff, choiceDiff, heads, choosers := 0, 0, 0, 0
	for i := range a.pos {
		for g := range a.pos[i] {
			heads++
			if !slices.Equal(a.pos[i][g], b.pos[i][g]) {
				posDiff++
			}
		}
		if a.choice[i] != nil {
			choosers++
			if !slices.Equal(a.choice[i], b.choice[i]) {
				choiceDiff++
			}
		}
		if (i+1)%layers == 0 {
			step := i / layers
			if posDiff == 0 || choiceDiff == 0 {
				t.Fatalf("decode step %d: both prompts select alike (positions differ in %d of %d heads, secret choices in %d of %d layers): pick other prompts",
					step, posDiff, heads, choiceDiff, choosers)
			}
			t.Logf("decode step %d: attended positions differ in %d of %d (layer, KV head) pairs, the secret choice in %d of %d selecting layers",
				step, posDiff, heads, choiceDiff, choosers)
			posDiff, choiceDiff, heads, choosers = 0, 0, 0, 0
		}
	}
}

// TestDecodeObliviousControl runs H2O with an Open of the secret part of its selection (the
// heavy slots' positions, KVHeads·Heavy plain integers per layer and step: a few hundred bytes
// among megabytes) during every decode step, and checks that the checks of TestDecodeOblivious
// catch it: the open itself at every computing party, and, in 2pc, the opened positions among
// the values P0 and P1 reconstruct. What each party receives, a share of the positions, is
// uniform, so the checks of received bytes alone must not be what catches it.
func TestDecodeObliviousControl(t *testing.T) {
	m, T, steps, sched := obliviousSetup(t)
	prompt := randomPrompt(m.Config.Vocab, T, 1)
	c := obliviousCases(t, T, sched)[0]
	for _, p := range backends {
		t.Run(fmt.Sprintf("%s/%s", c.name, p), func(t *testing.T) {
			run := recordDecode(t, p, m, prompt, steps, c.policy, true)
			for party := range 2 {
				ps := statsOfParty(p, party, run.views[party])
				if len(ps.problems) == 0 {
					t.Errorf("party %d: the opens of the selection were not seen", party)
				}
				if p == mpc.TwoPC && len(ps.sums.problems()) == 0 {
					t.Errorf("party %d: the opened positions pass the checks of opened values", party)
				}
				for _, pr := range ps.check() {
					t.Logf("party %d (expected): %s", party, pr)
				}
				if r := ps.recv.problems(); len(r) > 0 {
					t.Logf("party %d: the received bytes alone show it too: %v", party, r)
				}
			}
		})
	}
}
