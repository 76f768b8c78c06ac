// Command sluice is the Sluice platform in one binary: the dev stack, the
// worker, the online server, the control API and the client commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand. run receives the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run the whole platform in one process (Temporal, UI, PostgreSQL, worker, API, serving)", runDev},
		{"demo", "run the dev stack and prove each part answers, then keep it up", runDemo},
		{"worker", "run a Temporal worker for production (--queues io,cpu,gpu)", runWorker},
		{"serve", "run the online prediction server", runServe},
		{"api", "run the control API", runAPI},
		{"migrate", "apply the metastore's pending migrations and exit (deploy hooks)", runMigrate},
		{"probe", "GET a URL and fail unless it answers 2xx (containers' health checks)", runProbe},
		{"selfcheck", "start a workflow that writes and reads PostgreSQL and the lake", runSelfCheck},
		{"init", "scaffold a project from data files: sluice init --from data/events.parquet --from data/labels.csv", runInit},
		{"apply", "validate and store the project spec (sluice apply -f sluice.yaml) and sync its pipelines' schedules", runApply},
		{"run", "start a pipeline run: sluice run PIPELINE [--as-of T] [--wait]", runRun},
		{"schedule", "the pipelines' Temporal Schedules: list, trigger, pause, unpause, backfill", runSchedule},
		{"ingest", "land a source of the project spec in the lake (raw.<source>)", runIngest},
		{"materialize", "compute a feature view into features.<view> and the online store (--start/--end backfills)", runMaterialize},
		{"features", "read entities' online features", runFeatures},
		{"train", "train a model of the spec: training set, sweep trials on its queue, test, register", runTrain},
		{"experiments", "a model's recorded trials", runExperiments},
		{"models", "the model registry: list, show, promote, rollback, history", runModels},
		{"score", "bulk-score a model's population into predictions.<model> (PostgreSQL and the lake)", runScore},
		{"predictions", "read a model's prediction table", runPredictions},
		{"monitor", "drift of the scored populations against the training reference: sluice monitor report MODEL", runMonitor},
		{"training-set", "build a model's point-in-time training set (training.<model>)", runTrainingSet},
		{"ml", "train, score, evaluate and inspect models on local CSV and Parquet files", runML},
		{"lake", "list, describe and read the lake's Iceberg tables", runLake},
	}
}

func main() {
	os.Exit(mainWithArgs(os.Args[1:], os.Stdout, os.Stderr))
}

func mainWithArgs(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		// Installed before any server starts: a signal during start-up
		// must stop cleanly rather than kill the process.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if path := os.Getenv("SLUICE_CPUPROFILE"); path != "" {
			stopProfile, err := startCPUProfile(path)
			if err != nil {
				fmt.Fprintf(stderr, "sluice %s: %v\n", c.name, err)
				return 1
			}
			defer stopProfile()
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		default:
			fmt.Fprintf(stderr, "sluice %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "sluice: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// startCPUProfile writes a CPU profile of the command to path (for `go
// tool pprof`) until the returned function stops it; %p in the path
// stands for the process id, so processes started together (a dev stack
// and its workers) write one profile each.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid())))
	if err != nil {
		return nil, fmt.Errorf("SLUICE_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("SLUICE_CPUPROFILE: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Sluice %s: batch ML pipelines on Temporal, an Iceberg lake and PostgreSQL.\n", version)
	fmt.Fprintln(w, "\nUsage: sluice COMMAND [flags]   (sluice COMMAND -h for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
}

// runSub runs one of a command group's subcommands, or lists them.
func runSub(ctx context.Context, group string, cmds []command, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stdout, "Usage: sluice %s COMMAND [flags]\n\nCommands:\n", group)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, c := range cmds {
			fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
		}
		tw.Flush()
		return nil
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	return fmt.Errorf("unknown command %q (see sluice %s help)", args[0], group)
}
