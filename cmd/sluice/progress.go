package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress shows how a long command is getting on, on one line of a
// terminal that it rewrites in place, at most a few times a second. It is
// silent when off (output is not a terminal), so piped output stays
// clean.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	now   func() time.Time
	last  time.Time
	width int // of the line on screen, to blank it
}

// progressEvery is the shortest time between two updates.
const progressEvery = 250 * time.Millisecond

func newProgress(w io.Writer, on bool, now func() time.Time) *progress {
	if now == nil {
		now = time.Now
	}
	return &progress{w: w, on: on, now: now}
}

// show replaces the line with the text, unless the last update was too
// recent and force is false.
func (p *progress) show(force bool, format string, args ...any) {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.now()
	if !force && t.Sub(p.last) < progressEvery {
		return
	}
	p.last = t
	line := fmt.Sprintf(format, args...)
	pad := max(0, p.width-len(line))
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
	p.width = len(line)
}

// done blanks the line, so what follows starts clean.
func (p *progress) done() {
	if p == nil || !p.on || p.width == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
	p.width = 0
}

// rows reports rows read of about estimated (0: unknown).
func (p *progress) rows(read, estimated int64) {
	if estimated > 0 && read <= estimated {
		p.show(false, "reading: %d of about %d rows (%d%%)", read, estimated, 100*read/estimated)
		return
	}
	p.show(false, "reading: %d rows", read)
}

// trees reports rounds built of total since start, with the time left at
// the rate so far; with early stopping (best > 0, the best round so far),
// total is a cap and the time left a bound.
func (p *progress) trees(built, total, best int, start time.Time) {
	if p == nil || !p.on {
		return
	}
	el := p.now().Sub(start)
	left := time.Duration(float64(el) / float64(built) * float64(total-built)).Round(time.Second)
	if best > 0 {
		p.show(built == total, "training: %d trees of up to %d (best so far %d), at most %s left", built, total, best, left)
		return
	}
	p.show(built == total, "training: %d of %d trees, %s left", built, total, left)
}
