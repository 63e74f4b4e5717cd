package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/parties/link"
	"github.com/privinfer/mpcache/parties/session"
	"github.com/privinfer/mpcache/parties/store"
	"github.com/privinfer/mpcache/parties/wire"
	"github.com/privinfer/mpcache/proto/partypb"
)

// Defaults of Request's timeouts.
const (
	DefaultOpenTimeout  = 30 * time.Second
	DefaultStallTimeout = 3 * time.Minute
	// failureGrace is how long, after a first party fails, the client waits for the others'
	// reports, so that the error names the cause and not only a consequence.
	failureGrace  = time.Second
	cancelTimeout = 3 * time.Second
)

// Request is one private generation.
type Request struct {
	ModelID      string
	Prompt       []int // token ids
	MaxNewTokens int
	Policy       string            // "" means the parties' default ("full")
	PolicyParams map[string]string // the policy's public parameters
	// OpenTimeout bounds opening the session and submitting the input (default 30 s).
	OpenTimeout time.Duration
	// StallTimeout bounds the wait for the next event from the parties (default 3 min).
	StallTimeout time.Duration
	// Temperature and TopP select top-p sampling (model.NucleusCDF's rule): both zero is greedy
	// decoding; otherwise a finite temperature > 0 and a top-p in (0, 1]. The client
	// draws one uniform per new token and sends it secret-shared with the prompt (see
	// session.InputShape for the layout); Result.Uniforms returns them.
	Temperature, TopP float64
	// Rand is the source of the sampling uniforms: nil is crypto/rand, as a deployment must
	// use. A seeded source makes the uniforms predictable to whoever knows the seed; it is for
	// tests only.
	Rand io.Reader
}

// Sampling reports whether req asks for top-p sampling.
func (req Request) Sampling() bool { return req.TopP != 0 || req.Temperature != 0 }

// PartyReport is one party's account of a finished session.
type PartyReport struct {
	Role        string
	OnlineSent  int64   // online bytes this party sent
	OfflineSent int64   // correlated-randomness bytes this party sent
	Rounds      int64   // communication rounds
	Seconds     float64 // the party's compute time, input to last token
}

// Result is a finished generation.
type Result struct {
	SessionID    string
	Tokens       []int
	PromptTokens int
	// Latency is from opening the session to the last party's summary; FirstToken to the first
	// reconstructed token.
	Latency, FirstToken time.Duration
	// OnlineBytes and OfflineBytes sum what every party sent (each byte on the wire once);
	// Rounds is the largest number of rounds of any party.
	OnlineBytes, OfflineBytes, Rounds int64
	Parties                           []PartyReport
	Model                             *partypb.ModelInfo
	// Uniforms are a sampling generation's uniforms, step by step, each in [0, 1) (a multiple
	// of 2^−f): what the plaintext reference needs to replay the draws (ReferenceSampled).
	Uniforms []float64
}

// event is one item from a party's output stream.
type event struct {
	party int
	token *partypb.TokenShare
	done  *partypb.SessionSummary
	err   error
}

