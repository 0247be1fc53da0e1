package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// defaultServer is the admin API address the CLI uses without --server or
// STRATA_SERVER: the loopback default of `strata serve`.
const defaultServer = "http://127.0.0.1:8080"

// apiClient calls a running server's admin API.
type apiClient struct {
	base string
	http *http.Client
}

func newAPIClient(server string, timeout time.Duration) (*apiClient, error) {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--server %q is not an http:// or https:// URL", server)
	}
	return &apiClient{base: strings.TrimRight(u.String(), "/"), http: &http.Client{Timeout: timeout}}, nil
}

// apiError is an error response from the server.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Message }

// do sends in (if not nil) as JSON and decodes the response into out (if
// not nil). Error responses become *apiError; an unreachable server gets
// an error that says what to check.
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("cannot reach the strata server at %s: connection refused\n"+
				"(is `strata serve` running there? point the CLI at it with --server or STRATA_SERVER)", c.base)
		}
		return fmt.Errorf("cannot reach the strata server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the response from %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		var e errorJSON
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			return &apiError{Status: resp.StatusCode, Code: codeInternal,
				Message: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))}
		}
		return &apiError{Status: resp.StatusCode, Code: e.Code, Message: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: the response is not the JSON expected: %w", method, path, err)
		}
	}
	return nil
}
