//go:build linux

package transport

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// waiter sleeps until a deadline. On Linux it arms a timerfd and reads it through the
// runtime's poller, so the goroutine parks without holding a thread and wakes within tens of
// microseconds (a Go timer on an otherwise idle process wakes about a millisecond late). It
// learns how late wake-ups come (an exponential average) and arms the timer that much early.
type waiter struct {
	f    *os.File // nil: fall back to Go timers
	fd   int
	lead time.Duration
	buf  [8]byte
}

// maxLead bounds the calibrated lead.
const maxLead = 300 * time.Microsecond

func newWaiter() *waiter {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return &waiter{}
	}
	return &waiter{f: os.NewFile(uintptr(fd), "shaper-timerfd"), fd: fd}
}

// until returns at (or, on average, within a few microseconds of) t.
func (w *waiter) until(t time.Time) {
	d := time.Until(t) - w.lead
	if d <= 0 {
		return
	}
	if w.f == nil {
		time.Sleep(d)
		return
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if unix.TimerfdSettime(w.fd, 0, &spec, nil) != nil {
		time.Sleep(d)
		return
	}
	if _, err := w.f.Read(w.buf[:]); err != nil {
		time.Sleep(time.Until(t))
		return
	}
	// Move the lead a tenth of the way towards the lateness seen.
	late := time.Since(t)
	w.lead = min(max(w.lead+late/10, 0), maxLead)
}

func (w *waiter) close() {
	if w.f != nil {
		w.f.Close()
	}
}
