package main

import (
	"flag"
	"fmt"
	"math"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/inproc"
)

// demo shares two fixed-point matrices as a client would, has the parties multiply them and
// compare the product against a public threshold, opens the results and prints them beside the
// plaintext computation with each party's traffic.
func demo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	proto := fs.String("protocol", "both", "2pc, 3pc or both")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ps []mpc.Protocol
	if *proto == "both" {
		ps = []mpc.Protocol{mpc.TwoPC, mpc.ThreePC}
	} else {
		p, err := mpc.ParseProtocol(*proto)
		if err != nil {
			return err
		}
		ps = []mpc.Protocol{p}
	}
	const frac = 16
	a := []float64{1.5, -2.25, 0.5, 3, 0.75, -1, 2, -0.5, 1.25}
	b := []float64{-0.5, 2, 1, 1.5, -3, 0.25, 2.5, 1, -1.75}
	at, _ := mpc.EncodeTensor(a, frac, 3, 3)
	bt, _ := mpc.EncodeTensor(b, frac, 3, 3)
	// Plaintext reference.
	want := make([]float64, 9)
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				want[i*3+j] += a[i*3+k] * b[k*3+j]
			}
		}
	}
	for _, p := range ps {
		as, err := mpc.Split(p, at)
		if err != nil {
			return err
		}
		bs, err := mpc.Split(p, bt)
		if err != nil {
			return err
		}
		type result struct {
			prod, neg []float64
			stat      mpc.Stat
		}
		res, err := inproc.Run(p, inproc.Loopback, mpc.Config{Frac: frac}, func(e mpc.Engine) (result, error) {
			var r result
			c, err := e.MatMulTrunc(as[e.Party()], bs[e.Party()])
			if err != nil {
				return r, err
			}
			neg, err := e.LTZ(c) // is the product entry negative?
			if err != nil {
				return r, err
			}
			oc, err := e.Open(c)
			if err != nil {
				return r, err
			}
			on, err := e.Open(neg)
			if err != nil {
				return r, err
			}
			r.prod = mpc.DecodeTensor(oc, frac)
			for _, v := range on.Data {
				r.neg = append(r.neg, float64(v))
			}
			r.stat = e.Meter().Total()
			return r, nil
		})
		if err != nil {
			return err
		}
		fmt.Printf("== %s over TCP on loopback (f = %d fractional bits)\n", p, frac)
		fmt.Printf("%-8s %12s %12s %10s %10s\n", "entry", "secure", "plaintext", "secure<0", "plain<0")
		for i, w := range want {
			pn := 0
			if w < 0 {
				pn = 1
			}
			fmt.Printf("(%d,%d)    %12.5f %12.5f %10.0f %10d\n", i/3, i%3, res[0].prod[i], w, res[0].neg[i], pn)
			if math.Abs(res[0].prod[i]-w) > 1e-3 {
				return fmt.Errorf("%s: entry %d differs from plaintext", p, i)
			}
		}
		fmt.Printf("%-8s %10s %10s %12s %12s %8s\n", "party", "sent B", "recv B", "offline-in B", "offline-out B", "rounds")
		for i, r := range res {
			name := fmt.Sprintf("P%d", i)
			if p == mpc.TwoPC && i == mpc.Dealer {
				name = "dealer"
			}
			s := r.stat
			fmt.Printf("%-8s %10d %10d %12d %12d %8d\n", name, s.OnlineSent, s.OnlineRecv, s.OfflineRecv, s.OfflineSent, s.Rounds)
		}
		fmt.Println()
	}
	return nil
}
