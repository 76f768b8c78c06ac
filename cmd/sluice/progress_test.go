package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	p := newProgress(&buf, true, func() time.Time { return now })
	p.rows(8192, 10000)
	p.rows(9000, 10000) // too soon after the last update: dropped
	now = now.Add(time.Second)
	p.rows(12000, 10000) // past the estimate: no percentage
	start := now
	now = now.Add(10 * time.Second)
	p.trees(50, 100, 0, start)
	now = now.Add(10 * time.Second)
	p.trees(100, 100, 0, start) // the last tree always shows
	now = now.Add(10 * time.Second)
	p.trees(300, 1000, 240, start)
	p.done()
	want := []string{"\rreading: 8192 of about 10000 rows (81%)", "\rreading: 12000 rows",
		"\rtraining: 50 of 100 trees, 10s left", "\rtraining: 100 of 100 trees, 0s left",
		"\rtraining: 300 trees of up to 1000 (best so far 240), at most 1m10s left"}
	out := buf.String()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("progress output %q lacks %q", out, w)
		}
	}
	if strings.Contains(out, "9000") {
		t.Errorf("an update 0 s after the last was shown: %q", out)
	}
	if !strings.HasSuffix(out, "\r") || strings.Contains(out, "\n") {
		t.Errorf("progress should end on a blanked line and never add lines: %q", out)
	}
}

func TestProgressOffIsSilent(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, false, nil)
	p.rows(1, 2)
	p.trees(1, 2, 0, time.Now())
	p.show(true, "x")
	p.done()
	if buf.Len() != 0 {
		t.Errorf("progress off wrote %q", buf.String())
	}
	if isTerminal(&buf) {
		t.Error("a buffer is not a terminal")
	}
}
