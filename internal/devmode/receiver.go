package devmode

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/callback"
)

// CallbackPath is where maestro dev's own callback receiver listens, so that an example's export
// callback has somewhere to go without another program.
const CallbackPath = "/dev/callbacks"

// maxReceived bounds the callbacks the receiver keeps for GET.
const maxReceived = 100

// Received is one callback the receiver accepted.
type Received struct {
	At       time.Time        `json:"at"`
	Delivery string           `json:"delivery"`
	Attempt  string           `json:"attempt"`
	Payload  callback.Payload `json:"payload"`
}

// Receiver is a callback receiver such as a user would write: it checks the signature with the
// key behind CallbackKeyRef, logs what it got, and lists the latest callbacks on GET.
type Receiver struct {
	Key string
	Log *zap.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time

	mu       sync.Mutex
	received []Received
}

// ServeHTTP accepts POSTed callbacks and answers GET with the latest ones, newest last.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now
	if rc.Now != nil {
		now = rc.Now
	}
	switch r.Method {
	case http.MethodGet:
		rc.mu.Lock()
		list := append([]Received(nil), rc.received...)
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"callbacks": list})
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "error reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := callback.Verify([]byte(rc.Key), r.Header.Get(callback.SignatureHeader), body, now(), callback.DefaultTolerance); err != nil {
		rc.Log.Warn("callback refused", zap.String("delivery", r.Header.Get("Maestro-Delivery")), zap.Error(err))
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var got Received
	if err := json.Unmarshal(body, &got.Payload); err != nil {
		http.Error(w, "the body is not a callback: "+err.Error(), http.StatusBadRequest)
		return
	}
	got.At, got.Delivery, got.Attempt = now().UTC(), r.Header.Get("Maestro-Delivery"), r.Header.Get("Maestro-Attempt")
	rc.mu.Lock()
	rc.received = append(rc.received, got)
	if len(rc.received) > maxReceived {
		rc.received = rc.received[len(rc.received)-maxReceived:]
	}
	rc.mu.Unlock()
	urls := make([]string, len(got.Payload.Files))
	for i, f := range got.Payload.Files {
		urls[i] = f.URL
	}
	rc.Log.Info("callback received", zap.String("run_id", got.Payload.RunID), zap.String("table", got.Payload.Table),
		zap.String("event", got.Payload.Event), zap.Int64("rows", got.Payload.RowCount), zap.Strings("files", urls),
		zap.String("delivery", got.Delivery))
	w.WriteHeader(http.StatusNoContent)
}
