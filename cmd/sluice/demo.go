package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/sluice-ml/sluice/examples/churn"
	"github.com/sluice-ml/sluice/pipelines"
)

// runDemo starts the dev stack, generates the churn example, applies its
// spec and runs its pipeline end to end (ingest, materialize, a training
// sweep, gates, promotion, scoring), then shows the results four ways:
// the model's test AUC, the run in the Temporal UI, the customers most at
// risk from PostgreSQL, and the online endpoint. Running it again reuses
// the data and the finished run.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, dev := defaultConfig(), defaultDevOptions()
	f := devFlags("demo", stderr, &cfg, &dev)
	exit := false
	customers := 5000
	f.BoolVar(&exit, "exit", false, "stop the stack after the demo instead of keeping it up")
	f.IntVar(&customers, "customers", customers, "customers in the generated example")
	if err := f.parse(args, false); err != nil {
		return err
	}
	st, err := startStack(ctx, cfg, dev, stdout)
	if err != nil {
		return err
	}
	if err := demo(ctx, cfg, dev, st, customers, stdout); err != nil {
		_ = st.close()
		return err
	}
	if !exit {
		fmt.Fprintln(stdout, "\nThe stack stays up; press Ctrl-C to stop it (state stays in "+dev.Dir+"; make clean removes it).")
		<-ctx.Done()
	}
	fmt.Fprintln(stdout, "stopping...")
	return st.close()
}

func demo(ctx context.Context, cfg config, dev devOptions, st *stack, customers int, stdout io.Writer) error {
	begin := time.Now()
	dir, err := filepath.Abs(filepath.Join(dev.Dir, "churn-example"))
	if err != nil {
		return err
	}
	specFile := filepath.Join(dir, "sluice.yaml")
	if !fileExists(filepath.Join(dir, "data", "labels.csv")) {
		fmt.Fprintf(stdout, "\n== generating the churn example (%d customers, 180 days) in %s\n", customers, dir)
		if err := churn.Generate(dir, customers, 1); err != nil {
			return err
		}
	}
	cfg.DatabaseURL, cfg.Temporal.Address = st.DatabaseURL, st.Temporal.Frontend()
	fmt.Fprintf(stdout, "\n== sluice apply -f %s\n", specFile)
	res, err := applySpec(ctx, &cfg, specFile)
	if err != nil {
		return err
	}
	res.print(stdout)

	fmt.Fprintln(stdout, "\n== sluice run churn_daily --as-of "+churn.End.Format(time.RFC3339)+" --wait")
	run, err := startPipeline(ctx, st.Client, cfg.Temporal.Namespace, res.project, "churn_daily", churn.End)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) || (err != nil && strings.Contains(err.Error(), "already")) {
		fmt.Fprintln(stdout, "(this as-of time already ran: showing that run)")
		run = st.Client.GetWorkflow(ctx, pipelines.RunID(res.project, "churn_daily", churn.End), "")
	} else if err != nil {
		return err
	}
	var out pipelines.Result
	if err := run.Get(ctx, &out); err != nil {
		return fmt.Errorf("the pipeline: %w\nsee %s", err, workflowURL(st.uiURL, cfg.Temporal.Namespace, run.GetID(), run.GetRunID()))
	}
	printPipeline(stdout, out)
	fmt.Fprintf(stdout, "(pipeline done in %s)\n", time.Since(begin).Round(time.Second))

	m := out.Models[0]
	fmt.Fprintf(stdout, "\n1. The model: churn v%d, test AUC %.4f (promoted: %v, %s)\n", m.Version, m.Test["auc"], m.Promoted, m.Reason)
	fmt.Fprintf(stdout, "\n2. The run in the Temporal UI:\n   %s\n", workflowURL(st.uiURL, cfg.Temporal.Namespace, run.GetID(), run.GetRunID()))

	query := `SELECT customer_id, round(score::numeric, 3) AS score, label, as_of::date FROM churn_demo_predictions.churn_latest ORDER BY score DESC, customer_id LIMIT 10`
	fmt.Fprintf(stdout, "\n3. The 10 customers most at risk:\n   psql %q -c %q\n\n", redactURL(st.DatabaseURL), query)
	rows, err := st.Pool.Query(ctx, query)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   customer_id\tscore\tlabel\tas_of")
	top := ""
	for rows.Next() {
		var id, label string
		var score float64
		var asOf time.Time
		if err := rows.Scan(&id, &score, &label, &asOf); err != nil {
			rows.Close()
			return err
		}
		if top == "" {
			top = id
		}
		fmt.Fprintf(tw, "   %s\t%.3f\t%s\t%s\n", id, score, label, asOf.Format("2006-01-02"))
	}
	rows.Close()
	tw.Flush()

	serveURL := "http://" + st.serveAddr
	if err := waitReady(ctx, serveURL+"/v2/models/churn/ready", 20*time.Second); err != nil {
		return err
	}
	body := fmt.Sprintf(`{"instances":[{"customer_id":"%s"}]}`, top)
	fmt.Fprintf(stdout, "\n4. The online endpoint (features from the online store):\n   curl -s -X POST %s/v1/models/churn:predict -H 'Content-Type: application/json' -d '%s'\n", serveURL, body)
	resp, err := http.Post(serveURL+"/v1/models/churn:predict", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Fprintf(stdout, "   %s\n", strings.TrimSpace(string(answer)))
	fmt.Fprintf(stdout, "\nThe control API needs its token: curl -H \"Authorization: Bearer $(cat %s)\" http://%s/api/v1/runs\n",
		filepath.Join(mustAbs(dev.Dir), "api-token"), st.apiAddr)
	return nil
}

func mustAbs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// waitReady polls a readiness URL until it answers 200.
func waitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s", url, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
