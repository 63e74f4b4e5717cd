package protocols

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

// plainArgmax returns the max and its lowest position in every row of length n.
func plainArgmax(xs []float64, n int) (maxs []float64, idx []int) {
	for r := 0; r < len(xs)/n; r++ {
		row := xs[r*n : (r+1)*n]
		best := 0
		for i, v := range row {
			if v > row[best] {
				best = i
			}
		}
		maxs, idx = append(maxs, row[best]), append(idx, best)
	}
	return maxs, idx
}

type maxCase struct {
	name  string
	shape []int
	plan  Tournament // nil: the planner's
	tied  bool
}

func maxCases() []maxCase {
	return []maxCase{
		{"n=1", []int{4, 1}, nil, false},
		{"n=2", []int{2}, nil, false},
		{"odd", []int{3, 7}, nil, false},
		{"heads", []int{12, 1, 64}, nil, false},
		{"heads-ties", []int{12, 1, 64}, nil, true},
		{"binary-odd", []int{2, 13}, BinaryTournament(13), false},
		{"binary-ties", []int{3, 33}, BinaryTournament(33), true},
		{"ternary", []int{5, 9}, Tournament{3, 3}, true},
		{"mixed", []int{2, 100}, Tournament{3, 5, 7}, true},
		{"one-level", []int{4, 17}, Tournament{17}, true},
		{"wide", []int{2, 1000}, nil, false},
		{"wide-ties", []int{1, 300}, Tournament{4, 16, 5}, true},
	}
}

func TestMaxArgmax(t *testing.T) {
	for _, p := range testProtocols {
		for ci, c := range maxCases() {
			t.Run(fmt.Sprintf("%s/%s", p, c.name), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(ci), 1))
				n := c.shape[len(c.shape)-1]
				total := mpc.Numel(c.shape)
				xs := randValues(r, total)
				if c.tied {
					xs = tiedValues(r, total)
				}
				sh := shareFloats(t, p, xs, c.shape...)
				// Argmax (or ArgmaxWith), then both ways of carrying the position explicitly.
				out := runAll(t, p, func(e mpc.Engine) ([]*mpc.Share, error) {
					x := sh[e.Party()]
					var m, oh, idx *mpc.Share
					var err error
					plan := c.plan
					if plan == nil {
						m, err = Max(e, x)
						if err == nil {
							oh, idx, err = Argmax(e, x)
						}
						plan = PlanTournament(e, total/n, n)
					} else {
						m, err = MaxWith(e, x, c.plan)
						if err == nil {
							oh, idx, err = ArgmaxWith(e, x, c.plan)
						}
					}
					res := []*mpc.Share{m, oh, idx}
					x2, _ := mpc.Reshape(x, total/n, n)
					for _, track := range []tracking{trackOneHot, trackIndex} {
						if err != nil {
							break
						}
						if oh, idx, err = argmaxBy(e, x2, plan, track); err == nil {
							oh, _ = mpc.Reshape(oh, x.Shape...)
							idx, _ = mpc.Reshape(idx, withLast(x.Shape, 1)...)
						}
						res = append(res, oh, idx)
					}
					return res, err
				})
				wantMax, wantIdx := plainArgmax(xs, n)
				if s := out[0][0].Shape; !slices.Equal(s, withLast(c.shape, 1)) {
					t.Fatalf("max shape %v", s)
				}
				gotMax := revealFloats(t, p, out[0])
				for row := range wantMax {
					if gotMax[row] != wantMax[row] {
						t.Fatalf("row %d: max %v, want %v", row, gotMax[row], wantMax[row])
					}
				}
				for v, way := range []string{"argmax", "one-hot way", "index way"} {
					if s := out[1+2*v][0].Shape; !slices.Equal(s, c.shape) {
						t.Fatalf("%s: one-hot shape %v", way, s)
					}
					if s := out[2+2*v][0].Shape; !slices.Equal(s, withLast(c.shape, 1)) {
						t.Fatalf("%s: index shape %v", way, s)
					}
					gotOH := revealInts(t, p, out[1+2*v])
					gotIdx := revealInts(t, p, out[2+2*v])
					for row := range wantMax {
						if gotIdx[row] != int64(wantIdx[row]) {
							t.Fatalf("%s: row %d: argmax %d, want %d", way, row, gotIdx[row], wantIdx[row])
						}
						for i := 0; i < n; i++ {
							want := int64(0)
							if i == wantIdx[row] {
								want = 1
							}
							if gotOH[row*n+i] != want {
								t.Fatalf("%s: row %d: one-hot[%d] = %d, want %d", way, row, i, gotOH[row*n+i], want)
							}
						}
					}
				}
			})
		}
	}
}

