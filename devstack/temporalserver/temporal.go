// Package temporalserver embeds a real Temporal server, persisted to a SQLite
// file, and the Temporal UI, for `sluice dev`.
package temporalserver

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// clusterID is fixed so that a restarted server recognises its own data.
const clusterID = "5b1c3e00-0000-4000-8000-00000000d3a1"

const clusterName = "active"

// Options configures the embedded server.
type Options struct {
	// DBFile is the SQLite file; it is created with its schema when missing.
	DBFile string
	// IP is the address every service binds (loopback for the dev stack).
	IP string
	// FrontendPort is the gRPC frontend's port.
	FrontendPort int
	// Namespaces are registered before start; "default" when empty.
	Namespaces []string
	// LogFile receives the server's logs; empty means stderr at warn level.
	LogFile string
}

// Temporal is a running embedded server.
type Temporal struct {
	server   temporal.Server
	frontend string
}

// StartTemporal prepares the SQLite file and namespaces, then starts the
// server. The frontend answers by the time it returns.
func StartTemporal(o Options) (*Temporal, error) {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if len(o.Namespaces) == 0 {
		o.Namespaces = []string{"default"}
	}
	if err := portFree(o.IP, o.FrontendPort); err != nil {
		return nil, fmt.Errorf("--temporal-port: %w", err)
	}
	sqlCfg := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      o.DBFile,
		ConnectAttributes: map[string]string{"mode": "rwc", "_journal_mode": "wal", "_synchronous": "2"},
	}
	if err := prepareSchema(sqlCfg); err != nil {
		return nil, err
	}
	var nss []*sqliteschema.NamespaceConfig
	for _, ns := range o.Namespaces {
		nc, err := sqliteschema.NewNamespaceConfig(clusterName, ns, false, nil)
		if err != nil {
			return nil, fmt.Errorf("configuring namespace %q: %w", ns, err)
		}
		nss = append(nss, nc)
	}
	if err := sqliteschema.CreateNamespaces(sqlCfg, nss...); err != nil {
		return nil, fmt.Errorf("creating namespaces: %w", err)
	}

	ports := map[primitives.ServiceName]int{primitives.FrontendService: o.FrontendPort}
	for _, svc := range []primitives.ServiceName{primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		p, err := freePort(o.IP)
		if err != nil {
			return nil, err
		}
		ports[svc] = p
	}
	frontend := net.JoinHostPort(o.IP, strconv.Itoa(o.FrontendPort))
	cfg := &config.Config{}
	cfg.Global.Membership.BroadcastAddress = o.IP
	cfg.Persistence = config.Persistence{
		DefaultStore:     "sqlite",
		VisibilityStore:  "sqlite",
		NumHistoryShards: 1,
		DataStores:       map[string]config.DataStore{"sqlite": {SQL: sqlCfg}},
	}
	cfg.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{clusterName: {
			Enabled:                true,
			InitialFailoverVersion: 1,
			RPCAddress:             frontend,
			ClusterID:              clusterID,
		}},
	}
	cfg.DCRedirectionPolicy.Policy = "noop"
	cfg.Services = map[string]config.Service{}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for svc, port := range ports {
		cfg.Services[string(svc)] = config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: o.IP}}
		hosts[svc] = static.SingleLocalHost(net.JoinHostPort(o.IP, strconv.Itoa(port)))
	}
	cfg.Archival.History.State = "disabled"
	cfg.Archival.Visibility.State = "disabled"
	cfg.NamespaceDefaults.Archival.History.State = "disabled"
	cfg.NamespaceDefaults.Archival.Visibility.State = "disabled"
	cfg.PublicClient.HostPort = frontend

	logger := tlog.NewZapLogger(tlog.BuildZapLogger(tlog.Config{Level: "warn", OutputFile: o.LogFile}))
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("creating authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("creating claim mapper: %w", err)
	}
	dyn := dynamicconfig.StaticClient{
		// The default calls home for version checks; the dev stack is offline.
		dynamicconfig.EnableServerVersionCheck.Key():                     false,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("creating Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("starting Temporal server: %w", err)
	}
	return &Temporal{server: srv, frontend: frontend}, nil
}

// prepareSchema creates the SQLite schema on a new or empty file. A file
// left half-made by an interrupted setup is removed and made again.
func prepareSchema(cfg *config.SQL) error {
	st, err := os.Stat(cfg.DatabaseName)
	switch {
	case err == nil && st.Size() > 0:
		return nil
	case err == nil:
		if err := os.Remove(cfg.DatabaseName); err != nil {
			return fmt.Errorf("removing empty Temporal database: %w", err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("checking Temporal database: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.DatabaseName), 0o755); err != nil {
		return fmt.Errorf("creating Temporal database folder: %w", err)
	}
	if err := sqliteschema.SetupSchema(cfg); err != nil {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(cfg.DatabaseName + suffix)
		}
		return fmt.Errorf("creating Temporal schema in %s: %w", cfg.DatabaseName, err)
	}
	return nil
}

// Frontend is the frontend's host:port.
func (t *Temporal) Frontend() string { return t.frontend }

// Stop stops the server. Some of its goroutines outlive Stop, so a process
// should not start another server after it.
func (t *Temporal) Stop() error { return t.server.Stop() }

func portFree(ip string, port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d on %s is taken: %w", port, ip, err)
	}
	return ln.Close()
}

func freePort(ip string) (int, error) { return FreePort(ip) }

// FreePort finds a port to bind later, below Linux's ephemeral range
// (32768 and up): a port the kernel handed out for ":0" goes back to the
// pool that outgoing connections take their source ports from, so between
// the check and the bind a connection could take it, and Temporal's
// services exit when their bind fails.
func FreePort(ip string) (int, error) {
	for range 200 {
		port := 10000 + rand.IntN(22000)
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		return port, nil
	}
	return 0, fmt.Errorf("finding a free port on %s: none of 200 tried below 32000 was free", ip)
}
