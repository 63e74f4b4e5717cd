package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/transport"
)

// SchemaVersion is the version of results.json this package writes.
const SchemaVersion = 1

// Results is the content of results.json.
type Results struct {
	Schema  int     `json:"schema"`
	Machine Machine `json:"machine"`
	Runs    []Run   `json:"runs"`
}

// Run is one measured grid point. The fields from model to breakdown are the schema;
// the others add detail. Per-token figures are scaled to the model's full depth when only
// some layers ran (layers_run < layers), and are those of the whole system: bytes sent by
// all parties together, the rounds of the computing party with the most, the wall time of
// the slowest computing party.
type Run struct {
	Key      string  `json:"key"`
	Model    string  `json:"model"`
	Protocol string  `json:"protocol"`
	Policy   string  `json:"policy"`
	Budget   float64 `json:"budget,omitempty"` // fraction of the context attended (0: full)
	Context  int     `json:"context"`
	Phase    string  `json:"phase"`
	Net      string  `json:"net"`
	Backend  string  `json:"backend"`
	// Tokens is the number of tokens the per-token figures average over: decode steps, or
	// the prompt length for prefill.
	Tokens               int               `json:"tokens"`
	LatencySPerToken     float64           `json:"latency_s_per_token"`
	OnlineBytesPerToken  float64           `json:"online_bytes_per_token"`
	OfflineBytesPerToken float64           `json:"offline_bytes_per_token"`
	RoundsPerToken       float64           `json:"rounds_per_token"`
	Breakdown            map[string]OpStat `json:"breakdown"`

	BandwidthBps float64 `json:"bandwidth_bps"` // 0: unlimited
	DelayS       float64 `json:"delay_s"`       // one way
	// LatencyS is the whole measured phase (all Tokens), scaled; with Repeats > 1, the median
	// over repetitions, whose per-token latencies are in LatencySRepeats.
	LatencyS        float64   `json:"latency_s"`
	Repeats         int       `json:"repeats"`
	LatencySRepeats []float64 `json:"latency_s_per_token_repeats,omitempty"`
	// EstimateSPerToken is the network model's latency for this run's net: the unshaped
	// run's latency plus rounds × one-way delay plus the busiest link's bytes ÷ bandwidth
	// (see Estimate); EstimateRatio is measured ÷ estimate. Absent for unshaped runs.
	EstimateSPerToken float64 `json:"estimate_s_per_token,omitempty"`
	EstimateRatio     float64 `json:"estimate_ratio,omitempty"`
	// Estimates gives, for unshaped runs, the estimated latency per token on the lan and
	// wan profiles.
	Estimates map[string]float64 `json:"estimates,omitempty"`
	// LinkBytesPerToken is the traffic of the busiest shaped link (online and offline).
	LinkBytesPerToken float64 `json:"link_bytes_per_token"`
	// CPUSPerToken is the CPU time of all parties together per token, as measured on the
	// layers that ran (not scaled).
	CPUSPerToken float64 `json:"cpu_s_per_token"`
	// CPUMethod says how CPU time was measured: "getrusage" (one process per party) or
	// "pprof-labels" (sampled per goroutine group in one process).
	CPUMethod string      `json:"cpu_method"`
	Parties   []PartyStat `json:"parties"`
	// Measured holds the per-token figures as measured, before layer scaling.
	Measured Totals `json:"measured"`

	Mode              string  `json:"mode"` // processes (TLS over loopback) or inproc
	TLS               bool    `json:"tls"`
	Layers            int     `json:"layers"`     // the model's depth
	LayersRun         int     `json:"layers_run"` // blocks that ran
	LayerScale        float64 `json:"layer_scale"`
	CacheFromPrefill  bool    `json:"cache_from_prefill"` // decode: KV cache from a real prefill (else random shares)
	DealerLinksShaped bool    `json:"dealer_links_shaped"`
	Frac              uint    `json:"frac"`
	Plan              string  `json:"plan,omitempty"` // the network the protocols planned for; absent: the WAN
	GPU               string  `json:"gpu,omitempty"`
	SetupS            float64 `json:"setup_s"` // session set-up at party 0
	StartS            float64 `json:"start_s"` // building the KV cache at party 0 (decode)
	Started           string  `json:"started"`
	Error             string  `json:"error,omitempty"`
}

