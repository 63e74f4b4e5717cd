package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/transport"
)

// PartyCommand is the hidden subcommand of the bench binary that runs one party of a
// processes-mode execution (see ServeParty).
const PartyCommand = "party"

// event is one line a party process writes to its standard output.
type event struct {
	Event   string       `json:"event"` // "segment", "result" or "error"
	Segment int          `json:"segment,omitempty"`
	Result  *PartyResult `json:"result,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// runProcesses runs each party of job's point as a child process of this binary (argv[0]
// PartyCommand), over TCP on loopback with mutual TLS 1.3 (certificates of a throw-away
// authority made for this execution), every party's transport wrapped in a Shaper. Each
// child measures its own CPU time with getrusage. backendEnv is the MPCACHE_GPU value the
// children get. onSegment, when not nil, is called as party 0 finishes each segment.
func runProcesses(ctx context.Context, job Job, sharesFiles []string, backendEnv string, onSegment func(i int)) ([]*PartyResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	creds, err := newSessionPKI(job.Point.Protocol)
	if err != nil {
		return nil, err
	}
	var session [16]byte
	if _, err := rand.Read(session[:]); err != nil {
		return nil, err
	}
	listeners := make([]*net.TCPListener, 3)
	peers := map[int]string{}
	for i := range listeners {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		listeners[i] = ln.(*net.TCPListener)
		peers[i] = ln.Addr().String()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]*PartyResult, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		j := job
		j.Party, j.TLS, j.Peers, j.Session, j.Listen = i, creds[i], peers, session, peers[i]
		if sharesFiles != nil {
			j.SharesFile = sharesFiles[i]
		}
		in, err := json.Marshal(&j)
		if err != nil {
			return nil, err
		}
		lf, err := listeners[i].File()
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, exe, PartyCommand)
		cmd.Stdin = bytes.NewReader(in)
		cmd.ExtraFiles = []*os.File{lf}
		cmd.Env = append(os.Environ(), "MPCACHE_GPU="+backendEnv)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			lf.Close()
			return nil, err
		}
		lf.Close()
		wg.Go(func() {
			results[i], errs[i] = collect(out, i, onSegment)
			werr := cmd.Wait()
			if errs[i] == nil && werr != nil {
				errs[i] = werr
			}
			if errs[i] != nil {
				msg := strings.TrimSpace(stderr.String())
				if len(msg) > 2000 {
					msg = "…" + msg[len(msg)-2000:]
				}
				if msg != "" {
					errs[i] = fmt.Errorf("%w\n%s", errs[i], msg)
				}
				errs[i] = fmt.Errorf("party %d: %w", i, errs[i])
				cancel()
			}
		})
	}
	wg.Wait()
	// Report the first party that failed on its own rather than those killed after it.
	for _, err := range errs {
		if err != nil && !strings.Contains(err.Error(), "signal: killed") {
			return nil, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return results, nil
}

// collect reads a party process's events until its result.
func collect(r io.Reader, party int, onSegment func(int)) (*PartyResult, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("bench: party %d wrote %q: %w", party, sc.Text(), err)
		}
		switch ev.Event {
		case "segment":
			if party == 0 && onSegment != nil {
				onSegment(ev.Segment)
			}
		case "result":
			io.Copy(io.Discard, r)
			return ev.Result, nil
		case "error":
			return nil, errors.New(ev.Error)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("bench: the party process ended without a result")
}

// ProfileEnv names the environment variable that makes each party process write a CPU profile
// of its whole run to the variable's value followed by ".p0", ".p1" or ".p2".
const ProfileEnv = "MPCACHE_BENCH_CPUPROFILE"

// ServeParty is the body of the party subcommand: it reads a Job from in, joins the session
// mesh (listening on the socket inherited as file descriptor 3, dialling lower-numbered
// parties, mutual TLS), runs RunParty with CPU time from getrusage, and writes events as
// JSON lines to out.
func ServeParty(in io.Reader, out io.Writer) error {
	enc := json.NewEncoder(out)
	fail := func(err error) error {
		enc.Encode(event{Event: "error", Error: err.Error()})
		return err
	}
	var j Job
	if err := json.NewDecoder(in).Decode(&j); err != nil {
		return fail(fmt.Errorf("bench: reading the job: %w", err))
	}
	if prefix := os.Getenv(ProfileEnv); prefix != "" {
		f, err := os.Create(fmt.Sprintf("%s.p%d", prefix, j.Party))
		if err != nil {
			return fail(fmt.Errorf("bench: CPU profile: %w", err))
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(fmt.Errorf("bench: CPU profile: %w", err))
		}
		defer pprof.StopCPUProfile()
	}
	lf := os.NewFile(3, "listener")
	ln, err := net.FileListener(lf)
	if err != nil {
		return fail(fmt.Errorf("bench: inherited listener: %w", err))
	}
	lf.Close()
	defer ln.Close()
	tlsCfg, err := j.TLS.Config(j.Point.Protocol, j.Party)
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	peers := map[int]string{}
	for p, a := range j.Peers {
		if p < j.Party {
			peers[p] = a
		}
	}
	st, err := transport.Mesh(ctx, transport.MeshConfig{Self: j.Party, Parties: 3, Listener: ln, Peers: peers,
		TLS: tlsCfg, Session: j.Session, Timeout: time.Minute})
	if err != nil {
		return fail(err)
	}
	sh := transport.NewShaper(st, transport.Link{})
	defer sh.Close()
	cfg, err := j.Point.EngineConfig(j.Timeout)
	if err != nil {
		return fail(err)
	}
	e, err := mpc.New(ctx, j.Point.Protocol, sh, cfg)
	if err != nil {
		return fail(err)
	}
	j.Hooks.CPU = processCPU
	base := context.Background()
	j.Hooks.Segment = func(i int) {
		// The profile's samples carry the segment, as in one process (see runInProc).
		pprof.SetGoroutineLabels(pprof.WithLabels(base, pprof.Labels("party", strconv.Itoa(j.Party), "seg", strconv.Itoa(i))))
		if i > 0 {
			enc.Encode(event{Event: "segment", Segment: i - 1})
		}
	}
	defer pprof.SetGoroutineLabels(base)
	res, err := RunParty(e, sh, &j)
	if err != nil {
		return fail(err)
	}
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := st.Drain(dctx); err != nil {
		return fail(err)
	}
	return enc.Encode(event{Event: "result", Result: res})
}
