package mpc

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Stat is the communication and time charged to one label.
type Stat struct {
	OnlineSent  int64   // bytes this party sent in the online phase
	OnlineRecv  int64   // bytes this party received in the online phase
	OfflineSent int64   // bytes of correlated randomness sent (dealer material)
	OfflineRecv int64   // bytes of correlated randomness received
	Rounds      int64   // communication rounds: steps that send and then wait to receive
	Seconds     float64 // wall time spent while this label was the innermost scope
}

// Sub returns s − o, field by field: the counters of a stretch of work between two readings.
func (s Stat) Sub(o Stat) Stat {
	return Stat{OnlineSent: s.OnlineSent - o.OnlineSent, OnlineRecv: s.OnlineRecv - o.OnlineRecv,
		OfflineSent: s.OfflineSent - o.OfflineSent, OfflineRecv: s.OfflineRecv - o.OfflineRecv,
		Rounds: s.Rounds - o.Rounds, Seconds: s.Seconds - o.Seconds}
}

// Add accumulates o into s.
func (s *Stat) Add(o Stat) {
	s.OnlineSent += o.OnlineSent
	s.OnlineRecv += o.OnlineRecv
	s.OfflineSent += o.OfflineSent
	s.OfflineRecv += o.OfflineRecv
	s.Rounds += o.Rounds
	s.Seconds += o.Seconds
}

// Meter counts one party's communication per hierarchical label. Callers open scopes
// ("layer3", then "attn", then "softmax") and every byte and round is charged to the joined
// path ("layer3/attn/softmax"). It is safe for concurrent use, though one engine uses it from
// one goroutine.
type Meter struct {
	mu    sync.Mutex
	scope []string
	path  string
	stats map[string]*Stat
	last  time.Time
}

// NewMeter returns an empty meter.
func NewMeter() *Meter { return &Meter{stats: map[string]*Stat{}, last: time.Now()} }

// cur returns the stat of the current path; the caller holds mu.
func (m *Meter) cur() *Stat {
	s, ok := m.stats[m.path]
	if !ok {
		s = &Stat{}
		m.stats[m.path] = s
	}
	return s
}

// tick charges the time since the last scope change to the current path; the caller holds mu.
func (m *Meter) tick() {
	now := time.Now()
	m.cur().Seconds += now.Sub(m.last).Seconds()
	m.last = now
}

// Scope opens a nested label and returns the function that closes it:
//
//	defer e.Meter().Scope("softmax")()
func (m *Meter) Scope(label string) func() {
	m.mu.Lock()
	m.tick()
	m.scope = append(m.scope, label)
	m.path = strings.Join(m.scope, "/")
	depth := len(m.scope)
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.tick()
		if len(m.scope) >= depth {
			m.scope = m.scope[:depth-1]
			m.path = strings.Join(m.scope, "/")
		}
	}
}

// Path is the current label path.
func (m *Meter) Path() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.path
}

func (m *Meter) count(f func(*Stat)) {
	m.mu.Lock()
	f(m.cur())
	m.mu.Unlock()
}

// Stats returns a copy of the per-label counters (time up to now included).
func (m *Meter) Stats() map[string]Stat {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tick()
	out := make(map[string]Stat, len(m.stats))
	for k, v := range m.stats {
		out[k] = *v
	}
	return out
}

// Total sums every label.
func (m *Meter) Total() Stat {
	var t Stat
	for _, s := range m.Stats() {
		t.Add(s)
	}
	return t
}

// Under sums the labels equal to prefix or nested below it.
func (m *Meter) Under(prefix string) Stat {
	var t Stat
	for k, s := range m.Stats() {
		if k == prefix || strings.HasPrefix(k, prefix+"/") || prefix == "" {
			t.Add(s)
		}
	}
	return t
}

// Labels returns the labels with any traffic or time, sorted.
func (m *Meter) Labels() []string {
	return slices.Sorted(maps.Keys(m.Stats()))
}

// Reset clears every counter (scopes stay open).
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats = map[string]*Stat{}
	m.last = time.Now()
}