// OpStat is one operation's share of a token: bytes sent (online) and offline bytes by all
// parties, rounds of the busiest computing party, and party 0's wall seconds with the label
// innermost (waiting for peers included).
type OpStat struct {
	Bytes        float64 `json:"bytes"`
	OfflineBytes float64 `json:"offline_bytes"`
	Rounds       float64 `json:"rounds"`
	Seconds      float64 `json:"seconds"`
}

// Totals are unscaled per-token figures.
type Totals struct {
	LatencySPerToken     float64 `json:"latency_s_per_token"`
	OnlineBytesPerToken  float64 `json:"online_bytes_per_token"`
	OfflineBytesPerToken float64 `json:"offline_bytes_per_token"`
	RoundsPerToken       float64 `json:"rounds_per_token"`
}

// PartyStat is one party's measurement of the whole phase (all tokens, not scaled).
type PartyStat struct {
	Party       int     `json:"party"`
	Role        string  `json:"role"` // P0, P1, P2 or dealer
	WallS       float64 `json:"wall_s"`
	CPUS        float64 `json:"cpu_s"`
	OnlineSent  int64   `json:"online_sent"`
	OnlineRecv  int64   `json:"online_recv"`
	OfflineSent int64   `json:"offline_sent"`
	OfflineRecv int64   `json:"offline_recv"`
	Rounds      int64   `json:"rounds"`
	MaxRSS      int64   `json:"max_rss_bytes,omitempty"`
}

// Good reports whether the run finished without error.
func (r *Run) Good() bool { return r.Error == "" }

// layerLabel matches a meter label inside a transformer block: phase, layer, operation.
var layerLabel = regexp.MustCompile(`^(prefill|decode)/layer(\d+)/(.+)$`)

// opOf maps a meter label to its breakdown operation (the label without phase and layer,
// e.g. "attn/softmax/exp") and whether it lies inside a block.
func opOf(label string) (op string, inLayer bool) {
	if m := layerLabel.FindStringSubmatch(label); m != nil {
		return m[3], true
	}
	for _, ph := range []string{Prefill, Decode} {
		if rest, ok := strings.CutPrefix(label, ph+"/"); ok {
			return rest, false
		}
	}
	return "other", false
}

