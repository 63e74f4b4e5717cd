//go:build !linux

package transport

import "time"

// waiter sleeps until a deadline with Go timers, which may wake up to about a millisecond
// late; the Linux build is more precise.
type waiter struct{}

func newWaiter() *waiter { return &waiter{} }

func (*waiter) until(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}

func (*waiter) close() {}
