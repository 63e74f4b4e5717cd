package bench

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Plot is an SVG file the report links to.
type Plot struct {
	File  string // name inside the output folder
	Title string
}

// series groups runs for a plot: one line (or bar) per group, x the context.
type series struct {
	name string
	runs []*Run // sorted by context
}

// groupRuns splits runs by key, each group sorted by context.
func groupRuns(runs []*Run, key func(*Run) string) []series {
	m := map[string][]*Run{}
	for _, r := range runs {
		m[key(r)] = append(m[key(r)], r)
	}
	var out []series
	for k, rs := range m {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Context < rs[j].Context })
		out = append(out, series{k, rs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// policyLabel names a run's policy with its budget.
func policyLabel(r *Run) string {
	return PolicySpec{Name: r.Policy, Budget: r.Budget}.String()
}

// writePlots draws the report's plots for the decode runs: latency per token and online bytes
// per token against context, one line per policy, and stacked per-operation breakdowns of
// time and bytes, for every model and protocol (latency and time breakdowns also per net).
func writePlots(dir string, runs []*Run) ([]Plot, error) {
	var plots []Plot
	var decode []*Run
	for _, r := range runs {
		if r.Phase == Decode {
			decode = append(decode, r)
		}
	}
	for _, g := range groupRuns(decode, func(r *Run) string { return r.Model + "|" + r.Protocol + "|" + r.Backend }) {
		model, proto := g.runs[0].Model, g.runs[0].Protocol
		stem := sanitize(fmt.Sprintf("%s_%s_%s", model, proto, g.runs[0].Backend))
		scaled := ""
		if g.runs[0].LayersRun < g.runs[0].Layers {
			scaled = fmt.Sprintf(" (%d of %d layers run, scaled)", g.runs[0].LayersRun, g.runs[0].Layers)
		}
		// Latency per token, one plot per net.
		for _, ng := range groupRuns(g.runs, func(r *Run) string { return netOrder(r.Net) + r.Net }) {
			net := ng.runs[0].Net
			lines := groupRuns(ng.runs, policyLabel)
			p := newPlot(fmt.Sprintf("%s, %s, %s: decode latency per token%s", model, proto, netTitle(ng.runs[0]), scaled),
				"context (tokens)", "seconds per token")
			if err := addLines(p, lines, func(r *Run) float64 { return r.LatencySPerToken }); err != nil {
				return nil, err
			}
			f := fmt.Sprintf("latency_%s_%s.svg", stem, sanitize(net))
			if err := save(p, filepath.Join(dir, f)); err != nil {
				return nil, err
			}
			plots = append(plots, Plot{f, p.Title.Text})
		}
		// Online bytes per token (the network does not change them: unshaped runs).
		var none []*Run
		for _, r := range g.runs {
			if r.Net == "none" {
				none = append(none, r)
			}
		}
		if len(none) > 0 {
			p := newPlot(fmt.Sprintf("%s, %s: online communication per decoded token%s", model, proto, scaled),
				"context (tokens)", "MB per token (all parties)")
			if err := addLines(p, groupRuns(none, policyLabel), func(r *Run) float64 { return r.OnlineBytesPerToken / 1e6 }); err != nil {
				return nil, err
			}
			f := fmt.Sprintf("bytes_%s.svg", stem)
			if err := save(p, filepath.Join(dir, f)); err != nil {
				return nil, err
			}
			plots = append(plots, Plot{f, p.Title.Text})
		}
		// Stacked breakdowns per policy: time on each net, bytes once.
		for _, pg := range groupRuns(g.runs, policyLabel) {
			for _, ng := range groupRuns(pg.runs, func(r *Run) string { return netOrder(r.Net) + r.Net }) {
				r0 := ng.runs[0]
				p, err := stacked(ng.runs, func(o OpStat) float64 { return o.Seconds },
					fmt.Sprintf("%s, %s, %s, %s: time per token by operation", model, proto, pg.name, netTitle(r0)), "seconds per token")
				if err != nil {
					return nil, err
				}
				f := fmt.Sprintf("breakdown_time_%s_%s_%s.svg", stem, sanitize(pg.name), sanitize(r0.Net))
				if err := save(p, filepath.Join(dir, f)); err != nil {
					return nil, err
				}
				plots = append(plots, Plot{f, p.Title.Text})
				if r0.Net != "none" {
					continue
				}
				p, err = stacked(ng.runs, func(o OpStat) float64 { return (o.Bytes + o.OfflineBytes) / 1e6 },
					fmt.Sprintf("%s, %s, %s: online + offline MB per token by operation", model, proto, pg.name), "MB per token (all parties)")
				if err != nil {
					return nil, err
				}
				f = fmt.Sprintf("breakdown_bytes_%s_%s.svg", stem, sanitize(pg.name))
				if err := save(p, filepath.Join(dir, f)); err != nil {
					return nil, err
				}
				plots = append(plots, Plot{f, p.Title.Text})
			}
		}
	}
	return plots, nil
}

// netTitle describes a run's network for a title.
func netTitle(r *Run) string {
	if r.Net == "none" {
		return "no network emulation"
	}
	return fmt.Sprintf("%s (%s, %s one way)", r.Net, FormatBandwidth(r.BandwidthBps)+"/s", fmtDuration(r.DelayS))
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.X.Label.Text, p.Y.Label.Text = x, y
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return p
}

// addLines adds one line with points per series, x the context on a log2 axis.
func addLines(p *plot.Plot, lines []series, y func(*Run) float64) error {
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = contextTicks(lines)
	for i, s := range lines {
		pts := make(plotter.XYs, len(s.runs))
		for k, r := range s.runs {
			pts[k] = plotter.XY{X: float64(r.Context), Y: y(r)}
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, sc.Color = plotutil.Color(i), plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		p.Add(l, sc)
		p.Legend.Add(s.name, l, sc)
	}
	p.Y.Min = 0
	return nil
}

// contextTicks marks every context that occurs.
func contextTicks(lines []series) plot.ConstantTicks {
	var cs []int
	for _, s := range lines {
		for _, r := range s.runs {
			if !slices.Contains(cs, r.Context) {
				cs = append(cs, r.Context)
			}
		}
	}
	slices.Sort(cs)
	var ticks plot.ConstantTicks
	for _, c := range cs {
		ticks = append(ticks, plot.Tick{Value: float64(c), Label: fmt.Sprint(c)})
	}
	return ticks
}

// opGroups are the stacked categories, in order: each breakdown label counts towards the
// first group that is a prefix of it.
var opGroups = []string{"embed", "attn/norm", "attn/qkv", "attn/rope", "attn/cache", "attn/scores",
	"attn/softmax", "attn/mix", "attn/out", "mlp/norm", "mlp/up", "mlp/gelu", "mlp/silu", "mlp/down",
	"lm_head/norm", "lm_head/classify", "lm_head/argmax"}

// opGroup returns the stacked category of a breakdown label.
func opGroup(op string) string {
	for _, g := range opGroups {
		if op == g || strings.HasPrefix(op, g+"/") {
			return g
		}
	}
	return "other"
}

// groupOps sums a run's breakdown into the stacked categories.
func groupOps(r *Run) map[string]OpStat {
	out := map[string]OpStat{}
	for op, o := range r.Breakdown {
		g := opGroup(op)
		s := out[g]
		s.Bytes += o.Bytes
		s.OfflineBytes += o.OfflineBytes
		s.Rounds += o.Rounds
		s.Seconds += o.Seconds
		out[g] = s
	}
	return out
}

// stacked draws one stacked bar per run (by context), split by operation group.
func stacked(runs []*Run, v func(OpStat) float64, title, ylabel string) (*plot.Plot, error) {
	p := newPlot(title, "context (tokens)", ylabel)
	p.Legend.Left = false
	groups := slices.Concat(opGroups, []string{"other"})
	vals := map[string]plotter.Values{}
	total := 0.0
	for _, r := range runs {
		g := groupOps(r)
		for _, name := range groups {
			x := v(g[name])
			vals[name] = append(vals[name], x)
			total += x
		}
	}
	var below *plotter.BarChart
	w := vg.Points(math.Max(8, 180/float64(len(runs)+1)))
	n := 0
	for _, name := range groups {
		if slices.Max(vals[name]) <= total*1e-3 {
			continue // invisible: keep the legend short
		}
		b, err := plotter.NewBarChart(vals[name], w)
		if err != nil {
			return nil, err
		}
		b.LineStyle.Width = 0
		b.Color = palette(n)
		n++
		if below != nil {
			b.StackOn(below)
		}
		below = b
		p.Add(b)
		p.Legend.Add(name, b)
	}
	labels := make([]string, len(runs))
	for i, r := range runs {
		labels[i] = fmt.Sprint(r.Context)
	}
	p.NominalX(labels...)
	return p, nil
}

// palette gives well separated colours for up to 17 stacked groups.
func palette(i int) color.Color {
	cs := []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
		{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
		{188, 189, 34, 255}, {23, 190, 207, 255}, {174, 199, 232, 255}, {255, 187, 120, 255},
		{152, 223, 138, 255}, {255, 152, 150, 255}, {197, 176, 213, 255}, {196, 156, 148, 255}, {219, 219, 141, 255}}
	return cs[i%len(cs)]
}

// save writes p as SVG.
func save(p *plot.Plot, path string) error {
	wt, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, "svg")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return err
	}
	return writeAtomic(path, buf.Bytes())
}
