// Package config reads and checks a party's configuration file (TOML) and turns it into the
// settings of the packages that run the party: its identity and trust (pki), its links to the
// peers (link), its ports, model-share directory and logging.
//
// An example for p0 of a 2pc deployment (relative paths are relative to the file):
//
//	deployment = "demo"
//	protocol   = "2pc"          # or "3pc"
//	preprocessing = "dealer"    # 2pc: "dealer" (default) or "dealer-free" (no dealer process)
//	role       = "p0"           # p0, p1, dealer (2pc); p0, p1, p2 (3pc)
//	listen     = "0.0.0.0:7000" # Link, Party, Provision and health services
//	metrics    = "127.0.0.1:9100"
//	share_dir  = "/var/lib/mpcache/shares"
//
//	[tls]
//	ca   = "certs/ca.pem"       # signs the clients' certificates
//	cert = "certs/p0.pem"
//	key  = "certs/p0-key.pem"
//
//	[peers.p1]
//	address = "p1.example.com:7000"
//	cert    = "certs/p1.pem"    # the certificate pinned for p1 ...
//
//	[peers.dealer]
//	address     = "dealer.example.com:7000"
//	fingerprint = "sha256:…"   # ... or its SHA-256 fingerprint
//
//	[link]                      # optional tuning; these are the defaults
//	open_timeout      = "10s"
//	accept_timeout    = "30s"
//	linger            = "10s"
//	chunk_size        = 1048576
//	keepalive_client  = "10s"
//	keepalive_server  = "5s"
//	keepalive_timeout = "5s"
//
//	[sessions]                  # optional; these are the defaults
//	max              = 64       # sessions open at once
//	input_timeout    = "60s"    # open to complete input share
//	ready_timeout    = "40s"    # waiting for the other parties to open a session
//	recv_timeout     = "2m"     # every receive of a session's engine
//	output_retention = "1m"     # a finished session's output waits this long for its client
//	drain_timeout    = "30s"    # a shutdown waits this long for running sessions
//	finish_timeout   = "10m"    # the 2pc dealer waits this long for P0 and P1 to finish
//	comparison       = ""       # "fss" or "circuit"; "" is the engine's default
//	network          = "wan"    # what the protocols plan for: "wan", "lan" or "RTT@BYTES_PER_SECOND"
//	max_share_bytes  = 68719476736
//
//	[dealer_free]               # optional, dealer-free 2pc only; p0 and p1 must agree
//	precompute  = false         # produce the session's elementwise material before the prompt
//	store_dir   = ""            # keep precomputed material sealed (AES-GCM) in files here
//	store_bytes = 4294967296    # precompute only when the session's budget fits this bound
//
//	[log]
//	level  = "info"             # debug, info, warn, error
//	format = "text"             # text or json
//
// Command-line flags (BindFlags) override the file.
package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/parties/link"
	"github.com/privinfer/mpcache/parties/pki"
	"github.com/privinfer/mpcache/parties/role"
)

// Config is a party's configuration.
type Config struct {
	Deployment string `toml:"deployment"`
	Protocol   string `toml:"protocol"`
	// Preprocessing is where a 2pc deployment's material comes from: "dealer" (or empty) or
	// "dealer-free" (p0 and p1 only; see role.Preprocessing).
	Preprocessing string          `toml:"preprocessing"`
	Role          string          `toml:"role"`
	Listen        string          `toml:"listen"`
	Metrics       string          `toml:"metrics"`
	ShareDir      string          `toml:"share_dir"`
	TLS           TLS             `toml:"tls"`
	Peers         map[string]Peer `toml:"peers"`
	Link          Link            `toml:"link"`
	Sessions      Sessions        `toml:"sessions"`
	DealerFree    DealerFree      `toml:"dealer_free"`
	Log           Log             `toml:"log"`

	// File is the file the configuration was read from ("" when built in code); messages name it.
	File string `toml:"-"`
}

