// Package metrics exposes a party's counters to Prometheus: the link's sessions and traffic per
// peer (LinkCollector), and an HTTP endpoint that serves a registry (Serve). The session layer
// adds its own collectors (tokens, rounds, latency) to the same registry.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/privinfer/mpcache/parties/link"
	"github.com/privinfer/mpcache/parties/role"
)

// Namespace prefixes every metric name.
const Namespace = "mpcache"

// LinkCollector reports a link.Node's counters.
type LinkCollector struct {
	node  *link.Node
	proto role.Protocol

	open, opened, aborted                    *prometheus.Desc
	bytesSent, bytesRecv, msgsSent, msgsRecv *prometheus.Desc
}

// NewLinkCollector returns a collector of node's counters; proto names the peers in the "peer"
// label (p0, p1, p2 or dealer).
func NewLinkCollector(node *link.Node, proto role.Protocol) *LinkCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "link", name), help, labels, nil)
	}
	return &LinkCollector{
		node: node, proto: proto,
		open:      d("sessions_open", "Sessions open on the party links now."),
		opened:    d("sessions_opened_total", "Sessions ever opened on the party links."),
		aborted:   d("sessions_aborted_total", "Sessions that ended by an abort (a peer failed, went away or refused)."),
		bytesSent: d("sent_bytes_total", "Payload bytes sent to a peer party.", "peer"),
		bytesRecv: d("received_bytes_total", "Payload bytes received from a peer party.", "peer"),
		msgsSent:  d("sent_messages_total", "Messages sent to a peer party.", "peer"),
		msgsRecv:  d("received_messages_total", "Messages received from a peer party.", "peer"),
	}
}

// Describe implements prometheus.Collector.
func (c *LinkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.opened, c.aborted, c.bytesSent, c.bytesRecv, c.msgsSent, c.msgsRecv} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *LinkCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.node.Stats()
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(st.SessionsOpen))
	ch <- prometheus.MustNewConstMetric(c.opened, prometheus.CounterValue, float64(st.SessionsOpened))
	ch <- prometheus.MustNewConstMetric(c.aborted, prometheus.CounterValue, float64(st.SessionsAborted))
	for i, r := range c.proto.Roles() {
		if i == c.node.Self() {
			continue
		}
		peer := string(r)
		ch <- prometheus.MustNewConstMetric(c.bytesSent, prometheus.CounterValue, float64(st.BytesSent[i]), peer)
		ch <- prometheus.MustNewConstMetric(c.bytesRecv, prometheus.CounterValue, float64(st.BytesReceived[i]), peer)
		ch <- prometheus.MustNewConstMetric(c.msgsSent, prometheus.CounterValue, float64(st.MessagesSent[i]), peer)
		ch <- prometheus.MustNewConstMetric(c.msgsRecv, prometheus.CounterValue, float64(st.MessagesReceived[i]), peer)
	}
}

// Server serves /metrics over plain HTTP (bind it to a private address).
type Server struct {
	srv *http.Server
	lis net.Listener
	log *slog.Logger
}

// Listen starts serving reg's metrics at addr (host:port) under /metrics.
func Listen(addr string, reg *prometheus.Registry, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return Serve(lis, reg, log), nil
}

// Serve serves reg's metrics on lis under /metrics.
func Serve(lis net.Listener, reg *prometheus.Registry, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogAdapter{log}, Timeout: 10 * time.Second}))
	s := &Server{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 20 * time.Second, IdleTimeout: time.Minute},
		lis: lis, log: log,
	}
	go func() {
		if err := s.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics: server stopped", "err", err)
		}
	}()
	return s
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops the server, waiting for requests in flight until ctx ends.
func (s *Server) Close(ctx context.Context) error { return s.srv.Shutdown(ctx) }

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Println(v ...any) { a.log.Error("metrics: " + fmt.Sprint(v...)) }

// Sessions holds the session layer's metrics: sessions by outcome, tokens, traffic, rounds and
// latencies. Traffic and rounds are this party's, counted by the engine's meter when a session
// ends.
type Sessions struct {
	Active       prometheus.Gauge
	Ended        *prometheus.CounterVec // label outcome: ok, failed, cancelled
	Refused      *prometheus.CounterVec // label reason: a short cause (protocol, model, ...)
	Tokens       prometheus.Counter
	OnlineBytes  *prometheus.CounterVec // label direction: sent, received
	OfflineBytes *prometheus.CounterVec // label direction: sent, received
	Rounds       prometheus.Counter
	Duration     prometheus.Histogram // a session's compute time, input to last token
	FirstToken   prometheus.Histogram // input to the first token
	TokenGap     prometheus.Histogram // time between consecutive tokens
}

// NewSessions makes the session metrics and registers them on reg (when not nil).
func NewSessions(reg prometheus.Registerer) (*Sessions, error) {
	name := func(n string) string { return prometheus.BuildFQName(Namespace, "session", n) }
	buckets := prometheus.ExponentialBuckets(0.01, 2, 16) // 10 ms to about 5 min
	m := &Sessions{
		Active: prometheus.NewGauge(prometheus.GaugeOpts{Name: name("active"), Help: "Client sessions open at this party (their shares are held in memory)."}),
		Ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: name("ended_total"),
			Help: "Client sessions that ended, by outcome (ok, failed, cancelled)."}, []string{"outcome"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: name("refused_total"),
			Help: "Session requests refused before they started, by reason."}, []string{"reason"}),
		Tokens: prometheus.NewCounter(prometheus.CounterOpts{Name: name("tokens_total"), Help: "Tokens generated."}),
		OnlineBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: name("online_bytes_total"),
			Help: "Online-phase bytes of finished sessions, by direction."}, []string{"direction"}),
		OfflineBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: name("offline_bytes_total"),
			Help: "Correlated-randomness bytes of finished sessions, by direction."}, []string{"direction"}),
		Rounds:     prometheus.NewCounter(prometheus.CounterOpts{Name: name("rounds_total"), Help: "Communication rounds of finished sessions."}),
		Duration:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: name("duration_seconds"), Help: "Compute time of a session, from its input to its last token.", Buckets: buckets}),
		FirstToken: prometheus.NewHistogram(prometheus.HistogramOpts{Name: name("first_token_seconds"), Help: "Time from a session's input to its first token (prefill).", Buckets: buckets}),
		TokenGap:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: name("token_seconds"), Help: "Time between consecutive tokens of a session (one decode step).", Buckets: buckets}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Active, m.Ended, m.Refused, m.Tokens, m.OnlineBytes, m.OfflineBytes, m.Rounds, m.Duration, m.FirstToken, m.TokenGap} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("metrics: %w", err)
			}
		}
	}
	return m, nil
}
