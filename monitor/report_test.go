package monitor_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// TestHTMLReportRendersInChromium: the report is one self-contained page
// (nothing fetched) that headless Chromium renders into a screenshot with
// the charts' colours in it.
func TestHTMLReportRendersInChromium(t *testing.T) {
	var reports []monitor.Stored
	for i, shift := range []float64{0, 0.3, 0.8} {
		art, batch := model(t, 5000, shift, 0.1*float64(i))
		rep := monitor.Compute(art, batch, nil, 0, monitor.DefaultThresholds())
		reports = append([]monitor.Stored{{Model: "churn", Version: 2, Source: "batch", RunID: "score/churn/" + string(rune('a'+i)),
			AsOf: time.Date(2026, 11, 20+i, 0, 0, 0, 0, time.UTC), Report: rep}}, reports...)
	}
	perf := []monitor.Performance{
		{Model: "churn", Version: 2, Day: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Rows: 900, Metrics: map[string]float64{"auc": 0.91, "logloss": 0.3}},
		{Model: "churn", Version: 2, Day: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), Rows: 870, Metrics: map[string]float64{"auc": 0.84, "logloss": 0.4}},
	}
	var buf bytes.Buffer
	if err := monitor.WriteHTML(&buf, "churn", reports, perf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{"<svg", "v__x", "v__plan", "PSI over time", "Realized performance", "auc 0.9100", `class="alert"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "http://", "https://", "<link", "@import"} {
		if strings.Contains(page, banned) {
			t.Errorf("the report is not self-contained: it holds %q", banned)
		}
	}

	chromium, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Unavailable(t, "the screenshot needs Debian's chromium (apt-get install chromium)")
	}
	dir := t.TempDir()
	htmlPath, shot := filepath.Join(dir, "report.html"), filepath.Join(dir, "shot.png")
	if keep := os.Getenv("SLUICE_KEEP_REPORT"); keep != "" {
		htmlPath, shot = keep+".html", keep+".png"
	}
	if err := os.WriteFile(htmlPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=1280,1600", "--screenshot="+shot, "file://"+htmlPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	inked, blue := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			if r < 235 || g < 235 || bl < 235 {
				inked++
			}
			if r < 80 && g > 90 && g < 140 && bl > 200 { // the current bars, #2f6fde
				blue++
			}
		}
	}
	total := (b.Dx() / 2) * (b.Dy() / 2)
	if inked < total/50 || blue < 200 {
		t.Errorf("the screenshot looks blank: %d of %d sampled pixels inked, %d bar-blue", inked, total, blue)
	}
}
