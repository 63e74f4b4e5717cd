package service

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/parties/link"
	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/parties/session"
	"github.com/privinfer/mpcache/parties/store"
	"github.com/privinfer/mpcache/parties/wire"
	"github.com/privinfer/mpcache/proto/partypb"
)

// ChunkTimeout bounds the wait for each message of a client's upload.
const ChunkTimeout = 60 * time.Second

// Party is the Party service over a session manager.
type Party struct {
	partypb.UnimplementedPartyServer
	m    *session.Manager
	auth Authorizer
}

// NewParty returns the Party service of m; auth admits callers (nil admits all, for tests).
func NewParty(m *session.Manager, auth Authorizer) *Party { return &Party{m: m, auth: auth} }

// Register adds the service to s.
func (p *Party) Register(s interface {
	Register(desc *grpc.ServiceDesc, impl any)
}) {
	s.Register(&partypb.Party_ServiceDesc, p)
}

func sessionID(b []byte) (link.SessionID, error) {
	id, err := link.ParseSessionID(b)
	if err != nil {
		return id, errorf(codes.InvalidArgument, "%v", err)
	}
	return id, nil
}

// OpenSession opens a session with the request's public parameters.
func (p *Party) OpenSession(ctx context.Context, req *partypb.OpenSessionRequest) (*partypb.OpenSessionResponse, error) {
	if err := authorize(p.auth, ctx); err != nil {
		return nil, err
	}
	id, err := sessionID(req.SessionId)
	if err != nil {
		return nil, err
	}
	if e := req.InputEncoding; e != partypb.InputEncoding_INPUT_ENCODING_UNSPECIFIED && e != partypb.InputEncoding_INPUT_ENCODING_ONE_HOT {
		return nil, errorf(codes.Unimplemented, "input encoding %s is not supported; send one-hot rows", e)
	}
	temperature, topP, err := sampling(req.Sampling)
	if err != nil {
		return nil, err
	}
	var pre role.Preprocessing
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(wire.PreprocessingHeader); len(v) > 0 {
			if pre, err = role.ParsePreprocessing(v[0]); err != nil {
				return nil, errorf(codes.InvalidArgument, "%v", err)
			}
		}
	}
	r := session.Request{
		ID: id, ModelID: req.ModelId, Protocol: role.Protocol(store.ProtocolName(req.Protocol)), Preprocessing: pre,
		Policy: req.Policy.GetName(), PolicyParams: req.Policy.GetParams(),
		PromptLen: int(req.PromptLen), MaxNewTokens: int(req.MaxNewTokens),
		Temperature: temperature, TopP: topP,
	}
	s, err := p.m.Open(r)
	if err != nil {
		return nil, toStatus(err)
	}
	cfg := s.Model()
	return &partypb.OpenSessionResponse{
		SessionId: id[:],
		Role:      string(p.m.Role()),
		Protocol:  store.ProtocolEnum(p.m.Protocol()),
		Model: &partypb.ModelInfo{
			ModelId: req.ModelId, VocabSize: uint32(cfg.Vocab), Dim: uint32(cfg.Dim), Layers: uint32(cfg.Layers),
			ContextLen: uint32(cfg.MaxSeq), FixedPointBits: uint32(s.Frac()),
		},
		InputSize: uint64(s.InputSize()),
	}, nil
}

// sampling checks the request's sampling and returns its public parameters: both zero for
// greedy decoding (METHOD_UNSPECIFIED or METHOD_GREEDY, whose other fields are ignored), the
// temperature and top-p of METHOD_SAMPLE, which must be a finite temperature > 0 and a top-p in
// (0, 1] (model.CheckNucleus: 1 samples from the whole distribution) and takes no top_k.
func sampling(smp *partypb.Sampling) (temperature, topP float64, err error) {
	switch sm := smp.GetMethod(); sm {
	case partypb.Sampling_METHOD_UNSPECIFIED, partypb.Sampling_METHOD_GREEDY:
		return 0, 0, nil
	case partypb.Sampling_METHOD_SAMPLE:
		if k := smp.GetTopK(); k != 0 {
			return 0, 0, errorf(codes.Unimplemented, "sampling with top_k = %d is not supported; leave top_k at 0 and use top_p (top-p sampling)", k)
		}
		if err := model.CheckNucleus(smp.GetTemperature(), smp.GetTopP()); err != nil {
			return 0, 0, errorf(codes.InvalidArgument, "METHOD_SAMPLE: %v", err)
		}
		return smp.GetTemperature(), smp.GetTopP(), nil
	default:
		return 0, 0, errorf(codes.Unimplemented, "sampling method %s is not supported; generation is greedy (secure argmax) or top-p (METHOD_SAMPLE)", sm)
	}
}