// TLS names the party's own credentials and the deployment CA.
type TLS struct {
	CA   string `toml:"ca"`
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// Peer is how to reach and recognise one peer party. At least one of Cert and Fingerprint is
// needed; when both are given they must agree.
type Peer struct {
	Address     string `toml:"address"`
	Cert        string `toml:"cert"`
	Fingerprint string `toml:"fingerprint"`
}

// Link tunes the party-to-party links; zero values mean the link package's defaults.
type Link struct {
	OpenTimeout      time.Duration `toml:"open_timeout"`
	AcceptTimeout    time.Duration `toml:"accept_timeout"`
	Linger           time.Duration `toml:"linger"`
	ChunkSize        int           `toml:"chunk_size"`
	KeepaliveClient  time.Duration `toml:"keepalive_client"`
	KeepaliveServer  time.Duration `toml:"keepalive_server"`
	KeepaliveTimeout time.Duration `toml:"keepalive_timeout"`
}

// Sessions tunes the client sessions; zero values mean the session package's defaults.
type Sessions struct {
	// Max bounds the sessions open at once.
	Max int `toml:"max"`
	// InputTimeout bounds the time from a session's open to its complete input share.
	InputTimeout time.Duration `toml:"input_timeout"`
	// ReadyTimeout bounds the wait for the other parties to open a session.
	ReadyTimeout time.Duration `toml:"ready_timeout"`
	// RecvTimeout bounds every receive of a session's engine.
	RecvTimeout time.Duration `toml:"recv_timeout"`
	// OutputRetention is how long a finished session's output waits for its client.
	OutputRetention time.Duration `toml:"output_retention"`
	// DrainTimeout is how long a shutdown waits for running sessions (default 30 s).
	DrainTimeout time.Duration `toml:"drain_timeout"`
	// FinishTimeout is how long the 2pc dealer, which runs ahead, waits for P0 and P1 to finish
	// a session before it closes the session's link.
	FinishTimeout time.Duration `toml:"finish_timeout"`
	// Comparison is the engine's comparison protocol: "" (the engine's default), "fss" or
	// "circuit". Every party of a deployment must set the same.
	Comparison string `toml:"comparison"`
	// Network is the network the protocols plan for (mpc.ParseNetwork): "" or "wan" (the
	// default), "lan", or "RTT@BYTES_PER_SECOND". Every party of a deployment must set the same.
	Network string `toml:"network"`
	// MaxShareBytes bounds an uploaded share file (default 64 GiB).
	MaxShareBytes int64 `toml:"max_share_bytes"`
}

// DealerFree tunes the dealer-free material generator (mpc/twoparty) of a dealer-free 2pc
// party. P0 and P1 must use the same precompute and store_bytes (the session set-up checks).
type DealerFree struct {
	// Precompute makes every session produce its elementwise material (the budget computed
	// from the model's shape and the session's lengths, infer.MaterialBudget) right after the
	// engine's set-up, before the prompt's forward, when it fits StoreBytes; otherwise the
	// material is produced as it is used.
	Precompute bool `toml:"precompute"`
	// StoreDir keeps precomputed material in files there, sealed with AES-256-GCM under a key
	// that never leaves the process; "" keeps it in memory.
	StoreDir string `toml:"store_dir"`
	// StoreBytes bounds the precomputed material of one session (0: session.DefaultStoreBytes,
	// 4 GiB).
	StoreBytes int64 `toml:"store_bytes"`
}

// Pre is the configured preprocessing (valid after Validate).
func (c *Config) Pre() role.Preprocessing {
	p, _ := role.ParsePreprocessing(c.Preprocessing)
	return p
}

// Log configures logging.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// Load reads and validates the configuration file path. Relative file names in it are made
// relative to the file's directory.
func Load(path string) (*Config, error) {
	var c Config
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("config: %s: unknown settings: %s", path, strings.Join(keys, ", "))
	}
	c.File = path
	c.resolve(filepath.Dir(path))
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Parse decodes a configuration from r without validating it; relative file names are left
// relative to the working directory.
func Parse(r io.Reader) (*Config, error) {
	var c Config
	md, err := toml.NewDecoder(r).Decode(&c)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("config: unknown setting %s", und[0])
	}
	return &c, nil
}

func (c *Config) resolve(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.ShareDir)
	abs(&c.DealerFree.StoreDir)
	abs(&c.TLS.CA)
	abs(&c.TLS.Cert)
	abs(&c.TLS.Key)
	for k, p := range c.Peers {
		abs(&p.Cert)
		c.Peers[k] = p
	}
}

