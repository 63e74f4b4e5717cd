package cpuprof

import (
	"context"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// spin burns a fixed amount of CPU: about d on an idle core of a recent machine.
func spin(d time.Duration) int {
	x := 0
	for range int(d / time.Millisecond) {
		for i := range 1_000_000 {
			x += i * i
		}
	}
	return x
}

var sink atomic.Int64

// TestAttribution runs two labelled groups, one twice as busy as the other (its second half
// in a child goroutine, which inherits the labels), and checks the split.
func TestAttribution(t *testing.T) {
	if testing.Short() {
		t.Skip("burns CPU for a few seconds")
	}
	s, err := Start()
	if err != nil {
		t.Skip(err)
	}
	var wg sync.WaitGroup
	for _, g := range []struct {
		name string
		d    time.Duration
	}{{"a", 600 * time.Millisecond}, {"b", 1200 * time.Millisecond}} {
		wg.Go(func() {
			pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("group", g.name)))
			sink.Add(int64(spin(g.d / 2)))
			var inner sync.WaitGroup
			inner.Go(func() { sink.Add(int64(spin(g.d / 2))) })
			inner.Wait()
		})
	}
	wg.Wait()
	u, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	a, b := u.Sum("group", "a"), u.Sum("group", "b")
	t.Logf("group a %.3fs, group b %.3fs, total %.3fs", a, b, u.Total())
	// b does twice a's work. On a loaded virtual machine the CPU time of the same work
	// varies (steal time, shared caches), so the bound is loose.
	if a < 0.1 || b/a < 1.3 || b/a > 3 {
		t.Fatalf("group a %.3fs, group b %.3fs: want b about twice a", a, b)
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	for _, in := range []string{"", "not gzip"} {
		if _, err := Parse(stringsReader(in)); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}
