package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/relocate"
)

// runMigrate applies the metastore's pending migrations and exits: the
// Helm chart's pre-install/pre-upgrade hook. Every process also migrates
// when it connects (under an advisory lock), so this is an ordering aid,
// not a requirement: a failed migration fails the release before any pod
// of the new version starts.
//
// With the lake (--lake), it also moves a first-release install, whose
// tables and models had no project, into its project (package relocate):
// the one project applied, or --project.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("migrate", stderr)
	cfg := defaultConfig()
	cfg.storageFlags(f)
	cfg.logFlags(f)
	var project string
	f.StringVar(&project, "project", "", "the project that unprefixed first-release tables and models belong to (default: the one project applied)")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return fmt.Errorf("--database-url (SLUICE_DATABASE_URL) is required")
	}
	logger, err := cfg.logger()
	if err != nil {
		return err
	}
	pool, err := metastore.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	applied, err := metastore.Migrate(ctx, pool, logger)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "metastore: up to date")
	} else {
		vs := make([]string, len(applied))
		for i, v := range applied {
			vs[i] = fmt.Sprintf("%04d", v)
		}
		fmt.Fprintf(stdout, "metastore: applied %s\n", strings.Join(vs, ", "))
	}
	if cfg.Lake.URL == "" {
		if project != "" {
			return errors.New("--project moves lake tables: give --lake (SLUICE_LAKE) too")
		}
		return nil
	}
	if err := cfg.Lake.Validate(); err != nil {
		return fmt.Errorf("--lake (SLUICE_LAKE): %w", err)
	}
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: cfg.DatabaseURL, Lake: cfg.Lake})
	if err != nil {
		return err
	}
	defer cat.Close()
	return upgradeLake(ctx, pool, cat, project, stdout)
}

// upgradeLake brings a lake of an earlier release up to date: it moves a
// first-release layout into its project, and tags the training data of
// versions registered before tags existed, so expiry keeps it.
func upgradeLake(ctx context.Context, pool *pgxpool.Pool, cat *lakehouse.Catalog, project string, stdout io.Writer) error {
	if err := relocateProject(ctx, &relocate.Mover{DB: pool, Catalog: cat}, project, stdout); err != nil {
		return err
	}
	n, err := (&registry.Registry{DB: pool}).TagAllTrainingData(ctx, cat)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(stdout, "lake: the training data of %d model versions is tagged and kept\n", n)
	}
	return nil
}

// relocateProject moves a first-release layout into its project and says
// what moved.
func relocateProject(ctx context.Context, m *relocate.Mover, project string, stdout io.Writer) error {
	pending, err := m.Pending(ctx)
	if err != nil {
		return err
	}
	p, err := m.Project(ctx, project)
	if err != nil {
		if len(pending) == 0 {
			return nil // nothing to move: no need to choose
		}
		return fmt.Errorf("%w: %d tables have no project (%s): sluice migrate --project NAME", err, len(pending), strings.Join(pending, ", "))
	}
	if p == "" {
		if len(pending) > 0 {
			fmt.Fprintf(stdout, "lake: %d tables have no project and no spec is applied yet: apply the project's spec, then run sluice migrate again\n", len(pending))
		}
		return nil
	}
	rep, err := m.Move(ctx, p)
	if err != nil {
		return err
	}
	if !rep.Moved() {
		fmt.Fprintln(stdout, "projects: every table and model already has its project")
		return nil
	}
	fmt.Fprintf(stdout, "moved into project %s:\n", p)
	for _, t := range append(rep.Tables, rep.Schemas...) {
		fmt.Fprintf(stdout, "  %s\n", t)
	}
	for _, t := range slices.Sorted(maps.Keys(rep.Rows)) {
		fmt.Fprintf(stdout, "  %s: %d rows renamed\n", t, rep.Rows[t])
	}
	return nil
}
