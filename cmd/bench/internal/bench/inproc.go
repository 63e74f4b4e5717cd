package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"strconv"
	"sync"

	"github.com/privinfer/mpcache/cmd/bench/internal/cpuprof"
	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/transport"
)

// runInProc runs every party of job's point in this process over in-memory links, each
// wrapped in a Shaper. Per-party CPU time comes from the CPU profiler: each party's goroutine
// (and every goroutine it starts) carries the labels party=i and seg=segment, and the sampled
// CPU seconds are summed by those labels (see package cpuprof); CPU of unlabelled goroutines
// (garbage collection) is not attributed to any party. shares holds each party's weight
// shares for real models (nil for synthetic shapes). onSegment, when not nil, is called by
// party 0 as each segment ends.
func runInProc(ctx context.Context, job Job, shares []*infer.ModelShares, onSegment func(i int)) ([]*PartyResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ends := transport.NewMemory(3).Endpoints()
	shapers := make([]*transport.Shaper, 3)
	for i, t := range ends {
		shapers[i] = transport.NewShaper(t, transport.Link{})
	}
	defer func() {
		for _, s := range shapers {
			s.Close()
		}
	}()
	prof, err := cpuprof.Start()
	if err != nil {
		prof = nil // another profile is running: CPU per party is not measured
	}
	results := make([]*PartyResult, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			j := job
			j.Party = i
			if shares != nil {
				j.Shares = shares[i]
			}
			base := context.Background()
			j.Hooks.Segment = func(seg int) {
				pprof.SetGoroutineLabels(pprof.WithLabels(base, pprof.Labels("party", strconv.Itoa(i), "seg", strconv.Itoa(seg))))
				if i == 0 && seg > 0 && onSegment != nil {
					onSegment(seg - 1)
				}
			}
			j.Hooks.Segment(-1)
			defer pprof.SetGoroutineLabels(base)
			cfg, err := job.Point.EngineConfig(job.Timeout)
			var e mpc.Engine
			if err == nil {
				e, err = mpc.New(ctx, job.Point.Protocol, shapers[i], cfg)
			}
			if err != nil {
				errs[i] = fmt.Errorf("party %d: %w", i, err)
				cancel()
				return
			}
			if results[i], err = RunParty(e, shapers[i], &j); err != nil {
				errs[i] = fmt.Errorf("party %d: %w", i, err)
				cancel()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if prof != nil {
			prof.Stop()
		}
		return nil, err
	}
	if prof != nil {
		u, err := prof.Stop()
		if err != nil {
			return nil, err
		}
		for i, r := range results {
			for s := range r.Segments {
				r.Segments[s].CPUS = u.Sum("party", strconv.Itoa(i), "seg", strconv.Itoa(s))
			}
		}
	}
	return results, nil
}
