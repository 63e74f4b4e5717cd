package ot

import (
	"runtime"
	"sync"
)

// parallel runs f over [0, n) in contiguous ranges on up to GOMAXPROCS goroutines, each of at
// least least items.
func parallel(n, least int, f func(lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), n/max(1, least))
	if w <= 1 {
		f(0, n)
		return
	}
	per := (n + w - 1) / w
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += per {
		hi := min(n, lo+per)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// eachBlock runs f(i, scratch) for i in [0, nb) on up to GOMAXPROCS goroutines when the work
// (nb·m) is large, each goroutine with its own scratch buffers.
func eachBlock(nb, m int, f func(i int, sc *scratch)) {
	w := min(runtime.GOMAXPROCS(0), nb)
	if w <= 1 || nb*m < 1<<18 {
		var sc scratch
		for i := 0; i < nb; i++ {
			f(i, &sc)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, nb)
	for i := 0; i < nb; i++ {
		next <- i
	}
	close(next)
	for k := 0; k < w; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sc scratch
			for i := range next {
				f(i, &sc)
			}
		}()
	}
	wg.Wait()
}
