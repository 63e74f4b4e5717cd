// Package cpuprof attributes a process's CPU time to groups of goroutines. Go has no
// per-goroutine CPU clock, so it samples: it runs the runtime's CPU profiler (100 samples per
// second of CPU) while the goroutines carry profiler labels (runtime/pprof.SetGoroutineLabels;
// goroutines inherit their creator's labels), and sums the sampled CPU time by label set. The
// error of a group's figure is about one sample (10 ms) per sampled second, plus the CPU of
// goroutines that carry no labels (the garbage collector's workers, for one), which is
// reported under the empty label set.
package cpuprof

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Sampler is a running CPU profile.
type Sampler struct {
	buf bytes.Buffer
}

// Start starts the process's CPU profiler. Only one profile can run in a process at a time.
func Start() (*Sampler, error) {
	s := &Sampler{}
	if err := pprof.StartCPUProfile(&s.buf); err != nil {
		return nil, fmt.Errorf("cpuprof: %w", err)
	}
	return s, nil
}

// Stop stops the profiler and returns the sampled CPU seconds by label set.
func (s *Sampler) Stop() (Usage, error) {
	pprof.StopCPUProfile()
	return Parse(&s.buf)
}

// Usage maps a label set, written as sorted "key=value" pairs joined by commas ("" for
// goroutines without labels), to the CPU seconds sampled under it.
type Usage map[string]float64

// Sum returns the seconds of every label set that has all the given labels (key, value,
// key, value, ...).
func (u Usage) Sum(kv ...string) float64 {
	t := 0.0
	for set, sec := range u {
		pairs := strings.Split(set, ",")
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			ok = ok && slices.Contains(pairs, kv[i]+"="+kv[i+1])
		}
		if ok {
			t += sec
		}
	}
	return t
}

// Total is the CPU time of every sample.
func (u Usage) Total() float64 { return u.Sum() }

// Parse reads a gzipped pprof CPU profile and sums its CPU nanoseconds by label set.
func Parse(r io.Reader) (Usage, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("cpuprof: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("cpuprof: %w", err)
	}
	type label struct{ key, str int64 }
	type sample struct {
		values []int64
		labels []label
	}
	var (
		samples []sample
		strs    []string
		types   [][2]int64 // (type, unit) string indices
	)
	err = fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case 1: // sample_type
			var vt [2]int64
			err := fields(v, func(n protowire.Number, _ protowire.Type, _ []byte, x uint64) error {
				if n == 1 || n == 2 {
					vt[n-1] = int64(x)
				}
				return nil
			})
			types = append(types, vt)
			return err
		case 2: // sample
			var s sample
			err := fields(v, func(n protowire.Number, t protowire.Type, sv []byte, x uint64) error {
				switch {
				case n == 2 && t == protowire.VarintType:
					s.values = append(s.values, int64(x))
				case n == 2 && t == protowire.BytesType:
					for len(sv) > 0 {
						y, k := protowire.ConsumeVarint(sv)
						if k < 0 {
							return protowire.ParseError(k)
						}
						s.values, sv = append(s.values, int64(y)), sv[k:]
					}
				case n == 3:
					var l label
					err := fields(sv, func(n protowire.Number, _ protowire.Type, _ []byte, x uint64) error {
						switch n {
						case 1:
							l.key = int64(x)
						case 2:
							l.str = int64(x)
						}
						return nil
					})
					s.labels = append(s.labels, l)
					return err
				}
				return nil
			})
			samples = append(samples, s)
			return err
		case 6: // string_table
			strs = append(strs, string(v))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cpuprof: malformed profile: %w", err)
	}
	str := func(i int64) string {
		if i < 0 || int(i) >= len(strs) {
			return ""
		}
		return strs[i]
	}
	col := -1
	for i, t := range types {
		if str(t[1]) == "nanoseconds" {
			col = i
		}
	}
	if col < 0 && len(samples) > 0 {
		return nil, fmt.Errorf("cpuprof: the profile has no nanoseconds column")
	}
	u := Usage{}
	for _, s := range samples {
		if col >= len(s.values) {
			continue
		}
		pairs := make([]string, 0, len(s.labels))
		for _, l := range s.labels {
			pairs = append(pairs, str(l.key)+"="+str(l.str))
		}
		sort.Strings(pairs)
		u[strings.Join(pairs, ",")] += float64(s.values[col]) / 1e9
	}
	return u, nil
}

// fields calls f for every field of the protobuf message b: its number, wire type, and the
// bytes (length-delimited) or the integer value (varint and fixed).
func fields(b []byte, f func(protowire.Number, protowire.Type, []byte, uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var y uint32
			y, n = protowire.ConsumeFixed32(b)
			x = uint64(y)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}
