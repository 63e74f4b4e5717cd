// Package daemon is a party process: it reads the party's configuration, serves the party link,
// the Party and Provision services and gRPC health on one TLS port, exposes Prometheus metrics,
// runs client sessions until it is told to stop, and then shuts down gracefully (new sessions are
// refused and health turns NOT_SERVING; running sessions get Sessions.DrainTimeout to finish).
//
// cmd/party is a thin main around Main; `client local` runs the same code in child processes.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/privinfer/mpcache/gpu"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/parties/config"
	"github.com/privinfer/mpcache/parties/link"
	"github.com/privinfer/mpcache/parties/metrics"
	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/parties/server"
	"github.com/privinfer/mpcache/parties/service"
	"github.com/privinfer/mpcache/parties/session"
	"github.com/privinfer/mpcache/parties/store"
)

// DefaultDrainTimeout is how long a shutdown waits for running sessions when the configuration
// does not say.
const DefaultDrainTimeout = 30 * time.Second

// shutdownTimeout bounds the last phase of a shutdown (closing connections).
const shutdownTimeout = 5 * time.Second

// Main is the party command: it parses args (see the usage text), runs the party until SIGINT or
// SIGTERM, drains it, and returns. A second signal skips the drain. Logs go to stderr.
func Main(name string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "the party's configuration file (TOML); required")
	check := fs.Bool("check", false, "check the configuration and credentials, print a summary and exit")
	listenFD := fs.Int("listen-fd", 0, "serve on this inherited listening socket instead of listen (used by `client local`)")
	metricsFD := fs.Int("metrics-fd", 0, "serve metrics on this inherited listening socket instead of metrics")
	stdinEOF := fs.Bool("stop-on-stdin-eof", false, "stop when standard input closes (a supervisor that dies takes the party down)")
	over := config.BindFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s -config FILE [flags]\n\nRuns one party (p0, p1, p2 or dealer) of a deployment. Flags override the file.\n\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *file == "" {
		fs.Usage()
		return errors.New("-config is required")
	}
	cfg, err := config.Load(*file)
	if err != nil {
		return err
	}
	if err := over.Apply(fs, cfg); err != nil {
		return err
	}
	// MPCACHE_GPU=cuda on a host without a usable GPU: refuse at start, not at the first product.
	if err := gpu.Check(); err != nil {
		return err
	}
	if *check {
		return Check(cfg, stderr)
	}
	var lis, mlis net.Listener
	if *listenFD > 0 {
		if lis, err = inherited(*listenFD, "listen"); err != nil {
			return err
		}
	}
	if *metricsFD > 0 {
		if mlis, err = inherited(*metricsFD, "metrics"); err != nil {
			return err
		}
	}
	ctx, hard, stop := signalContexts()
	if *stdinEOF {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}
	return Run(ctx, hard, cfg, Listeners{Party: lis, Metrics: mlis}, stderr)
}

func inherited(fd int, what string) (net.Listener, error) {
	f := os.NewFile(uintptr(fd), what)
	if f == nil {
		return nil, fmt.Errorf("-%s-fd %d is not an open file", what, fd)
	}
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("-%s-fd %d: %w", what, fd, err)
	}
	return l, nil
}

// signalContexts returns a context that ends at the first SIGINT or SIGTERM, one that ends at
// the second, and a function that ends both at once.
func signalContexts() (soft, hard context.Context, stopAll func()) {
	soft, stop := context.WithCancel(context.Background())
	hard, kill := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		stop()
		<-ch
		kill()
	}()
	return soft, hard, func() {
		stop()
		kill()
	}
}

// Check loads the credentials the configuration names and prints what the party would run.
func Check(cfg *config.Config, w io.Writer) error {
	sec, err := cfg.LoadSecurity()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "deployment %s, protocol %s, role %s (party %d), listening on %s\n", cfg.Deployment, role.Protocol(cfg.Protocol).Describe(cfg.Pre()), cfg.Role, cfg.Party(), cfg.Listen)
	fmt.Fprintf(w, "certificate %s (%s)\n", cfg.TLS.Cert, sec.Identity.Fingerprint())
	for r, pin := range sec.Pins {
		fmt.Fprintf(w, "peer %s at %s, pinned %s (%s)\n", r, cfg.Peers[string(r)].Address, pin.Fingerprint, pin.Source)
	}
	fmt.Fprintf(w, "share directory %s\n", cfg.ShareDir)
	return nil
}

