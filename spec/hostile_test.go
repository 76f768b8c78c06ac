package spec

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// hostile are names that must never reach SQL or an object key as they
// are: quotes and statements, path traversal, separators, case, space.
var hostile = []string{
	`x"; DROP TABLE sluice.models; --`,
	`x'); DELETE FROM sluice.runs; --`,
	"../../etc",
	"a/b",
	"Churn",
	"a b",
	"",
	"ünïcode",
	"1st",
	strings.Repeat("a", 10) + "\x00",
}

// TestHostileNamesAreRefused puts each hostile name in each place a spec
// names something that becomes a table, a schedule, an object key or a
// SQL identifier, and expects a validation error that names the field.
func TestHostileNamesAreRefused(t *testing.T) {
	src, err := os.ReadFile("testdata/churn.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rename := func(doc map[string]any, section, from, to string) {
		m := doc[section].(map[string]any)
		m[to] = m[from]
		delete(m, from)
	}
	for _, place := range []struct {
		field  string
		mutate func(doc map[string]any, name string)
	}{
		{"project", func(doc map[string]any, n string) { doc["project"] = n }},
		{"sources.", func(doc map[string]any, n string) { rename(doc, "sources", "customers", n) }},
		{"entities.", func(doc map[string]any, n string) { rename(doc, "entities", "customer", n) }},
		{"feature_views.", func(doc map[string]any, n string) { rename(doc, "feature_views", "customer_txn", n) }},
		{"models.", func(doc map[string]any, n string) { rename(doc, "models", "churn", n) }},
		{"pipelines.", func(doc map[string]any, n string) { rename(doc, "pipelines", "churn_daily", n) }},
	} {
		for _, name := range hostile {
			var doc map[string]any
			if err := yaml.Unmarshal(src, &doc); err != nil {
				t.Fatal(err)
			}
			place.mutate(doc, name)
			out, err := yaml.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse("sluice.yaml", out)
			if err == nil {
				t.Errorf("%s = %q was accepted", place.field, name)
				continue
			}
			if !strings.Contains(err.Error(), place.field) {
				t.Errorf("%s = %q: the error does not name the field: %v", place.field, name, err)
			}
		}
	}
}
