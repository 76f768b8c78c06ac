package temporalserver

import (
	"fmt"
	"net"
	"strconv"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// UIOptions configures the embedded Temporal UI.
type UIOptions struct {
	IP       string
	Port     int
	Frontend string
	// Write lets the UI start, signal, reset and end workflows; without
	// it the UI reads only (Temporal's DisableWriteActions and
	// StartWorkflowDisabled).
	Write bool
}

// UI is a running Temporal UI server.
type UI struct {
	server *uiserver.Server
	url    string
	errc   chan error
}

// StartUI serves the Temporal UI. The UI's own start kills the process when
// its port is taken, so the port is checked first.
func StartUI(o UIOptions) (*UI, error) {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if err := portFree(o.IP, o.Port); err != nil {
		return nil, fmt.Errorf("--ui-port: %w", err)
	}
	srv := uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                  o.IP,
		Port:                  o.Port,
		TemporalGRPCAddress:   o.Frontend,
		EnableUI:              true,
		DefaultNamespace:      "default",
		CORS:                  uiconfig.CORS{CookieInsecure: true},
		HideLogs:              true,
		DisableNewsFetch:      true,
		DisableWriteActions:   !o.Write,
		StartWorkflowDisabled: !o.Write,
	}))
	u := &UI{server: srv, url: "http://" + net.JoinHostPort(o.IP, strconv.Itoa(o.Port)), errc: make(chan error, 1)}
	go func() { u.errc <- srv.Start() }()
	return u, nil
}

// URL is the UI's address.
func (u *UI) URL() string { return u.url }

// Stop stops the UI.
func (u *UI) Stop() { u.server.Stop() }
