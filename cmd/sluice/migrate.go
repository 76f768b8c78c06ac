package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/sluice-ml/sluice/metastore"
)

// runMigrate applies the metastore's pending migrations and exits: the
// Helm chart's pre-install/pre-upgrade hook. Every process also migrates
// when it connects (under an advisory lock), so this is an ordering aid,
// not a requirement: a failed migration fails the release before any pod
// of the new version starts.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("migrate", stderr)
	cfg := defaultConfig()
	cfg.storageFlags(f)
	cfg.logFlags(f)
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
		return nil
	}
	vs := make([]string, len(applied))
	for i, v := range applied {
		vs[i] = fmt.Sprintf("%04d", v)
	}
	fmt.Fprintf(stdout, "metastore: applied %s\n", strings.Join(vs, ", "))
	return nil
}
