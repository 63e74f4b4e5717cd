package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc/transport"
)

// FidelityFile is the name of the fidelity results inside an output folder (written by
// `bench fidelity -out DIR`), which the report sets beside the costs.
const FidelityFile = "fidelity.json"

// FidelityReport is the content of FidelityFile.
type FidelityReport struct {
	Model    string                 `json:"model"`
	Text     string                 `json:"text"`
	Tail     float64                `json:"tail"`
	Tokens   int                    `json:"tokens"` // held-out tokens available
	Prompt   int                    `json:"prompt"`
	Steps    int                    `json:"steps"`
	FracBits int                    `json:"frac_bits"`
	Results  []model.FidelityResult `json:"results"`
}

// EstimateTolerance is how far the emulated latency may stray from the network model before
// the report flags it.
const EstimateTolerance = 0.2

// WriteReport writes dir/report.md and the plots for res; desc describes the grid.
func WriteReport(dir string, res *Results, desc string) error {
	fid, err := loadFidelity(dir)
	if err != nil {
		return err
	}
	return writeReport(dir, res, desc, fid)
}

// writeReport is WriteReport with the fidelity results (nil for none) at hand.
func writeReport(dir string, res *Results, desc string, fid *FidelityReport) error {
	plots, err := writePlots(dir, goodRuns(res))
	if err != nil {
		return fmt.Errorf("bench: plots: %w", err)
	}
	var b strings.Builder
	b.WriteString(Markdown(res, desc, plots, fid))
	header := false
	for _, r := range res.Runs {
		if r.Good() {
			continue
		}
		if !header {
			b.WriteString("\n## Failed runs\n\nThese are retried by the next run of the same command.\n\n")
			header = true
		}
		fmt.Fprintf(&b, "- `%s`: %s\n", r.Key, firstLine(r.Error))
	}
	return writeAtomic(filepath.Join(dir, "report.md"), []byte(b.String()))
}

// goodRuns returns the finished runs of res.
func goodRuns(res *Results) []*Run {
	var runs []*Run
	for i := range res.Runs {
		if res.Runs[i].Good() {
			runs = append(runs, &res.Runs[i])
		}
	}
	return runs
}

func loadFidelity(dir string) (*FidelityReport, error) {
	data, err := os.ReadFile(filepath.Join(dir, FidelityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f FidelityReport
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", FidelityFile, err)
	}
	return &f, nil
}

// WriteFidelity stores fidelity results in dir and rewrites the report if results exist.
func WriteFidelity(dir string, f *FidelityReport) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, FidelityFile), append(b, '\n')); err != nil {
		return err
	}
	res, err := LoadResults(dir)
	if err != nil {
		return err
	}
	return writeReport(dir, res, "", f)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Markdown renders the report: machine, method, decode and prefill tables, the network