// assertMeterCost compares the meter with a cost formula at every party.
func assertMeterCost(t *testing.T, st []mpc.Stat, want meterCost) {
	t.Helper()
	for i := 0; i < 3; i++ {
		if st[i].Rounds != want.rounds[i] || st[i].OnlineSent != want.sent[i] || st[i].OfflineRecv != want.offline[i] {
			t.Errorf("party %d: rounds %d sent %d offline %d; want %d %d %d", i,
				st[i].Rounds, st[i].OnlineSent, st[i].OfflineRecv, want.rounds[i], want.sent[i], want.offline[i])
		}
	}
}

// TestCostModel pins the cost formulas to hand-counted primitive costs.
func TestCostModel(t *testing.T) {
	cases := []struct {
		name string
		b    backend
		n, k int
		want meterCost
	}{
		// one LTZ (184 + 1 bytes, 104 offline) and one Mul (16, 8 offline)
		{"binary max over 2", backend{p: mpc.TwoPC, cmp: mpc.CompareCircuit}, 2, 2,
			meterCost{[3]int64{9, 9, 0}, [3]int64{201, 201, 0}, [3]int64{0, 112, 0}}},
		// one LTZ (8 bytes; a key to P0 and P1 and the batch's AES key to P1) and one Mul
		{"binary max over 2", backend{p: mpc.TwoPC, cmp: mpc.CompareFSS}, 2, 2,
			meterCost{[3]int64{2, 2, 0}, [3]int64{24, 24, 0}, [3]int64{1528, 1528 + 16 + 8, 0}}},
		// 6 LTZ, OneHot of 4 to width 3 (N = 4), Mul of 3
		{"4-ary max over 4", backend{p: mpc.ThreePC, cmp: mpc.CompareCircuit}, 4, 4,
			meterCost{[3]int64{11, 11, 10}, [3]int64{6*168 + 4*32 + 24, 6*104 + 4*32 + 24, 6*104 + 16*4 + 24}, [3]int64{0, 4 * 32, 0}}},
		{"4-ary max over 4", backend{p: mpc.ThreePC, cmp: mpc.CompareFSS}, 4, 4,
			meterCost{[3]int64{5, 5, 3}, [3]int64{6*16 + 4*32 + 24, 6*16 + 4*32 + 24, 6*16 + 16*4 + 24}, [3]int64{6 * 1528, 6*1528 + 16 + 4*32, 0}}},
	}
	for _, c := range cases {
		if got := tournamentCost(c.b, 1, c.n, Tournament{c.k}, true, trackNone); got != c.want {
			t.Errorf("%v %s: %+v, want %+v", c.b, c.name, got, c.want)
		}
	}
}

