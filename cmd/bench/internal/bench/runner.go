package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/models"
	"github.com/privinfer/mpcache/mpc"
)

// Runner runs a grid into an output folder.
type Runner struct {
	Grid Grid
	Out  string    // output folder: results.json, report.md, plots
	Log  io.Writer // progress and messages (standard error)
	// Timeout bounds one execution (all nets of a point); 0 means 6 hours.
	Timeout time.Duration
	// Report, when set, is called after every execution to rewrite the report.
	Report func(res *Results) error

	models  map[string]*modelEntry
	tempDir string
}

// modelEntry is a resolved model name: a synthetic shape, or a real model and its shares.
type modelEntry struct {
	synthetic bool
	cfg       model.Config
	m         *model.Model
	shares    map[string][]*infer.ModelShares // by protocol/frac
	files     map[string][]string
}

// IsSynthetic reports whether name is a synthetic shape (model.Shapes).
func IsSynthetic(name string) bool {
	_, err := model.Shape(name)
	return err == nil
}

// DefaultModel is the model name of the embedded default model (package models).
const DefaultModel = "default"

func (r *Runner) model(name string) (*modelEntry, error) {
	if me, ok := r.models[name]; ok {
		return me, nil
	}
	me := &modelEntry{shares: map[string][]*infer.ModelShares{}, files: map[string][]string{}}
	if cfg, err := model.Shape(name); err == nil {
		me.synthetic, me.cfg = true, cfg
	} else {
		m, _, err := OpenModel(name)
		if err != nil {
			return nil, err
		}
		me.m, me.cfg = m, m.Config
	}
	r.models[name] = me
	return me, nil
}

// job prepares the execution of a point; for real models it also returns the parties' shares
// (in process) or share files (processes).
func (r *Runner) job(pt *Point) (*Job, []*infer.ModelShares, []string, error) {
	me, err := r.model(pt.Model)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg := me.cfg
	j := &Job{Point: *pt, Depth: cfg.Layers, Synthetic: me.synthetic, Timeout: 30 * time.Minute}
	if pt.Layers > 0 && pt.Layers < cfg.Layers {
		cfg.Layers = pt.Layers
	}
	need := pt.Context
	if pt.Phase == Decode {
		need += pt.Warmup + pt.Tokens*len(pt.Schedule()) + 1
	}
	if need > cfg.MaxSeq {
		if !me.synthetic {
			return nil, nil, nil, fmt.Errorf("bench: %s holds %d positions, the run needs %d", pt.Model, cfg.MaxSeq, need)
		}
		cfg.MaxSeq = need // a longer position table; costs do not change
	}
	j.Model = cfg
	if me.synthetic {
		return j, nil, nil, nil
	}
	if pt.KVStart == KVRandom {
		return nil, nil, nil, fmt.Errorf("bench: a random KV cache is for synthetic shapes; %s is a real model", pt.Model)
	}
	key := fmt.Sprintf("%s/%d", pt.Protocol, pt.Frac)
	shares, ok := me.shares[key]
	if !ok {
		if shares, err = infer.ShareModel(me.m, pt.Protocol, pt.Frac); err != nil {
			return nil, nil, nil, err
		}
		me.shares[key] = shares
	}
	if pt.Mode == InProc {
		return j, shares, nil, nil
	}
	files, ok := me.files[key]
	if !ok {
		for i, w := range shares {
			path := filepath.Join(r.tempDir, fmt.Sprintf("%s-%s-%d-party%d.shares", sanitize(pt.Model), pt.Protocol, pt.Frac, i))
			f, err := os.Create(path)
			if err != nil {
				return nil, nil, nil, err
			}
			err = w.Save(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, nil, nil, err
			}
			files = append(files, path)
		}
		me.files[key] = files
	}
	return j, nil, files, nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// Run executes every point of the grid whose runs are not all in Out/results.json yet,
// saving after each execution, and returns the results. Failed executions are recorded
// with their error (and retried by the next Run); the others go on.
func (r *Runner) Run(ctx context.Context) (*Results, error) {
	if err := r.Grid.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.Out, 0o755); err != nil {
		return nil, err
	}
	res, err := LoadResults(r.Out)
	if err != nil {
		return nil, err
	}
	res.Machine = ThisMachine()
	if r.Log == nil {
		r.Log = io.Discard
	}
	if r.tempDir, err = os.MkdirTemp("", "mpcache-bench-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(r.tempDir)
	r.models = map[string]*modelEntry{}
	localBackend, _ := Backend()

	type todo struct {
		pt      Point
		pending int
	}
	var work []todo
	total := 0
	for _, pt := range r.Grid.Points(IsSynthetic) {
		var nets []Net
		for _, n := range pt.Nets {
			if !res.Done(pt.Key(n)) {
				nets = append(nets, n)
			}
		}
		if len(nets) == 0 {
			continue
		}
		if pt.Backend == "cuda" && localBackend != "cuda" {
			fmt.Fprintf(r.Log, "bench: skipping %s: no CUDA backend here (build with -tags cuda on a machine with a GPU)\n", pt.Key(nets[0]))
			continue
		}
		if pt.Mode == InProc && pt.Backend != localBackend {
			fmt.Fprintf(r.Log, "bench: skipping %s: in process the backend is this process's (%s)\n", pt.Key(nets[0]), localBackend)
			continue
		}
		if pt.Phase == Decode && pt.KVStart == KVRandom {
			k, _ := LookupPolicy(pt.Policy.Name)
			me, err := r.model(pt.Model)
			if err != nil {
				return nil, err
			}
			if err := checkRandomStart(k, me.cfg, pt.Context); err != nil {
				fmt.Fprintf(r.Log, "bench: skipping %s: %v\n", describe(&pt), err)
				continue
			}
		}
		pt.Nets = nets
		work = append(work, todo{pt, len(pt.Schedule())})
		total += len(pt.Schedule())
	}
	if total == 0 {
		fmt.Fprintf(r.Log, "bench: all %d runs of the grid are in %s\n", len(res.Runs), filepath.Join(r.Out, "results.json"))
		return res, r.report(res)
	}
	prog := newProgress(r.Log, total)
	defer prog.finish()
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 6 * time.Hour
	}
	var failed int
	for _, w := range work {
		pt := w.pt
		prog.describe(describe(&pt))
		started := time.Now()
		runs, err := r.execute(ctx, &pt, timeout, prog)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			failed++
			fmt.Fprintf(r.Log, "\nbench: %s: %v\n", describe(&pt), err)
			for _, n := range pt.Nets {
				runs = append(runs, Run{Key: pt.Key(n), Model: pt.Model, Protocol: string(pt.Protocol),
					Policy: pt.Policy.Name, Budget: pt.Policy.Budget, Context: pt.Context, Phase: pt.Phase,
					Net: n.Name, Backend: pt.Backend, Mode: pt.Mode, Started: started.UTC().Format(time.RFC3339),
					Error: err.Error()})
			}
		}
		prog.done(w.pending)
		res.Merge(runs...)
		res.Annotate()
		if err := res.Save(r.Out); err != nil {
			return res, err
		}
		if err := r.report(res); err != nil {
			return res, err
		}
	}
	if failed > 0 {
		return res, fmt.Errorf("bench: %d of %d executions failed (recorded in results.json; run again to retry them)", failed, len(work))
	}
	return res, nil
}

