package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/maestrotest"
)

// TestDevExportsAndCallsBack: a table's export is written to the object folder after the table
// is built, and its callback receives a message signed with the referenced key, naming the file.
func TestDevExportsAndCallsBack(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	var sigs []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies, sigs = append(bodies, body), append(sigs, r.Header.Get(callback.SignatureHeader))
	}))
	defer hook.Close()
	t.Setenv("MAESTRO_TEST_HOOK_KEY", "hook-key")

	project := maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml": "default_project: shop\ndefault_dataset: marts\ndefault_schedule: daily\n" +
			"schedules:\n  - name: daily\n    cron: \"0 6 * * *\"\n",
		"marts/daily.sql": "SELECT 1 AS day, 10 AS orders UNION ALL SELECT 2, 12",
		"marts/daily.yaml": "exports:\n  - format: csv\n    path: exports/{table}/{run}.csv\n    header: true\n" +
			"    callback:\n      url: " + hook.URL + "/exports\n      secret: env:MAESTRO_TEST_HOOK_KEY\n",
	})
	state := filepath.Join(t.TempDir(), "state")
	var out, logs bytes.Buffer
	require.NoError(t, runDev(context.Background(), project, devFlags{once: true, stateDir: state, logFormat: "json"}, &out, &logs), logs.String())
	require.Regexp(t, `marts\.daily\s+succeeded`, out.String())

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, bodies, 1, "one callback for one export")
	require.NoError(t, callback.Verify([]byte("hook-key"), sigs[0], bodies[0], time.Now(), time.Minute))
	var p callback.Payload
	require.NoError(t, json.Unmarshal(bodies[0], &p))
	require.Equal(t, "marts.daily", p.Table)
	require.EqualValues(t, 2, p.RowCount)
	require.Len(t, p.Files, 1)
	path := filepath.Join(state, "objects", "exports", "marts.daily", p.RunID+".csv")
	require.Equal(t, "file://"+path, p.Files[0].URL)
	csv, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "day,orders\n1,10\n2,12\n", string(csv))
}
