package mpc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/inproc"
	"github.com/privinfer/mpcache/mpc/mpctest"
	"github.com/privinfer/mpcache/mpc/transport"
)

// cutter is P0's transport in TestWrongLengthMessage: once armed (by P0's own goroutine, after
// set-up), it lets skip messages from party from through and passes the next one through edit.
type cutter struct {
	transport.Transport
	from  int
	armed bool
	skip  int
	edit  func([]byte) []byte
}

func (c *cutter) Recv(ctx context.Context, from int) ([]byte, error) {
	b, err := c.Transport.Recv(ctx, from)
	if err != nil || !c.armed || from != c.from {
		return b, err
	}
	if c.skip > 0 {
		c.skip--
		return b, nil
	}
	c.armed = false
	return c.edit(b), nil
}

// TestWrongLengthMessage makes P1's online message to P0 a byte short, empty or a word long, in
// the first round of every communicating primitive (and a later round of the multi-round ones):
// P0 must return an error that names the operation and P1, the others must stop (no hang), and
// nothing may panic.
func TestWrongLengthMessage(t *testing.T) {
	const n = 16
	edits := []struct {
		name string
		f    func([]byte) []byte
	}{
		{"short", func(b []byte) []byte { return b[:len(b)-1] }},
		{"empty", func(b []byte) []byte { return nil }},
		{"long", func(b []byte) []byte { return append(b, make([]byte, 8)...) }},
	}
	type opCase struct {
		name, op string // test name; operation the error must name
		cmp      mpc.Comparison
		skip     int // P1 messages to P0 passed intact before the edited one
		only     mpc.Protocol
		f        func(e mpc.Engine, x *mpc.Share) error
	}
	one := func(f func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error)) func(e mpc.Engine, x *mpc.Share) error {
		return func(e mpc.Engine, x *mpc.Share) error { _, err := f(e, x); return err }
	}
	ops := []opCase{
		{"open", "open", "", 0, "", func(e mpc.Engine, x *mpc.Share) error { _, err := e.Open(x); return err }},
		{"opento", "open to", "", 0, "", func(e mpc.Engine, x *mpc.Share) error { _, err := e.OpenTo(0, x); return err }},
		{"input", "input", "", 0, mpc.ThreePC, func(e mpc.Engine, x *mpc.Share) error {
			var own *mpc.Tensor
			if e.Party() == 1 {
				own = mpc.NewTensor(n)
			}
			_, err := e.Input(1, own, []int{n})
			return err
		}},
		{"mul", "mul", "", 0, "", one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return e.Mul(x, x) })},
		{"multrunc", "mul", "", 0, "", one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return e.MulTrunc(x, x) })},
		{"multrunc-2nd", "", "", 1, "", one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return e.MulTrunc(x, x) })},
		{"trunc", "trunc", "", 0, "", one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return e.Trunc(x, 16) })},
		{"matmul", "matmul", "", 0, "", one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
			y, err := mpc.Reshape(x, 4, 4)
			if err != nil {
				return nil, err
			}
			return e.MatMul(y, y)
		})},
		{"fix", "fix", "", 0, mpc.TwoPC, func(e mpc.Engine, x *mpc.Share) error { _, err := e.Fix(x); return err }},
		{"select", "mul", "", 0, "", one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return e.Select(x, x, x) })},
		{"onehot", "onehot", "", 0, "", one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return e.OneHot(x, 5) })},
		{"onehot-2nd", "onehot", "", 1, mpc.ThreePC, one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return e.OneHot(x, 5) })},
		{"ltz-fss", "ltz", mpc.CompareFSS, 0, "", one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return e.LTZ(x) })},
		{"ltz-circuit", "ltz", mpc.CompareCircuit, 0, "", one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return e.LTZ(x) })},
		{"ltz-circuit-4th", "ltz", mpc.CompareCircuit, 3, "", one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return e.LTZ(x) })},
		// 2pc: P0's eighth message from P1 (after genProp and six AND rounds) is b2a's. In 3pc
		// P0 only sends in b2a.
		{"ltz-circuit-b2a", "b2a", mpc.CompareCircuit, 7, mpc.TwoPC, one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return e.LTZ(x) })},
		{"less", "ltz", "", 0, "", one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return mpc.Less(e, x, x) })},
		// 3pc's two-party view: its comparison's opening, and the round back out of it.
		{"pair-ltz", "ltz", mpc.CompareFSS, 0, mpc.ThreePC, one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
			xp, err := e.ToPair(x)
			if err != nil {
				return nil, err
			}
			return e.Pair().LTZ(xp)
		})},
		{"frompair", "from pair", "", 0, mpc.ThreePC, one(func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
			xp, err := e.ToPair(x)
			if err != nil {
				return nil, err
			}
			return e.FromPair(xp)
		})},
	}
	for _, p := range protocols {
		for _, oc := range ops {
			if oc.only != "" && oc.only != p {
				continue
			}
			if oc.name == "multrunc-2nd" {
				// 2pc: the second round is trunc2's opening; 3pc: the second round of the fused
				// truncation (openToPairAndReshare), labelled mul.
				oc.op = map[mpc.Protocol]string{mpc.TwoPC: "trunc", mpc.ThreePC: "mul"}[p]
			}
			for _, ed := range edits {
				nets := networks(t)
				if ed.name != "short" {
					nets = nets[:1] // the engine's check does not depend on the network
				}
				for _, nw := range nets {
					t.Run(fmt.Sprintf("%s/%s/%s/%s", p, oc.name, ed.name, nw.name), func(t *testing.T) {
						wrongLength(t, p, nw.nw, oc.cmp, oc.op, oc.skip, ed.f, oc.f)
					})
				}
			}
		}
	}
}