// errs collects validation problems, each prefixed with the file and the setting.
type errs struct {
	file string
	list []error
}

func (e *errs) add(key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if e.file != "" {
		e.list = append(e.list, fmt.Errorf("config: %s: %s: %s", e.file, key, msg))
	} else {
		e.list = append(e.list, fmt.Errorf("config: %s: %s", key, msg))
	}
}

// Validate checks the configuration without reading the files it names, and reports every
// problem at once.
func (c *Config) Validate() error {
	e := &errs{file: c.File}
	if err := pki.ValidDeployment(c.Deployment); err != nil {
		e.add("deployment", "%v", strings.TrimPrefix(err.Error(), "pki: "))
	}
	proto, perr := role.ParseProtocol(c.Protocol)
	if perr != nil {
		e.add("protocol", "%q is not 2pc or 3pc", c.Protocol)
	}
	pre, preErr := role.ParsePreprocessing(c.Preprocessing)
	if preErr != nil {
		e.add("preprocessing", "%q is not %s or %s", c.Preprocessing, role.FromDealer, role.DealerFree)
	} else if perr == nil {
		if err := pre.Check(proto); err != nil {
			e.add("preprocessing", "%s is for 2pc only: a %s deployment's material comes from p2 (remove preprocessing or set protocol = \"2pc\")", pre, proto)
			preErr = err
		}
	}
	self, rerr := role.Parse(c.Role)
	switch {
	case rerr != nil || !self.IsParty():
		e.add("role", "%q is not a party role (p0, p1, p2 or dealer)", c.Role)
		rerr = errors.New("bad role")
	case perr == nil && preErr == nil:
		roles := proto.RolesWith(pre)
		if !slices.Contains(roles, self) {
			e.add("role", "a %s deployment has no %s (its parties are %s)", proto.Describe(pre), self, strings.Join(roleNames(roles), ", "))
			rerr = errors.New("no such role")
		}
	}
	checkAddr(e, "listen", c.Listen, true)
	if c.Metrics != "" {
		checkAddr(e, "metrics", c.Metrics, true)
	}
	if c.ShareDir == "" {
		e.add("share_dir", "missing: the directory that holds this party's model shares")
	}
	for key, v := range map[string]string{"tls.ca": c.TLS.CA, "tls.cert": c.TLS.Cert, "tls.key": c.TLS.Key} {
		if v == "" {
			e.add(key, "missing")
		}
	}
	if perr == nil && rerr == nil && preErr == nil {
		c.validatePeers(e, proto, pre, self)
	}
	df := c.DealerFree
	if preErr == nil && pre != role.DealerFree && (df.Precompute || df.StoreDir != "" || df.StoreBytes != 0) {
		e.add("dealer_free", "set, but preprocessing is %s (set preprocessing = \"dealer-free\" or remove the section)", pre)
	}
	if df.StoreBytes < 0 {
		e.add("dealer_free.store_bytes", "%d is negative", df.StoreBytes)
	}
	if preErr == nil && pre == role.DealerFree && c.Sessions.Comparison == "fss" {
		e.add("sessions.comparison", "fss needs DCF keys from a dealer; dealer-free 2pc compares with the circuit (set comparison = \"circuit\" or leave it empty)")
	}
	l := c.Link
	for key, d := range map[string]time.Duration{
		"link.open_timeout": l.OpenTimeout, "link.accept_timeout": l.AcceptTimeout, "link.linger": l.Linger,
		"link.keepalive_client": l.KeepaliveClient, "link.keepalive_server": l.KeepaliveServer, "link.keepalive_timeout": l.KeepaliveTimeout,
	} {
		if d < 0 {
			e.add(key, "negative duration %s", d)
		}
	}
	ss := c.Sessions
	for key, d := range map[string]time.Duration{
		"sessions.input_timeout": ss.InputTimeout, "sessions.ready_timeout": ss.ReadyTimeout, "sessions.recv_timeout": ss.RecvTimeout,
		"sessions.output_retention": ss.OutputRetention, "sessions.drain_timeout": ss.DrainTimeout,
		"sessions.finish_timeout": ss.FinishTimeout,
	} {
		if d < 0 {
			e.add(key, "negative duration %s", d)
		}
	}
	if ss.Max < 0 {
		e.add("sessions.max", "%d is negative", ss.Max)
	}
	if ss.MaxShareBytes < 0 {
		e.add("sessions.max_share_bytes", "%d is negative", ss.MaxShareBytes)
	}
	if cmp := ss.Comparison; cmp != "" && cmp != "fss" && cmp != "circuit" {
		e.add("sessions.comparison", "%q is not fss or circuit (or empty for the engine's default)", cmp)
	}
	if _, err := mpc.ParseNetwork(ss.Network); err != nil {
		e.add("sessions.network", "%v", err)
	}
	if l.KeepaliveClient > 0 && l.KeepaliveClient < 10*time.Second {
		e.add("link.keepalive_client", "%s is below gRPC's 10s minimum", l.KeepaliveClient)
	}
	if l.ChunkSize < 0 || l.ChunkSize > link.MaxChunkSize {
		e.add("link.chunk_size", "%d is not between 1 and %d", l.ChunkSize, link.MaxChunkSize)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		e.add("log.level", "%v", err)
	}
	if f := c.Log.Format; f != "" && f != "text" && f != "json" {
		e.add("log.format", "%q is not text or json", f)
	}
	sort.Slice(e.list, func(i, j int) bool { return e.list[i].Error() < e.list[j].Error() })
	return errors.Join(e.list...)
}

