package bench

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how many runs are done, with the time left: a progress bar on a terminal,
// a line per finished run elsewhere (CI logs).
type progress struct {
	w       io.Writer
	bar     *progressbar.ProgressBar
	total   int
	n       int // runs done
	inPoint int // runs done in the current point
	start   time.Time
	desc    string
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, start: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetWidth(24),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetItsString("segments"),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionSetRenderBlankState(true))
	} else {
		fmt.Fprintf(w, "bench: %d measurements to make (runs × repeats)\n", total)
	}
	return p
}

// describe names the point being run.
func (p *progress) describe(d string) {
	p.desc, p.inPoint = d, 0
	if p.bar != nil {
		p.bar.Describe(d)
	}
}

// step marks one measurement (one net of the current point, one repetition) done.
func (p *progress) step() {
	p.inPoint++
	p.n++
	if p.bar != nil {
		p.bar.Add(1)
		return
	}
	el := time.Since(p.start)
	left := time.Duration(float64(el) / float64(p.n) * float64(p.total-p.n))
	fmt.Fprintf(p.w, "bench: %d/%d measured (%s), %v elapsed, about %v left\n", p.n, p.total, p.desc,
		el.Round(time.Second), left.Round(time.Second))
}

// done ends the current point, which had pending measurements; those it did not report (a failure)
// are counted as done.
func (p *progress) done(pending int) {
	for p.inPoint < pending {
		p.step()
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}
