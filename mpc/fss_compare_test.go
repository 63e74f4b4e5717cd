package mpc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/fss"
	"github.com/privinfer/mpcache/mpc/mpctest"
	"github.com/privinfer/mpcache/mpc/transport"
)

// TestLTZFSSBatches checks the FSS comparison's offline bytes when its keys travel in several
// messages (4096 keys each): the correction words to P0 and P1, and one AES key per message to
// P1; for LTZ, and for LessThan, whose thresholds share their element's key.
func TestLTZFSSBatches(t *testing.T) {
	const n = 2*4096 + 5
	const batches = 3
	thr := []uint64{0, 7, 1<<64 - 7}
	x := mpc.NewTensor(n)
	for i := range x.Data {
		x.Data[i] = uint64(i%17) - 8 // −8 … 8, around every threshold
	}
	for _, p := range protocols {
		for _, op := range []string{"ltz", "lessthan"} {
			t.Run(string(p)+"/"+op, func(t *testing.T) {
				xs := split(t, p, x)
				type result struct {
					st mpc.Stat
					y  *mpc.Share
				}
				res := mpctest.Run(t, p, mpctest.Memory, mpc.Config{Comparison: mpc.CompareFSS}, func(e mpc.Engine) (result, error) {
					e.Meter().Reset()
					var y *mpc.Share
					var err error
					if op == "ltz" {
						y, err = e.LTZ(xs[e.Party()])
					} else {
						y, err = e.LessThan(xs[e.Party()], thr, nil)
					}
					return result{e.Meter().Total(), y}, err
				})
				y := mpctest.Reveal(t, p, []*mpc.Share{res[0].y, res[1].y, res[2].y})
				ts := thr[:1]
				if op == "lessthan" {
					ts = thr
				}
				checkThresholds(t, x, ts, y, 0, "")
				st := []mpc.Stat{res[0].st, res[1].st, res[2].st}
				key := int64(8 * fss.KeyWords(fss.MaxBits) * n)
				if st[0].OfflineRecv != key || st[1].OfflineRecv != key+16*batches || st[2].OfflineSent != 2*key+16*batches {
					t.Errorf("offline bytes: P0 got %d, P1 got %d, P2 sent %d; want %d, %d, %d",
						st[0].OfflineRecv, st[1].OfflineRecv, st[2].OfflineSent, key, key+16*batches, 2*key+16*batches)
				}
			})
		}
	}
}