func (r *Runner) report(res *Results) error {
	if r.Report == nil {
		return nil
	}
	return r.Report(res)
}

// describe is a short name of a point for progress lines.
func describe(pt *Point) string {
	s := fmt.Sprintf("%s %s %s %s ctx=%d", pt.Model, pt.Protocol, pt.Policy, pt.Phase, pt.Context)
	if pt.Layers > 0 {
		s += fmt.Sprintf(" L=%d", pt.Layers)
	}
	return s
}

// execute runs one point and returns its runs.
func (r *Runner) execute(ctx context.Context, pt *Point, timeout time.Duration, prog *progress) ([]Run, error) {
	j, shares, files, err := r.job(pt)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	started := time.Now()
	onSegment := func(int) { prog.step() }
	var parties []*PartyResult
	if pt.Mode == InProc {
		parties, err = runInProc(ctx, *j, shares, onSegment)
	} else {
		env := "off"
		if pt.Backend == "cuda" {
			if env = os.Getenv("MPCACHE_GPU"); env == "" || env == "off" {
				env = "auto"
			}
		}
		parties, err = runProcesses(ctx, *j, files, env, onSegment)
	}
	if err != nil {
		return nil, err
	}
	return buildRuns(pt, j, parties, started)
}

// Protocols parses a comma-separated list of protocols.
func Protocols(s string) ([]mpc.Protocol, error) {
	var out []mpc.Protocol
	for _, f := range SplitList(s) {
		p, err := mpc.ParseProtocol(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// SplitList splits a comma-separated list, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// OpenModel loads a real model by name: DefaultModel (the embedded model), or a path that
// model.Open accepts. The embedded model is unpacked into a temporary folder first.
func OpenModel(name string) (*model.Model, model.Tokenizer, error) {
	if name != DefaultModel {
		return model.Open(name)
	}
	dir, err := os.MkdirTemp("", "mpcache-model-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, models.DefaultName)
	if err := os.CopyFS(path, models.Default); err != nil {
		return nil, nil, fmt.Errorf("bench: unpacking the default model: %w", err)
	}
	return model.Open(path)
}