// Listeners are sockets a party serves on instead of the addresses of its configuration (nil
// means listen on the configured address).
type Listeners struct {
	Party   net.Listener
	Metrics net.Listener
}

// Run runs the party of cfg until ctx ends, then drains it for the configured drain timeout or
// until hard ends, and shuts it down. Logs go to logOut.
func Run(ctx, hard context.Context, cfg *config.Config, ls Listeners, logOut io.Writer) error {
	log := cfg.Logger(logOut)
	proto, self := role.Protocol(cfg.Protocol), role.Role(cfg.Role)
	network, err := mpc.ParseNetwork(cfg.Sessions.Network) // checked by the config's validation too
	if err != nil {
		return fmt.Errorf("sessions.network: %w", err)
	}
	sec, err := cfg.LoadSecurity()
	if err != nil {
		return err
	}
	sec.Trust.Logger = log
	node, err := link.New(cfg.LinkConfig(sec, log))
	if err != nil {
		return err
	}
	st, err := store.Open(cfg.ShareDir, proto, self, store.Options{MaxSize: cfg.Sessions.MaxShareBytes, Logger: log})
	if err != nil {
		node.Close()
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewLinkCollector(node, proto))
	sm, err := metrics.NewSessions(reg)
	if err != nil {
		node.Close()
		return err
	}
	mgr, err := session.NewManager(session.Config{
		Protocol: proto, Role: self, Node: node, Store: st, Metrics: sm, Logger: log,
		MaxSessions: cfg.Sessions.Max, InputTimeout: cfg.Sessions.InputTimeout, ReadyTimeout: cfg.Sessions.ReadyTimeout,
		RecvTimeout: cfg.Sessions.RecvTimeout, OutputRetention: cfg.Sessions.OutputRetention,
		Comparison: mpc.Comparison(cfg.Sessions.Comparison), Network: network, FinishTimeout: cfg.Sessions.FinishTimeout,
		Preprocessing: cfg.Pre(),
		DealerFree: session.DealerFree{Precompute: cfg.DealerFree.Precompute, StoreDir: cfg.DealerFree.StoreDir,
			StoreBytes: cfg.DealerFree.StoreBytes},
	})
	if err != nil {
		node.Close()
		return err
	}
	srv := server.New(node, server.Options{TLS: sec.Server, Keepalive: cfg.Keepalive(), Logger: log})
	auth := service.ClientsOnly(sec.Trust)
	service.NewParty(mgr, auth).Register(srv)
	service.NewProvision(st, proto, auth).Register(srv)

	lis := ls.Party
	if lis == nil {
		if lis, err = net.Listen("tcp", cfg.Listen); err != nil {
			srv.Stop()
			return fmt.Errorf("listen %s: %w", cfg.Listen, err)
		}
	}
	var ms *metrics.Server
	switch {
	case ls.Metrics != nil:
		ms = metrics.Serve(ls.Metrics, reg, log)
	case cfg.Metrics != "":
		if ms, err = metrics.Listen(cfg.Metrics, reg, log); err != nil {
			lis.Close()
			srv.Stop()
			return err
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	var models []string
	if held, err := st.List(); err == nil {
		for _, m := range held {
			models = append(models, m.ModelID)
		}
	}
	attrs := []any{"protocol", proto, "preprocessing", cfg.Pre(), "addr", lis.Addr().String(), "share_dir", st.Dir(), "models", strings.Join(models, ",")}
	if ms != nil {
		attrs = append(attrs, "metrics", ms.Addr())
	}
	log.Info("party: ready", attrs...)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		log.Error("party: server stopped", "err", serveErr)
	}
	drain := cfg.Sessions.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	log.Info("party: shutting down; draining sessions", "active", mgr.Active(), "timeout", drain)
	srv.Drain()
	dctx, cancel := context.WithTimeout(hard, drain)
	left := mgr.Drain(dctx)
	cancel()
	if left > 0 {
		log.Warn("party: aborting sessions still running", "sessions", left)
	}
	mgr.Close()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("party: shutdown", "err", err)
	}
	if ms != nil {
		ms.Close(sctx)
	}
	log.Info("party: stopped")
	return serveErr
}
