// Package devstack brings up what a laptop lacks for the platform to run
// in one process (`sluice dev`, `sluice demo`): a state folder that one
// stack holds at a time, PostgreSQL (the given server, or a private
// cluster from the machine's binaries, devstack/postgres), a lake folder,
// and an embedded Temporal server with its UI (devstack/temporalserver).
// The production parts (workers, the control API, serving) are wired onto
// it by cmd/sluice, as the production commands wire them.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/sluice-ml/sluice/devstack/postgres"
	"github.com/sluice-ml/sluice/devstack/temporalserver"
	"github.com/sluice-ml/sluice/internal/temporalconn"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
)

// Options say where the stack keeps its state and what it listens on.
type Options struct {
	// Dir holds the state and the logs; it is created when missing.
	Dir string
	// Host is the address the Temporal frontend and UI listen on.
	Host                 string
	TemporalPort, UIPort int
	// UIWrite lets the UI start, signal and end workflows; without it
	// the UI only reads.
	UIWrite bool
	// DatabaseURL is the PostgreSQL server; empty starts a private
	// cluster in Dir/postgres.
	DatabaseURL string
	// Lake is the lake; an empty URL means the folder Dir/lake.
	Lake lakehouse.Options
	// Temporal configures the client (namespace, TLS); its address is the
	// embedded server's.
	Temporal temporalconn.Options
	// Reserve, when set, runs once the storage is up and before Temporal
	// starts (the slowest part): the caller opens its listeners there,
	// so a taken port fails fast.
	Reserve func() error
	Logger  *slog.Logger
}

// Stack is the running dev infrastructure.
type Stack struct {
	// Dir is the state folder, absolute.
	Dir string
	// DatabaseURL and Lake are what the platform connects to.
	DatabaseURL string
	Lake        lakehouse.Options
	Pool        *pgxpool.Pool
	Objects     lakehouse.ObjectStore
	Catalog     *lakehouse.Catalog
	Client      client.Client
	// Postgres is the private cluster; nil when DatabaseURL was given.
	Postgres *postgres.Cluster
	Temporal *temporalserver.Temporal
	UI       *temporalserver.UI

	lock *os.File
}

// Start brings the stack up in order; on error it stops what it started.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("--dir: %w", err)
	}
	// The folder holds the API token and the private cluster: it is the
	// user's alone.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--dir: %w", err)
	}
	st := &Stack{Dir: dir, DatabaseURL: o.DatabaseURL, Lake: o.Lake}
	defer func() {
		if err != nil {
			_ = st.Close()
		}
	}()
	if st.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	if err := st.startStorage(ctx, logger); err != nil {
		return nil, err
	}
	if o.Reserve != nil {
		if err := o.Reserve(); err != nil {
			return nil, err
		}
	}
	if err := st.startTemporal(ctx, o, logger); err != nil {
		return nil, err
	}
	return st, nil
}

// startStorage starts PostgreSQL (unless given) and opens the lake.
func (st *Stack) startStorage(ctx context.Context, logger *slog.Logger) (err error) {
	if st.DatabaseURL == "" {
		if _, ferr := postgres.FindBinDir(); ferr != nil {
			return fmt.Errorf("no SLUICE_DATABASE_URL, and %w\n%s", ferr, postgres.InstallHint)
		}
		if os.Getuid() == 0 {
			// As root, the cluster runs as the postgres user, who must
			// enter the folder to reach its own: traverse, not list (the
			// token file stays 0600).
			if err := os.Chmod(st.Dir, 0o711); err != nil {
				return fmt.Errorf("--dir: %w", err)
			}
		}
		st.Postgres, err = postgres.Start(ctx, postgres.Options{
			Dir:     filepath.Join(st.Dir, "postgres"),
			LogFile: filepath.Join(st.Dir, "postgres.log"),
			Logger:  logger,
		})
		if err != nil {
			return fmt.Errorf("starting private PostgreSQL: %w", err)
		}
		st.DatabaseURL = st.Postgres.URL()
	}
	if st.Pool, err = metastore.Open(ctx, st.DatabaseURL, logger); err != nil {
		return err
	}
	if st.Lake.URL == "" {
		st.Lake.URL = "file://" + filepath.Join(st.Dir, "lake")
	}
	if err := st.Lake.Validate(); err != nil {
		return fmt.Errorf("--lake (SLUICE_LAKE): %w", err)
	}
	if st.Objects, err = lakehouse.Open(ctx, st.Lake); err != nil {
		return err
	}
	st.Catalog, err = lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: st.DatabaseURL, Lake: st.Lake})
	return err
}

// startTemporal starts the embedded Temporal server and UI and dials it.
func (st *Stack) startTemporal(ctx context.Context, o Options, logger *slog.Logger) (err error) {
	st.Temporal, err = temporalserver.StartTemporal(temporalserver.Options{
		DBFile:       filepath.Join(st.Dir, "temporal.db"),
		IP:           o.Host,
		FrontendPort: o.TemporalPort,
		LogFile:      filepath.Join(st.Dir, "temporal.log"),
	})
	if err != nil {
		return err
	}
	if st.UI, err = temporalserver.StartUI(temporalserver.UIOptions{IP: o.Host, Port: o.UIPort, Frontend: st.Temporal.Frontend(), Write: o.UIWrite}); err != nil {
		return err
	}
	topts := o.Temporal
	topts.Address = st.Temporal.Frontend()
	st.Client, err = temporalconn.Dial(ctx, topts, logger.With("component", "temporal-client"))
	return err
}

// Close stops every part in the reverse order of start.
func (st *Stack) Close() error {
	var errs []error
	if st.Client != nil {
		st.Client.Close()
	}
	if st.UI != nil {
		st.UI.Stop()
	}
	if st.Temporal != nil {
		if err := st.Temporal.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping Temporal: %w", err))
		}
	}
	if st.Catalog != nil {
		st.Catalog.Close()
	}
	if st.Pool != nil {
		st.Pool.Close()
	}
	if st.Postgres != nil {
		if err := st.Postgres.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if st.lock != nil {
		st.lock.Close()
	}
	return errors.Join(errs...)
}

// lockDir takes an exclusive lock on dir, so a second dev stack on the same
// state fails at once instead of corrupting it.
func lockDir(dir string) (*os.File, error) {
	p := filepath.Join(dir, "dev.lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(f)
		f.Close()
		holder := strings.TrimSpace(string(b))
		if holder == "" {
			holder = "another process"
		} else {
			holder = "process " + holder
		}
		return nil, fmt.Errorf("another sluice dev (%s) is already running on %s; stop it or choose another --dir", holder, dir)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}