// buildRuns turns the parties' measurements of one execution into one Run per segment.
func buildRuns(pt *Point, job *Job, parties []*PartyResult, started time.Time) ([]Run, error) {
	var out []Run
	computing := func(p int) bool { return pt.Protocol == mpc.ThreePC || p != mpc.Dealer }
	scale := float64(job.Depth) / float64(job.Model.Layers)
	reps := max(pt.Repeats, 1)
	for ni, n := range pt.Nets {
		// Sum each party's segments on this net (one per repetition) into one, and take the
		// latency as the median over repetitions of the slowest computing party's (scaled)
		// wall time: robust against load from other processes on the machine.
		merged := make([]*PartyResult, len(parties))
		lat := make([]float64, reps)
		for i, pr := range parties {
			m := &PartyResult{Party: pr.Party, MaxRSS: pr.MaxRSS, Segments: []Segment{{Net: n.Name, Stats: map[string]mpc.Stat{}}}}
			seen := 0
			for _, seg := range pr.Segments {
				if seg.NetIndex != ni {
					continue
				}
				if seen >= reps {
					return nil, fmt.Errorf("bench: party %d measured net %s more than %d times", pr.Party, n.Name, reps)
				}
				ms := &m.Segments[0]
				ms.WallS += seg.WallS
				ms.CPUS += seg.CPUS
				for p := range ms.LinkBytes {
					ms.LinkBytes[p] += seg.LinkBytes[p]
					ms.LinkMsgs[p] += seg.LinkMsgs[p]
				}
				var layerSec float64
				for label, st := range seg.Stats {
					a := ms.Stats[label]
					a.Add(st)
					ms.Stats[label] = a
					if _, in := opOf(label); in {
						layerSec += st.Seconds
					}
				}
				if computing(pr.Party) {
					lat[seen] = math.Max(lat[seen], seg.WallS+(scale-1)*layerSec)
				}
				seen++
			}
			if seen != reps {
				return nil, fmt.Errorf("bench: party %d measured net %s %d times, want %d", pr.Party, n.Name, seen, reps)
			}
			merged[i] = m
		}
		const si = 0
		r := Run{
			Key: pt.Key(n), Model: pt.Model, Protocol: string(pt.Protocol), Policy: pt.Policy.Name,
			Budget: pt.Policy.Budget, Context: pt.Context, Phase: pt.Phase, Net: n.Name, Backend: pt.Backend,
			BandwidthBps: n.Link.Bandwidth, DelayS: n.Link.Delay.Seconds(), Breakdown: map[string]OpStat{},
			Mode: pt.Mode, TLS: pt.Mode == Processes, Layers: job.Depth, LayersRun: job.Model.Layers,
			LayerScale: scale, CacheFromPrefill: pt.Phase == Prefill || pt.KVStart == KVPrefill,
			DealerLinksShaped: pt.Protocol == mpc.TwoPC && pt.ShapeDealer, Frac: pt.Frac, Plan: pt.Plan,
			GPU: parties[0].GPU, SetupS: parties[0].SetupS, StartS: parties[0].StartS,
			Started: started.UTC().Format(time.RFC3339), CPUMethod: "getrusage",
		}
		if pt.Mode == InProc {
			r.CPUMethod = "pprof-labels"
		}
		if pt.Protocol == mpc.ThreePC {
			r.DealerLinksShaped = true // P2 is a computing party; every link is a network link
		}
		if parties[0].Backend != pt.Backend {
			return nil, fmt.Errorf("bench: asked for backend %s, party 0 ran %s", pt.Backend, parties[0].Backend)
		}
		r.Tokens = pt.Tokens
		if pt.Phase == Prefill {
			r.Tokens = pt.Context
		}
		r.Repeats = reps
		tok := float64(r.Tokens * reps) // tokens measured in all repetitions
		var (
			slowest      = -1
			wall         float64
			sumOn, sumOf float64 // scaled bytes of all parties
			mOn, mOf     float64 // measured
			rounds, mRnd float64
			link         float64
			cpu          float64
		)
		for _, pr := range merged {
			seg := pr.Segments[si]
			var st, lay mpc.Stat // whole segment; inside blocks
			for label, s := range seg.Stats {
				st.Add(s)
				if _, in := opOf(label); in {
					lay.Add(s)
				}
			}
			sc := func(all, inLayers int64) float64 {
				return float64(all) + (scale-1)*float64(inLayers)
			}
			on, of := sc(st.OnlineSent, lay.OnlineSent), sc(st.OfflineSent, lay.OfflineSent)
			sumOn, sumOf = sumOn+on, sumOf+of
			mOn, mOf = mOn+float64(st.OnlineSent), mOf+float64(st.OfflineSent)
			cpu += seg.CPUS
			ps := PartyStat{Party: pr.Party, Role: role(pt.Protocol, pr.Party), WallS: seg.WallS, CPUS: seg.CPUS,
				OnlineSent: st.OnlineSent, OnlineRecv: st.OnlineRecv, OfflineSent: st.OfflineSent,
				OfflineRecv: st.OfflineRecv, Rounds: st.Rounds, MaxRSS: pr.MaxRSS}
			r.Parties = append(r.Parties, ps)
			// The busiest network link from this party, scaled like its traffic. Links
			// that a network would not shape (the 2pc dealer's, by default) do not count.
			if total := st.OnlineSent + st.OfflineSent; total > 0 {
				f := (on + of) / float64(total)
				for peer, b := range seg.LinkBytes {
					if peer != pr.Party && linkOf(pt.Protocol, pt.ShapeDealer, pr.Party, peer, Net{Link: transport.LAN}).Shaped() {
						link = math.Max(link, f*float64(b))
					}
				}
			}
			if !computing(pr.Party) {
				continue
			}
			if rr := sc(st.Rounds, lay.Rounds); rr > rounds {
				rounds = rr
			}
			mRnd = math.Max(mRnd, float64(st.Rounds))
			if seg.WallS > wall {
				wall, slowest = seg.WallS, pr.Party
			}
		}
		// Latency: per repetition, the slowest computing party's wall time with the time its
		// meter charged to block labels scaled; the median over repetitions.
		r.LatencyS = median(lat)
		r.LatencySPerToken = r.LatencyS / float64(r.Tokens)
		if reps > 1 {
			r.LatencySRepeats = make([]float64, reps)
			for i, l := range lat {
				r.LatencySRepeats[i] = l / float64(r.Tokens)
			}
		}
		r.OnlineBytesPerToken, r.OfflineBytesPerToken = sumOn/tok, sumOf/tok
		r.RoundsPerToken = rounds / tok
		r.LinkBytesPerToken = link / tok
		r.CPUSPerToken = cpu / tok
		r.Measured = Totals{LatencySPerToken: wall / tok, OnlineBytesPerToken: mOn / tok,
			OfflineBytesPerToken: mOf / tok, RoundsPerToken: mRnd / tok}
		r.Breakdown = breakdown(merged, si, slowest, scale, tok, computing)
		out = append(out, r)
	}
	return out, nil
}

