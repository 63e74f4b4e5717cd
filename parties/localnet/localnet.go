// Package localnet runs a throwaway deployment on one machine: fresh certificates, the party
// processes as real child processes on loopback ports with mutual TLS, and the client's
// deployment file to reach them. `client local` and the end-to-end tests use it.
//
// Each party gets its listening sockets from the parent (inherited file descriptors 3 and 4:
// the party port and the metrics port), so ports are chosen without races, and a standard input
// pipe: if the parent dies, the pipe closes and the parties stop (-stop-on-stdin-eof).
package localnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/privinfer/mpcache/parties/client"
	"github.com/privinfer/mpcache/parties/deploy"
	"github.com/privinfer/mpcache/parties/role"
)

// Options configures Start.
type Options struct {
	// Name is the deployment name (default "local").
	Name     string
	Protocol role.Protocol
	// Preprocessing is where a 2pc deployment's material comes from: role.DealerFree starts p0
	// and p1 only ("": with a dealer).
	Preprocessing role.Preprocessing
	// Command is the party program and its leading arguments, e.g. {"/tmp/party"} or
	// {os.Args[0], "party"}; the configuration flags are appended.
	Command []string
	// Dir holds the deployment's files and logs; "" makes a temporary directory that Stop
	// removes.
	Dir string
	// Extra is TOML appended to every party's configuration (e.g. a [sessions] section).
	Extra string
	// Env is added to the parties' environment.
	Env []string
	// ReadyTimeout bounds the wait for every party to serve (default 60 s).
	ReadyTimeout time.Duration
	// Configure, when set, may change the deployment's files before the parties start (tests
	// use it to misconfigure a party).
	Configure func(f *deploy.Files) error
}

// Net is a running local deployment.
type Net struct {
	Dir        string
	Files      *deploy.Files
	Deployment *client.Deployment

	o       Options
	temp    bool
	mu      sync.Mutex
	procs   map[role.Role]*proc
	metrics map[role.Role]string
}

type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   *os.File
	done  chan struct{}
	err   error
}

// Start writes a deployment of o.Protocol under o.Dir and starts its parties, returning once
// every party serves. On failure it stops whatever it started and says which party failed, with
// the end of its log.
func Start(ctx context.Context, o Options) (*Net, error) {
	if o.Name == "" {
		o.Name = "local"
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	if len(o.Command) == 0 {
		return nil, errors.New("localnet: no party command")
	}
	n := &Net{Dir: o.Dir, o: o, procs: map[role.Role]*proc{}, metrics: map[role.Role]string{}}
	if n.Dir == "" {
		d, err := os.MkdirTemp("", "mpcache-local-")
		if err != nil {
			return nil, fmt.Errorf("localnet: %w", err)
		}
		n.Dir, n.temp = d, true
	}
	o.Preprocessing = o.Preprocessing.OrDealer()
	n.o = o
	if err := o.Preprocessing.Check(o.Protocol); err != nil {
		n.cleanup()
		return nil, fmt.Errorf("localnet: %w", err)
	}
	roles := o.Protocol.RolesWith(o.Preprocessing)
	if roles == nil {
		n.cleanup()
		return nil, fmt.Errorf("localnet: unknown protocol %q", o.Protocol)
	}
	lis := map[role.Role][2]net.Listener{}
	closeAll := func() {
		for _, l := range lis {
			l[0].Close()
			l[1].Close()
		}
	}
	plan := deploy.Plan{Name: o.Name, Protocol: o.Protocol, Preprocessing: o.Preprocessing, Addrs: map[role.Role]string{}, Listen: map[role.Role]string{},
		Metrics: map[role.Role]string{}, Validity: 24 * time.Hour, Extra: o.Extra}
	for _, r := range roles {
		pl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			closeAll()
			n.cleanup()
			return nil, fmt.Errorf("localnet: %w", err)
		}
		ml, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			pl.Close()
			closeAll()
			n.cleanup()
			return nil, fmt.Errorf("localnet: %w", err)
		}
		lis[r] = [2]net.Listener{pl, ml}
		plan.Addrs[r] = pl.Addr().String()
		plan.Listen[r] = pl.Addr().String()
		plan.Metrics[r] = ml.Addr().String()
		n.metrics[r] = ml.Addr().String()
	}
	files, err := deploy.Write(n.Dir, plan)
	if err != nil {
		closeAll()
		n.cleanup()
		return nil, err
	}
	n.Files = files
	if o.Configure != nil {
		if err := o.Configure(files); err != nil {
			closeAll()
			n.cleanup()
			return nil, fmt.Errorf("localnet: configure: %w", err)
		}
	}
	if n.Deployment, err = client.LoadDeployment(files.Client); err != nil {
		closeAll()
		n.cleanup()
		return nil, err
	}
	for _, r := range roles {
		l := lis[r]
		err := n.start(r, l[0], l[1])
		l[0].Close() // the child holds its own copies now
		l[1].Close()
		if err != nil {
			closeAll()
			n.Stop()
			return nil, err
		}
	}
	if err := n.WaitReady(ctx); err != nil {
		n.Stop()
		return nil, err
	}
	return n, nil
}

