package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/parties/link"
	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/parties/store"
	"github.com/privinfer/mpcache/parties/wire"
	"github.com/privinfer/mpcache/proto/partypb"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testModel is a small seeded GPT-2-style model, the same at every party.
func testModel(t *testing.T) *model.Model {
	t.Helper()
	m, err := model.RandomModel("gpt2-test", 7)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// cluster runs the three parties of protocol p in this process, over loopback gRPC without TLS,
// each with the model's shares in its store. cfg tweaks every manager's configuration.
func cluster(t *testing.T, p role.Protocol, m *model.Model, cfg func(*Config)) ([]*Manager, string) {
	t.Helper()
	shares, err := infer.ShareModel(m, mpc.Protocol(p), 16)
	if err != nil {
		t.Fatal(err)
	}
	id := shares[0].ModelID
	lis := make([]net.Listener, 3)
	for i := range lis {
		if lis[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ms := make([]*Manager, 3)
	for i, r := range p.Roles() {
		peers := map[int]link.Peer{}
		for j := range 3 {
			if j != i {
				peers[j] = link.Peer{Addr: lis[j].Addr().String()}
			}
		}
		node, err := link.New(link.Config{Self: i, Protocol: p, Peers: peers, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer(link.ServerOptions(link.Keepalive{})...)
		node.Register(srv)
		go srv.Serve(lis[i])
		st, err := store.Open(t.TempDir(), p, r, store.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := shares[i].Save(&b); err != nil {
			t.Fatal(err)
		}
		up, err := st.BeginUpload(header(id, p, r, b.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Add(&partypb.UploadRequest{Part: &partypb.UploadRequest_Data{Data: &partypb.ShareData{Data: b.Bytes()}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := up.Commit(); err != nil {
			t.Fatal(err)
		}
		c := Config{Protocol: p, Role: r, Node: node, Store: st, Logger: quiet}
		if cfg != nil {
			cfg(&c)
		}
		if ms[i], err = NewManager(c); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ms[i].Close()
			node.Close()
			srv.Stop()
		})
	}
	return ms, id
}

func header(id string, p role.Protocol, r role.Role, data []byte) *partypb.ShareHeader {
	sum := sha256sum(data)
	return &partypb.ShareHeader{ModelId: id, Role: string(r), Protocol: store.ProtocolEnum(p), FileName: store.FileName(p, r),
		Size: uint64(len(data)), Sha256: sum}
}

// run opens req at every party (reqs[i] overrides it for party i), submits the shares of the
// prompt, and returns every party's events.
func run(t *testing.T, p role.Protocol, ms []*Manager, req Request, prompt []int, vocab int, reqs map[int]Request) [][]Event {
	t.Helper()
	onehot := mpc.NewTensor(len(prompt), vocab)
	for i, tok := range prompt {
		onehot.Data[i*vocab+tok] = 1
	}
	return runInput(t, p, ms, req, onehot, reqs)
}

// runInput is run with the client's whole input given.
func runInput(t *testing.T, p role.Protocol, ms []*Manager, req Request, input *mpc.Tensor, reqs map[int]Request) [][]Event {
	t.Helper()
	ss := make([]*Session, 3)
	for i, m := range ms {
		r := req
		if o, ok := reqs[i]; ok {
			r = o
		}
		s, err := m.Open(r)
		if err != nil {
			t.Fatalf("open at party %d: %v", i, err)
		}
		ss[i] = s
	}
	in, err := mpc.Split(mpc.Protocol(p), input)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range ss {
		if s.InputSize() == 0 {
			continue
		}
		// Through the wire encoding, as the service does.
		b := wire.EncodeShare(in[i])
		sh, err := wire.DecodeShare(b, mpc.Protocol(p), i, s.InputShape())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SubmitInput(sh); err != nil {
			t.Fatal(err)
		}
	}
	out := make([][]Event, 3)
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for k := 0; ; k++ {
				ev, err := s.Next(ctx, k)
				if err != nil {
					out[i] = append(out[i], Event{Err: err})
					return
				}
				out[i] = append(out[i], ev)
				if ev.Final() {
					return
				}
			}
		}()
	}
	wg.Wait()
	return out
}

func reference(t *testing.T, m *model.Model, prompt []int, n int) []int {
	t.Helper()
	s, err := model.NewSession(m, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logits, err := s.Prefill(prompt)
	var out []int
	for err == nil {
		next := 0
		for i, v := range logits {
			if v > logits[next] {
				next = i
			}
		}
		if out = append(out, next); len(out) == n {
			break
		}
		logits, err = s.Decode(next)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRun runs whole sessions in both protocols and reconstructs the tokens from the parties'
// outputs, as a client does.
func TestRun(t *testing.T) {
	m := testModel(t)
	prompt := []int{3, 17, 42, 5, 99, 1}
	const n = 3
	want := reference(t, m, prompt, n)
	for _, p := range []role.Protocol{role.TwoPC, role.ThreePC} {
		t.Run(string(p), func(t *testing.T) {
			ms, id := cluster(t, p, m, nil)
			sid, _ := link.NewSessionID()
			evs := run(t, p, ms, Request{ID: sid, ModelID: id, Protocol: p, PromptLen: len(prompt), MaxNewTokens: n}, prompt, m.Config.Vocab, nil)
			var got []int
			for k := range n {
				row := make([]*mpc.Share, 3)
				for i := range 3 {
					if wire.Width(mpc.Protocol(p), i) == 0 {
						continue
					}
					tok := evs[i][k].Token
					if tok == nil || tok.Index != k {
						t.Fatalf("party %d event %d: %+v", i, k, evs[i][k])
					}
					if row[i], _ = wire.DecodeShare(tok.Share, mpc.Protocol(p), i, []int{1}); row[i] == nil {
						t.Fatalf("party %d token %d: bad share", i, k)
					}
				}
				v, err := mpc.Reconstruct(mpc.Protocol(p), row)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, int(v.Data[0]))
			}
			for i := range 3 {
				last := evs[i][len(evs[i])-1]
				if last.Err != nil || last.Summary == nil || last.Summary.Tokens != n || last.Summary.Rounds == 0 && i != 2 {
					t.Fatalf("party %d ended with %+v (%v)", i, last.Summary, last.Err)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("secure tokens %v, reference %v", got, want)
			}
			// Each party forgets the session once its output is read and its link closed.
			deadline := time.Now().Add(15 * time.Second)
			for _, mg := range ms {
				for mg.Active() != 0 {
					if time.Now().After(deadline) {
						t.Fatalf("%s still holds %d sessions after their output was read", mg.Role(), mg.Active())
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

// TestParamsMismatch gives one party other public parameters: no party computes, and the parties
// that compare with it say what differs.
func TestParamsMismatch(t *testing.T) {
	m := testModel(t)
	prompt := []int{1, 2, 3}
	ms, id := cluster(t, role.ThreePC, m, nil)
	sid, _ := link.NewSessionID()
	req := Request{ID: sid, ModelID: id, Protocol: role.ThreePC, PromptLen: len(prompt), MaxNewTokens: 2}
	other := req
	other.MaxNewTokens = 3
	evs := run(t, role.ThreePC, ms, req, prompt, m.Config.Vocab, map[int]Request{1: other})
	// P0 and P1 see each other's parameters; P2 may find that one of them has already left.
	for i := range 3 {
		last := evs[i][len(evs[i])-1]
		if last.Err == nil {
			t.Fatalf("party %d computed with mismatched parameters", i)
		}
		if i < 2 && (!strings.Contains(last.Err.Error(), "disagree on the session parameters") || !strings.Contains(last.Err.Error(), "new tokens: ")) {
			t.Fatalf("party %d: %v", i, last.Err)
		}
	}
}

// TestNetworkParams runs 2pc sessions whose parties all plan for the WAN and for the LAN: both
// give the reference's tokens, and the LAN's tournament plans take more rounds (so the setting
// reaches the engines); then a 3pc one in which P1 alone plans for the LAN: no party computes,
// and P0 and P1 name the planned network.
func TestNetworkParams(t *testing.T) {
	m := testModel(t)
	prompt := []int{3, 17, 42, 5, 99, 1}
	const n = 2
	want := reference(t, m, prompt, n)
	rounds := map[string]int64{}
	for _, nw := range []struct {
		name string
		net  mpc.Network
	}{{"wan", mpc.WANNetwork}, {"lan", mpc.LANNetwork}} {
		t.Run(nw.name, func(t *testing.T) {
			ms, id := cluster(t, role.TwoPC, m, func(c *Config) { c.Network = nw.net })
			sid, _ := link.NewSessionID()
			evs := run(t, role.TwoPC, ms, Request{ID: sid, ModelID: id, Protocol: role.TwoPC, PromptLen: len(prompt), MaxNewTokens: n}, prompt, m.Config.Vocab, nil)
			if got := tokens(t, role.TwoPC, evs, n); !slices.Equal(got, want) {
				t.Fatalf("secure tokens %v, reference %v", got, want)
			}
			last := evs[0][len(evs[0])-1]
			if last.Summary == nil {
				t.Fatalf("party 0 ended with %v", last.Err)
			}
			rounds[nw.name] = last.Summary.Rounds
		})
	}
	if !(rounds["lan"] > rounds["wan"]) {
		t.Errorf("rounds on the WAN plan %d, on the LAN plan %d: want more on the LAN", rounds["wan"], rounds["lan"])
	}
	t.Run("mismatch", func(t *testing.T) {
		ms, id := cluster(t, role.ThreePC, m, func(c *Config) {
			if c.Role == role.P1 {
				c.Network = mpc.LANNetwork
			}
		})
		sid, _ := link.NewSessionID()
		req := Request{ID: sid, ModelID: id, Protocol: role.ThreePC, PromptLen: len(prompt), MaxNewTokens: n}
		evs := run(t, role.ThreePC, ms, req, prompt, m.Config.Vocab, nil)
		for i := range 3 {
			last := evs[i][len(evs[i])-1]
			if last.Err == nil {
				t.Fatalf("party %d computed with mismatched planned networks", i)
			}
			if i < 2 && !strings.Contains(last.Err.Error(), "planned network: ") {
				t.Fatalf("party %d: %v", i, last.Err)
			}
		}
	})
}

// sampledInput is the client's input of a sampling session: the prompt's one-hot rows, then
// the uniforms (fixed point, 16 fractional bits) in the rows InputShape gives.
func sampledInput(prompt []int, us []uint64, vocab int) *mpc.Tensor {
	rows := len(prompt) + uniformRows(len(us), vocab)
	in := mpc.NewTensor(rows, vocab)
	for i, tok := range prompt {
		in.Data[i*vocab+tok] = 1
	}
	copy(in.Data[len(prompt)*vocab:], us)
	return in
}

// tokens reconstructs the n tokens of a session from the parties' events, as a client does.
func tokens(t *testing.T, p role.Protocol, evs [][]Event, n int) []int {
	t.Helper()
	var got []int
	for k := range n {
		row := make([]*mpc.Share, 3)
		for i := range 3 {
			if wire.Width(mpc.Protocol(p), i) == 0 {
				continue
			}
			if k >= len(evs[i]) || evs[i][k].Token == nil || evs[i][k].Token.Index != k {
				t.Fatalf("party %d: events %+v", i, evs[i])
			}
			if row[i], _ = wire.DecodeShare(evs[i][k].Token.Share, mpc.Protocol(p), i, []int{1}); row[i] == nil {
				t.Fatalf("party %d token %d: bad share", i, k)
			}
		}
		v, err := mpc.Reconstruct(mpc.Protocol(p), row)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, int(v.Data[0]))
	}
	return got
}

// TestRunSampled runs top-p sampling sessions, the uniforms in the client's input after the
// prompt, and compares the tokens with model.NucleusCDF on the same uniforms. Each step's
// uniform is the middle of the reference CDF's interval of the most probable token of the
// nucleus other than the argmax (so the draw stands away from every boundary, and the tokens
// differ from greedy decoding's wherever the nucleus has more than one token).
func TestRunSampled(t *testing.T) {
	m := testModel(t)
	prompt := []int{3, 17, 42, 5, 99}
	const n, temperature, topP = 4, 0.08, 0.95
	rs, err := model.NewSession(m, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var us []uint64
	var want, sizes []int
	logits, err := rs.Prefill(prompt)
	for err == nil {
		probs, tau := model.Nucleus(logits, temperature, topP)
		var q float64
		for _, v := range probs {
			if v >= tau {
				q += v
			}
		}
		best, second, lo, mid := -1, -1, 0.0, 0.5
		for i, v := range probs {
			if v >= tau && (best < 0 || v > probs[best]) {
				best = i
			}
		}
		for i, v := range probs {
			if v >= tau && i != best && (second < 0 || v > probs[second]) {
				second = i
			}
		}
		size := 0
		for i, v := range probs {
			if v < tau {
				continue
			}
			size++
			if i == second {
				mid = (lo + v/2) / q
			}
			lo += v
		}
		u := uint64(math.Round(math.Ldexp(mid, 16)))
		tok, err := model.NucleusToken(logits, temperature, topP, math.Ldexp(float64(u), -16))
		if err != nil {
			t.Fatal(err)
		}
		us, want, sizes = append(us, u), append(want, tok), append(sizes, size)
		if len(want) == n {
			break
		}
		logits, err = rs.Decode(tok)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("uniforms %v, nucleus sizes %v", us, sizes)
	greedy := reference(t, m, prompt, n)
	for _, p := range []role.Protocol{role.TwoPC, role.ThreePC} {
		t.Run(string(p), func(t *testing.T) {
			ms, id := cluster(t, p, m, nil)
			sid, _ := link.NewSessionID()
			req := Request{ID: sid, ModelID: id, Protocol: p, PromptLen: len(prompt), MaxNewTokens: n, Temperature: temperature, TopP: topP}
			evs := runInput(t, p, ms, req, sampledInput(prompt, us, m.Config.Vocab), nil)
			got := tokens(t, p, evs, n)
			for i := range 3 {
				last := evs[i][len(evs[i])-1]
				if last.Err != nil || last.Summary == nil || last.Summary.Tokens != n {
					t.Fatalf("party %d ended with %+v (%v)", i, last.Summary, last.Err)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("secure tokens %v, reference %v", got, want)
			}
			if slices.Equal(got, greedy) {
				t.Fatalf("sampled %v, the same as greedy decoding: pick another prompt or parameters", got)
			}
			t.Logf("sampled %v (greedy %v)", got, greedy)
		})
	}
}

// TestSamplingShape checks the input layout of a sampling session.
func TestSamplingShape(t *testing.T) {
	greedy := Request{PromptLen: 5, MaxNewTokens: 9}
	if got := InputShape(greedy, 4); !slices.Equal(got, []int{5, 4}) {
		t.Errorf("greedy input shape %v", got)
	}
	for _, c := range []struct{ n, vocab, rows int }{{1, 4, 1}, {4, 4, 1}, {5, 4, 2}, {9, 4, 3}, {16, 512, 1}} {
		r := Request{PromptLen: 5, MaxNewTokens: c.n, Temperature: 0.8, TopP: 0.9}
		if got := InputShape(r, c.vocab); !slices.Equal(got, []int{5 + c.rows, c.vocab}) {
			t.Errorf("%d tokens, vocabulary %d: input shape %v, want %d uniform rows", c.n, c.vocab, got, c.rows)
		}
	}
}

// TestSamplingMismatch gives one party other sampling parameters: the parties refuse, naming the
// sampling.
func TestSamplingMismatch(t *testing.T) {
	m := testModel(t)
	prompt := []int{1, 2, 3}
	ms, id := cluster(t, role.ThreePC, m, nil)
	sid, _ := link.NewSessionID()
	req := Request{ID: sid, ModelID: id, Protocol: role.ThreePC, PromptLen: len(prompt), MaxNewTokens: 2, Temperature: 0.8, TopP: 0.9}
	other := req
	other.TopP = 0.5
	evs := runInput(t, role.ThreePC, ms, req, sampledInput(prompt, []uint64{1, 2}, m.Config.Vocab), map[int]Request{1: other})
	for i := range 3 {
		last := evs[i][len(evs[i])-1]
		if last.Err == nil {
			t.Fatalf("party %d computed with mismatched sampling", i)
		}
		if i < 2 && !strings.Contains(last.Err.Error(), "sampling: top-p 0.9 at temperature 0.8 vs top-p 0.5 at temperature 0.8") &&
			!strings.Contains(last.Err.Error(), "sampling: top-p 0.5 at temperature 0.8 vs top-p 0.9 at temperature 0.8") {
			t.Fatalf("party %d: %v", i, last.Err)
		}
	}
}

// TestOpenRefused checks the public parameters a party refuses, one error per cause.
func TestOpenRefused(t *testing.T) {
	m := testModel(t)
	ms, id := cluster(t, role.TwoPC, m, func(c *Config) { c.MaxSessions = 2 })
	p0 := ms[0]
	sid := func() link.SessionID { s, _ := link.NewSessionID(); return s }
	ok := func() Request {
		return Request{ID: sid(), ModelID: id, Protocol: role.TwoPC, PromptLen: 4, MaxNewTokens: 2}
	}
	dup := ok()
	if _, err := p0.Open(dup); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  func(r *Request)
		want error
		msg  string
	}{
		{"protocol", func(r *Request) { r.Protocol = role.ThreePC }, ErrMismatch, "p0 runs 2pc, the request is for 3pc"},
		{"model id", func(r *Request) { r.ModelID = "../x" }, ErrInvalid, "model id"},
		{"unknown model", func(r *Request) { r.ModelID = "feedface" }, ErrNotFound, "unknown model feedface"},
		{"policy", func(r *Request) { r.Policy = "lru" }, ErrInvalid, `unknown cache policy "lru"`},
		{"policy parameter", func(r *Request) { r.PolicyParams = map[string]string{"keep": "3"} }, ErrInvalid, "takes no parameter"},
		{"no prompt", func(r *Request) { r.PromptLen = 0 }, ErrInvalid, "at least 1"},
		{"context", func(r *Request) { r.PromptLen = m.Config.MaxSeq }, ErrInvalid, "more than the model's context"},
		{"duplicate", func(r *Request) { r.ID = dup.ID }, ErrExists, "already open"},
		{"top-p", func(r *Request) { r.Temperature, r.TopP = 0.8, 1.5 }, ErrInvalid, "top-p must lie in (0, 1]"},
		{"no top-p", func(r *Request) { r.Temperature = 0.8 }, ErrInvalid, "top-p must lie in (0, 1]"},
		{"temperature", func(r *Request) { r.TopP = 0.9 }, ErrInvalid, "temperature > 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ok()
			c.req(&r)
			_, err := p0.Open(r)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want %v about %q", err, c.want, c.msg)
			}
		})
	}
	if _, err := p0.Open(ok()); err != nil {
		t.Fatal(err)
	}
	if _, err := p0.Open(ok()); !errors.Is(err, ErrExhausted) {
		t.Fatalf("a third session with a limit of 2: %v", err)
	}
	p1 := ms[1]
	if n := p1.Drain(context.Background()); n != 0 {
		t.Fatalf("draining an idle party left %d sessions", n)
	}
	if _, err := p1.Open(ok()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("opening at a draining party: %v", err)
	}
}

// TestInputTimeoutAndCancel: a session whose input never comes ends by itself; one the client
// cancels ends at once; both say why, and neither is kept.
func TestInputTimeoutAndCancel(t *testing.T) {
	m := testModel(t)
	ms, id := cluster(t, role.ThreePC, m, func(c *Config) { c.InputTimeout = 200 * time.Millisecond; c.OutputRetention = time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sid, _ := link.NewSessionID()
	s, err := ms[0].Open(Request{ID: sid, ModelID: id, Protocol: role.ThreePC, PromptLen: 2, MaxNewTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.Next(ctx, 0)
	if err != nil || ev.Err == nil || !strings.Contains(ev.Err.Error(), "no complete input share within 200ms") {
		t.Fatalf("got %v / %v, want the input timeout", ev.Err, err)
	}
	sid2, _ := link.NewSessionID()
	s2, err := ms[1].Open(Request{ID: sid2, ModelID: id, Protocol: role.ThreePC, PromptLen: 2, MaxNewTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ms[1].Cancel(sid2, "the user pressed ^C"); err != nil {
		t.Fatal(err)
	}
	<-s2.Done()
	ev, _ = s2.Next(ctx, 0)
	if ev.Err == nil || !strings.Contains(ev.Err.Error(), "cancelled by the client: the user pressed ^C") {
		t.Fatalf("got %v, want the cancellation", ev.Err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ms[1].Active() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a cancelled session is still held")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sha256sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
