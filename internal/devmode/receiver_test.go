package devmode

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/callback"
)

func TestReceiverChecksSignaturesAndListsCallbacks(t *testing.T) {
	rc := &Receiver{Key: "dev-key", Log: zap.NewNop()}
	body := `{"id":"d1","event":"export.completed","run_id":"r1","table":"marts.daily","row_count":2,"files":[{"url":"file:///x.csv"}]}`
	post := func(key string) int {
		req := httptest.NewRequest(http.MethodPost, CallbackPath, strings.NewReader(body))
		req.Header.Set(callback.SignatureHeader, callback.Sign([]byte(key), time.Now(), []byte(body)))
		req.Header.Set("Maestro-Delivery", "d1")
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		return w.Code
	}
	require.Equal(t, http.StatusUnauthorized, post("wrong-key"), "a callback signed with another key is refused")
	require.Equal(t, http.StatusNoContent, post("dev-key"))

	w := httptest.NewRecorder()
	rc.ServeHTTP(w, httptest.NewRequest(http.MethodGet, CallbackPath, nil))
	var list struct{ Callbacks []Received }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &list))
	require.Len(t, list.Callbacks, 1, "only the accepted one is listed")
	require.Equal(t, "d1", list.Callbacks[0].Delivery)
	require.Equal(t, "marts.daily", list.Callbacks[0].Payload.Table)
	require.EqualValues(t, 2, list.Callbacks[0].Payload.RowCount)
}

func TestDriverOf(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://u@h/db":                "postgres",
		"POSTGRESQL://u@h/db":              "postgres",
		"root@tcp(127.0.0.1:3306)/test":    "mysql",
		"mysql://root@127.0.0.1:3306/test": "mysql",
		"/tmp/shop.db":                     "sqlite",
		"shop.db":                          "sqlite",
	} {
		require.Equal(t, want, DriverOf(dsn), dsn)
	}
	require.Equal(t, "root:pw@tcp(127.0.0.1:3306)/test", mysqlDSN("mysql://root:pw@127.0.0.1:3306/test"))
	require.Equal(t, "tcp(db:3306)/x", mysqlDSN("mysql://db:3306/x"))
}
