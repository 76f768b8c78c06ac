// Package httpx holds what Sluice's HTTP servers share: handlers that return
// (result, error), one place that maps errors to status codes and JSON
// bodies, and a server runner that shuts down with its context.
package httpx

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// Error is an error with an HTTP status and a stable code for clients.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// HandlerFunc is a handler that returns its result instead of writing it.
type HandlerFunc func(r *http.Request) (any, error)

// Wrap turns h into an http.HandlerFunc that writes the result as JSON, or
// the error as {"error":{"code","message"}} with its status. Errors that are
// not *Error answer 500 and are logged.
func Wrap(logger *slog.Logger, h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res, err := h(r)
		if err != nil {
			WriteError(w, r, logger, err)
			return
		}
		status := http.StatusOK
		if s, ok := res.(interface{ HTTPStatus() int }); ok {
			status = s.HTTPStatus()
		}
		WriteJSON(w, status, res)
	}
}

// WriteJSON writes v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes err as the error body with its status.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var he *Error
	if !errors.As(err, &he) {
		if logger != nil {
			logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		he = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
	}
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	WriteJSON(w, he.Status, map[string]body{"error": {Code: he.Code, Message: he.Message}})
}

// MaxHeaderBytes bounds a request's headers on every server: far above
// what clients send, far below the standard library's 1 MiB default.
const MaxHeaderBytes = 64 << 10

// NewServer is every Sluice HTTP server: h behind Recover, and bounds on
// slow and idle clients and on the headers a request may carry. A client
// has 10 s to send its headers, 30 s for the whole request (bodies are
// capped at 1 MiB) and 60 s from its headers to the end of the response
// (a client that stops reading cannot hold its goroutine longer), and may
// hold an idle connection for 2 minutes, so slow or idle clients cannot
// pin goroutines and sockets.
func NewServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{Handler: Recover(logger, h), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: MaxHeaderBytes}
}

// Recover answers a request whose handler panicked with a 500 error body
// (when nothing was written yet) and logs the panic with its stack, so a
// bug costs one request its answer, not the client its connection.
func Recover(logger *slog.Logger, h http.Handler) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // the server's own way to abort a response
			}
			logger.Error("handler panicked", "method", r.Method, "path", r.URL.EscapedPath(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			WriteError(w, r, nil, Errorf(http.StatusInternalServerError, "internal", "internal error"))
		}()
		h.ServeHTTP(w, r)
	})
}

// RequireBearer lets a request through only with the header
// "Authorization: Bearer <token>", compared in constant time; otherwise it
// answers 401. An empty token lets every request through.
func RequireBearer(token string, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if token == "" {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
				WriteError(w, r, logger, Errorf(http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token"))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Serve runs srv on ln until ctx ends, then shuts it down, giving open
// requests up to five seconds.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutting down %s: %w", ln.Addr(), err)
	}
	return nil
}

// Listen opens a TCP listener, naming the flag that chose the address when
// it fails.
func Listen(addr, flag string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listening on %s: %w", flag, addr, err)
	}
	return ln, nil
}

// ListenTLS is Listen serving TLS (1.2 at least) with the PEM certificate
// and key files, when both are given; plain TCP when neither is.
func ListenTLS(addr, flag, certFile, keyFile string) (net.Listener, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("give both --tls-cert and --tls-key, or neither")
	}
	var cfg *tls.Config
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := Listen(addr, flag)
	if err != nil || cfg == nil {
		return ln, err
	}
	return tls.NewListener(ln, cfg), nil
}

// IsLoopback says whether a listener's address is a loopback one.
func IsLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// DecodeJSON reads a request body of at most limit bytes into v,
// refusing unknown fields and trailing data. Its errors are *Error: 413
// for a body over the limit, 400 otherwise, with shape describing what
// was expected.
func DecodeJSON(r *http.Request, limit int64, v any, shape string) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON value")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return Errorf(http.StatusRequestEntityTooLarge, "too_large", "the body is over %d bytes", limit)
	case err != nil:
		return Errorf(http.StatusBadRequest, "bad_request", "the body must be %s: %v", shape, err)
	}
	return nil
}
