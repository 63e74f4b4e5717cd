package twoparty

import (
	"testing"

	"github.com/privinfer/mpcache/mpc/he"
)

// TestLayouts logs the layouts chosen for the benchmark shapes.
func TestLayouts(t *testing.T) {
	p, err := he.NewParams(he.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := &Generator{he: &heState{p: p}, o: Options{}.withDefaults()}
	for _, s := range [][3]int{{1, 768, 768}, {1, 768, 2304}, {128, 768, 768}, {1, 768, 3072}, {1, 3072, 768}, {128, 3072, 768}} {
		for _, fixed := range []bool{false, true} {
			l, err := g.chooseLayout(s[0], s[1], s[2], false, fixed)
			if err != nil {
				t.Fatal(err)
			}
			pl := l.plans[0]
			t.Logf("%v fixed=%v: left=%v cached=%v block %dx%dx%d: %d uploads (%d B), %d responses (%d B)",
				s, fixed, l.left, l.cached, pl.Mw, pl.Kw, pl.Nw, pl.Uploads(), p.UploadBytes(pl), pl.Responses(), p.ResponseBytes(pl))
		}
	}
}
