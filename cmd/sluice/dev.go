package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/api"
	"github.com/sluice-ml/sluice/devstack"
	"github.com/sluice-ml/sluice/internal/httpx"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/serving"
	"github.com/sluice-ml/sluice/spec"
	"github.com/sluice-ml/sluice/specstore"
	"github.com/sluice-ml/sluice/workers"
)

// devOptions configures the one-process dev stack.
type devOptions struct {
	Dir          string
	Host         string
	TemporalPort int
	UIPort       int
	APIPort      int
	ServePort    int
	// InsecureExpose lets Host be an address other hosts reach: the dev
	// stack's Temporal has no authentication, and reaching it is full
	// control of the platform.
	InsecureExpose bool
	// UIWrite lets the embedded Temporal UI start, signal and end
	// workflows; it only reads without it.
	UIWrite bool
	// WorkerQueues are the queues the stack's own worker polls; a
	// `sluice worker` beside it polls the others.
	WorkerQueues string
}

func defaultDevOptions() devOptions {
	return devOptions{Dir: ".sluice", Host: "127.0.0.1", TemporalPort: 7233, UIPort: 8233, APIPort: 8081, ServePort: 8080,
		WorkerQueues: "control,io,cpu,gpu"}
}

func (o devOptions) validate() error {
	for flag, p := range map[string]int{"--temporal-port": o.TemporalPort, "--ui-port": o.UIPort, "--api-port": o.APIPort, "--serve-port": o.ServePort} {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("%s: want a port between 1 and 65535, got %d", flag, p)
		}
	}
	ip := net.ParseIP(o.Host)
	if ip == nil {
		return fmt.Errorf("--host: want an IP address, got %q", o.Host)
	}
	if !ip.IsLoopback() && !o.InsecureExpose {
		return fmt.Errorf("--host %s: the dev stack's Temporal server and UI have no authentication, and whoever reaches them controls the platform; bind a loopback address, or add --insecure-expose", o.Host)
	}
	if err := (workers.Options{Queues: workers.ParseQueues(o.WorkerQueues)}).Validate(); err != nil {
		return fmt.Errorf("--worker-%s", strings.TrimPrefix(err.Error(), "--"))
	}
	return nil
}

