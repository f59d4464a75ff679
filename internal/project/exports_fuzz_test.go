package project

import (
	"strings"
	"testing"

	"github.com/maestro-sql/maestro/internal/spec"
)

// FuzzApplyExports feeds arbitrary sidecars to the exports validation: it must never panic,
// every problem must name a line, a sidecar it accepts must give each export exactly one
// destination, and a credentials or secret value it rejects must never be echoed.
func FuzzApplyExports(f *testing.F) {
	for _, seed := range []string{
		"exports:\n  - format: csv\n    path: out/{run}.csv\n",
		"exports:\n  - sheet: {spreadsheet_id: 1AbCdEfGhIjK, keep_tabs: 3, credentials: env:K}\n",
		"exports:\n  - postgres: {connection: crm, table: public.t}\n    callback: {url: https://h.example/x, secret: env:H}\n",
		"exports:\n  - postgres:\n  - sheet:\n  - {}\n",
		"exports:\n  - sheet: {spreadsheet_id: x}\n    postgres: {connection: shop, table: a.b.c}\n    format: csv\n",
	} {
		f.Add(seed)
	}
	known := &declared{
		connections:    map[string]bool{"crm": true, "shop": true},
		connectionList: []string{"crm", "shop"},
		drivers:        map[string]string{"crm": "postgres", "shop": "mysql"},
	}
	f.Fuzz(func(t *testing.T, data string) {
		var tf tableFile
		if decodeStrict([]byte(data), &tf) != nil {
			return
		}
		ln := &lines{data: []byte(data)}
		var tb spec.Table
		errs := applyExports("t.yaml", ln, tf.Exports, known, &tb)
		for _, e := range errs {
			if e.Line <= 0 {
				t.Fatalf("error without a line: %s", e.Msg)
			}
			for _, ex := range tf.Exports {
				if ex.Sheet != nil && len(ex.Sheet.Credentials) > 12 && checkSecretRef(ex.Sheet.Credentials) != "" &&
					strings.Contains(e.Msg, ex.Sheet.Credentials) {
					t.Fatalf("credentials echoed in %q", e.Msg)
				}
			}
		}
		if len(errs) > 0 {
			return
		}
		if len(tb.Exports) != len(tf.Exports) {
			t.Fatalf("%d exports decoded, %d kept", len(tf.Exports), len(tb.Exports))
		}
		for i, x := range tb.Exports {
			dest := 0
			if x.Format != "" {
				dest++
			}
			if x.Sheet != nil {
				dest++
			}
			if x.Postgres != nil {
				dest++
			}
			if dest != 1 {
				t.Fatalf("export %d accepted with %d destinations: %+v", i+1, dest, x)
			}
		}
	})
}
