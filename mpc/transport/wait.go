package transport

import "time"

// WaitUntil polls ok with a backoff of 50 µs doubling to 5 ms until it holds, and reports
// false if done is closed first (a nil done never is). It is for flow control on counters that
// no channel signals (bytes still queued for, or not yet taken by, a peer); ok is tried once
// before any wait, so a caller that is not held back pays one call.
func WaitUntil(done <-chan struct{}, ok func() bool) bool {
	for wait := 50 * time.Microsecond; !ok(); wait = min(2*wait, 5*time.Millisecond) {
		t := time.NewTimer(wait)
		select {
		case <-done:
			t.Stop()
			return false
		case <-t.C:
		}
	}
	return true
}