func devFlags(name string, stderr io.Writer, cfg *config, dev *devOptions) *flagSet {
	f := newFlagSet(name, stderr)
	f.stringVar(&dev.Dir, "dir", "SLUICE_DEV_DIR", dev.Dir, "folder for all state: Temporal's SQLite file, PostgreSQL, the lake, logs")
	f.stringVar(&dev.Host, "host", "", dev.Host, "address every server binds")
	f.intVar(&dev.TemporalPort, "temporal-port", "", dev.TemporalPort, "Temporal frontend (gRPC) port")
	f.intVar(&dev.UIPort, "ui-port", "", dev.UIPort, "Temporal UI port")
	f.intVar(&dev.APIPort, "api-port", "", dev.APIPort, "control API port")
	f.intVar(&dev.ServePort, "serve-port", "", dev.ServePort, "online serving port")
	f.boolVar(&dev.InsecureExpose, "insecure-expose", "", false, "allow a --host other hosts reach (the embedded Temporal has no authentication)")
	f.boolVar(&dev.UIWrite, "ui-write", "", false, "let the Temporal UI start, signal and end workflows (it only reads without)")
	f.stringVar(&dev.WorkerQueues, "worker-queues", "", dev.WorkerQueues, "queues the stack's own worker polls; leave one out for a `sluice worker --queues` beside it")
	f.stringVar(&cfg.DatabaseURL, "database-url", "SLUICE_DATABASE_URL", "", "PostgreSQL URL; empty starts a private cluster under --dir")
	f.stringVar(&cfg.Lake.URL, "lake", "SLUICE_LAKE", "", "lake location; empty means file://<dir>/lake")
	f.stringVar(&cfg.Lake.S3Endpoint, "s3-endpoint", "SLUICE_S3_ENDPOINT", "", "S3 endpoint URL for an s3:// lake")
	f.boolVar(&cfg.Lake.S3PathStyle, "s3-path-style", "SLUICE_S3_PATH_STYLE", false, "address buckets by path")
	f.stringVar(&cfg.API.Token, "api-token", "SLUICE_API_TOKEN", "", "bearer token for the control API (empty: none)")
	cfg.servingFlags(f)
	f.stringVar(&cfg.Serving.Token, "serve-token", "SLUICE_SERVE_TOKEN", "", "bearer token that serving's predict, infer and features API require (empty: none)")
	cfg.logFlags(f)
	return f
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, dev := defaultConfig(), defaultDevOptions()
	if err := devFlags("dev", stderr, &cfg, &dev).parse(args, false); err != nil {
		return err
	}
	st, err := startStack(ctx, cfg, dev, stdout)
	if err != nil {
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping...")
	return st.close()
}

// stack is the running dev platform: the dev infrastructure and the
// production parts wired onto it.
type stack struct {
	*devstack.Stack
	logger   *slog.Logger
	workers  *workers.Set
	httpStop context.CancelFunc
	httpDone chan error
	uiURL    string
	// apiAddr and serveAddr are where the API and serving listen.
	apiAddr, serveAddr string
	metrics            *workers.Metrics
	// envPath is the settings file the CLI finds the stack by; tokenFile
	// holds the API token the stack made ("" when the user gave one).
	envPath, tokenFile string
}

// startStack starts the dev infrastructure, then the workers, serving and
// the control API on it; on error it stops what it started.
func startStack(ctx context.Context, cfg config, dev devOptions, stdout io.Writer) (_ *stack, err error) {
	begin := time.Now()
	if err := dev.validate(); err != nil {
		return nil, err
	}
	logger, err := cfg.logger()
	if err != nil {
		return nil, err
	}
	st := &stack{logger: logger}
	defer func() {
		if err != nil {
			_ = st.close()
		}
	}()
	// Every listener is checked before Temporal starts, so a taken port
	// fails fast and names its flag. Until the HTTP servers own them, a
	// failed start closes the listeners.
	var apiLn, serveLn net.Listener
	defer func() {
		if err != nil {
			for _, ln := range []net.Listener{apiLn, serveLn} {
				if ln != nil {
					ln.Close()
				}
			}
		}
	}()
	reserve := func() (err error) {
		if apiLn, err = httpx.Listen(net.JoinHostPort(dev.Host, strconv.Itoa(dev.APIPort)), "--api-port"); err != nil {
			return err
		}
		serveLn, err = httpx.Listen(net.JoinHostPort(dev.Host, strconv.Itoa(dev.ServePort)), "--serve-port")
		return err
	}
	st.Stack, err = devstack.Start(ctx, devstack.Options{Dir: dev.Dir, Host: dev.Host, TemporalPort: dev.TemporalPort, UIPort: dev.UIPort,
		UIWrite: dev.UIWrite, DatabaseURL: cfg.DatabaseURL, Lake: cfg.Lake, Temporal: cfg.Temporal, Reserve: reserve, Logger: logger})
	if err != nil {
		return nil, err
	}
	st.uiURL = st.UI.URL()
	cfg.DatabaseURL, cfg.Lake = st.DatabaseURL, st.Lake
	// A state folder of an earlier release: its tables move into their
	// project before any worker writes the new layout.
	if err := upgradeLake(ctx, st.Pool, st.Catalog, "", stdout); err != nil {
		logger.Warn("the lake holds tables from before projects; move them with sluice migrate --lake URL --project NAME", "error", err)
	}
	st.metrics = workers.NewMetrics()
	wopts := workers.DefaultOptions()
	wopts.Queues = workers.ParseQueues(dev.WorkerQueues)
	if st.workers, err = workers.New(st.Client, workers.Deps{DatabaseURL: st.DatabaseURL, DB: st.Pool, Lake: st.Objects, LakeOptions: cfg.Lake, Catalog: st.Catalog,
		Logger: logger, CodeVersion: version, Metrics: st.metrics}, wopts); err != nil {
		return nil, err
	}
	if err = st.workers.Start(); err != nil {
		st.workers = nil
		return nil, err
	}

	tokenNote, err := st.serveHTTP(ctx, &cfg, apiLn, serveLn)
	if err != nil {
		return nil, err
	}
	if st.envPath, err = st.writeEnv(cfg); err != nil {
		return nil, err
	}

	pgNote := "(SLUICE_DATABASE_URL)"
	if st.Postgres != nil {
		pgNote = "(private cluster in " + st.Postgres.Dir() + ")"
	}
	fmt.Fprintf(stdout, `
Sluice dev stack is ready in %s
  Temporal frontend  %s  (namespace %s)
  Temporal UI        %s
  Control API        http://%s  (%s)
  Serving            http://%s
  PostgreSQL         %s %s
  Lake               %s
  State and logs     %s
  CLI settings       %s  (sluice commands read it: no flags needed)
Press Ctrl-C to stop.
`, time.Since(begin).Round(time.Millisecond), st.Temporal.Frontend(), cfg.Temporal.Namespace, st.uiURL,
		st.apiAddr, tokenNote, st.serveAddr, redactURL(st.DatabaseURL), pgNote, st.Objects.URL(), st.Dir, st.envPath)
	return st, nil
}

// serveHTTP starts serving and the control API on their listeners, the
// API's token made (and kept in the state folder) when none is given. It
// says how the banner should name the token: a token the stack made is
// shown once, one the user gave (SLUICE_API_TOKEN, --api-token) is theirs
// and never printed. The servers stop with st.close, which waits for
// them only once they run.
func (st *stack) serveHTTP(ctx context.Context, cfg *config, apiLn, serveLn net.Listener) (tokenNote string, err error) {
	logger := st.logger
	httpCtx, httpStop := context.WithCancel(context.Background())
	servingSrv := serving.New(cfg.Serving, logger)
	if err := cfg.serveFrom(httpCtx, servingSrv, st.Pool, st.Objects, logger); err != nil {
		httpStop()
		return "", err
	}
	cfg.API.Addr, cfg.Serving.Addr = apiLn.Addr().String(), serveLn.Addr().String()
	st.apiAddr, st.serveAddr = cfg.API.Addr, cfg.Serving.Addr
	tokenNote = "token from SLUICE_API_TOKEN or --api-token"
	if cfg.API.Token == "" {
		tokenFile := filepath.Join(st.Dir, "api-token")
		if cfg.API.Token, err = devToken(tokenFile); err != nil {
			httpStop()
			return "", err
		}
		tokenNote = "token " + cfg.API.Token + ", in " + tokenFile
		st.tokenFile = tokenFile
	}
	if err := pipelines.EnsureSearchAttributes(ctx, st.Client, cfg.Temporal.Namespace); err != nil {
		logger.Warn("pipeline runs will not carry the Sluice* search attributes", "error", err)
	}
	controlAPI := api.New(cfg.API, logger).WithRegistry(&registry.Registry{DB: st.Pool}).WithTemporal(api.Temporal{
		Client: st.Client, Namespace: cfg.Temporal.Namespace, UIURL: st.uiURL, Project: api.SpecProjects(&specstore.Store{DB: st.Pool})}).WithMetrics(st.metrics.Registry)
	st.httpStop, st.httpDone = httpStop, make(chan error, 2)
	go func() {
		st.httpDone <- httpx.Serve(httpCtx, httpx.NewServer(controlAPI.Handler(), logger), apiLn)
	}()
	go func() {
		st.httpDone <- httpx.Serve(httpCtx, httpx.NewServer(servingSrv.Handler(), logger), serveLn)
	}()
	return tokenNote, nil
}

// devToken reads the dev stack's API token from path, or makes one: 32
// random bytes, hex, readable by the owner only. A token file that others
// may read, or that another user owns, is refused rather than reused.
func devToken(path string) (string, error) {
	if info, err := os.Stat(path); err == nil {
		if err := ownedPrivately(path, info); err != nil {
			return "", err
		}
	}
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	token := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the API token: %w", err)
	}
	return token, nil
}

