package twoparty

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuSeconds is this process's user and system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// benchGen runs prep once and then f b.N times at both parties of one session in this
// process (both share this machine's cores), and reports per element of elems: wall seconds
// ("s/elem"), CPU seconds of one party ("cpu-s/elem": half the process's CPU time, robust to a
// loaded machine), bytes sent by a party ("B/elem", the mean of the two) and, when prep sent
// anything, its bytes per party ("prep-B").
func benchGen(b *testing.B, o Options, elems int, unit string, prep, f func(g *Generator) error) {
	b.Helper()
	var bar sync.WaitGroup
	bar.Add(2)
	var cpuOnce sync.Once
	var cpu0 float64
	type out struct {
		sec        float64
		sent, prep int64
	}
	res := pair(b, o, nil, func(g *Generator) (out, error) {
		var o out
		if prep != nil {
			if err := prep(g); err != nil {
				return o, err
			}
		}
		for _, s := range g.Stats() {
			o.prep += s.Sent
		}
		bar.Done()
		bar.Wait()
		cpuOnce.Do(func() { cpu0 = cpuSeconds() })
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := f(g); err != nil {
				return o, err
			}
		}
		o.sec = time.Since(start).Seconds()
		for _, s := range g.Stats() {
			o.sent += s.Sent
		}
		o.sent -= o.prep
		return o, nil
	})
	cpu := cpuSeconds() - cpu0
	per := float64(b.N) * float64(elems)
	b.ReportMetric(max(res[0].sec, res[1].sec)/per, "s/"+unit)
	b.ReportMetric(cpu/2/per, "cpu-s/"+unit)
	b.ReportMetric(float64(res[0].sent+res[1].sent)/2/per, "B/"+unit)
	if res[0].prep > 0 {
		b.ReportMetric(float64(res[0].prep+res[1].prep)/2, "prep-B")
	}
}

func BenchmarkTriple(b *testing.B) {
	const n = 1 << 15
	for _, k := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			benchGen(b, Options{OTK: k}, n, "triple", nil, func(g *Generator) error { _, _, _, err := g.Triple(n); return err })
		})
	}
}

func BenchmarkANDTriple(b *testing.B) {
	const words = 1 << 13 // 2^19 AND triples
	for _, k := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			benchGen(b, Options{OTK: k}, 64*words, "and", nil, func(g *Generator) error { _, _, _, err := g.ANDTriple(words); return err })
		})
	}
}

func BenchmarkOtherKinds(b *testing.B) {
	const n = 1 << 13
	b.Run("trunc", func(b *testing.B) {
		benchGen(b, Options{}, n, "tuple", nil, func(g *Generator) error { _, _, _, err := g.Trunc(n, 16); return err })
	})
	b.Run("bitpair", func(b *testing.B) {
		benchGen(b, Options{}, 8*n, "pair", nil, func(g *Generator) error { _, _, err := g.BitPair(8 * n); return err })
	})
	b.Run("privateand", func(b *testing.B) {
		benchGen(b, Options{}, 64*n, "and", nil, func(g *Generator) error { _, _, err := g.PrivateAND(n); return err })
	})
	for _, N := range []int{1024, 65536} {
		b.Run(fmt.Sprintf("onehot/N=%d", N), func(b *testing.B) {
			cnt := max(2, (1<<20)/N)
			benchGen(b, Options{}, cnt, "row", nil, func(g *Generator) error { _, _, err := g.OneHotPair(cnt, N); return err })
		})
	}
}

// BenchmarkMatrixTriple reports seconds and bytes per matrix triple for the decode (1×768) and
// prefill (128×768) shapes against a 768×768 operand, fresh or with a fixed mask on the
// weight (its encryption uploaded once, in prep, and cached by the peer).
func BenchmarkMatrixTriple(b *testing.B) {
	for _, m := range []int{1, 128} {
		for _, fixed := range []bool{false, true} {
			name := fmt.Sprintf("%dx768x768", m)
			if fixed {
				name += "/fixed"
			}
			b.Run(name, func(b *testing.B) {
				var masks [2][]uint64 // each party's share of the weight's mask
				prep := func(g *Generator) error {
					if !fixed {
						return g.heInit()
					}
					var err error
					if masks[g.party], err = g.Mask(768 * 768); err != nil {
						return err
					}
					_, _, _, err = g.MatrixTriple(1, m, 768, 768, nil, masks[g.party])
					return err
				}
				benchGen(b, Options{}, 1, "triple", prep, func(g *Generator) error {
					_, _, _, err := g.MatrixTriple(1, m, 768, 768, nil, masks[g.party])
					return err
				})
			})
		}
	}
}