// breakdown sums each operation's figures over layers (scaled) and parties, per token.
func breakdown(parties []*PartyResult, si, timed int, scale, tok float64, computing func(int) bool) map[string]OpStat {
	out := map[string]OpStat{}
	rounds := map[int]map[string]float64{}
	for _, pr := range parties {
		rounds[pr.Party] = map[string]float64{}
		for label, s := range pr.Segments[si].Stats {
			op, in := opOf(label)
			f := 1.0
			if in {
				f = scale
			}
			o := out[op]
			o.Bytes += f * float64(s.OnlineSent) / tok
			o.OfflineBytes += f * float64(s.OfflineSent) / tok
			if pr.Party == timed {
				o.Seconds += f * s.Seconds / tok
			}
			out[op] = o
			if computing(pr.Party) {
				rounds[pr.Party][op] += f * float64(s.Rounds) / tok
			}
		}
	}
	for op, o := range out {
		for _, rs := range rounds {
			o.Rounds = math.Max(o.Rounds, rs[op])
		}
		out[op] = o
	}
	return out
}

// median returns the median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// role names party p of protocol proto.
func role(proto mpc.Protocol, p int) string {
	if proto == mpc.TwoPC && p == mpc.Dealer {
		return "dealer"
	}
	return fmt.Sprintf("P%d", p)
}

// Estimate is the network model: the latency of a run on a link of bandwidth bw (bits per
// second, 0 for unlimited) and one-way delay d, from its unshaped latency, its rounds and
// its busiest link's bytes per token:
//
//	latency(bw, d) = latency(none) + rounds · d + 8 · linkBytes / bw
//
// A round is a step in which every party sends and then waits for what it needs, so on a
// critical path of R rounds each round adds one one-way delay (a round trip is two rounds:
// a request and its answer); each link carries its bytes at its own rate. The model
// ignores overlap of computing with sending, congestion and TCP dynamics.
func Estimate(base *Run, bw float64, d time.Duration) float64 {
	return base.LatencySPerToken + networkSeconds(base, bw, d)
}

// networkSeconds is the network's part of Estimate: rounds · d + 8 · linkBytes / bw.
func networkSeconds(r *Run, bw float64, d time.Duration) float64 {
	t := r.RoundsPerToken * d.Seconds()
	if bw > 0 {
		t += 8 * r.LinkBytesPerToken / bw
	}
	return t
}

