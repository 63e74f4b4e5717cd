package service

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/privinfer/mpcache/parties/link"
	"github.com/privinfer/mpcache/parties/session"
	"github.com/privinfer/mpcache/parties/store"
	"github.com/privinfer/mpcache/proto/partypb"
)

func TestToStatus(t *testing.T) {
	cases := []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("%w: bad", session.ErrInvalid), codes.InvalidArgument},
		{fmt.Errorf("%w: protocol", session.ErrMismatch), codes.FailedPrecondition},
		{fmt.Errorf("%w: gone", session.ErrNotFound), codes.NotFound},
		{fmt.Errorf("x: %w", store.ErrUnknownModel), codes.NotFound},
		{fmt.Errorf("%w: dup", session.ErrExists), codes.AlreadyExists},
		{fmt.Errorf("%w: bye", session.ErrUnavailable), codes.Unavailable},
		{fmt.Errorf("%w: full", session.ErrExhausted), codes.ResourceExhausted},
		{fmt.Errorf("%w: late", session.ErrState), codes.FailedPrecondition},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{status.Error(codes.Aborted, "kept"), codes.Aborted},
		{errors.New("other"), codes.Internal},
	}
	for _, c := range cases {
		err := toStatus(c.err)
		if status.Code(err) != c.code {
			t.Errorf("%v: code %v, want %v", c.err, status.Code(err), c.code)
		}
		if st, _ := status.FromError(err); st.Message() != c.err.Error() && status.Code(c.err) == codes.Unknown {
			t.Errorf("%v: the message became %q", c.err, st.Message())
		}
	}
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) is not nil")
	}
}

func TestAuthorizeWithoutTLS(t *testing.T) {
	auth := ClientsOnly(nil)
	if err := auth(context.Background()); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a call without peer information: %v", err)
	}
}

// TestSampling checks the validation of the request's sampling: greedy by default, top-p with
// a temperature > 0 and a top-p in (0, 1], and a clear refusal otherwise, before any session
// is opened.
func TestSampling(t *testing.T) {
	type smp = partypb.Sampling
	const sample = partypb.Sampling_METHOD_SAMPLE
	cases := []struct {
		name    string
		in      *smp
		code    codes.Code
		temp, p float64
	}{
		{"absent", nil, codes.OK, 0, 0},
		{"unspecified", &smp{}, codes.OK, 0, 0},
		{"greedy", &smp{Method: partypb.Sampling_METHOD_GREEDY, Temperature: 0.7}, codes.OK, 0, 0},
		{"top-p", &smp{Method: sample, Temperature: 0.8, TopP: 0.9}, codes.OK, 0.8, 0.9},
		{"top-p 1", &smp{Method: sample, Temperature: 1, TopP: 1}, codes.OK, 1, 1},
		{"top-p 0", &smp{Method: sample, Temperature: 0.8}, codes.InvalidArgument, 0, 0},
		{"top-p above 1", &smp{Method: sample, Temperature: 0.8, TopP: 1.5}, codes.InvalidArgument, 0, 0},
		{"negative top-p", &smp{Method: sample, Temperature: 0.8, TopP: -0.1}, codes.InvalidArgument, 0, 0},
		{"NaN top-p", &smp{Method: sample, Temperature: 0.8, TopP: math.NaN()}, codes.InvalidArgument, 0, 0},
		{"temperature 0", &smp{Method: sample, TopP: 0.9}, codes.InvalidArgument, 0, 0},
		{"negative temperature", &smp{Method: sample, Temperature: -1, TopP: 0.9}, codes.InvalidArgument, 0, 0},
		{"infinite temperature", &smp{Method: sample, Temperature: math.Inf(1), TopP: 0.9}, codes.InvalidArgument, 0, 0},
		{"top-k", &smp{Method: sample, Temperature: 0.8, TopP: 0.9, TopK: 40}, codes.Unimplemented, 0, 0},
		{"unknown method", &smp{Method: 7}, codes.Unimplemented, 0, 0},
	}
	for _, c := range cases {
		temp, p, err := sampling(c.in)
		if status.Code(err) != c.code || temp != c.temp || p != c.p {
			t.Errorf("%s: got %v, %v, %v; want code %v, %v, %v", c.name, temp, p, err, c.code, c.temp, c.p)
		}
		if c.code == codes.OK {
			continue
		}
		// OpenSession refuses it before it looks for a session (the manager is not needed).
		id, err := link.NewSessionID()
		if err != nil {
			t.Fatal(err)
		}
		_, err = (&Party{}).OpenSession(context.Background(), &partypb.OpenSessionRequest{SessionId: id[:], Sampling: c.in})
		if status.Code(err) != c.code {
			t.Errorf("%s: OpenSession answered %v, want code %v", c.name, err, c.code)
		}
		t.Logf("%s: %v", c.name, err)
	}
}