// TestMaxCost asserts that Max and Argmax cost exactly what the formulas (and so the doc
// comments) say, on both comparison methods, and reports the figures per element.
func TestMaxCost(t *testing.T) {
	shapes := [][]int{{12, 1024}, {3, 7}, {50257}}
	if testing.Short() {
		shapes = shapes[:2]
	}
	for _, b := range testBackends {
		for _, shape := range shapes {
			for _, arg := range []bool{false, true} {
				name := "max"
				if arg {
					name = "argmax"
				}
				t.Run(fmt.Sprintf("%v/%s/%v", b, name, shape), func(t *testing.T) {
					rows, n := mpc.Numel(shape)/shape[len(shape)-1], shape[len(shape)-1]
					sh := shareFloats(t, b.p, make([]float64, rows*n), shape...)
					plan := planTournament(b, rows, n, mpc.WANNetwork)
					_, st := measureOn(t, b, name, func(e mpc.Engine) (*mpc.Share, error) {
						if arg {
							oh, _, err := Argmax(e, sh[e.Party()])
							return oh, err
						}
						return Max(e, sh[e.Party()])
					})
					want := maxCost(b, rows, n, plan)
					if arg {
						want = argmaxTotal(b, rows, n, plan, mpc.WANNetwork)
					}
					assertMeterCost(t, st, want)
					el := float64(rows * n)
					t.Logf("plan %v: rounds %d, online B/elem %.1f (max party), offline B/elem %.1f",
						plan, want.maxRounds(), float64(want.maxSent())/el, float64(want.offline[1])/el)
				})
			}
		}
	}
}