func wrongLength(t *testing.T, p mpc.Protocol, nw mpctest.Network, cmp mpc.Comparison, op string, skip int,
	edit func([]byte) []byte, f func(e mpc.Engine, x *mpc.Share) error) {
	const n = 16
	xs := split(t, p, mpc.NewTensor(n))
	var victim *cutter
	wrap := func(i int, tr transport.Transport) transport.Transport {
		if i != 0 {
			return tr
		}
		victim = &cutter{Transport: tr, from: 1, skip: skip, edit: edit}
		return victim
	}
	start := time.Now()
	_, err := mpctest.RunWrapped(p, nw, mpc.Config{Comparison: cmp, Timeout: 20 * time.Second}, wrap, func(e mpc.Engine) (struct{}, error) {
		if e.Party() == 0 {
			victim.armed = true
		}
		return struct{}{}, f(e, xs[e.Party()])
	})
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to fail", d)
	}
	t.Log(err)
	want := fmt.Sprintf("party 0: mpc: %s: party 1 sent ", op)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "bytes, want") {
		t.Fatalf("want an error containing %q, got %v", want, err)
	}
}

// renumbered reports another party number than its transport's.
type renumbered struct {
	transport.Transport
	self int
}

func (r renumbered) Self() int { return r.self }

// TestWrongParties sets engines up over transports with the wrong parties: a 3pc engine over a
// two-party transport, a dealer 2pc engine without a dealer endpoint, a session whose third
// party never starts, a dealer-free 2pc engine at party 2, a material source in 3pc and a party
// number out of range. mpc.New must return an error that names the setting or the missing
// party, promptly (no hang) and without a panic.
func TestWrongParties(t *testing.T) {
	// newAll runs mpc.New at every endpoint concurrently and returns the errors by party.
	newAll := func(p mpc.Protocol, ts []transport.Transport, cfg mpc.Config) []error {
		errs := make([]error, len(ts))
		var wg sync.WaitGroup
		for i, tr := range ts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = mpc.New(context.Background(), p, tr, cfg)
			}()
		}
		wg.Wait()
		return errs
	}
	for _, nw := range networks(t) {
		for _, p := range protocols {
			// 3pc over two endpoints, or dealer 2pc without the dealer's endpoint: party 2 is
			// missing from the transport, and every party must say so at set-up.
			t.Run(fmt.Sprintf("%s/%s/two-endpoints", p, nw.name), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				ts, err := inproc.Endpoints(ctx, nw.nw, 2)
				if err != nil {
					t.Fatal(err)
				}
				defer func() {
					for _, tr := range ts {
						tr.Close()
					}
				}()
				start := time.Now()
				errs := newAll(p, ts, mpc.Config{Timeout: 20 * time.Second})
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("took %v to fail", d)
				}
				for i, err := range errs {
					t.Logf("party %d: %v", i, err)
					want := fmt.Sprintf("mpc: %s setup of party %d: ", p, i)
					if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "party 2") {
						t.Errorf("party %d: want an error containing %q and naming party 2, got %v", i, want, err)
					}
				}
			})
		}
	}
	for _, p := range protocols {
		// Three endpoints but party 2 never starts: the parties waiting for it give up after
		// the receive timeout and name it.
		t.Run(string(p)+"/absent-party", func(t *testing.T) {
			ts := transport.NewMemory(3).Endpoints()
			const timeout = 100 * time.Millisecond
			errs := newAll(p, ts[:2], mpc.Config{Timeout: timeout})
			failed := 0
			for i, err := range errs {
				t.Logf("party %d: %v", i, err)
				if err == nil {
					continue // 3pc: P0 needs only P1's seed
				}
				failed++
				if !strings.Contains(err.Error(), "party 2") || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("party %d: want a deadline error naming party 2, got %v", i, err)
				}
			}
			if failed == 0 {
				t.Fatal("no party noticed the absent party 2")
			}
		})
	}
	single := []struct {
		name, want string
		p          mpc.Protocol
		tr         transport.Transport
		cfg        mpc.Config
	}{
		{"2pc/dealer-free-party-2", "dealer-free 2pc has no party 2", mpc.TwoPC, transport.NewMemory(3).Endpoint(2),
			mpc.Config{Material: func(mpc.Link) (mpc.Material, error) { return nil, errors.New("not reached") }}},
		{"3pc/material-source", "applies to 2pc only", mpc.ThreePC, transport.NewMemory(3).Endpoint(0),
			mpc.Config{Material: func(mpc.Link) (mpc.Material, error) { return nil, errors.New("not reached") }}},
		{"2pc/party-3", "party 3 is not 0, 1 or 2", mpc.TwoPC, renumbered{transport.NewMemory(3).Endpoint(0), 3}, mpc.Config{}},
		{"3pc/party-minus-1", "party -1 is not 0, 1 or 2", mpc.ThreePC, renumbered{transport.NewMemory(3).Endpoint(0), -1}, mpc.Config{}},
	}
	for _, c := range single {
		t.Run(c.name, func(t *testing.T) {
			_, err := mpc.New(context.Background(), c.p, c.tr, c.cfg)
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			}
		})
	}
}
