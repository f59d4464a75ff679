package main

import (
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

FILE is CSV or newline-delimited JSON, as the table's sidecar says. --api and --token are as for
maestro push; the token (an editor of the table's group) goes to the API, and to the upload URL
only when that is the API's own (maestro dev), never to a signed Cloud Storage URL.`

func newUploadCmd() *cobra.Command {
	var af apiFlags
	cmd := &cobra.Command{
		Use:   "upload RUN TABLE FILE",
		Short: "Upload an external table's file for a running run",
		Long:  uploadLong,
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			c, err := af.client(&http.Client{Timeout: time.Hour})
			if err != nil {
				return err
			}
			tablePath := "/runs/" + runID + "/tables/" + table
			var up struct {
				UploadURL string            `json:"upload_url"`
				Method    string            `json:"method"`
				Headers   map[string]string `json:"headers"`
			}
			if err := c.call(cmd.Context(), http.MethodPost, tablePath+"/upload", nil, &up); err != nil {
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
			if strings.HasPrefix(up.UploadURL, c.base+"/") {
				c.authorize(req)
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
			if err := c.call(cmd.Context(), http.MethodPost, tablePath+"/uploaded", nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "uploaded %s (%d bytes) for %s in run %s: the run loads it now\n", path, info.Size(), table, runID)
			return nil
		},
	}
	af.register(cmd)
	return cmd
}