// TestMaxDocFigures asserts the plans, rounds and bytes per element that the doc comments of
// PlanTournament, Max and Argmax state, from the cost formulas (TestMaxCost checks the formulas
// against the meter, for these shapes too when not -short).
func TestMaxDocFigures(t *testing.T) {
	cases := []struct {
		b               backend
		rows, n         int
		argmax, index   bool // Argmax; carrying the index (else the one-hot)
		plan            Tournament
		rounds          int64
		online, offline float64 // 0: not stated
		binary          int64   // rounds of the binary tournament
	}{
		{backend{p: mpc.TwoPC, cmp: mpc.CompareFSS}, 12, 1024, false, false, Tournament{2, 2, 2, 2, 5, 13}, 14, 25.7, 1750.5, 20},
		{backend{p: mpc.ThreePC, cmp: mpc.CompareFSS}, 12, 1024, false, false, Tournament{2, 2, 2, 2, 5, 13}, 15, 25.7, 1750.5, 21},
		{backend{p: mpc.TwoPC, cmp: mpc.CompareCircuit}, 12, 1024, false, false, Tournament{4, 8, 32}, 30, 552.7, 361.4, 90},
		{backend{p: mpc.ThreePC, cmp: mpc.CompareCircuit}, 12, 1024, false, false, Tournament{13, 79}, 22, 1639.2, 207.0, 90},
		{backend{p: mpc.TwoPC, cmp: mpc.CompareFSS}, 1, 50257, false, false, Tournament{2, 2, 2, 2, 2, 4, 9, 44}, 19, 24.8, 1638.5, 32},
		{backend{p: mpc.ThreePC, cmp: mpc.CompareFSS}, 1, 50257, false, false, Tournament{2, 2, 2, 2, 2, 4, 9, 44}, 20, 24.8, 1638.5, 33},
		{backend{p: mpc.TwoPC, cmp: mpc.CompareCircuit}, 1, 50257, false, false, Tournament{3, 6, 16, 175}, 40, 497.0, 341.0, 144},
		{backend{p: mpc.ThreePC, cmp: mpc.CompareCircuit}, 1, 50257, false, false, Tournament{3, 6, 16, 175}, 43, 468.8, 35.6, 144},
		{backend{p: mpc.TwoPC, cmp: mpc.CompareFSS}, 12, 64, false, false, Tournament{5, 13}, 6, 50.9, 4968.4, 12},
		{backend{p: mpc.ThreePC, cmp: mpc.CompareFSS}, 12, 64, false, false, Tournament{5, 13}, 7, 51.0, 4968.4, 13},
		{backend{p: mpc.TwoPC, cmp: mpc.CompareCircuit}, 12, 64, false, false, Tournament{64}, 10, 5823.7, 3795.9, 54},
		{backend{p: mpc.ThreePC, cmp: mpc.CompareCircuit}, 12, 64, false, false, Tournament{64}, 11, 5571.9, 512.0, 54},
		{backend{p: mpc.TwoPC, cmp: mpc.CompareFSS}, 12, 1024, true, false, Tournament{2, 2, 2, 2, 5, 13}, 14, 105.5, 1790.4, 20},
		{backend{p: mpc.ThreePC, cmp: mpc.CompareFSS}, 12, 1024, true, false, Tournament{2, 2, 2, 2, 5, 13}, 15, 113.5, 1790.4, 21},
		{backend{p: mpc.TwoPC, cmp: mpc.CompareCircuit}, 12, 1024, true, false, Tournament{4, 8, 32}, 30, 584.2, 377.1, 90},
		{backend{p: mpc.ThreePC, cmp: mpc.CompareCircuit}, 12, 1024, true, false, Tournament{13, 79}, 22, 1646.6, 207.0, 90},
		{backend{p: mpc.TwoPC, cmp: mpc.CompareFSS}, 1, 50257, true, true, Tournament{2, 2, 2, 2, 2, 4, 9, 44}, 20, 32.8, 1652.9, 32},
		{backend{p: mpc.ThreePC, cmp: mpc.CompareFSS}, 1, 50257, true, true, Tournament{2, 2, 2, 2, 2, 4, 9, 44}, 21, 40.8, 1652.9, 33},
		{backend{p: mpc.TwoPC, cmp: mpc.CompareCircuit}, 1, 50257, true, true, Tournament{3, 6, 16, 175}, 41, 502.3, 354.0, 144},
		{backend{p: mpc.ThreePC, cmp: mpc.CompareCircuit}, 1, 50257, true, false, Tournament{3, 6, 16, 175}, 43, 492.7, 35.6, 144},
	}
	for _, c := range cases {
		plan := planTournament(c.b, c.rows, c.n, mpc.WANNetwork)
		if !slices.Equal(plan, c.plan) {
			t.Errorf("%v %dx%d: plan %v, doc says %v", c.b, c.rows, c.n, plan, c.plan)
		}
		got := maxCost(c.b, c.rows, c.n, plan)
		if c.argmax {
			track := argmaxTracking(c.b.view(), c.rows, c.n, plan, mpc.WANNetwork)
			if want := map[bool]tracking{false: trackOneHot, true: trackIndex}[c.index]; track != want {
				t.Errorf("%v %dx%d: argmax carries %v, doc says %v", c.b, c.rows, c.n, track, want)
			}
			got = argmaxTotal(c.b, c.rows, c.n, plan, mpc.WANNetwork)
		}
		el := float64(c.rows * c.n)
		on, off := float64(got.maxSent())/el, float64(got.offline[1])/el
		if got.maxRounds() != c.rounds || c.online != 0 && (math.Abs(on-c.online) > 0.05 || math.Abs(off-c.offline) > 0.05) {
			t.Errorf("%v %dx%d argmax=%v: %d rounds, %.1f / %.1f B/elem; doc says %d, %.1f / %.1f",
				c.b, c.rows, c.n, c.argmax, got.maxRounds(), on, off, c.rounds, c.online, c.offline)
		}
		if bin := maxCost(c.b, c.rows, c.n, BinaryTournament(c.n)).maxRounds(); bin != c.binary {
			t.Errorf("%v: binary tournament over %d: %d rounds, doc says %d", c.b, c.n, bin, c.binary)
		}
	}
}