func (c *Config) validatePeers(e *errs, proto role.Protocol, pre role.Preprocessing, self role.Role) {
	need := map[role.Role]bool{}
	for _, r := range proto.RolesWith(pre) {
		if r != self {
			need[r] = true
		}
	}
	for name, p := range c.Peers {
		key := "peers." + name
		r, err := role.Parse(name)
		if err != nil || string(r) != name || !need[r] {
			e.add(key, "%s is not a peer of %s in a %s deployment (its peers are %s)", name, self, proto.Describe(pre), strings.Join(peerNames(need), ", "))
			continue
		}
		checkAddr(e, key+".address", p.Address, false)
		if p.Cert == "" && p.Fingerprint == "" {
			e.add(key, "needs cert (the peer's certificate file) or fingerprint (sha256:…) to pin the peer")
		}
		if p.Fingerprint != "" {
			if _, err := pki.ParseFingerprint(p.Fingerprint); err != nil {
				e.add(key+".fingerprint", "%v", strings.TrimPrefix(err.Error(), "pki: "))
			}
		}
	}
	for _, r := range peerNames(need) {
		if _, ok := c.Peers[r]; !ok {
			e.add("peers."+r, "missing: a %s deployment needs [peers.%s] with its address and certificate", proto.Describe(pre), r)
		}
	}
}