func TestComparisonConfig(t *testing.T) {
	_, err := mpctest.RunErr(mpc.TwoPC, mpctest.Memory, mpc.Config{Comparison: "dcf"}, func(e mpc.Engine) (struct{}, error) {
		return struct{}{}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "unknown comparison") {
		t.Fatalf("an unknown comparison was accepted: %v", err)
	}
}

// mangled is a transport that passes every message from party 2 through f.
type mangled struct {
	transport.Transport
	f func([]byte) []byte
}

func (m mangled) Recv(ctx context.Context, from int) ([]byte, error) {
	b, err := m.Transport.Recv(ctx, from)
	if err == nil && from == 2 {
		b = m.f(b)
	}
	return b, err
}

// TestLTZFSSMalformedKeys feeds P0 or P1 key messages that are a word short or a word long: LTZ
// must fail with an error that names the material, without a panic or a hang.
func TestLTZFSSMalformedKeys(t *testing.T) {
	const n = 100
	edits := map[string]func([]byte) []byte{
		"short": func(b []byte) []byte { return b[:len(b)-8] },
		"long":  func(b []byte) []byte { return append(b, make([]byte, 8)...) },
	}
	for _, p := range protocols {
		for name, edit := range edits {
			for victim := 0; victim < 2; victim++ {
				t.Run(fmt.Sprintf("%s/%s/P%d", p, name, victim), func(t *testing.T) {
					xs := split(t, p, mpc.NewTensor(n))
					wrap := func(i int, tr transport.Transport) transport.Transport {
						if i != victim {
							return tr
						}
						return mangled{tr, func(b []byte) []byte {
							if len(b) < 8*fss.KeyWords(fss.MaxBits)*n {
								return b // set-up seeds and, in 3pc, P2's opening message
							}
							return edit(b)
						}}
					}
					_, err := mpctest.RunWrapped(p, mpctest.Memory, mpc.Config{}, wrap, func(e mpc.Engine) (*mpc.Share, error) {
						return e.LTZ(xs[e.Party()])
					})
					if err == nil || !strings.Contains(err.Error(), "dcf material") {
						t.Fatalf("malformed keys were not rejected as material: %v", err)
					}
				})
			}
		}
	}
}

// TestComparePrecision checks comparisons narrowed by WithComparePrecision: for inputs with
// |x − t| < 2^(bits−1+drop) − 2^drop, exact outside the dithered interval 0 < t − x < 2^drop
// and inside it 1 about as often as (t − x)/2^drop; by FSS with 8·fss.KeyWords(bits) offline
// bytes per element and the full width's online costs, on the engine and on its two-party
// view; by the circuit exact, as the full width; and the engine's own precision left unchanged.
func TestComparePrecision(t *testing.T) {
	const n = 300
	thr := []uint64{0, 1 << 20, 1<<64 - 1<<20}
	for _, c := range []struct{ bits, drop uint }{{38, 0}, {30, 8}, {fss.MinBits, 30}} {
		x := mpc.NewTensor(n)
		for i := range x.Data {
			// |x| < 2^36: every difference with a threshold stays within 2^37.
			x.Data[i] = uint64(int64(i*i*int(uint64(i)*0x9e3779b97f4a7c15>>40)) % (1 << 36))
			if i%2 == 1 {
				x.Data[i] = -x.Data[i]
			}
			if c.bits+c.drop < 39 {
				x.Data[i] = uint64(int64(x.Data[i]) >> (39 - c.bits - c.drop)) // within the smaller range
			}
			switch {
			case i%7 == 0:
				x.Data[i] = thr[i%3] + uint64(i%3) - 1 // next to a threshold
			case i%7 == 1 && c.drop > 0:
				x.Data[i] = thr[i%3] - 1<<(c.drop-1) // in the middle of a dithered interval
			case i%7 == 2 && c.drop > 0:
				x.Data[i] = thr[i%3] - 1<<c.drop // at its exact lower end
			}
		}
		for _, p := range protocols {
			for _, cmp := range comparisons {
				for _, form := range []string{"share", "view", "fixed"} {
					if form == "view" && (p == mpc.TwoPC || cmp != mpc.CompareFSS) || form == "fixed" && p != mpc.TwoPC {
						continue
					}
					t.Run(fmt.Sprintf("%d+%d/%s/%s/%s", c.bits, c.drop, p, cmp, form), func(t *testing.T) {
						testComparePrecision(t, p, cmp, form, c.bits, c.drop, x, thr)
					})
				}
			}
		}
	}
	t.Run("bad precisions", func(t *testing.T) {
		mpctest.Run(t, mpc.TwoPC, mpctest.Memory, mpc.Config{}, func(e mpc.Engine) (struct{}, error) {
			for _, b := range []struct{ bits, drop uint }{{0, 0}, {1, 0}, {65, 0}, {40, 25}, {1, 40}} {
				if _, err := e.WithComparePrecision(b.bits, b.drop); err == nil || !strings.Contains(err.Error(), "comparison width") {
					return struct{}{}, fmt.Errorf("width %d, drop %d: error %v", b.bits, b.drop, err)
				}
			}
			return struct{}{}, nil
		})
	})
}

// testComparePrecision is one case of TestComparePrecision: x compared as a share of the
// engine, of its two-party view (form "view") or fixed first (form "fixed", where the fix's
// opened difference is the masked value).
func testComparePrecision(t *testing.T, p mpc.Protocol, cmp mpc.Comparison, form string, bits, drop uint, x *mpc.Tensor, thr []uint64) {
	n := len(x.Data)
	xs := split(t, p, x)
	type result struct {
		narrow, full mpc.Stat
		y            *mpc.Share
	}
	res := mpctest.Run(t, p, mpctest.Memory, mpc.Config{Comparison: cmp}, func(e mpc.Engine) (result, error) {
		ne, err := e.WithComparePrecision(bits, drop)
		if err != nil {
			return result{}, err
		}
		if ne.CompareBits() != bits || ne.CompareDrop() != drop || ne.Pair().CompareBits() != bits || ne.Pair().CompareDrop() != drop ||
			e.CompareBits() != fss.MaxBits || e.CompareDrop() != 0 {
			return result{}, fmt.Errorf("precisions: narrowed %d+%d (view %d+%d), engine %d+%d", ne.CompareBits(), ne.CompareDrop(),
				ne.Pair().CompareBits(), ne.Pair().CompareDrop(), e.CompareBits(), e.CompareDrop())
		}
		run := func(e mpc.Engine) (*mpc.Share, mpc.Stat, error) {
			e.Meter().Reset()
			xe := xs[e.Party()]
			switch form {
			case "view":
				if xe, err = e.ToPair(xe); err != nil {
					return nil, mpc.Stat{}, err
				}
				e = e.Pair()
			case "fixed":
				fx, err := e.Fix(xe)
				if err != nil {
					return nil, mpc.Stat{}, err
				}
				xe = fx[0]
			}
			y, err := e.LessThan(xe, thr, nil)
			return y, e.Meter().Total(), err
		}
		var r result
		if r.y, r.narrow, err = run(ne); err != nil {
			return r, err
		}
		_, r.full, err = run(e)
		return r, err
	})
	shares := []*mpc.Share{res[0].y, res[1].y, res[2].y}
	q := p
	if form == "view" {
		shares, q = shares[:2], mpc.TwoPC
	}
	y := mpctest.Reveal(t, q, shares)
	if cmp == mpc.CompareCircuit {
		drop = 0 // exact
	}
	checkThresholds(t, x, thr, y, drop, fmt.Sprintf(" over %d bits above %d", bits, drop))
	for i := range 3 {
		nw, fl := res[i].narrow, res[i].full
		if nw.Rounds != fl.Rounds || nw.OnlineSent != fl.OnlineSent {
			t.Errorf("party %d: narrowing changed online costs: %+v against %+v", i, nw, fl)
		}
		wantOff := fl.OfflineRecv
		if cmp == mpc.CompareFSS && fl.OfflineRecv > 0 {
			full, narrow := int64(8*fss.KeyWords(fss.MaxBits)*n), int64(8*fss.KeyWords(bits)*n)
			wantOff = fl.OfflineRecv - full + narrow
		}
		if nw.OfflineRecv != wantOff {
			t.Errorf("party %d: offline %d bytes over %d bits, want %d (full width: %d)", i, nw.OfflineRecv, bits, wantOff, fl.OfflineRecv)
		}
	}
}

// checkThresholds checks the opened comparison bits y of LessThan(x, thr) at a precision that
// drops drop low bits: element i's bit k is [x_i < thr_k] as signed integers, except where
// 0 < thr_k − x_i < 2^drop, where it is 0 or 1, and 1 in about the fraction (thr_k −
// x_i)/2^drop of the cases at the interval's midpoint, the only point such inputs are placed at
// in numbers. how describes the comparison in the failure message.
func checkThresholds(t *testing.T, x *mpc.Tensor, thr []uint64, y *mpc.Tensor, drop uint, how string) {
	t.Helper()
	var mid, ones int
	for i, v := range x.Data {
		for k, tk := range thr {
			got := y.Data[i*len(thr)+k]
			if d := int64(tk) - int64(v); drop > 0 && d > 0 && d < 1<<drop {
				if got > 1 {
					t.Fatalf("[%d < %d]%s = %d, not a bit", int64(v), int64(tk), how, got)
				}
				if d == 1<<(drop-1) {
					mid++
					ones += int(got)
				}
				continue
			}
			want := uint64(0)
			if int64(v) < int64(tk) {
				want = 1
			}
			if got != want {
				t.Fatalf("[%d < %d]%s = %d, want %d", int64(v), int64(tk), how, got, want)
			}
		}
	}
	if mid > 0 && (ones < mid/4 || ones > mid*3/4) {
		t.Errorf("%d of %d comparisons at the middle of the dithered interval%s gave 1, want about half", ones, mid, how)
	}
}