// ownedPrivately checks that a secret's file is this user's and nobody
// else's to read or write.
func ownedPrivately(path string, info os.FileInfo) error {
	if info.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is readable or writable by others (mode %s): remove it, or chmod 600 it if it is yours", path, info.Mode().Perm())
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s belongs to uid %d, not to this user (uid %d): remove it or choose another --dir", path, st.Uid, os.Getuid())
	}
	return nil
}

// close stops every part in the reverse order of start.
// writeEnv writes the settings file (devenv.go) the CLI reaches the stack
// by. A database URL with a password in it is the user's (the private
// cluster's has none): it is left out, and their environment supplies it.
func (st *stack) writeEnv(cfg config) (string, error) {
	settings := map[string]string{
		"SLUICE_LAKE":               st.Lake.URL,
		"SLUICE_S3_ENDPOINT":        st.Lake.S3Endpoint,
		"SLUICE_TEMPORAL_ADDRESS":   st.Temporal.Frontend(),
		"SLUICE_TEMPORAL_NAMESPACE": cfg.Temporal.Namespace,
		"SLUICE_TEMPORAL_UI":        st.uiURL,
		"SLUICE_API_URL":            "http://" + st.apiAddr,
		"SLUICE_SERVE_URL":          "http://" + st.serveAddr,
	}
	if st.Lake.S3PathStyle {
		settings["SLUICE_S3_PATH_STYLE"] = "true"
	}
	if spec.RedactPassword(st.DatabaseURL) == st.DatabaseURL {
		settings["SLUICE_DATABASE_URL"] = st.DatabaseURL
	}
	if st.tokenFile != "" {
		abs, err := filepath.Abs(st.tokenFile)
		if err != nil {
			return "", err
		}
		settings["SLUICE_API_TOKEN_FILE"] = abs
	}
	return writeDevEnv(st.Dir, settings)
}

func (st *stack) close() error {
	removeDevEnv(st.envPath)
	var errs []error
	if st.httpStop != nil {
		st.httpStop()
		for range 2 {
			if err := <-st.httpDone; err != nil {
				errs = append(errs, err)
			}
		}
	}
	if st.workers != nil {
		st.workers.Stop()
	}
	if st.Stack != nil {
		errs = append(errs, st.Stack.Close())
	}
	return errors.Join(errs...)
}

// redactURL hides the password of a database URL, in any form libpq
// takes (spec.RedactPassword); one it cannot parse is hidden whole.
func redactURL(raw string) string {
	if _, err := pgxpool.ParseConfig(raw); err != nil {
		return "(unparsable database URL)"
	}
	return spec.RedactPassword(raw)
}