func TestMaxBadInput(t *testing.T) {
	for _, p := range testProtocols {
		t.Run(string(p), func(t *testing.T) {
			sh := shareFloats(t, p, make([]float64, 6), 2, 3)
			run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
				x := sh[e.Party()]
				checks := []struct {
					what string
					err  error
				}{}
				add := func(what string, err error) {
					checks = append(checks, struct {
						what string
						err  error
					}{what, err})
				}
				_, err := MaxWith(e, x, Tournament{2})
				add("max: leaves", err)
				_, err = MaxWith(e, x, Tournament{3, 2})
				add("max: reaches", err)
				_, err = MaxWith(e, x, Tournament{1, 3})
				add("max: below 2", err)
				_, _, err = ArgmaxWith(e, x, Tournament{2})
				add("argmax: leaves", err)
				_, err = Max(e, &mpc.Share{Shape: []int{}})
				add("max: shape", err)
				_, err = Max(e, &mpc.Share{Shape: []int{0, 3}})
				add("max: no rows", err)
				_, _, err = Argmax(e, &mpc.Share{Shape: []int{2, 0}})
				add("argmax: shape", err)
				for _, c := range checks {
					parts := strings.SplitN(c.what, ": ", 2)
					if c.err == nil || !strings.Contains(c.err.Error(), parts[0]) || !strings.Contains(c.err.Error(), parts[1]) {
						return nil, fmt.Errorf("%s: got error %v", c.what, c.err)
					}
				}
				return x, nil
			})
		})
	}
}

// BenchmarkArgmax: GPT-2's vocabulary (one decode step's greedy token), planned and binary,
// on both comparison methods.
func BenchmarkArgmax(b *testing.B) {
	const n = 50257
	for _, be := range testBackends {
		for _, binary := range []bool{false, true} {
			name := "50257"
			plan := planTournament(be, 1, n, mpc.WANNetwork)
			if binary {
				name, plan = "50257-binary", BinaryTournament(n)
			}
			b.Run(fmt.Sprintf("%v/%s", be, name), func(b *testing.B) {
				sh := shareFloats(b, be.p, randValues(rand.New(rand.NewPCG(1, 1)), n), n)
				benchOpOn(b, be, n, func(e mpc.Engine) error {
					_, _, err := ArgmaxWith(e, sh[e.Party()], plan)
					return err
				})
			})
		}
	}
}

// BenchmarkMax: softmax's row maximum over 12 heads × 1024 keys (GPT-2, context 1024).
func BenchmarkMax(b *testing.B) {
	const h, n = 12, 1024
	for _, be := range testBackends {
		for _, binary := range []bool{false, true} {
			name := "12x1024"
			plan := planTournament(be, h, n, mpc.WANNetwork)
			if binary {
				name, plan = "12x1024-binary", BinaryTournament(n)
			}
			b.Run(fmt.Sprintf("%v/%s", be, name), func(b *testing.B) {
				sh := shareFloats(b, be.p, randValues(rand.New(rand.NewPCG(1, 2)), h*n), h, n)
				benchOpOn(b, be, h*n, func(e mpc.Engine) error {
					_, err := MaxWith(e, sh[e.Party()], plan)
					return err
				})
			})
		}
	}
}

