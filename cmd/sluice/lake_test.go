package main

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestLakeCommands(t *testing.T) {
	ctx := context.Background()
	o := lakehouse.CatalogOptions{DatabaseURL: testenv.PostgresURL(t), Lake: lakehouse.Options{URL: "file://" + t.TempDir() + "/lake"}}
	t.Setenv("SLUICE_DATABASE_URL", o.DatabaseURL)
	t.Setenv("SLUICE_LAKE", o.Lake.URL)
	cat, err := lakehouse.OpenCatalog(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "tenure", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"C1", "C2", "C3"}, nil)
	b.Field(1).(*array.Int64Builder).AppendValues([]int64{3, 0, 12}, []bool{true, false, true})
	rec := b.NewRecordBatch()
	defer rec.Release()
	if _, err := cat.EnsureTable(ctx, "raw.lake_customers", schema, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Append(ctx, "raw.lake_customers", []arrow.RecordBatch{rec}, "ingest/lake_customers/1"); err != nil {
		t.Fatal(err)
	}

	if out := run(t, "lake", "tables"); !strings.Contains(out, "raw.lake_customers") {
		t.Errorf("tables:\n%s", out)
	}
	out := run(t, "lake", "show", "raw.lake_customers")
	for _, want := range []string{"rows       3", "customer_id", "tenure", "ingest/lake_customers/1", "(current)"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	out = run(t, "lake", "head", "raw.lake_customers", "-n", "2")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[0], "customer_id") {
		t.Errorf("head -n 2:\n%s", out)
	}
	pool, err := metastore.Open(ctx, o.DatabaseURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `INSERT INTO sluice.quality_results VALUES ('ingest/lake_customers/1', 'lake_customers', 'unique(customer_id)', 'fail', false, 2, '2 of 3 rows violate it', now())`); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "lake", "checks", "lake_customers"); !strings.Contains(out, "unique(customer_id)") || !strings.Contains(out, "2 of 3 rows violate it") {
		t.Errorf("checks:\n%s", out)
	}
	if code, out := runInProcess(t, "lake", "show", "raw.nope"); code == 0 || !strings.Contains(out, "raw.nope") {
		t.Errorf("show of a missing table: exit %d, %q", code, out)
	}
}
