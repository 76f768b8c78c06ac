package specstore_test

import (
	"testing"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/specstore"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestVersionsCountPerProject: a second project's first spec is its
// version 1, whatever other projects applied before.
func TestVersionsCountPerProject(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.NewDatabase(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	st := &specstore.Store{DB: db}
	dir := t.TempDir()
	for _, step := range []struct {
		project, text string
		want          int
		changed       bool
	}{
		{"demo", "project: demo\n", 1, true},
		{"demo", "project: demo\n# two\n", 2, true},
		{"mine", "project: mine\n", 1, true},
		{"demo", "project: demo\n# two\n", 2, false},
		{"mine", "project: mine\n# two\n", 2, true},
	} {
		v, _, changed, err := st.Apply(ctx, step.project, step.text, dir, "test")
		if err != nil || v.Version != step.want || changed != step.changed {
			t.Fatalf("apply %s: version %d changed %v (%v), want %d %v", step.project, v.Version, changed, err, step.want, step.changed)
		}
	}
	if v, err := st.Get(ctx, "mine", 1); err != nil || v.Content != "project: mine\n" {
		t.Errorf("mine v1: %+v, %v", v, err)
	}
	newest, err := st.Newest(ctx)
	if err != nil || len(newest) != 2 || newest[0].Project != "demo" || newest[0].Version != 2 || newest[1].Version != 2 {
		t.Errorf("newest %+v, %v", newest, err)
	}
}