// TestInView checks ArgmaxInView and GeLUInView, given their input as a share of View(e)
// (moved in here by ToPair, as a MatMulPair product would arrive), against the plaintext, and
// that View is the two-party view exactly in 3pc with FSS comparisons.
func TestInView(t *testing.T) {
	for _, p := range testProtocols {
		t.Run(string(p), func(t *testing.T) {
			r := rand.New(rand.NewPCG(21, 22))
			const rows, n = 3, 40
			xs := randValues(r, rows*n) // within ±2^20, GeLU's range
			for i := range xs {
				if i%2 == 0 {
					xs[i] = math.Mod(xs[i], 8) // GeLU's curved range, and beyond it
				}
			}
			sh := shareFloats(t, p, xs, rows, n)
			out := runAll(t, p, func(e mpc.Engine) ([]*mpc.Share, error) {
				if want := p == mpc.ThreePC; (View(e) != e) != want {
					return nil, fmt.Errorf("%s: View is the pair view: %v, want %v", p, View(e) != e, want)
				}
				xv, err := e.ToPair(sh[e.Party()])
				if err != nil {
					return nil, err
				}
				oh, idx, err := ArgmaxInView(e, xv)
				if err != nil {
					return nil, err
				}
				g, err := GeLUInView(e, xv)
				if err != nil {
					return nil, err
				}
				// The results are shares of e: they compute on there.
				g2, err := e.Add(g, g)
				return []*mpc.Share{oh, idx, g2}, err
			})
			_, wantIdx := plainArgmax(xs, n)
			gotIdx, gotOH := revealInts(t, p, out[1]), revealInts(t, p, out[0])
			for row := range rows {
				if gotIdx[row] != int64(wantIdx[row]) || gotOH[row*n+wantIdx[row]] != 1 {
					t.Fatalf("row %d: argmax %d, want %d", row, gotIdx[row], wantIdx[row])
				}
			}
			for i, v := range revealFloats(t, p, out[2]) {
				if d := math.Abs(v - 2*fxGeLU(xs[i])); d > 1e-3 {
					t.Fatalf("gelu of %.4f: got %.6f / 2, want %.6f", xs[i], v, fxGeLU(xs[i]))
				}
			}
		})
	}
}

// TestMaxNetwork runs Max on engines planning for the WAN and for the LAN, with comparisons
// narrowed as softmax narrows them: each takes the plan of its network and of the narrowed
// width (its meter equals that plan's exact cost), both give the exact maximum, and the LAN's
// plan trades the WAN plan's saved rounds back for less material.
func TestMaxNetwork(t *testing.T) {
	const rows, n, bits = 12, 80, 38
	xs := randValues(rand.New(rand.NewPCG(7, 7)), rows*n)
	want, _ := plainArgmax(xs, n)
	for _, p := range []mpc.Protocol{mpc.TwoPC, mpc.ThreePC} {
		b := backend{p: p, cmp: mpc.CompareFSS, bits: bits}
		costs := map[string]meterCost{}
		for _, nw := range []struct {
			name string
			net  mpc.Network
		}{{"wan", mpc.WANNetwork}, {"lan", mpc.LANNetwork}} {
			t.Run(fmt.Sprintf("%v/%s", p, nw.name), func(t *testing.T) {
				sh := shareFloats(t, p, xs, rows, n)
				ms, st := measureAllWith(t, p, mpc.Config{Network: nw.net}, "max", func(e mpc.Engine) ([]*mpc.Share, error) {
					if e.Network() != nw.net {
						return nil, fmt.Errorf("engine plans for %v, configured %v", e.Network(), nw.net)
					}
					ce, err := e.WithCompareBits(bits)
					if err != nil {
						return nil, err
					}
					m, err := Max(ce, sh[e.Party()])
					return []*mpc.Share{m}, err
				})
				for i, v := range revealFloats(t, p, ms[0]) {
					if math.Abs(v-want[i]) > 1e-9 {
						t.Fatalf("row %d: max %v, want %v", i, v, want[i])
					}
				}
				plan := planTournament(b, rows, n, nw.net)
				costs[nw.name] = maxCost(b, rows, n, plan)
				assertMeterCost(t, st, costs[nw.name])
				t.Logf("plan %v: %d rounds, %.2f MB of material", plan, costs[nw.name].maxRounds(), float64(costs[nw.name].maxOffline())/1e6)
			})
		}
		wan, lan := costs["wan"], costs["lan"]
		if !(wan.maxRounds() < lan.maxRounds() && lan.maxOffline() < wan.maxOffline()) {
			t.Errorf("%v: WAN plan %d rounds and %d bytes of material, LAN plan %d and %d: want fewer rounds on the WAN, less material on the LAN",
				p, wan.maxRounds(), wan.maxOffline(), lan.maxRounds(), lan.maxOffline())
		}
	}
}