// SubmitInput receives this party's share of the client's one-hot prompt rows and starts the
// session. A malformed upload cancels the session.
func (p *Party) SubmitInput(stream grpc.ClientStreamingServer[partypb.InputChunk, partypb.SubmitInputResponse]) error {
	if err := authorize(p.auth, stream.Context()); err != nil {
		return err
	}
	r := newReceiver(stream.Recv)
	defer r.close()
	first, err := r.next(ChunkTimeout, nil, "input chunk")
	if err != nil {
		if err == io.EOF {
			return errorf(codes.InvalidArgument, "the input upload carried no chunk")
		}
		return err
	}
	id, err := sessionID(first.SessionId)
	if err != nil {
		return err
	}
	s, err := p.m.Get(id)
	if err != nil {
		return toStatus(err)
	}
	size := s.InputSize()
	if size == 0 {
		return errorf(codes.FailedPrecondition, "%s takes no input share", p.m.Role())
	}
	fail := func(err error) error {
		s.Cancel(err)
		return errorf(codes.InvalidArgument, "%s: %v", p.m.Role(), err)
	}
	asm := wire.NewInputAssembler(id[:], size)
	defer asm.Wipe()
	c := first
	for {
		done, err := asm.Add(c)
		if err != nil {
			return fail(err)
		}
		if done {
			break
		}
		c, err = r.next(ChunkTimeout, s.Done(), "input chunk")
		if err == io.EOF {
			return fail(errors.New("the input upload ended before the whole share arrived"))
		}
		if err != nil {
			s.Cancel(err)
			return err
		}
	}
	share, err := wire.DecodeShare(asm.Bytes(), mpc.Protocol(p.m.Protocol()), partyOf(p.m), s.InputShape())
	if err != nil {
		return fail(err)
	}
	if err := s.SubmitInput(share); err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&partypb.SubmitInputResponse{BytesReceived: uint64(size)})
}

func partyOf(m *session.Manager) int {
	n, _ := m.Protocol().Party(m.Role())
	return n
}

// StreamOutput streams this party's token shares as they are generated, then the summary; a
// failed session ends the stream with an Aborted status that says why. A client that goes away
// before the end cancels the session.
func (p *Party) StreamOutput(req *partypb.StreamOutputRequest, stream grpc.ServerStreamingServer[partypb.OutputFrame]) error {
	ctx := stream.Context()
	if err := authorize(p.auth, ctx); err != nil {
		return err
	}
	id, err := sessionID(req.SessionId)
	if err != nil {
		return err
	}
	s, err := p.m.Get(id)
	if err != nil {
		return toStatus(err)
	}
	if err := s.Attach(); err != nil {
		return toStatus(err)
	}
	for i := 0; ; i++ {
		ev, err := s.Next(ctx, i)
		if err != nil {
			s.Cancel(errors.New("the client went away (its output stream ended)"))
			return toStatus(err)
		}
		var f *partypb.OutputFrame
		switch {
		case ev.Token != nil:
			f = &partypb.OutputFrame{SessionId: id[:], Event: &partypb.OutputFrame_Token{Token: &partypb.TokenShare{Index: uint32(ev.Token.Index), Share: ev.Token.Share}}}
		case ev.Err != nil:
			return errorf(codes.Aborted, "%v", ev.Err)
		default:
			sum := ev.Summary
			f = &partypb.OutputFrame{SessionId: id[:], Event: &partypb.OutputFrame_Done{Done: &partypb.SessionSummary{
				Tokens: uint32(sum.Tokens), OnlineBytes: uint64(sum.OnlineSent), OfflineBytes: uint64(sum.OfflineSent),
				Rounds: uint64(sum.Rounds), LatencyS: sum.Seconds,
			}}}
		}
		if err := stream.Send(f); err != nil {
			s.Cancel(errors.New("the client went away (sending its output failed)"))
			return err
		}
		if ev.Final() {
			return nil
		}
	}
}

// Cancel aborts a session.
func (p *Party) Cancel(ctx context.Context, req *partypb.CancelRequest) (*partypb.CancelResponse, error) {
	if err := authorize(p.auth, ctx); err != nil {
		return nil, err
	}
	id, err := sessionID(req.SessionId)
	if err != nil {
		return nil, err
	}
	if err := p.m.Cancel(id, req.Reason); err != nil {
		return nil, toStatus(err)
	}
	return &partypb.CancelResponse{}, nil
}
