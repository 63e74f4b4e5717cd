package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/privinfer/mpcache/parties/link"
	"github.com/privinfer/mpcache/parties/pki"
	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/parties/wire"
	"github.com/privinfer/mpcache/proto/partypb"
)

// Client holds connections to every party of a deployment.
type Client struct {
	d     *Deployment
	proto role.Protocol
	roles []role.Role
	conns []*grpc.ClientConn
	party []partypb.PartyClient
	prov  []partypb.ProvisionClient
	hc    []healthpb.HealthClient
}

// Dial loads the client's credentials and prepares a connection to every party (connections are
// made on first use). Each party must present a certificate of the deployment CA with its role.
func Dial(d *Deployment) (*Client, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	id, err := pki.LoadIdentity(d.TLS.Cert, d.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("client: credentials: %w", err)
	}
	if id.Role != role.Client || id.Deployment != d.Name {
		return nil, fmt.Errorf("client: %s is the certificate of %s in deployment %q; a client of %q needs a client certificate of it",
			d.TLS.Cert, id.Role, id.Deployment, d.Name)
	}
	pool, err := pki.LoadCAPool(d.TLS.CA)
	if err != nil {
		return nil, fmt.Errorf("client: CA: %w", err)
	}
	c := &Client{d: d, proto: role.Protocol(d.Protocol), roles: d.Roles()}
	for _, r := range c.roles {
		cc, err := grpc.NewClient(d.Parties[string(r)],
			grpc.WithTransportCredentials(credentials.NewTLS(pki.ClientConfig(id, pool, d.Name, r))),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(link.MaxFrameSize), grpc.MaxCallSendMsgSize(link.MaxFrameSize)),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
				MinConnectTimeout: 10 * time.Second,
			}),
		)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("client: %s at %s: %w", r, d.Parties[string(r)], err)
		}
		c.conns = append(c.conns, cc)
		c.party = append(c.party, partypb.NewPartyClient(cc))
		c.prov = append(c.prov, partypb.NewProvisionClient(cc))
		c.hc = append(c.hc, healthpb.NewHealthClient(cc))
	}
	return c, nil
}

// Close closes the connections.
func (c *Client) Close() error {
	for _, cc := range c.conns {
		cc.Close()
	}
	return nil
}

// wake makes connections that failed earlier try again at once, so that a party that came back
// is reached by the next call, and one still down fails it at once with its reason.
func (c *Client) wake() {
	for _, cc := range c.conns {
		if cc.GetState() != connectivity.TransientFailure {
			continue
		}
		cc.ResetConnectBackoff()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cc.WaitForStateChange(ctx, connectivity.TransientFailure)
		cancel()
	}
}

// withPreprocessing names the deployment's preprocessing in the call's metadata (see
// wire.PreprocessingHeader), so that a party configured otherwise refuses with the difference.
func (c *Client) withPreprocessing(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, wire.PreprocessingHeader, string(c.d.Pre()))
}

// Protocol is the deployment's protocol.
func (c *Client) Protocol() role.Protocol { return c.proto }

// Deployment is the deployment the client reaches.
func (c *Client) Deployment() *Deployment { return c.d }

// PartyError is a failure at one party, or of the connection to it.
type PartyError struct {
	Role role.Role
	Addr string
	Op   string // what the client was doing: "open session", "upload", ...
	Err  error
}

func (e *PartyError) Error() string {
	return fmt.Sprintf("%s (%s): %s: %s", e.Role, e.Addr, e.Op, describe(e.Err))
}

func (e *PartyError) Unwrap() error { return e.Err }

// Code is the gRPC status code of the failure.
func (e *PartyError) Code() codes.Code { return status.Code(e.Err) }

func (c *Client) fail(i int, op string, err error) *PartyError {
	return &PartyError{Role: c.roles[i], Addr: c.d.Parties[string(c.roles[i])], Op: op, Err: err}
}

// describe turns a gRPC error into a sentence: the party's own message where it sent one, or
// what the connection failure most likely means.
func describe(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		switch {
		case strings.Contains(msg, "connection refused"):
			return "cannot connect (connection refused: is the party running, and is this its address?): " + msg
		case strings.Contains(msg, "authentication handshake failed") || strings.Contains(msg, "tls:"):
			return "TLS handshake refused (a certificate is not the one expected): " + msg
		case strings.Contains(msg, "EOF") || strings.Contains(msg, "reset") || strings.Contains(msg, "closing") || strings.Contains(msg, "broken pipe"):
			return "connection lost (the party process exited or the network failed): " + msg
		}
		return "unavailable: " + msg
	case codes.DeadlineExceeded:
		return "timed out: " + msg
	case codes.Canceled:
		return "cancelled: " + msg
	}
	return msg
}

// each runs f for every party index in parallel and returns the errors by index.
func (c *Client) each(idx []int, f func(i int) error) []error {
	errs := make([]error, len(c.roles))
	var wg sync.WaitGroup
	for _, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	return errs
}

func (c *Client) all() []int {
	idx := make([]int, len(c.roles))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// WaitServing waits until every party reports SERVING on gRPC health, or ctx ends.
func (c *Client) WaitServing(ctx context.Context) error {
	errs := c.each(c.all(), func(i int) error {
		var last error
		for {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			res, err := c.hc[i].Check(cctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
			cancel()
			if err == nil && res.Status == healthpb.HealthCheckResponse_SERVING {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("health status %s", res.Status)
			}
			last = err
			select {
			case <-ctx.Done():
				return c.fail(i, "health check", last)
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return errors.Join(errs...)
}
