package training

import (
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
)

// TestCategoricalTrialsTrainOnTheCPU: the GPU kernels split numeric bins
// only, so a trial with a categorical feature keeps to the CPU and its
// device field says why.
func TestCategoricalTrialsTrainOnTheCPU(t *testing.T) {
	numeric := &ml.Dataset{Features: []ml.Feature{{Name: "x"}}}
	mixed := &ml.Dataset{Features: []ml.Feature{{Name: "x"}, {Name: "plan", Kind: ml.Categorical}}}
	for _, tc := range []struct {
		alg  artifact.Algorithm
		d    *ml.Dataset
		want string
	}{
		{artifact.GBDT, numeric, ""},
		{artifact.GBDT, mixed, `categorical splits (feature "plan") train on the CPU`},
		{artifact.Linear, numeric, "linear trains on the CPU"},
	} {
		if got := cpuReason(tc.alg, tc.d); got != tc.want || (tc.want != "" && !strings.Contains(got, "CPU")) {
			t.Errorf("%s on %d features: %q, want %q", tc.alg, len(tc.d.Features), got, tc.want)
		}
	}
}
