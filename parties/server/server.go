// Package server assembles a party's gRPC server: one TLS 1.3 port carrying the party link
// (link.Node), the standard gRPC health service, and the services the session layer registers
// (Party, Provision); plus graceful shutdown.
//
// Health: the overall status ("") and each registered service are SERVING while the server runs
// and NOT_SERVING once Shutdown starts, so a load balancer or the client stops sending new
// sessions before the port closes.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/privinfer/mpcache/parties/link"
	"github.com/privinfer/mpcache/proto/linkpb"
)

// Server is a party's gRPC server.
type Server struct {
	grpc   *grpc.Server
	health *health.Server
	node   *link.Node
	log    *slog.Logger
	names  []string
}

// Options configures New.
type Options struct {
	// TLS is the listening port's configuration (see pki.ServerConfig); nil serves without TLS,
	// for tests only.
	TLS *tls.Config
	// Keepalive tunes the detection of silent peers and clients.
	Keepalive link.Keepalive
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// Extra server options (interceptors, say).
	GRPCOptions []grpc.ServerOption
}

// New creates the server and registers node's Link service and the health service on it.
func New(node *link.Node, o Options) *Server {
	opts := link.ServerOptions(o.Keepalive)
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	opts = append(opts, o.GRPCOptions...)
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{grpc: grpc.NewServer(opts...), health: health.NewServer(), node: node, log: log}
	node.Register(s.grpc)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.names = append(s.names, linkpb.Link_ServiceDesc.ServiceName)
	s.health.SetServingStatus(linkpb.Link_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s
}

// Register adds a service (e.g. partypb.RegisterPartyServer's desc and implementation) and marks
// it SERVING. Call it before Serve.
func (s *Server) Register(desc *grpc.ServiceDesc, impl any) {
	s.grpc.RegisterService(desc, impl)
	s.names = append(s.names, desc.ServiceName)
	s.health.SetServingStatus(desc.ServiceName, healthpb.HealthCheckResponse_SERVING)
}

// Serve accepts connections on lis until Shutdown. It returns nil after a shutdown.
func (s *Server) Serve(lis net.Listener) error {
	s.log.Info("server: serving", "addr", lis.Addr().String(), "services", s.names)
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// Drain marks the server NOT_SERVING while it keeps serving, so that clients stop sending new
// sessions while the running ones finish; Shutdown follows.
func (s *Server) Drain() {
	for _, name := range append([]string{""}, s.names...) {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
}

// Shutdown marks the server NOT_SERVING, aborts the open sessions (their peers see the abort at
// once), then lets calls in flight finish until ctx ends, when it closes every connection.
func (s *Server) Shutdown(ctx context.Context) error {
	s.health.Shutdown()
	err := s.node.Close()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("server: calls still running at the shutdown deadline; closing connections")
		s.grpc.Stop()
		<-done
	}
	return err
}

// Stop closes everything at once.
func (s *Server) Stop() {
	s.health.Shutdown()
	s.node.Close()
	s.grpc.Stop()
}
