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
	"strings"
	"time"

	"github.com/spf13/cobra"
)

const uploadLong = `Upload the file of an external table for a running run: ask the api service where
to put it, PUT it there (a signed Cloud Storage URL in production, the server itself with
maestro dev), then tell the server it is complete, so the run loads it and the tables reading it
run. This is what another system does through the API (internal/project/README.md, "External
tables"); the command does the same by hand.

FILE is CSV or newline-delimited JSON, as the table's sidecar says. --api is the api service's
URL; --token, when set, is sent to it as a bearer token (never to the upload URL).`

func newUploadCmd() *cobra.Command {
	var apiURL, token string
	cmd := &cobra.Command{
		Use:   "upload RUN TABLE FILE",
		Short: "Upload an external table's file for a running run",
		Long:  uploadLong,
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if apiURL == "" {
				return errors.New("--api is required: the URL of the api service")
			}
			runID, table, path := args[0], args[1], args[2]
			f, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("error opening the file to upload: %w", err)
			}
			defer f.Close()
			info, err := f.Stat()
			if err != nil {
				return fmt.Errorf("error reading %s: %w", path, err)
			}
			c := &apiClient{base: strings.TrimRight(apiURL, "/"), token: token, http: &http.Client{Timeout: time.Hour}}
			tablePath := "/runs/" + runID + "/tables/" + table
			var up struct {
				UploadURL string            `json:"upload_url"`
				Method    string            `json:"method"`
				Headers   map[string]string `json:"headers"`
			}
			if err := c.call(cmd.Context(), http.MethodPost, tablePath+"/upload", &up); err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(cmd.Context(), up.Method, up.UploadURL, f)
			if err != nil {
				return fmt.Errorf("error building the upload request: %w", err)
			}
			req.ContentLength = info.Size()
			for k, v := range up.Headers {
				req.Header.Set(k, v)
			}
			// The server's own data URL (maestro dev) takes the same token as the API; a signed
			// URL needs none, and must not see it.
			if token != "" && strings.HasPrefix(up.UploadURL, c.base+"/") {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := c.http.Do(req)
			if err != nil {
				return fmt.Errorf("error uploading %s: %w", path, err)
			}
			reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("the upload of %s was refused (%s): %s", path, resp.Status, errorText(reply))
			}
			if err := c.call(cmd.Context(), http.MethodPost, tablePath+"/uploaded", nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "uploaded %s (%d bytes) for %s in run %s: the run loads it now\n", path, info.Size(), table, runID)
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", "", "URL of the api service")
	cmd.Flags().StringVar(&token, "token", "", "bearer token sent to the api service")
	return cmd
}

type apiClient struct {
	base, token string
	http        *http.Client
}

// call sends an empty request to the API and decodes its JSON answer into out (when not nil).
func (c *apiClient) call(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("error building the request to %s: %w", c.base, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("error calling %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s refused (%s): %s", method, path, resp.Status, errorText(reply))
	}
	if out != nil {
		if err := json.Unmarshal(reply, out); err != nil {
			return fmt.Errorf("error reading the answer of %s %s %q: %w", method, path, reply, err)
		}
	}
	return nil
}

// errorText is the "error" of a JSON error answer, else the answer itself.
func errorText(reply []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(reply, &e) == nil && e.Error != "" {
		return e.Error
	}
	return string(bytes.TrimSpace(reply))
}