// start launches party r serving on the given sockets.
func (n *Net) start(r role.Role, pl, ml net.Listener) error {
	pf, err := pl.(*net.TCPListener).File()
	if err != nil {
		return fmt.Errorf("localnet: %w", err)
	}
	defer pf.Close()
	mf, err := ml.(*net.TCPListener).File()
	if err != nil {
		return fmt.Errorf("localnet: %w", err)
	}
	defer mf.Close()
	logf, err := os.OpenFile(n.LogFile(r), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("localnet: %w", err)
	}
	args := append(append([]string{}, n.o.Command[1:]...),
		"-config", n.Files.Config[r], "-listen-fd", "3", "-metrics-fd", "4", "-stop-on-stdin-eof")
	cmd := exec.Command(n.o.Command[0], args...)
	cmd.ExtraFiles = []*os.File{pf, mf}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), n.o.Env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return fmt.Errorf("localnet: %w", err)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("localnet: starting %s (%s): %w", r, n.o.Command[0], err)
	}
	p := &proc{cmd: cmd, stdin: stdin, log: logf, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	n.mu.Lock()
	n.procs[r] = p
	n.mu.Unlock()
	return nil
}

// WaitReady waits until every party reports SERVING, failing early when a party exits.
func (n *Net) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.o.ReadyTimeout)
	defer cancel()
	c, err := client.Dial(n.Deployment)
	if err != nil {
		return err
	}
	defer c.Close()
	ready := make(chan error, 1)
	go func() { ready <- c.WaitServing(ctx) }()
	n.mu.Lock()
	procs := make(map[role.Role]*proc, len(n.procs))
	for r, p := range n.procs {
		procs[r] = p
	}
	n.mu.Unlock()
	for {
		for r, p := range procs {
			select {
			case <-p.done:
				cancel()
				return fmt.Errorf("localnet: party %s exited while starting (%v); its log ends:\n%s", r, p.err, n.LogTail(r, 20))
			default:
			}
		}
		select {
		case err := <-ready:
			if err != nil {
				return fmt.Errorf("localnet: the parties did not come up within %s: %w", n.o.ReadyTimeout, err)
			}
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// LogFile is where party r's log goes.
func (n *Net) LogFile(r role.Role) string { return filepath.Join(n.Dir, string(r)+".log") }

// LogTail returns the last lines of party r's log.
func (n *Net) LogTail(r role.Role, lines int) string {
	b, _ := os.ReadFile(n.LogFile(r))
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return "    " + strings.Join(all, "\n    ")
}

// MetricsAddr is party r's Prometheus address.
func (n *Net) MetricsAddr(r role.Role) string { return n.metrics[r] }

// Metrics fetches party r's metrics text.
func (n *Net) Metrics(r role.Role) (string, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	res, err := hc.Get("http://" + n.metrics[r] + "/metrics")
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

// Kill kills party r at once (SIGKILL) and waits for it to exit.
func (n *Net) Kill(r role.Role) error {
	n.mu.Lock()
	p := n.procs[r]
	n.mu.Unlock()
	if p == nil {
		return fmt.Errorf("localnet: no party %s", r)
	}
	p.cmd.Process.Kill()
	<-p.done
	p.stdin.Close()
	return nil
}

// Restart starts party r again on its old ports, after it exited, and waits until every party
// serves.
func (n *Net) Restart(ctx context.Context, r role.Role) error {
	n.mu.Lock()
	p := n.procs[r]
	n.mu.Unlock()
	if p != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("localnet: party %s is still running", r)
		}
	}
	pl, err := net.Listen("tcp", n.Deployment.Parties[string(r)])
	if err != nil {
		return fmt.Errorf("localnet: party %s's port: %w", r, err)
	}
	defer pl.Close()
	ml, err := net.Listen("tcp", n.metrics[r])
	if err != nil {
		return fmt.Errorf("localnet: party %s's metrics port: %w", r, err)
	}
	defer ml.Close()
	if err := n.start(r, pl, ml); err != nil {
		return err
	}
	return n.WaitReady(ctx)
}

// Stop stops every party gracefully (SIGTERM, then SIGKILL after 15 s) and removes a temporary
// directory. It returns an error naming the parties that did not exit cleanly.
func (n *Net) Stop() error {
	n.mu.Lock()
	procs := n.procs
	n.procs = map[role.Role]*proc{}
	n.mu.Unlock()
	for _, p := range procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	var errs []error
	deadline := time.After(15 * time.Second)
	for r, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
			p.cmd.Process.Kill()
			<-p.done
			errs = append(errs, fmt.Errorf("localnet: party %s did not stop within 15 s and was killed", r))
			continue
		}
		p.stdin.Close()
		if p.err != nil && !isSignal(p.err) {
			errs = append(errs, fmt.Errorf("localnet: party %s: %v; its log ends:\n%s", r, p.err, n.LogTail(r, 10)))
		}
	}
	n.cleanup()
	return errors.Join(errs...)
}

// isSignal reports whether a process ended because of a kill (not an error of its own).
func isSignal(err error) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
	}
	return false
}

func (n *Net) cleanup() {
	if n.temp {
		os.RemoveAll(n.Dir)
	}
}
