package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// runProbe GETs a URL and exits non-zero unless it answers 2xx: the
// health check of containers that have no shell or curl (the image is
// distroless).
func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("probe", stderr)
	timeout := 3 * time.Second
	f.DurationVar(&timeout, "timeout", timeout, "give up after this long")
	url, err := f.parseOne(args)
	if err != nil {
		return err
	}
	if url == "" {
		return errors.New("usage: sluice probe URL [--timeout 3s]")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	fmt.Fprintf(stdout, "%s: %s\n", url, resp.Status)
	return nil
}
