package model

import "fmt"

// StreamingLLM keeps attention sinks and a recent window: decoding position pos attends
// over positions 0..min(Sinks, pos+1)−1 and max(Sinks, pos+1−Window)..pos, at most
// Sinks+Window positions. The indices are public (they depend only on pos). Keys keep the
// rotary positions they were cached with.
type StreamingLLM struct {
	Sinks  int // ≥ 0, typically 4
	Window int // ≥ 1; includes the new token
}

// Name returns "streaming".
func (StreamingLLM) Name() string { return "streaming" }

// Start checks the parameters.
func (p StreamingLLM) Start(Config, int) error {
	if p.Sinks < 0 || p.Window < 1 {
		return fmt.Errorf("streaming needs sinks ≥ 0 and window ≥ 1, have %d and %d", p.Sinks, p.Window)
	}
	return nil
}

// PrefillRow does nothing.
func (StreamingLLM) PrefillRow(int, int, int, []float64) {}

// EndPrefill does nothing.
func (StreamingLLM) EndPrefill(int) error { return nil }

// Select returns the sinks and the window.
func (p StreamingLLM) Select(_, _, pos int, _ [][]float64, _ *LayerCache) ([]int, error) {
	var sel []int
	for i := range min(p.Sinks, pos+1) {
		sel = append(sel, i)
	}
	for i := max(p.Sinks, pos+1-p.Window); i <= pos; i++ {
		sel = append(sel, i)
	}
	return sel, nil
}

// Observe does nothing.
func (StreamingLLM) Observe(int, int, []int, [][]float64) {}
