// Package postgres runs a private PostgreSQL cluster from the binaries
// installed on the machine, for `sluice dev` and for tests on machines with no
// server of their own.
//
// The cluster lives in one folder, is initialised once and survives restarts.
// The server runs as a child process with a parent-death signal, so it never
// outlives the program that started it. PostgreSQL refuses to run as root, so
// when the caller is root the cluster runs as the unprivileged `postgres`
// system user that Debian's package creates.
package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries reports that no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("postgres: PostgreSQL server binaries (initdb, postgres) not found")

// InstallHint says how to install PostgreSQL's server binaries.
const InstallHint = `install PostgreSQL's server binaries, or set SLUICE_DATABASE_URL to a running server:
  Debian/Ubuntu: sudo apt-get install -y postgresql
  macOS:         brew install postgresql@16`

// Options configures a cluster.
type Options struct {
	// Dir is the cluster's data directory. It is created on first start.
	Dir string
	// LogFile receives the server's output. Empty means Dir + ".log".
	LogFile string
	// Port is the TCP port on 127.0.0.1. Zero picks a free one.
	Port int
	// BinDir holds initdb and postgres. Empty means search PATH, then
	// /usr/lib/postgresql/*/bin (newest first).
	BinDir string
	// Database is created after start when missing. Empty means "sluice".
	Database string
	// RunAs is the system user that owns and runs the cluster when the caller
	// is root. Empty means "postgres".
	RunAs string
	// Logger receives progress messages. Nil discards them.
	Logger *slog.Logger
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	opts Options
	cmd  *exec.Cmd
	done chan error
	log  *os.File
}

// FindBinDir returns the folder holding initdb and postgres.
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first: "16" sorts after "15" numerically.
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start initialises the cluster when its folder is new, starts the server and
// waits until it accepts connections and the database exists.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Dir == "" {
		return nil, errors.New("postgres: Options.Dir is empty")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolving cluster dir: %w", err)
	}
	o.Dir = dir
	if o.LogFile == "" {
		o.LogFile = dir + ".log"
	}
	if o.Database == "" {
		o.Database = "sluice"
	}
	if o.RunAs == "" {
		o.RunAs = "postgres"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BinDir == "" {
		if o.BinDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	if o.Port == 0 {
		if o.Port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	cred, err := credentialFor(o.RunAs)
	if err != nil {
		return nil, err
	}
	if err := prepareDir(o.Dir, cred); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(o.Dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		o.Logger.Info("initialising private PostgreSQL cluster", "dir", o.Dir)
		if err := initdb(ctx, o, cred); err != nil {
			return nil, err
		}
	}
	c := &Cluster{opts: o, done: make(chan error, 1)}
	if err := c.start(); err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

// credentialFor returns the credential the server must run with: nil when
// the caller is not root, else that of the named system user.
func credentialFor(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("postgres: running as root, PostgreSQL must run as an unprivileged user, and user %q was not found (create it, or set SLUICE_DATABASE_URL): %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// prepareDir creates the data directory, owned by the server's user, and
// checks that user can reach it.
func prepareDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating cluster dir: %w", err)
	}
	if cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("handing cluster dir to uid %d: %w", cred.Uid, err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if !traversable(p, cred) {
			return fmt.Errorf("postgres: the PostgreSQL server runs as uid %d and cannot enter %s (mode %s); run `chmod o+x %s`, choose another --dir, or set SLUICE_DATABASE_URL",
				cred.Uid, p, modeOf(p), p)
		}
		if p == "/" {
			return nil
		}
	}
}

func traversable(dir string, cred *syscall.Credential) bool {
	st, err := os.Stat(dir)
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	m := st.Mode().Perm()
	switch {
	case sys.Uid == cred.Uid:
		return m&0o100 != 0
	case sys.Gid == cred.Gid:
		return m&0o010 != 0
	default:
		return m&0o001 != 0
	}
}

func modeOf(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return "unknown"
	}
	return st.Mode().Perm().String()
}

func initdb(ctx context.Context, o Options, cred *syscall.Credential) error {
	cmd := exec.CommandContext(ctx, filepath.Join(o.BinDir, "initdb"),
		"-D", o.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-instructions")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		// A half-made cluster would make the next start skip initdb.
		clearDir(o.Dir)
		return fmt.Errorf("running initdb in %s: %w\n%s", o.Dir, err, strings.TrimSpace(out.String()))
	}
	return nil
}

func clearDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

func (c *Cluster) start() error {
	o := c.opts
	logf, err := os.OpenFile(o.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening PostgreSQL log: %w", err)
	}
	c.log = logf
	cred, _ := credentialFor(o.RunAs)
	// A crashed run can leave postmaster.pid behind; postgres itself checks
	// whether that process is alive and refuses only when it is.
	cmd := exec.Command(filepath.Join(o.BinDir, "postgres"),
		"-D", o.Dir,
		"-p", strconv.Itoa(o.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "fsync=on",
		"-c", "max_connections=200",
	)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig stops the server if this process dies without Stop, so no
	// orphan survives a crash. SIGINT is PostgreSQL's fast shutdown.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGINT}
	// Pdeathsig fires when the starting thread exits; keep it for the call.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		logf.Close()
		return fmt.Errorf("starting postgres: %w", err)
	}
	c.cmd = cmd
	go func() { c.done <- cmd.Wait() }()
	return nil
}

func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	admin := c.urlFor("postgres")
	for {
		conn, err := pgx.Connect(ctx, admin)
		if err == nil {
			err = ensureDatabase(ctx, conn, c.opts.Database)
			conn.Close(context.Background())
			return err
		}
		select {
		case werr := <-c.done:
			c.done <- werr
			return fmt.Errorf("postgres exited during start (%v); its log is %s:\n%s", werr, c.opts.LogFile, tail(c.opts.LogFile, 2000))
		case <-ctx.Done():
			return fmt.Errorf("waiting for PostgreSQL on port %d: %w (log %s)", c.opts.Port, err, c.opts.LogFile)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func ensureDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("checking database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("creating database %q: %w", name, err)
	}
	return nil
}

func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func (c *Cluster) urlFor(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.opts.Port, db)
}

// URL is the connection string of the cluster's database.
func (c *Cluster) URL() string { return c.urlFor(c.opts.Database) }

// AdminURL is the connection string of the cluster's `postgres` database.
func (c *Cluster) AdminURL() string { return c.urlFor("postgres") }

// Dir is the cluster's data directory.
func (c *Cluster) Dir() string { return c.opts.Dir }

// Pid is the server's process id.
func (c *Cluster) Pid() int { return c.cmd.Process.Pid }

// Stop shuts the server down (fast shutdown: open sessions are ended) and
// waits for it to exit, escalating to an immediate shutdown after 5 s.
func (c *Cluster) Stop() error {
	if c.cmd == nil {
		return nil
	}
	defer c.log.Close()
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.done:
		return nil
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
		return errors.New("postgres: postgres did not shut down in 8 s and was killed")
	}
}

// Restart stops the server (fast shutdown: open sessions end, transactions
// in flight roll back) and starts it again on the same port and folder,
// waiting until it accepts connections.
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.Stop(); err != nil {
		return err
	}
	c.done = make(chan error, 1)
	if err := c.start(); err != nil {
		return err
	}
	return c.waitReady(ctx)
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