func roleNames(rs []role.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

func peerNames(need map[role.Role]bool) []string {
	var out []string
	for r := range need {
		out = append(out, string(r))
	}
	sort.Strings(out)
	return out
}

// checkAddr checks a host:port address; listening addresses may leave the host empty.
func checkAddr(e *errs, key, addr string, listen bool) {
	if addr == "" {
		e.add(key, "missing (want host:port)")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		e.add(key, "%q is not host:port", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || (!listen && n == 0) {
		e.add(key, "%q has no valid port", addr)
	}
	if !listen && host == "" {
		e.add(key, "%q has no host", addr)
	}
}

// Party is the party number of the configured role (valid after Validate).
func (c *Config) Party() int {
	n, err := role.Protocol(c.Protocol).Party(role.Role(c.Role))
	if err != nil {
		return -1
	}
	return n
}

// Security is a party's loaded credentials and the TLS configurations built from them.
type Security struct {
	Identity *pki.Identity
	Trust    *pki.Trust
	Pins     map[role.Role]pki.Pin
	// Server is the listening port's TLS configuration (pinned peers and deployment clients).
	Server *tls.Config
	// Peers dials each peer by party number, accepting only its pinned certificate.
	Peers map[int]*tls.Config
}

// LoadSecurity reads the certificates and key the configuration names. Errors name the setting,
// the role and the file.
func (c *Config) LoadSecurity() (*Security, error) {
	proto := role.Protocol(c.Protocol)
	self := role.Role(c.Role)
	id, err := pki.LoadIdentity(c.TLS.Cert, c.TLS.Key)
	if err != nil {
		return nil, c.errorf("tls.cert", "this party's (%s) certificate or key: %v", self, err)
	}
	if id.Role != self || id.Deployment != c.Deployment {
		return nil, c.errorf("tls.cert", "%s is the certificate of %s in deployment %q, but this party is %s of %q",
			c.TLS.Cert, id.Role, id.Deployment, self, c.Deployment)
	}
	pool, err := pki.LoadCAPool(c.TLS.CA)
	if err != nil {
		return nil, c.errorf("tls.ca", "%v", err)
	}
	sec := &Security{
		Identity: id,
		Trust:    &pki.Trust{Deployment: c.Deployment, ClientCAs: pool, CAFile: c.TLS.CA},
		Pins:     map[role.Role]pki.Pin{},
		Peers:    map[int]*tls.Config{},
	}
	for _, r := range proto.RolesWith(c.Pre()) {
		if r == self {
			continue
		}
		pc := c.Peers[string(r)]
		key := "peers." + string(r)
		var pin pki.Pin
		if pc.Cert != "" {
			cert, err := pki.LoadCertificate(pc.Cert)
			if err != nil {
				return nil, c.errorf(key+".cert", "%s's certificate: %v", r, err)
			}
			if pin, err = pki.PinCertificate(c.Deployment, r, cert, pc.Cert); err != nil {
				return nil, c.errorf(key+".cert", "%v", err)
			}
		}
		if pc.Fingerprint != "" {
			fp, err := pki.ParseFingerprint(pc.Fingerprint)
			if err != nil {
				return nil, c.errorf(key+".fingerprint", "%v", err)
			}
			if pc.Cert != "" && fp != pin.Fingerprint {
				return nil, c.errorf(key+".fingerprint", "%s does not match the certificate %s (%s)", fp, pc.Cert, pin.Fingerprint)
			}
			if pc.Cert == "" {
				pin = pki.Pin{Role: r, Fingerprint: fp, Source: key + ".fingerprint"}
			}
		}
		sec.Pins[r] = pin
		sec.Trust.Pins = append(sec.Trust.Pins, pin)
		n, _ := proto.Party(r)
		sec.Peers[n] = pki.PeerConfig(id, pin)
	}
	sec.Server = pki.ServerConfig(id, sec.Trust)
	return sec, nil
}

func (c *Config) errorf(key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if c.File != "" {
		return fmt.Errorf("config: %s: %s: %s", c.File, key, msg)
	}
	return fmt.Errorf("config: %s: %s", key, msg)
}

// LinkConfig returns the settings of the party's link.Node.
func (c *Config) LinkConfig(sec *Security, log *slog.Logger) link.Config {
	proto := role.Protocol(c.Protocol)
	peers := map[int]link.Peer{}
	for n, tc := range sec.Peers {
		r, _ := proto.Role(n)
		peers[n] = link.Peer{Addr: c.Peers[string(r)].Address, TLS: tc}
	}
	return link.Config{
		Self:          c.Party(),
		Protocol:      proto,
		Peers:         peers,
		PeerParty:     sec.Trust.PeerParty(proto),
		ChunkSize:     c.Link.ChunkSize,
		OpenTimeout:   c.Link.OpenTimeout,
		AcceptTimeout: c.Link.AcceptTimeout,
		Linger:        c.Link.Linger,
		Keepalive:     c.Keepalive(),
		Logger:        log,
	}
}

// Keepalive returns the link keepalive settings.
func (c *Config) Keepalive() link.Keepalive {
	return link.Keepalive{ClientTime: c.Link.KeepaliveClient, ServerTime: c.Link.KeepaliveServer, Timeout: c.Link.KeepaliveTimeout}
}

// Logger returns a logger writing to w as the [log] section says, tagged with the party's role.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.Log.Level)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.Log.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("role", c.Role, "deployment", c.Deployment)
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
}
