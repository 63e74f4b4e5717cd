package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// storiesDir is the real model used by the tests; they skip when it is absent.
const storiesDir = "../../shared/models/stories260K"

type storiesCase struct {
	Prompt      string       `json:"prompt"`
	PromptIDs   []int        `json:"prompt_ids"`
	Greedy      []int        `json:"greedy_ids_after_prompt"`
	GreedyText  string       `json:"greedy_text_after_prompt"`
	Top5        [][2]float64 `json:"logits_after_prompt_top5"`
	FirstLogits []float64    `json:"logits_after_prompt_first8"`
}

var stories struct {
	once  sync.Once
	model *Model
	tok   *SentencePiece
	cases []storiesCase
	err   error
}

// loadStories returns stories260K, its tokenizer and reference cases, or skips the test.
func loadStories(t testing.TB) (*Model, *SentencePiece, []storiesCase) {
	t.Helper()
	stories.once.Do(func() {
		if _, err := os.Stat(filepath.Join(storiesDir, "stories260K.bin")); err != nil {
			stories.err = err
			return
		}
		m, err := LoadLlama2C(filepath.Join(storiesDir, "stories260K.bin"))
		if err != nil {
			stories.err = err
			return
		}
		tok, err := LoadLlama2CTokenizer(filepath.Join(storiesDir, "tok512.bin"))
		if err != nil {
			stories.err = err
			return
		}
		b, err := os.ReadFile(filepath.Join(storiesDir, "reference_greedy.json"))
		if err != nil {
			stories.err = err
			return
		}
		var ref struct{ Cases []storiesCase }
		if err := json.Unmarshal(b, &ref); err != nil {
			stories.err = err
			return
		}
		stories.model, stories.tok, stories.cases = m, tok, ref.Cases
	})
	if os.IsNotExist(stories.err) {
		t.Skipf("stories260K not available at %s: %v", storiesDir, stories.err)
	}
	if stories.err != nil {
		t.Fatal(stories.err)
	}
	return stories.model, stories.tok, stories.cases
}

func TestStoriesConfig(t *testing.T) {
	m, tok, _ := loadStories(t)
	want := Config{Family: LLaMA, Dim: 64, Hidden: 172, Layers: 5, Heads: 8, KVHeads: 4, Vocab: 512,
		MaxSeq: 512, NormEps: 1e-5, RopeTheta: 10000, TiedClassifier: true}
	if m.Config != want {
		t.Errorf("config = %+v, want %+v", m.Config, want)
	}
	if got := m.Config.NumParams(); got != 260032 {
		t.Errorf("NumParams = %d, want 260032", got)
	}
	if tok.VocabSize() != 512 || tok.BOS() != 1 || tok.EOS() != 2 {
		t.Errorf("tokenizer vocab %d bos %d eos %d", tok.VocabSize(), tok.BOS(), tok.EOS())
	}
}

func TestStoriesTokenizer(t *testing.T) {
	_, tok, cases := loadStories(t)
	for _, c := range cases {
		t.Run(c.Prompt, func(t *testing.T) {
			if got := tok.Encode(c.Prompt); !slices.Equal(got, c.PromptIDs) {
				t.Errorf("Encode(%q) = %v, want %v", c.Prompt, got, c.PromptIDs)
			}
			all := append(slices.Clone(c.PromptIDs), c.Greedy...)
			got := tok.Decode(all)
			if want := c.Prompt + c.GreedyText; got != want {
				t.Errorf("Decode = %q, want %q", got, want)
			}
		})
	}
}

// TestStoriesGreedy reproduces reference_greedy.json: the greedy continuation and the
// logits after the prompt.
func TestStoriesGreedy(t *testing.T) {
	m, _, cases := loadStories(t)
	for _, c := range cases {
		t.Run(c.Prompt, func(t *testing.T) {
			s, err := NewSession(m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			logits, err := s.Prefill(c.PromptIDs)
			if err != nil {
				t.Fatal(err)
			}
			var maxErr float64
			for i, want := range c.FirstLogits {
				maxErr = max(maxErr, math.Abs(logits[i]-want))
			}
			for _, p := range c.Top5 {
				maxErr = max(maxErr, math.Abs(logits[int(p[0])]-p[1]))
			}
			t.Logf("max logit error %.2e", maxErr)
			if maxErr > 1e-3 {
				t.Errorf("max logit error %.2e > 1e-3", maxErr)
			}
			var got []int
			for range c.Greedy {
				next := argmax(logits)
				got = append(got, next)
				if logits, err = s.Decode(next); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(got, c.Greedy) {
				t.Errorf("greedy ids\n got %v\nwant %v", got, c.Greedy)
			}
		})
	}
}
