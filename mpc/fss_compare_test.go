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
				checkThresholds(t, x, ts, y, "")
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

// TestCompareBits checks comparisons narrowed by WithCompareBits: exact for inputs with
// |x − t| < 2^(bits−1), by FSS with 8·fss.KeyWords(bits) offline bytes per element and the
// full width's online costs, on the engine and on its two-party view, by the circuit as the
// full width; and the engine's own width left unchanged.
func TestCompareBits(t *testing.T) {
	const n, bits = 300, 38
	thr := []uint64{0, 1 << 20, 1<<64 - 1<<20}
	x := mpc.NewTensor(n)
	for i := range x.Data {
		// |x| < 2^36: every difference with a threshold stays within 2^37.
		x.Data[i] = uint64(int64(i*i*int(uint64(i)*0x9e3779b97f4a7c15>>40)) % (1 << 36))
		if i%2 == 1 {
			x.Data[i] = -x.Data[i]
		}
		if i%7 == 0 {
			x.Data[i] = thr[i%3] + uint64(i%3) - 1 // next to a threshold
		}
	}
	for _, p := range protocols {
		for _, cmp := range comparisons {
			for _, view := range []bool{false, true} {
				if view && (p == mpc.TwoPC || cmp != mpc.CompareFSS) {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/view=%v", p, cmp, view), func(t *testing.T) {
					xs := split(t, p, x)
					type result struct {
						narrow, full mpc.Stat
						y            *mpc.Share
					}
					res := mpctest.Run(t, p, mpctest.Memory, mpc.Config{Comparison: cmp}, func(e mpc.Engine) (result, error) {
						ne, err := e.WithCompareBits(bits)
						if err != nil {
							return result{}, err
						}
						if ne.CompareBits() != bits || e.CompareBits() != fss.MaxBits || ne.Pair().CompareBits() != bits {
							return result{}, fmt.Errorf("widths: narrowed %d (view %d), engine %d", ne.CompareBits(), ne.Pair().CompareBits(), e.CompareBits())
						}
						run := func(e mpc.Engine) (*mpc.Share, mpc.Stat, error) {
							e.Meter().Reset()
							xe := xs[e.Party()]
							if view {
								if xe, err = e.ToPair(xe); err != nil {
									return nil, mpc.Stat{}, err
								}
								e = e.Pair()
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
					if view {
						shares = shares[:2]
					}
					q := p
					if view {
						q = mpc.TwoPC
					}
					y := mpctest.Reveal(t, q, shares)
					checkThresholds(t, x, thr, y, fmt.Sprintf(" over %d bits", bits))
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
				})
			}
		}
	}
	t.Run("bad widths", func(t *testing.T) {
		mpctest.Run(t, mpc.TwoPC, mpctest.Memory, mpc.Config{}, func(e mpc.Engine) (struct{}, error) {
			for _, b := range []uint{0, 1, 65} {
				if _, err := e.WithCompareBits(b); err == nil || !strings.Contains(err.Error(), "comparison width") {
					return struct{}{}, fmt.Errorf("width %d: error %v", b, err)
				}
			}
			return struct{}{}, nil
		})
	})
}

// checkThresholds checks the opened comparison bits y of LessThan(x, thr): element i's bit k is
// [x_i < thr_k] as signed integers. how describes the comparison in the failure message.
func checkThresholds(t *testing.T, x *mpc.Tensor, thr []uint64, y *mpc.Tensor, how string) {
	t.Helper()
	for i, v := range x.Data {
		for k, tk := range thr {
			want := uint64(0)
			if int64(v) < int64(tk) {
				want = 1
			}
			if got := y.Data[i*len(thr)+k]; got != want {
				t.Fatalf("[%d < %d]%s = %d, want %d", int64(v), int64(tk), how, got, want)
			}
		}
	}
}
