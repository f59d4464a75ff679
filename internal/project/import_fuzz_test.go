package project

import (
	"strings"
	"testing"
	"time"

	"github.com/maestro-sql/maestro/internal/spec"
)

// FuzzImportSidecar feeds arbitrary sidecars to the parser: it must never panic, every problem
// must name the sidecar, and a sidecar it accepts must give an import the importer can run (a
// full refresh only with a watermark, in range, with a zone that loads).
func FuzzImportSidecar(f *testing.F) {
	for _, seed := range []string{
		"import:\n  connection: shop\n  watermark: id\n  on_schema_change: full_refresh\n  full_refresh: {weekdays: [0], hours: [3]}\n",
		"schedules: [paris, utc]\nimport:\n  connection: shop\n  watermark: id\n  full_refresh:\n    days: [1]\n    time_zone: Asia/Tokyo\n",
		"import: {connection: shop, on_schema_change: fail}\n",
		"import:\n  connection: shop\n  watermark: id\n  full_refresh:\n",
		"import:\n  connection: shop\n  watermark: id\n  full_refresh: {months: [13], time_zone: Nowhere/Else}\n",
		"import: {connection: shop, watermark: at, full_refresh: [1, 2]}\n",
	} {
		f.Add(seed)
	}
	known := &declared{
		schedules:      map[string]bool{"paris": true, "utc": true},
		zones:          map[string]string{"paris": "Europe/Paris", "utc": ""},
		connections:    map[string]bool{"shop": true},
		connectionList: []string{"shop"},
	}
	f.Fuzz(func(t *testing.T, data string) {
		tb := &spec.Table{Name: "raw.a", Kind: kindQuery, Disposition: spec.DispositionTruncate}
		errs := applySidecar("raw/a.yaml", []byte(data), known, tb)
		for _, e := range errs {
			if e.File != "raw/a.yaml" || !strings.HasPrefix(e.Error(), "raw/a.yaml") {
				t.Fatalf("error does not name the sidecar: %v", e)
			}
		}
		if len(errs) > 0 || tb.Import == nil {
			return
		}
		imp := tb.Import
		if (imp.FullRefresh != nil || imp.OnSchemaChange != "") && imp.Watermark == "" {
			t.Fatalf("refresh options accepted without a watermark: %+v", imp)
		}
		if imp.OnSchemaChange != "" && imp.OnSchemaChange != spec.SchemaChangeFail && imp.OnSchemaChange != spec.SchemaChangeFullRefresh {
			t.Fatalf("on_schema_change %q accepted", imp.OnSchemaChange)
		}
		if fr := imp.FullRefresh; fr != nil {
			if _, err := time.LoadLocation(fr.TimeZone); err != nil {
				t.Fatalf("time zone %q accepted: %v", fr.TimeZone, err)
			}
			c := fr.Conditions
			if len(c.Months)+len(c.Weekdays)+len(c.Days)+len(c.Hours) == 0 {
				t.Fatalf("an empty full_refresh accepted")
			}
			in := func(vals []int, lo, hi int) bool {
				for _, v := range vals {
					if v < lo || v > hi {
						return false
					}
				}
				return true
			}
			if !in(c.Months, 1, 12) || !in(c.Weekdays, 0, 6) || !in(c.Days, 1, 31) || !in(c.Hours, 0, 23) {
				t.Fatalf("out-of-range full_refresh accepted: %+v", c)
			}
		}
	})
}