// Generate runs one private generation: it opens a session at every party, secret-shares the
// one-hot rows of the prompt and sends each party its share, then reconstructs each token the
// moment every party's share of it has arrived and calls onToken (which may be nil). On any
// failure it cancels the session at every party and returns an error naming the parties that
// failed and why.
func (c *Client) Generate(ctx context.Context, req Request, onToken func(index, id int)) (*Result, error) {
	if req.OpenTimeout <= 0 {
		req.OpenTimeout = DefaultOpenTimeout
	}
	if req.StallTimeout <= 0 {
		req.StallTimeout = DefaultStallTimeout
	}
	if len(req.Prompt) == 0 || req.MaxNewTokens < 1 {
		return nil, fmt.Errorf("client: generate needs a prompt of at least one token and at least one new token (got %d and %d)", len(req.Prompt), req.MaxNewTokens)
	}
	if req.Sampling() {
		if err := model.CheckNucleus(req.Temperature, req.TopP); err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	sid, err := link.NewSessionID()
	if err != nil {
		return nil, err
	}
	c.wake()
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := &generation{c: c, req: req, id: sid, start: start}

	// 1. Open the session everywhere with the public parameters.
	if err := g.open(ctx); err != nil {
		g.cancelAll("opening the session failed at another party")
		return nil, err
	}
	// 2. Stream every party's output from now on, so failures show at once.
	events := make(chan event, 64)
	for i := range c.roles {
		go g.stream(ctx, i, events)
	}
	// 3. Share the prompt and send each party its share.
	if err := g.submit(ctx); err != nil {
		g.cancelAll("submitting the input failed at another party")
		return nil, err
	}
	// 4. Reconstruct the tokens as they come.
	res, err := g.collect(ctx, events, onToken)
	if err != nil {
		cancel()
		g.cancelAll("the generation failed: " + err.Error())
		return nil, err
	}
	res.Uniforms = g.uniforms
	return res, nil
}

type generation struct {
	c     *Client
	req   Request
	id    link.SessionID
	start time.Time
	model *partypb.ModelInfo
	sizes []uint64
	// uniforms are the sampling uniforms sent, in [0, 1).
	uniforms []float64
}

// inputShape is the shape of the client's input: the prompt's one-hot rows, then, when
// sampling, the rows of the uniforms (session.InputShape).
func (g *generation) inputShape() []int {
	return session.InputShape(session.Request{PromptLen: len(g.req.Prompt), MaxNewTokens: g.req.MaxNewTokens,
		Temperature: g.req.Temperature, TopP: g.req.TopP}, int(g.model.VocabSize))
}

func (g *generation) open(ctx context.Context) error {
	c := g.c
	ctx, cancel := context.WithTimeout(ctx, g.req.OpenTimeout)
	defer cancel()
	req := &partypb.OpenSessionRequest{
		SessionId: g.id[:], ModelId: g.req.ModelID, Protocol: store.ProtocolEnum(c.proto),
		Policy:    &partypb.CachePolicy{Name: g.req.Policy, Params: g.req.PolicyParams},
		PromptLen: uint32(len(g.req.Prompt)), MaxNewTokens: uint32(g.req.MaxNewTokens),
		Sampling:      &partypb.Sampling{Method: partypb.Sampling_METHOD_GREEDY},
		InputEncoding: partypb.InputEncoding_INPUT_ENCODING_ONE_HOT,
	}
	if g.req.Sampling() {
		req.Sampling = &partypb.Sampling{Method: partypb.Sampling_METHOD_SAMPLE, Temperature: g.req.Temperature, TopP: g.req.TopP}
	}
	res := make([]*partypb.OpenSessionResponse, len(c.roles))
	errs := c.each(c.all(), func(i int) error {
		r, err := c.party[i].OpenSession(c.withPreprocessing(ctx), req)
		if err != nil {
			return c.fail(i, "open session", err)
		}
		res[i] = r
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("client: session %s: %w", g.id, err)
	}
	g.model = res[0].Model
	g.sizes = make([]uint64, len(c.roles))
	for i, r := range res {
		m := r.Model
		switch {
		case r.Role != string(c.roles[i]):
			return fmt.Errorf("client: the party at %s answers as %s, not %s", c.d.Parties[string(c.roles[i])], r.Role, c.roles[i])
		case m.GetVocabSize() != g.model.VocabSize || m.GetContextLen() != g.model.ContextLen || m.GetFixedPointBits() != g.model.FixedPointBits ||
			m.GetDim() != g.model.Dim || m.GetLayers() != g.model.Layers:
			return fmt.Errorf("client: the parties describe model %s differently: %s says %v, %s says %v", g.req.ModelID, c.roles[0], g.model, c.roles[i], m)
		}
		want := wire.ShareSize(mpc.Protocol(c.proto), i, g.inputShape())
		if r.InputSize != uint64(want) {
			return fmt.Errorf("client: %s expects an input share of %d bytes, not %d", c.roles[i], r.InputSize, want)
		}
		g.sizes[i] = r.InputSize
	}
	return nil
}

func (g *generation) submit(ctx context.Context) error {
	c := g.c
	vocab := int(g.model.VocabSize)
	onehot := mpc.NewTensor(g.inputShape()...)
	for i, t := range g.req.Prompt {
		if t < 0 || t >= vocab {
			return fmt.Errorf("client: prompt token %d at position %d is outside the model's vocabulary of %d", t, i, vocab)
		}
		onehot.Data[i*vocab+t] = 1
	}
	if g.req.Sampling() {
		us, err := drawUniforms(g.req.Rand, g.req.MaxNewTokens, uint(g.model.FixedPointBits))
		if err != nil {
			return fmt.Errorf("client: drawing the sampling uniforms: %w", err)
		}
		// The uniforms follow the prompt's rows, entry j for step j (session.InputShape).
		copy(onehot.Data[len(g.req.Prompt)*vocab:], us)
		g.uniforms = make([]float64, len(us))
		for j, u := range us {
			g.uniforms[j] = math.Ldexp(float64(u), -int(g.model.FixedPointBits))
		}
		clear(us)
	}
	shares, err := mpc.Split(mpc.Protocol(c.proto), onehot)
	if err != nil {
		return err
	}
	clear(onehot.Data)
	ctx, cancel := context.WithTimeout(ctx, g.req.OpenTimeout)
	defer cancel()
	var idx []int
	for i := range c.roles {
		if g.sizes[i] > 0 {
			idx = append(idx, i)
		}
	}
	errs := c.each(idx, func(i int) error {
		data := wire.EncodeShare(shares[i])
		defer clear(data)
		st, err := c.party[i].SubmitInput(ctx)
		if err != nil {
			return c.fail(i, "submit input", err)
		}
		for _, ch := range wire.InputChunks(g.id[:], data, 0) {
			if err := st.Send(ch); err != nil {
				if err == io.EOF {
					_, err = st.CloseAndRecv() // the party's reason
				}
				return c.fail(i, "submit input", err)
			}
		}
		if _, err := st.CloseAndRecv(); err != nil {
			return c.fail(i, "submit input", err)
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("client: session %s: %w", g.id, err)
	}
	return nil
}

// drawUniforms draws n uniforms in [0, 1) as fixed point with frac fractional bits (integers
// in [0, 2^frac)): the top frac bits of a uint64 from r (nil: crypto/rand).
func drawUniforms(r io.Reader, n int, frac uint) ([]uint64, error) {
	if frac < 1 || frac > 62 {
		return nil, fmt.Errorf("the model's %d fractional bits leave no room for a uniform", frac)
	}
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, 8*n)
	defer clear(b)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	us := make([]uint64, n)
	for j := range us {
		us[j] = binary.LittleEndian.Uint64(b[8*j:]) >> (64 - frac)
	}
	return us, nil
}

func (g *generation) stream(ctx context.Context, i int, out chan<- event) {
	send := func(ev event) {
		select {
		case out <- ev:
		case <-ctx.Done():
		}
	}
	st, err := g.c.party[i].StreamOutput(ctx, &partypb.StreamOutputRequest{SessionId: g.id[:]})
	if err != nil {
		send(event{party: i, err: g.c.fail(i, "stream output", err)})
		return
	}
	for {
		f, err := st.Recv()
		if err == io.EOF {
			err = errors.New("the output stream ended without a summary")
		}
		if err != nil {
			send(event{party: i, err: g.c.fail(i, "stream output", err)})
			return
		}
		switch e := f.Event.(type) {
		case *partypb.OutputFrame_Token:
			send(event{party: i, token: e.Token})
		case *partypb.OutputFrame_Done:
			send(event{party: i, done: e.Done})
			return
		default:
			send(event{party: i, err: g.c.fail(i, "stream output", errors.New("an output frame with no event"))})
			return
		}
	}
}

// holders are the parties that send token shares: P0 and P1 in 2pc, all three in 3pc.
func (g *generation) holders() []int {
	var out []int
	for i := range g.c.roles {
		if wire.Width(mpc.Protocol(g.c.proto), i) > 0 {
			out = append(out, i)
		}
	}
	return out
}

func (g *generation) collect(ctx context.Context, events <-chan event, onToken func(index, id int)) (*Result, error) {
	c := g.c
	proto := mpc.Protocol(c.proto)
	n := g.req.MaxNewTokens
	holders := g.holders()
	shares := make([][]*mpc.Share, n) // by token, by party
	for i := range shares {
		shares[i] = make([]*mpc.Share, len(c.roles))
	}
	res := &Result{SessionID: g.id.String(), PromptTokens: len(g.req.Prompt), Model: g.model, Tokens: make([]int, 0, n)}
	summaries := make([]*partypb.SessionSummary, len(c.roles))
	pending := len(c.roles)
	next := 0 // the next token to reconstruct
	stall := time.NewTimer(g.req.StallTimeout)
	defer stall.Stop()
	for pending > 0 || next < n {
		var ev event
		select {
		case ev = <-events:
		case <-stall.C:
			return nil, fmt.Errorf("client: session %s: no progress from the parties for %s (after %d of %d tokens)", g.id, g.req.StallTimeout, next, n)
		case <-ctx.Done():
			return nil, fmt.Errorf("client: session %s: %w", g.id, ctx.Err())
		}
		stall.Reset(g.req.StallTimeout)
		switch {
		case ev.err != nil:
			return nil, g.failure(ev, events)
		case ev.done != nil:
			if summaries[ev.party] != nil {
				return nil, fmt.Errorf("client: %s sent two summaries", c.roles[ev.party])
			}
			summaries[ev.party] = ev.done
			pending--
			continue
		}
		t := ev.token
		if int(t.Index) >= n || shares[t.Index][ev.party] != nil || int(t.Index) < next {
			return nil, fmt.Errorf("client: %s sent an unexpected share of token %d", c.roles[ev.party], t.Index)
		}
		sh, err := wire.DecodeShare(t.Share, proto, ev.party, []int{1})
		if err != nil {
			return nil, fmt.Errorf("client: %s's share of token %d: %w", c.roles[ev.party], t.Index, err)
		}
		shares[t.Index][ev.party] = sh
		for next < n && complete(shares[next], holders) {
			id, err := reconstruct(proto, shares[next], int(g.model.VocabSize))
			if err != nil {
				return nil, fmt.Errorf("client: session %s: token %d: %w", g.id, next, err)
			}
			if next == 0 {
				res.FirstToken = time.Since(g.start)
			}
			res.Tokens = append(res.Tokens, id)
			if onToken != nil {
				onToken(next, id)
			}
			next++
		}
	}
	res.Latency = time.Since(g.start)
	for i, s := range summaries {
		if s.Tokens != uint32(n) {
			return nil, fmt.Errorf("client: %s reports %d tokens, want %d", c.roles[i], s.Tokens, n)
		}
		res.Parties = append(res.Parties, PartyReport{Role: string(c.roles[i]), OnlineSent: int64(s.OnlineBytes),
			OfflineSent: int64(s.OfflineBytes), Rounds: int64(s.Rounds), Seconds: s.LatencyS})
		res.OnlineBytes += int64(s.OnlineBytes)
		res.OfflineBytes += int64(s.OfflineBytes)
		res.Rounds = max(res.Rounds, int64(s.Rounds))
	}
	return res, nil
}

// failure gathers, for a moment after the first failure, the other parties' reports, and
// returns one error naming each party that failed, root causes (a party that went away, a
// refusal) first.
func (g *generation) failure(first event, events <-chan event) error {
	errs := []error{first.err}
	seen := map[int]bool{first.party: true}
	t := time.NewTimer(failureGrace)
	defer t.Stop()
collect:
	for len(seen) < len(g.c.roles) {
		select {
		case ev := <-events:
			if ev.err != nil && !seen[ev.party] {
				seen[ev.party] = true
				errs = append(errs, ev.err)
			}
		case <-t.C:
			break collect
		}
	}
	// A lost connection or a refusal is the cause; aborted sessions are the consequence.
	slices.SortStableFunc(errs, func(a, b error) int { return rank(a) - rank(b) })
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("client: session %s failed:\n  %s", g.id, strings.Join(msgs, "\n  "))
}

func rank(err error) int {
	var pe *PartyError
	if errors.As(err, &pe) && pe.Code() == codes.Aborted {
		return 1
	}
	return 0
}

func complete(row []*mpc.Share, holders []int) bool {
	for _, i := range holders {
		if row[i] == nil {
			return false
		}
	}
	return true
}

// reconstruct opens a token id from the parties' shares. In 3pc every replicated component is
// held by two parties; they must agree, or the parties are out of step.
func reconstruct(p mpc.Protocol, row []*mpc.Share, vocab int) (int, error) {
	if p == mpc.ThreePC {
		for i := range 3 {
			j := (i + 1) % 3
			if row[i].Next[0] != row[j].Own[0] {
				return 0, fmt.Errorf("the replicated shares of party %d and party %d disagree (the parties are out of step)", i, j)
			}
		}
	}
	t, err := mpc.Reconstruct(p, row)
	if err != nil {
		return 0, err
	}
	id := int64(t.Data[0])
	if id < 0 || id >= int64(vocab) {
		return 0, fmt.Errorf("reconstructed id %d is outside the vocabulary of %d (the parties are out of step)", id, vocab)
	}
	return int(id), nil
}

// cancelAll asks every party to drop the session, best effort.
func (g *generation) cancelAll(reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
	defer cancel()
	g.c.each(g.c.all(), func(i int) error {
		_, err := g.c.party[i].Cancel(ctx, &partypb.CancelRequest{SessionId: g.id[:], Reason: reason})
		return err
	})
}