// BenchmarkPlanArgmax is what planning Argmax over GPT-2's vocabulary costs without the memo
// (planTournament remembers it): the tournament plan and the choice of tracking, on the WAN.
func BenchmarkPlanArgmax(b *testing.B) {
	be := backend{p: mpc.TwoPC, cmp: mpc.CompareFSS}.withBits(53)
	for b.Loop() {
		plan := solveTournament(be, 1, 50257, mpc.WANNetwork)
		argmaxCost(be, 1, 50257, plan, trackIndex).seconds(mpc.WANNetwork)
		argmaxCost(be, 1, 50257, plan, trackOneHot).seconds(mpc.WANNetwork)
	}
}

// TestDitheredComparisons runs Max, Argmax and TopK on engines whose comparisons drop low bits
// (mpc.Engine.WithComparePrecision) over rows of near-ties, every entry within the dithered
// step of the others, under plans with groups of two and of more: groups of more than two
// compare exactly, so every row has exactly one winner, within one step per pairwise level of
// the maximum; TopK ranks exactly; and the meter counts what the cost formulas say, with the
// exact width for the larger groups.
func TestDitheredComparisons(t *testing.T) {
	const bits, drop, rows, n = 30, 8, 3, 200
	x := mpc.NewTensor(rows, n)
	vals := make([][]int64, rows)
	for r := range rows {
		vals[r] = make([]int64, n)
		for i := range vals[r] {
			vals[r][i] = int64(1<<20) + int64((i*37+r*11)%199) // within 2^8 of each other
			x.Data[r*n+i] = uint64(vals[r][i])
		}
	}
	plan := Tournament{2, 2, 5, 10}
	for _, b := range testBackends {
		t.Run(b.String(), func(t *testing.T) {
			sh, err := mpc.Split(b.p, x)
			if err != nil {
				t.Fatal(err)
			}
			var db backend
			outs, st := measureAllOn(t, b, "dithered", func(e mpc.Engine) ([]*mpc.Share, error) {
				ce, err := e.WithComparePrecision(bits, drop)
				if err != nil {
					return nil, err
				}
				db = backendOf(ce)
				m, err := MaxWith(ce, sh[e.Party()], plan)
				if err != nil {
					return nil, err
				}
				oh, idx, err := ArgmaxWith(ce, sh[e.Party()], plan)
				if err != nil {
					return nil, err
				}
				_, top, err := TopK(ce, sh[e.Party()], 3)
				return []*mpc.Share{m, oh, idx, top}, err
			})
			want := maxCost(db, rows, n, plan)
			want.add(argmaxTotal(db, rows, n, plan, mpc.WANNetwork))
			want.add(topkCost(db, rows, n, 3, 0))
			assertMeterCost(t, st, want)
			m, oh, idx, top := revealInts(t, b.p, outs[0]), revealInts(t, b.p, outs[1]), revealInts(t, b.p, outs[2]), revealInts(t, b.p, outs[3])
			pairLevels := 2 // plan levels whose groups are pairs
			for r := range rows {
				best, order := slices.Max(vals[r]), make([]int, n)
				for i := range order {
					order[i] = i
				}
				slices.SortStableFunc(order, func(a, c int) int { return cmp.Compare(vals[r][c], vals[r][a]) })
				ones := 0
				for i := range n {
					ones += int(oh[r*n+i])
				}
				w := int(idx[r])
				if ones != 1 || w < 0 || w >= n || oh[r*n+w] != 1 {
					t.Fatalf("row %d: argmax one-hot has %d ones, index %d", r, ones, w)
				}
				if low := best - int64(pairLevels<<drop); vals[r][w] < low || m[r] < low || m[r] > best {
					t.Fatalf("row %d: argmax value %d, max %d; the maximum is %d, within %d steps allowed", r, vals[r][w], m[r], best, pairLevels)
				}
				for k := range 3 {
					if int(top[r*3+k]) != order[k] {
						t.Fatalf("row %d: top-3 %v, want %v (exact)", r, top[r*3:r*3+3], order[:3])
					}
				}
			}
		})
	}
}
