package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/user"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/workflows"
)

func modelsCommands() []command {
	return []command{
		{"list", "the models, their version counts and aliases", runModelsList},
		{"show", "a model's versions (or one version, as JSON): sluice models show MODEL [VERSION]", runModelsShow},
		{"promote", "point an alias at a version: sluice models promote MODEL VERSION [--alias champion] [--reason R]", runModelsPromote},
		{"rollback", "point an alias back at its previous version: sluice models rollback MODEL [--alias champion]", runModelsRollback},
		{"history", "an alias's moves: sluice models history MODEL [--alias champion]", runModelsHistory},
		{"lineage", "what a version was made from: sluice models lineage MODEL VERSION", runModelsLineage},
		{"approve", "approve (or --reject) a version waiting for manual approval: sluice models approve MODEL VERSION", runModelsApprove},
	}
}

func runModels(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSub(ctx, "models", modelsCommands(), args, stdout, stderr)
}

// openRegistry parses the database flag (plus extra flags) and the
// positional arguments, and opens the registry.
func openRegistry(ctx context.Context, name string, args []string, stderr io.Writer, extra func(*flagSet)) (*registry.Registry, []string, func(), error) {
	pool, pos, err := openDB(ctx, "models "+name, args, stderr, extra)
	if err != nil {
		return nil, nil, nil, err
	}
	reg := &registry.Registry{DB: pool}
	if len(pos) > 0 && name != "list" {
		if pos[0], err = qualifyModel(ctx, reg, pos[0]); err != nil {
			pool.Close()
			return nil, nil, nil, err
		}
	}
	return reg, pos, pool.Close, nil
}

// qualifyBySpec gives a bare source, view or model name the project of
// ./sluice.yaml, when there is one.
func qualifyBySpec(name string) string {
	if strings.Contains(name, ".") || !fileExists("sluice.yaml") {
		return name
	}
	s, _, err := loadSpec("")
	if err != nil {
		return name
	}
	return naming.Qualify(s.Project, name)
}

// qualifyModel gives a model named on the command line its project: the
// name as given when it has one; else the project of ./sluice.yaml; else
// the one project with a model of that name.
func qualifyModel(ctx context.Context, reg *registry.Registry, name string) (string, error) {
	if strings.Contains(name, ".") {
		return name, nil
	}
	// In a project's folder a bare name is that project's model, and
	// never another project's of the same name.
	if fileExists("sluice.yaml") {
		if s, _, err := loadSpec(""); err == nil {
			return naming.Qualify(s.Project, name), nil
		}
	}
	q, err := reg.Lookup(ctx, name)
	if errors.Is(err, registry.ErrNotFound) {
		return name, nil // the command's own lookup says what is missing
	}
	return q, err
}

// openDB parses a command's flags, --database-url among them, and opens
// the database; it returns the positional arguments. The caller closes
// the pool.
func openDB(ctx context.Context, name string, args []string, stderr io.Writer, extra func(*flagSet)) (*pgxpool.Pool, []string, error) {
	cfg := defaultConfig()
	f := newFlagSet(name, stderr)
	f.stringVar(&cfg.DatabaseURL, "database-url", "SLUICE_DATABASE_URL", "", "PostgreSQL connection URL")
	if extra != nil {
		extra(f)
	}
	pos, err := f.parseMany(args)
	if err != nil {
		return nil, nil, err
	}
	if cfg.DatabaseURL == "" {
		return nil, nil, errors.New("--database-url (or SLUICE_DATABASE_URL) is needed")
	}
	pool, err := metastore.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return nil, nil, err
	}
	return pool, pos, nil
}

// operator names who moves an alias from the command line.
func operator() string {
	if u, err := user.Current(); err == nil {
		host, _ := os.Hostname()
		return "cli:" + u.Username + "@" + host
	}
	return "cli"
}

func runModelsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	reg, _, done, err := openRegistry(ctx, "list", args, stderr, nil)
	if err != nil {
		return err
	}
	defer done()
	models, err := reg.Models(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tVERSIONS\tLATEST\tALIASES")
	for _, m := range models {
		var aliases []string
		for _, a := range slices.Sorted(maps.Keys(m.Aliases)) {
			aliases = append(aliases, fmt.Sprintf("%s=v%d", a, m.Aliases[a]))
		}
		fmt.Fprintf(tw, "%s\t%d\tv%d\t%s\n", m.Name, m.Versions, m.Latest, strings.Join(aliases, " "))
	}
	return tw.Flush()
}

func runModelsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	reg, pos, done, err := openRegistry(ctx, "show", args, stderr, nil)
	if err != nil {
		return err
	}
	defer done()
	if len(pos) == 0 || len(pos) > 2 {
		return errors.New("usage: sluice models show MODEL [VERSION]")
	}
	if len(pos) == 2 {
		n, err := registry.ParseVersion(pos[1])
		if err != nil {
			return err
		}
		v, err := reg.Get(ctx, pos[0], n)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	versions, err := reg.Versions(ctx, pos[0])
	if err != nil {
		return err
	}
	if len(versions) == 0 {
		return fmt.Errorf("%w: model %s", registry.ErrNotFound, pos[0])
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tCREATED\tALGORITHM\tMETRICS\tALIASES\tRUN")
	for _, v := range versions {
		var metrics []string
		for _, k := range slices.Sorted(maps.Keys(v.Metrics)) {
			metrics = append(metrics, fmt.Sprintf("%s=%.4f", k, v.Metrics[k]))
		}
		fmt.Fprintf(tw, "v%d\t%s\t%s\t%s\t%s\t%s\n", v.Version, v.CreatedAt.UTC().Format("2006-01-02 15:04"), v.Algorithm,
			strings.Join(metrics, " "), strings.Join(v.Aliases, ","), v.RunID)
	}
	return tw.Flush()
}

func runModelsPromote(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return moveAlias(ctx, "promote", args, stdout, stderr, "promoted by hand", 2,
		"usage: sluice models promote MODEL VERSION [--alias champion] [--reason R]",
		func(reg *registry.Registry, pos []string, alias, reason string) (registry.AliasMove, error) {
			n, err := registry.ParseVersion(pos[1])
			if err != nil {
				return registry.AliasMove{}, err
			}
			return reg.SetAlias(ctx, pos[0], alias, n, operator(), reason)
		})
}

func runModelsRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return moveAlias(ctx, "rollback", args, stdout, stderr, "rolled back by hand", 1,
		"usage: sluice models rollback MODEL [--alias champion] [--reason R]",
		func(reg *registry.Registry, pos []string, alias, reason string) (registry.AliasMove, error) {
			return reg.Rollback(ctx, pos[0], alias, operator(), reason)
		})
}

// moveAlias parses an alias command's --alias and --reason and its
// positional arguments, moves the alias and prints the move.
func moveAlias(ctx context.Context, name string, args []string, stdout, stderr io.Writer, reason string, nargs int, usage string,
	move func(reg *registry.Registry, pos []string, alias, reason string) (registry.AliasMove, error)) error {
	alias := "champion"
	reg, pos, done, err := openRegistry(ctx, name, args, stderr, func(f *flagSet) {
		f.StringVar(&alias, "alias", alias, "the alias to move")
		f.StringVar(&reason, "reason", reason, "why, for the alias's history")
	})
	if err != nil {
		return err
	}
	defer done()
	if len(pos) != nargs {
		return errors.New(usage)
	}
	m, err := move(reg, pos, alias, reason)
	if err != nil {
		return err
	}
	printMove(stdout, m)
	return nil
}

func runModelsHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	alias := "champion"
	reg, pos, done, err := openRegistry(ctx, "history", args, stderr, func(f *flagSet) {
		f.StringVar(&alias, "alias", alias, "the alias")
	})
	if err != nil {
		return err
	}
	defer done()
	if len(pos) != 1 {
		return errors.New("usage: sluice models history MODEL [--alias champion]")
	}
	moves, err := reg.History(ctx, pos[0], alias)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tFROM\tTO\tBY\tREASON")
	for _, m := range moves {
		fmt.Fprintf(tw, "%s\t%s\tv%d\t%s\t%s\n", m.At.UTC().Format("2006-01-02 15:04:05"), versionOrDash(m.From), m.To, m.By, m.Reason)
	}
	return tw.Flush()
}

func printMove(w io.Writer, m registry.AliasMove) {
	if m.From == m.To {
		fmt.Fprintf(w, "%s %s already names v%d\n", m.Model, m.Alias, m.To)
		return
	}
	fmt.Fprintf(w, "%s %s: %s -> v%d\n", m.Model, m.Alias, versionOrDash(m.From), m.To)
}

func versionOrDash(v int) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("v%d", v)
}

func runModelsApprove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("models approve", stderr)
	cfg.temporalFlags(f)
	var reject bool
	reason := ""
	f.BoolVar(&reject, "reject", false, "reject the version instead")
	f.StringVar(&reason, "reason", "", "why, for the alias's history")
	pos, err := f.parseMany(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return errors.New("usage: sluice models approve MODEL VERSION [--reject] [--reason R]")
	}
	n, err := registry.ParseVersion(pos[1])
	if err != nil {
		return err
	}
	tc, err := cfg.dialTemporal(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	pos[0] = qualifyBySpec(pos[0])
	id := workflows.PromoteID(pos[0], n)
	if err := tc.SignalWorkflow(ctx, id, "", workflows.ApproveSignal, workflows.Approval{Approve: !reject, By: operator(), Reason: reason}); err != nil {
		return fmt.Errorf("signalling %s (is the version waiting for approval?): %w", id, err)
	}
	verb := "approved"
	if reject {
		verb = "rejected"
	}
	fmt.Fprintf(stdout, "%s %s v%d (%s)\n", verb, pos[0], n, id)
	return nil
}

func runModelsLineage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	reg, pos, done, err := openRegistry(ctx, "lineage", args, stderr, nil)
	if err != nil {
		return err
	}
	defer done()
	if len(pos) != 2 {
		return errors.New("usage: sluice models lineage MODEL VERSION")
	}
	n, err := registry.ParseVersion(pos[1])
	if err != nil {
		return err
	}
	v, err := reg.Get(ctx, pos[0], n)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s v%d\n  artifact      %s\n  workflow      %s (run %s)\n  spec version  %s\n  code version  %s\n  read:\n",
		v.Model, v.Version, v.ArtifactKey, v.WorkflowID, v.RunID, orDash(v.SpecVersion), orDash(v.CodeVersion))
	for _, t := range slices.Sorted(maps.Keys(v.TrainingSnapshots)) {
		fmt.Fprintf(stdout, "    %-30s snapshot %d\n", t, v.TrainingSnapshots[t])
	}
	return nil
}
