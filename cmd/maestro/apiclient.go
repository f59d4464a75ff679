package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/service"
)

// devTokenFile is where maestro dev keeps the admin token it made on first start, in its
// state folder; the client commands read it from there when no token is given.
const devTokenFile = "api-token"

// apiFlags are the flags every command talking to the API takes.
type apiFlags struct {
	api, token, state string
}

func (f *apiFlags) register(cmd *cobra.Command) {
	f.registerAPI(cmd)
	cmd.Flags().StringVar(&f.state, "state", ".maestro", "maestro dev's state folder, where its API token is")
}

// registerAPI registers --api and --token only, for a command whose --state means something
// else (maestro runs --state failed); maestro dev's token is then read from .maestro.
func (f *apiFlags) registerAPI(cmd *cobra.Command) {
	f.state = ".maestro"
	cmd.Flags().StringVar(&f.api, "api", "", "URL of the api service (default $MAESTRO_API, else http://127.0.0.1:8080, maestro dev's)")
	cmd.Flags().StringVar(&f.token, "token", "", "API token (default $MAESTRO_TOKEN, else the one maestro dev keeps in its state folder)")
}

// client resolves the flags: --api, $MAESTRO_API or maestro dev's default address; --token,
// $MAESTRO_TOKEN or maestro dev's token file.
func (f *apiFlags) client(timeoutClient *http.Client) (*apiClient, error) {
	base := f.api
	if base == "" {
		base = os.Getenv("MAESTRO_API")
	}
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	token := f.token
	if token == "" {
		token = os.Getenv("MAESTRO_TOKEN")
	}
	if token == "" {
		b, err := os.ReadFile(filepath.Join(f.state, devTokenFile))
		switch {
		case err == nil:
			token = strings.TrimSpace(string(b))
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("error reading maestro dev's API token: %w", err)
		}
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: token, http: timeoutClient}, nil
}

type apiClient struct {
	base, token string
	http        *http.Client
}

// url is the address of an API route (a path under /api/v1).
func (c *apiClient) url(path string) string { return c.base + service.APIPrefix + path }

// call sends body (JSON, nil for none) to an API route and decodes its JSON answer into out
// (when not nil). An answer other than 2xx is an *apiError saying what the server said.
func (c *apiClient) call(ctx context.Context, method, path string, body, out any) error {
	_, err := c.send(ctx, method, path, nil, body, out)
	return err
}

// apiError is an answer other than 2xx.
type apiError struct {
	Method, Path string
	Status       int
	StatusText   string
	// Detail is what the server said (a problem's detail and field reasons).
	Detail string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s refused (%s): %s", e.Method, e.Path, e.StatusText, e.Detail)
}

// send is call with request headers (If-Match), returning the answer's headers (ETag).
func (c *apiClient) send(ctx context.Context, method, path string, header http.Header, body, out any) (http.Header, error) {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("error encoding the request to %s: %w", path, err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), r)
	if err != nil {
		return nil, fmt.Errorf("error building the request to %s: %w", c.base, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("error calling %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode/100 != 2 {
		return resp.Header, &apiError{Method: method, Path: path, Status: resp.StatusCode, StatusText: resp.Status, Detail: errorText(reply)}
	}
	if out != nil {
		if err := json.Unmarshal(reply, out); err != nil {
			return resp.Header, fmt.Errorf("error reading the answer of %s %s %q: %w", method, path, reply, err)
		}
	}
	return resp.Header, nil
}

func (c *apiClient) authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// errorText is what a problem+json answer says (its detail, then each field's reason), else
// the answer itself.
func errorText(reply []byte) string {
	var p service.Problem
	if json.Unmarshal(reply, &p) == nil && p.Detail != "" {
		msg := p.Detail
		for _, e := range p.Errors {
			msg += "\n  " + e.Field + ": " + e.Reason
		}
		return msg
	}
	return string(bytes.TrimSpace(reply))
}
