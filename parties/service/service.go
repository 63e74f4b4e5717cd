// Package service implements the gRPC services a party offers to clients and to the model owner:
// Party (open a session, submit the input share, stream the output shares, cancel) over a
// session.Manager, and Provision (upload and list share files) over a store.Store. Both admit
// only callers with a client certificate of the deployment (see ClientsOnly); the party links
// are served by package link.
package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/privinfer/mpcache/parties/pki"
	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/parties/session"
	"github.com/privinfer/mpcache/parties/store"
)

// Authorizer admits or refuses the caller of an RPC.
type Authorizer func(ctx context.Context) error

// ClientsOnly admits callers whose TLS certificate t authorizes as a client of the deployment.
// The listening port also admits the pinned peer parties (for their links); they may not act as
// clients.
func ClientsOnly(t *pki.Trust) Authorizer {
	return func(ctx context.Context) error {
		p, ok := peer.FromContext(ctx)
		if !ok {
			return status.Error(codes.Unauthenticated, "no peer information")
		}
		info, ok := p.AuthInfo.(credentials.TLSInfo)
		if !ok {
			return status.Error(codes.Unauthenticated, "the connection is not TLS")
		}
		r, err := t.RoleOfConn(&info.State)
		if err != nil {
			return status.Error(codes.PermissionDenied, err.Error())
		}
		if r != role.Client {
			return status.Errorf(codes.PermissionDenied, "a %s certificate may not call the client services", r)
		}
		return nil
	}
}

func authorize(a Authorizer, ctx context.Context) error {
	if a == nil {
		return nil
	}
	return a(ctx)
}

// toStatus maps the session layer's errors to gRPC status codes.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, session.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, session.ErrMismatch):
		code = codes.FailedPrecondition
	case errors.Is(err, session.ErrNotFound), errors.Is(err, store.ErrUnknownModel):
		code = codes.NotFound
	case errors.Is(err, session.ErrExists):
		code = codes.AlreadyExists
	case errors.Is(err, session.ErrUnavailable):
		code = codes.Unavailable
	case errors.Is(err, session.ErrExhausted):
		code = codes.ResourceExhausted
	case errors.Is(err, session.ErrState):
		code = codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

// receiver reads a client stream's messages in the background, so that the handler can give up
// waiting (a deadline, a session that ended) without leaking a blocked Recv.
type receiver[T any] struct {
	ch   chan received[T]
	stop chan struct{}
}

type received[T any] struct {
	msg *T
	err error
}

func newReceiver[T any](recv func() (*T, error)) *receiver[T] {
	r := &receiver[T]{ch: make(chan received[T]), stop: make(chan struct{})}
	go func() {
		for {
			m, err := recv()
			select {
			case r.ch <- received[T]{m, err}:
			case <-r.stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return r
}

// next waits for the next message, at most d, or until abort is closed.
func (r *receiver[T]) next(d time.Duration, abort <-chan struct{}, what string) (*T, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case m := <-r.ch:
		return m.msg, m.err
	case <-t.C:
		return nil, status.Errorf(codes.DeadlineExceeded, "no %s within %s", what, d)
	case <-abort:
		return nil, status.Errorf(codes.Aborted, "the session ended while waiting for %s", what)
	}
}

func (r *receiver[T]) close() { close(r.stop) }

func errorf(code codes.Code, format string, args ...any) error {
	return status.Error(code, fmt.Sprintf(format, args...))
}
