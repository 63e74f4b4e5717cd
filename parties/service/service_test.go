package service

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/privinfer/mpcache/parties/session"
	"github.com/privinfer/mpcache/parties/store"
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
