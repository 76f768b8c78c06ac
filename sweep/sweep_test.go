package sweep

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestGridIsEveryCombinationInKeyOrder(t *testing.T) {
	got, err := Trials(map[string]string{"trees": "50", "max_depth": "3"},
		map[string][]string{"max_depth": {"4", "6"}, "learning_rate": {"0.05", "0.1"}}, Search{})
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"trees": "50", "learning_rate": "0.05", "max_depth": "4"},
		{"trees": "50", "learning_rate": "0.05", "max_depth": "6"},
		{"trees": "50", "learning_rate": "0.1", "max_depth": "4"},
		{"trees": "50", "learning_rate": "0.1", "max_depth": "6"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("grid:\n got %v\nwant %v", got, want)
	}
	if got, _ := Trials(map[string]string{"trees": "5"}, nil, Search{}); len(got) != 1 || got[0]["trees"] != "5" {
		t.Fatalf("no sweep should be one trial of the base params, got %v", got)
	}
}

func TestRandomDrawsWithinTheSpaceAndRepeatsForASeed(t *testing.T) {
	space := map[string][]string{
		"learning_rate": {"loguniform(0.01, 0.3)"},
		"subsample":     {"uniform(0.5, 1)"},
		"max_depth":     {"int(3, 8)"},
		"loss":          {"a", "b", "c"},
	}
	s := Search{Method: Random, Trials: 50, Seed: 7}
	a, err := Trials(map[string]string{"trees": "100"}, space, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 50 {
		t.Fatalf("want 50 trials, got %d", len(a))
	}
	b, _ := Trials(map[string]string{"trees": "100"}, space, s)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different trials")
	}
	s.Seed = 8
	if c, _ := Trials(map[string]string{"trees": "100"}, space, s); reflect.DeepEqual(a, c) {
		t.Fatal("another seed gave the same trials")
	}
	depths := map[string]bool{}
	var lowRates int
	for _, tr := range a {
		lr, _ := strconv.ParseFloat(tr["learning_rate"], 64)
		sub, _ := strconv.ParseFloat(tr["subsample"], 64)
		d, err := strconv.Atoi(tr["max_depth"])
		if err != nil || d < 3 || d > 8 || lr < 0.01 || lr > 0.3 || sub < 0.5 || sub > 1 || !strings.Contains("abc", tr["loss"]) || tr["trees"] != "100" {
			t.Fatalf("trial out of the space: %v", tr)
		}
		depths[tr["max_depth"]] = true
		if lr < math.Sqrt(0.01*0.3) {
			lowRates++
		}
	}
	// Log-uniform: half the draws fall below the geometric mean.
	if lowRates < 15 || lowRates > 35 {
		t.Errorf("%d of 50 log-uniform draws below the geometric mean; want about 25", lowRates)
	}
	if len(depths) < 5 {
		t.Errorf("int(3, 8) drew only %v in 50 trials", depths)
	}
}

func TestRandomOverASmallFiniteSpaceGivesEachCombinationOnce(t *testing.T) {
	got, err := Trials(nil, map[string][]string{"a": {"1", "2"}, "b": {"x", "y"}}, Search{Method: Random, Trials: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tr := range got {
		seen[tr["a"]+tr["b"]] = true
	}
	if len(got) != 4 || len(seen) != 4 {
		t.Fatalf("want the 4 combinations once each, got %v", got)
	}
}

func TestValidateSaysWhatIsWrong(t *testing.T) {
	for _, c := range []struct {
		space map[string][]string
		s     Search
		want  string
	}{
		{map[string][]string{"lr": {"uniform(0.1, 0.01)"}}, Search{Method: Random, Trials: 3}, "low bound"},
		{map[string][]string{"lr": {"loguniform(0, 1)"}}, Search{Method: Random, Trials: 3}, "positive"},
		{map[string][]string{"d": {"int(2.5, 4)"}}, Search{Method: Random, Trials: 3}, "whole numbers"},
		{map[string][]string{"lr": {"normal(0, 1)"}}, Search{Method: Random, Trials: 3}, "want uniform"},
		{map[string][]string{"lr": {"uniform(0.01, 0.1)"}}, Search{}, "random search"},
		{map[string][]string{"lr": {"uniform(0.01, 0.1)", "0.3"}}, Search{Method: Random, Trials: 3}, "on its own"},
		{map[string][]string{"lr": {"0.1"}}, Search{Method: Random}, "trials"},
		{map[string][]string{"lr": {}}, Search{}, "list of values"},
		{nil, Search{Method: "bayes"}, "grid or random"},
		{map[string][]string{"lr": {"loguniform(0.01"}}, Search{Method: Random, Trials: 3}, "quote it"},
		{map[string][]string{"lr": {""}}, Search{}, "empty"},
	} {
		err := Validate(c.space, c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%v, %+v) = %v; want an error saying %q", c.space, c.s, err, c.want)
		}
	}
}

// TestRangeIsTrialsInPieces: every range of a grid or random search is
// the same slice of Trials, and Count says how many there are.
func TestRangeIsTrialsInPieces(t *testing.T) {
	base := map[string]string{"trees": "50"}
	for _, c := range []struct {
		space map[string][]string
		s     Search
	}{
		{map[string][]string{"depth": {"2", "4", "6"}, "lr": {"0.1", "0.3"}, "leaves": {"8", "16", "31", "63"}}, Search{}},
		{map[string][]string{"lr": {"loguniform(0.01, 0.3)"}, "depth": {"2", "4"}}, Search{Method: Random, Trials: 7, Seed: 3}},
	} {
		all, err := Trials(base, c.space, c.s)
		if err != nil {
			t.Fatal(err)
		}
		if c.s.Method != Random && Count(c.space, c.s) != len(all) {
			t.Errorf("count %d, want %d", Count(c.space, c.s), len(all))
		}
		var pieced []map[string]string
		for lo := 0; lo < len(all); lo += 5 {
			part, err := Range(base, c.space, c.s, lo, min(lo+5, len(all)))
			if err != nil {
				t.Fatal(err)
			}
			pieced = append(pieced, part...)
		}
		if !reflect.DeepEqual(pieced, all) {
			t.Errorf("ranges %v\nwant %v", pieced, all)
		}
	}
}

// TestCountRefusesHugeGrids: a 6 x 10 grid is a million trials, refused
// against the default cap without being expanded; a raised cap admits a
// bigger sweep, up to MostTrials.
func TestCountRefusesHugeGrids(t *testing.T) {
	space := map[string][]string{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		space[k] = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	}
	if n := Count(space, Search{}); n != MostTrials+1 {
		t.Errorf("count %d", n)
	}
	if err := ValidateCount(space, Search{}); err == nil || !strings.Contains(err.Error(), "more than 100000 trials") {
		t.Errorf("a million trials: %v", err)
	}
	small := map[string][]string{"a": space["a"], "b": space["b"], "c": space["c"], "d": space["d"]}
	if err := ValidateCount(small, Search{}); err == nil {
		t.Error("10,000 trials under the default cap of 1,000 were accepted")
	}
	if err := ValidateCount(small, Search{MaxTrials: 10_000}); err != nil {
		t.Errorf("10,000 trials with max_trials 10000: %v", err)
	}
	if err := ValidateCount(small, Search{MaxTrials: MostTrials + 1}); err == nil {
		t.Error("a cap over MostTrials was accepted")
	}
}
