package models_test

import (
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/models"
)

// TestDefaultReproducesExport checks the embedded model end to end through our Hugging Face
// loader and tokenizer: the prompt ids, the last-position logits (within 1e-3 of the exporter's
// float64 forward) and the 32-token greedy continuation.
func TestDefaultReproducesExport(t *testing.T) {
	m, tok, err := model.Open(models.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	b, err := models.Files.ReadFile(models.DefaultName + "/expected_logits.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Prompt     string    `json:"prompt"`
			InputIDs   []int     `json:"input_ids"`
			LastLogits []float64 `json:"last_logits"`
			GreedyIDs  []int     `json:"greedy_ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range ref.Cases {
		name := c.Prompt
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(name, func(t *testing.T) {
			if ids := tok.Encode(c.Prompt); !slices.Equal(ids, c.InputIDs) {
				t.Fatalf("tokenizer: %v, want %v", ids, c.InputIDs)
			}
			s, err := model.NewSession(m, model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			logits, err := s.Prefill(c.InputIDs)
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i, v := range c.LastLogits {
				worst = max(worst, math.Abs(logits[i]-v))
			}
			if worst > 1e-3 {
				t.Fatalf("largest logit difference %.2e exceeds 1e-3", worst)
			}
			n := len(c.GreedyIDs)
			if testing.Short() && len(c.InputIDs) > 100 {
				n = 4
			}
			g, err := model.NewSession(m, model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := model.Generate(g, c.InputIDs, n, model.Greedy{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.GreedyIDs[:n]) {
				t.Fatalf("greedy %v, want %v", got, c.GreedyIDs[:n])
			}
		})
	}
}