// model check, per-operation breakdowns, cost beside fidelity, and the plots.
func Markdown(res *Results, desc string, plots []Plot, fid *FidelityReport) string {
	runs := goodRuns(res)
	var b strings.Builder
	b.WriteString("# Benchmark report\n\n")
	fmt.Fprintf(&b, "Written %s by `bench`.", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	if desc != "" {
		fmt.Fprintf(&b, " Last grid: %s.", desc)
	}
	b.WriteString("\n\n")
	m := res.Machine
	b.WriteString("## Machine\n\n| | |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| CPU | %s |\n| logical CPUs | %d (GOMAXPROCS %d; all parties share them) |\n| memory | %.1f GiB |\n",
		orDash(m.CPU), m.CPUs, m.GOMAXPROCS, m.MemoryGiB)
	fmt.Fprintf(&b, "| OS | %s/%s %s |\n| Go | %s |\n| GPU | %s |\n| source | %s %s |\n\n", m.OS, m.Arch, m.Kernel, m.Go,
		orDash(m.GPU), orDash(m.Revision), m.BuildTags)
	b.WriteString(methodNotes)

	sections := []struct {
		phase, title string
	}{{Decode, "Decode (per generated token)"}, {Prefill, "Prefill (per prompt token)"}}
	for _, s := range sections {
		var rs []*Run
		for _, r := range runs {
			if r.Phase == s.phase {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "## %s\n\n", s.title)
		for _, g := range groupRuns(rs, func(r *Run) string { return r.Model + "|" + r.Protocol + "|" + r.Backend + "|" + r.Mode + "|" + r.Plan }) {
			r0 := g.runs[0]
			fmt.Fprintf(&b, "### %s, %s, %s, %s, planned for the %s\n\n", r0.Model, r0.Protocol, r0.Backend, modeText(r0), planText(r0.Plan))
			if r0.LayersRun < r0.Layers {
				fmt.Fprintf(&b, "Ran %d of %d layers; per-layer figures scaled by %.3g.\n\n", r0.LayersRun, r0.Layers, r0.LayerScale)
			}
			writeRunTable(&b, g.runs)
		}
	}
	writeEstimateCheck(&b, runs)
	writeBreakdowns(&b, runs)
	if fid != nil {
		writeFidelity(&b, runs, fid)
	}
	if len(plots) > 0 {
		b.WriteString("## Plots\n\n")
		for _, p := range plots {
			fmt.Fprintf(&b, "- [%s](%s)\n", p.Title, p.File)
		}
		b.WriteString("\n")
	}
	return b.String()
}

const methodNotes = `## How to read this

- **Per token**: decode figures are per generated token (one Session.Decode and the secure
  argmax that picks the next token); prefill figures divide one prefill of the whole prompt by
  its length.
- **Bytes** are sent by all parties together; **offline** bytes are correlated randomness
  (the 2pc dealer's material, or what P2 deals in 3pc). **Rounds** are those of the computing
  party with the most. **Latency** is the wall time of the slowest computing party; with
  repeats, the median over them, and "fastest repeat" the lowest (on a shared machine the one
  least disturbed by other work).
- **Plan**: the network the protocols planned their tournaments (maximum and argmax) for
  (-plan, mpc.Config.Network): wide levels save rounds on a WAN, binary ones save material and
  CPU on a LAN. Bytes and rounds depend on it; runs planned for different
  networks are different points.
- **Scaling**: where fewer layers ran than the model has, every figure charged inside a block
  is multiplied by depth ÷ layers run; embedding, final norm, classifier and argmax are not.
- **KV cache**: "prefill" when the cache came from a real secure prefill of the context,
  "random" when it holds random secret shares of the right shape (decode cost does not depend
  on the values).
- **Networks** are emulated in the transport (transport.Shaper): every directed link has the
  profile's bandwidth and one-way delay, messages leave in order, one at a time per link. In
  2pc the dealer's links are not shaped unless the run says so (its material is taken as
  produced ahead of time); in 3pc every link is.
- **Estimate** (the network model): latency(none) + rounds × one-way delay + 8 × bytes of the
  busiest link ÷ bandwidth, from the unshaped run of the same point. "ratio" is measured ÷
  estimate.
- **CPU** is the CPU time of all parties per token, measured on the layers that ran:
  getrusage of each party's process (separate processes), or sampled per party from the CPU
  profiler's goroutine labels (in one process).

`

func modeText(r *Run) string {
	if r.Mode == Processes {
		return "separate processes, TCP loopback with mutual TLS 1.3"
	}
	return "one process, in-memory links"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func writeRunTable(b *strings.Builder, runs []*Run) {
	sort.SliceStable(runs, func(i, j int) bool {
		a, c := runs[i], runs[j]
		if pa, pc := policyLabel(a), policyLabel(c); pa != pc {
			return pa < pc
		}
		if a.Context != c.Context {
			return a.Context < c.Context
		}
		return netOrder(a.Net) < netOrder(c.Net)
	})
	b.WriteString("| policy | context | net | latency s/token | fastest repeat | estimate s/token | ratio | online MB/token | offline MB/token | rounds/token | busiest link MB/token | CPU s/token | KV cache | tokens |\n")
	b.WriteString("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n")
	for _, r := range runs {
		est, ratio := "", ""
		if r.EstimateSPerToken > 0 {
			est, ratio = fmtSec(r.EstimateSPerToken), fmt.Sprintf("%.2f", r.EstimateRatio)
		}
		kv := "prefill"
		if !r.CacheFromPrefill {
			kv = "random"
		}
		if r.Phase == Prefill {
			kv = "—"
		}
		fastest := "—"
		if len(r.LatencySRepeats) > 1 {
			fastest = fmtSec(slices.Min(r.LatencySRepeats))
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %.0f | %s | %s | %s | %d |\n",
			policyLabel(r), r.Context, r.Net, fmtSec(r.LatencySPerToken), fastest, est, ratio,
			fmtMB(r.OnlineBytesPerToken), fmtMB(r.OfflineBytesPerToken), r.RoundsPerToken,
			fmtMB(r.LinkBytesPerToken), fmtSec(r.CPUSPerToken), kv, r.Tokens)
	}
	b.WriteString("\n")
}

func writeEstimateCheck(b *strings.Builder, runs []*Run) {
	var shaped []*Run
	for _, r := range runs {
		if r.Net != "none" && r.EstimateSPerToken > 0 {
			shaped = append(shaped, r)
		}
	}
	if len(shaped) == 0 {
		return
	}
	outside := func(r *Run) bool { return math.Abs(r.EstimateRatio-1) > EstimateTolerance }
	in := 0
	for _, r := range shaped {
		if !outside(r) {
			in++
		}
	}
	fmt.Fprintf(b, "## Emulated network against the model\n\n%d of %d shaped runs lie within %.0f%% of the estimate.\n\n",
		in, len(shaped), 100*EstimateTolerance)
	b.WriteString("| model | protocol | policy | phase | context | net | measured s/token | estimate s/token | ratio | of which network (estimate) | |\n")
	b.WriteString("| --- | --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range shaped {
		flag := ""
		if outside(r) {
			flag = fmt.Sprintf("outside ±%.0f%%", 100*EstimateTolerance)
		}
		netPart := networkSeconds(r, r.BandwidthBps, time.Duration(r.DelayS*1e9))
		fmt.Fprintf(b, "| %s | %s | %s | %s | %d | %s | %s | %s | %.2f | %s | %s |\n", r.Model, r.Protocol, policyLabel(r),
			r.Phase, r.Context, r.Net, fmtSec(r.LatencySPerToken), fmtSec(r.EstimateSPerToken), r.EstimateRatio,
			fmtSec(netPart), flag)
	}
	b.WriteString("\n")
}

// writeBreakdowns shows, for each model, protocol and policy, the per-operation split of the
// unshaped decode run at the longest context.
func writeBreakdowns(b *strings.Builder, runs []*Run) {
	var pick []*Run
	for _, g := range groupRuns(runs, func(r *Run) string {
		return r.Model + "|" + r.Protocol + "|" + r.Backend + "|" + r.Mode + "|" + r.Phase + "|" + policyLabel(r)
	}) {
		var best *Run
		for _, r := range g.runs {
			if r.Net == "none" && r.Phase == Decode && (best == nil || r.Context > best.Context) {
				best = r
			}
		}
		if best != nil {
			pick = append(pick, best)
		}
	}
	if len(pick) == 0 {
		return
	}
	b.WriteString("## Per-operation breakdown (decode, no network emulation, longest context)\n\n")
	for _, r := range pick {
		fmt.Fprintf(b, "### %s, %s, %s, context %d\n\n", r.Model, r.Protocol, policyLabel(r), r.Context)
		b.WriteString("| operation | online MB | offline MB | rounds | seconds | share of time |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
		groups := groupOps(r)
		total := 0.0
		for _, o := range groups {
			total += o.Seconds
		}
		for _, g := range append(append([]string{}, opGroups...), "other") {
			o, ok := groups[g]
			if !ok {
				continue
			}
			fmt.Fprintf(b, "| %s | %s | %s | %.0f | %s | %.1f%% |\n", g, fmtMB(o.Bytes), fmtMB(o.OfflineBytes), o.Rounds,
				fmtSec(o.Seconds), 100*o.Seconds/math.Max(total, 1e-12))
		}
		b.WriteString("\n")
	}
}

// writeFidelity sets each policy's fidelity beside its decode cost at the longest context.
func writeFidelity(b *strings.Builder, runs []*Run, f *FidelityReport) {
	fmt.Fprintf(b, "## Cost and fidelity\n\nFidelity (`bench fidelity`): model %s, text %s (last %.3g, %d tokens), prompt %d, %d teacher-forced steps; ",
		f.Model, f.Text, f.Tail, f.Tokens, f.Prompt, f.Steps)
	b.WriteString("agreement is the fraction of steps whose greedy token equals the full cache's. Cost: the unshaped decode run of the same policy and budget at the longest context measured, per model and protocol.\n\n")
	b.WriteString("| policy | agreement | perplexity | KV attended | cost: model, protocol, context | latency s/token | online MB/token | rounds/token |\n")
	b.WriteString("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |\n")
	// Costs of the fidelity's own model when it was measured, else of every model.
	sameModel := false
	for _, r := range runs {
		sameModel = sameModel || r.Model == f.Model
	}
	for _, fr := range f.Results {
		spec := PolicySpec{Name: fr.Policy, Budget: fr.Budget}
		if fr.Policy == "full" {
			spec.Budget = 0
		}
		best := map[string]*Run{}
		for _, r := range runs {
			if r.Phase != Decode || r.Net != "none" || r.Policy != spec.Name || math.Abs(r.Budget-spec.Budget) > 1e-9 {
				continue
			}
			if sameModel && r.Model != f.Model {
				continue
			}
			k := r.Model + " " + r.Protocol
			if best[k] == nil || r.Context > best[k].Context {
				best[k] = r
			}
		}
		keys := make([]string, 0, len(best))
		for k := range best {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fid := fmt.Sprintf("| %s | %.3f | %.3f | %.3f ", spec, fr.Agreement, fr.Perplexity, fr.KVFraction)
		if len(keys) == 0 {
			b.WriteString(fid + "| not measured | | | |\n")
		}
		for _, k := range keys {
			r := best[k]
			fmt.Fprintf(b, "%s| %s, %d | %s | %s | %.0f |\n", fid, k, r.Context, fmtSec(r.LatencySPerToken),
				fmtMB(r.OnlineBytesPerToken), r.RoundsPerToken)
		}
	}
	b.WriteString("\n")
}

// Check verifies a results folder: results.json parses with this schema and holds at least
// one run, every run finished and has positive latency, bytes and rounds, and report.md
// exists. It is CI's smoke check.
func Check(dir string) (*Results, error) {
	res, err := LoadResults(dir)
	if err != nil {
		return nil, err
	}
	if len(res.Runs) == 0 {
		return nil, fmt.Errorf("bench: %s holds no runs", filepath.Join(dir, "results.json"))
	}
	var errs []error
	for _, r := range res.Runs {
		switch {
		case !r.Good():
			errs = append(errs, fmt.Errorf("run %s failed: %s", r.Key, firstLine(r.Error)))
		case !(r.LatencySPerToken > 0) || !(r.OnlineBytesPerToken > 0) || !(r.RoundsPerToken > 0) || r.Tokens < 1:
			errs = append(errs, fmt.Errorf("run %s: latency %v, bytes %v, rounds %v, tokens %d", r.Key,
				r.LatencySPerToken, r.OnlineBytesPerToken, r.RoundsPerToken, r.Tokens))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "report.md")); err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// EstimateTable lists, for every unshaped run, the estimated latency per token on a network
// of bandwidth bw and one-way delay d.
func EstimateTable(res *Results, bw float64, d time.Duration) string {
	var b strings.Builder
	l := transport.Link{Bandwidth: bw, Delay: d}
	fmt.Fprintf(&b, "Estimated latency on %s (round trip %v): latency(none) + rounds × %v + 8 × busiest-link bytes ÷ bandwidth.\n\n",
		l, 2*d, d)
	b.WriteString("| model | protocol | policy | phase | context | unshaped s/token | rounds/token | busiest link MB/token | estimate s/token |\n")
	b.WriteString("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for i := range res.Runs {
		r := &res.Runs[i]
		if !r.Good() || r.Net != "none" {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s | %.0f | %s | %s |\n", r.Model, r.Protocol, policyLabel(r), r.Phase,
			r.Context, fmtSec(r.LatencySPerToken), r.RoundsPerToken, fmtMB(r.LinkBytesPerToken), fmtSec(Estimate(r, bw, d)))
	}
	return b.String()
}

// fmtSec writes seconds with three significant digits.
func fmtSec(s float64) string {
	switch {
	case s == 0:
		return "0"
	case s < 0.001:
		return fmt.Sprintf("%.3g ms", s*1e3)
	}
	return fmt.Sprintf("%.3g", s)
}

// fmtMB writes bytes as megabytes (10^6).
func fmtMB(b float64) string {
	if b == 0 {
		return "0"
	}
	return fmt.Sprintf("%.3g", b/1e6)
}

// fmtDuration writes seconds as a short duration.
func fmtDuration(s float64) string {
	return time.Duration(math.Round(s * 1e9)).String()
}

// planText names the network a run planned for.
func planText(plan string) string {
	if plan == "" {
		plan = "wan"
	}
	return plan
}