// baseKey is a run's key with its network replaced by none.
func baseKey(r *Run) string {
	i := strings.Index(r.Key, "|net=")
	if i < 0 {
		return ""
	}
	j := strings.Index(r.Key[i+1:], "|")
	if j < 0 {
		return ""
	}
	return r.Key[:i] + "|net=none,0,0s" + r.Key[i+1+j:]
}

// Annotate fills the estimates: for each shaped run the estimate of its own net from its
// unshaped counterpart, and for each unshaped run its lan and wan estimates.
func (res *Results) Annotate() {
	byKey := map[string]*Run{}
	for i := range res.Runs {
		if res.Runs[i].Good() {
			byKey[res.Runs[i].Key] = &res.Runs[i]
		}
	}
	for i := range res.Runs {
		r := &res.Runs[i]
		if !r.Good() {
			continue
		}
		if r.Net == "none" {
			r.Estimates = map[string]float64{
				"lan": Estimate(r, transport.LAN.Bandwidth, transport.LAN.Delay),
				"wan": Estimate(r, transport.WAN.Bandwidth, transport.WAN.Delay),
			}
			continue
		}
		if base := byKey[baseKey(r)]; base != nil {
			r.EstimateSPerToken = Estimate(base, r.BandwidthBps, time.Duration(r.DelayS*1e9))
			if r.EstimateSPerToken > 0 {
				r.EstimateRatio = r.LatencySPerToken / r.EstimateSPerToken
			}
		}
	}
}

// Merge adds runs, replacing earlier runs with the same key, and keeps the runs sorted.
func (res *Results) Merge(runs ...Run) {
	idx := map[string]int{}
	for i, r := range res.Runs {
		idx[r.Key] = i
	}
	for _, r := range runs {
		if i, ok := idx[r.Key]; ok {
			res.Runs[i] = r
		} else {
			idx[r.Key] = len(res.Runs)
			res.Runs = append(res.Runs, r)
		}
	}
	sort.SliceStable(res.Runs, func(i, j int) bool { return runLess(&res.Runs[i], &res.Runs[j]) })
}

// runLess orders runs for reading: model, phase, protocol, policy, net, context.
func runLess(a, b *Run) bool {
	ka := []string{a.Model, a.Phase, a.Protocol, a.Backend, a.Policy, fmt.Sprintf("%08.4f", a.Budget), netOrder(a.Net)}
	kb := []string{b.Model, b.Phase, b.Protocol, b.Backend, b.Policy, fmt.Sprintf("%08.4f", b.Budget), netOrder(b.Net)}
	for i := range ka {
		if ka[i] != kb[i] {
			return ka[i] < kb[i]
		}
	}
	if a.Context != b.Context {
		return a.Context < b.Context
	}
	return a.Key < b.Key
}

func netOrder(n string) string {
	switch n {
	case "none":
		return "0"
	case "lan":
		return "1"
	case "wan":
		return "2"
	}
	return "3" + n
}

// Done reports whether a finished run with this key exists.
func (res *Results) Done(key string) bool {
	for i := range res.Runs {
		if res.Runs[i].Key == key && res.Runs[i].Good() {
			return true
		}
	}
	return false
}

// LoadResults reads dir/results.json; a missing file gives empty results.
func LoadResults(dir string) (*Results, error) {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return &Results{Schema: SchemaVersion}, nil
	}
	if err != nil {
		return nil, err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", filepath.Join(dir, "results.json"), err)
	}
	if res.Schema != SchemaVersion {
		return nil, fmt.Errorf("bench: %s has schema %d, this build writes %d", filepath.Join(dir, "results.json"), res.Schema, SchemaVersion)
	}
	return &res, nil
}

// Save writes dir/results.json atomically (a temporary file renamed over it).
func (res *Results) Save(dir string) error {
	res.Schema = SchemaVersion
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, "results.json"), append(b, '\n'))
}

// writeAtomic writes data to path through a temporary file in the same folder.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}
