package workers_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardQueriesExistingMetrics: the Grafana dashboard parses, and
// every Sluice metric its queries use is one that serving or the workers
// define.
func TestDashboardQueriesExistingMetrics(t *testing.T) {
	b, err := os.ReadFile("../deploy/grafana/sluice.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	var defined strings.Builder
	for _, pattern := range []string{"../serving/*.go", "../monitor/*.go", "*.go"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				src, _ := os.ReadFile(f)
				defined.Write(src)
			}
		}
	}
	metric := regexp.MustCompile(`sluice_[a-z_]+`)
	n := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, name := range metric.FindAllString(tg.Expr, -1) {
				n++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
				if !strings.Contains(defined.String(), `"`+base+`"`) {
					t.Errorf("panel %q queries %s, which nothing defines", p.Title, name)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d metric references", n)
	}
}
