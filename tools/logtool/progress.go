package logtool

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress is a byte-counting progress bar that appears only after the work
// has taken more than a second, and only on a terminal.
type progress struct {
	w       io.Writer
	enabled bool
	total   int64
	done    int64
	start   time.Time
	desc    string
	bar     *progressbar.ProgressBar
}

func newProgress(w io.Writer, total int64, desc string) *progress {
	enabled := false
	if f, ok := w.(*os.File); ok {
		enabled = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, enabled: enabled, total: total, start: time.Now(), desc: desc}
}

func (p *progress) add(n int64) {
	p.done += n
	if !p.enabled {
		return
	}
	if p.bar == nil {
		if time.Since(p.start) < time.Second {
			return
		}
		p.bar = progressbar.NewOptions64(p.total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.desc),
			progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = p.bar.Set64(p.done)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
