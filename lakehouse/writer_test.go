package lakehouse_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// TestWriterPushesEveryBatchOnce: batches pushed to several writers all
// land in the run's one commit, each once.
func TestWriterPushesEveryBatchOnce(t *testing.T) {
	ctx := context.Background()
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: testenv.PostgresURL(t),
		Lake: lakehouse.Options{URL: "file://" + t.TempDir() + "/lake"}, Name: "t_writer_" + fmt.Sprint(time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if _, err := cat.EnsureTable(ctx, "raw.events", eventSchema, "ts"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name            string
		writers, buffer int
	}{{"one writer, unbuffered", 1, 0}, {"three writers, buffered", 3, 2}} {
		t.Run(c.name, func(t *testing.T) {
			st, err := cat.Stage(ctx, "raw.events", eventSchema, "run/"+c.name)
			if err != nil {
				t.Fatal(err)
			}
			w := st.NewWriter(ctx, lakehouse.WriterOptions{Writers: c.writers, Buffer: c.buffer})
			for i := range 10 {
				if err := w.Add(events(i*100, 100)); err != nil {
					t.Fatal(err)
				}
			}
			files, err := w.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(files) == 0 {
				t.Error("the writers wrote no files")
			}
			before, err := cat.Scan(ctx, "raw.events", lakehouse.ScanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Commit(ctx, lakehouse.CommitOptions{}); err != nil {
				t.Fatal(err)
			}
			after, err := cat.Scan(ctx, "raw.events", lakehouse.ScanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := rowCount(after.Records) - rowCount(before.Records); got != 1000 {
				t.Errorf("the commit added %d rows, want 1000", got)
			}
		})
	}
}

// TestWriterReportsACanceledWrite: once the writers' context ends, Add
// refuses batches (releasing them) and Close says why.
func TestWriterReportsACanceledWrite(t *testing.T) {
	ctx := context.Background()
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: testenv.PostgresURL(t),
		Lake: lakehouse.Options{URL: "file://" + t.TempDir() + "/lake"}, Name: "t_writer_cancel_" + fmt.Sprint(time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if _, err := cat.EnsureTable(ctx, "raw.events", eventSchema, "ts"); err != nil {
		t.Fatal(err)
	}
	st, err := cat.Stage(ctx, "raw.events", eventSchema, "run/canceled")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	w := st.NewWriter(wctx, lakehouse.WriterOptions{Writers: 2})
	cancel()
	var addErr error
	for i := 0; i < 100 && addErr == nil; i++ {
		addErr = w.Add(events(i*10, 10))
	}
	if !errors.Is(addErr, context.Canceled) {
		t.Errorf("Add after cancel: %v, want context.Canceled", addErr)
	}
	if _, err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Errorf("Close: %v, want context.Canceled", err)
	}
	if _, err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Errorf("a second Close: %v", err)
	}
}
