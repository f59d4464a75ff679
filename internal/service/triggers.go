package service

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/store"
)

// IdempotencyKeyHeader names a trigger delivery: every delivery with the same key starts one run.
const IdempotencyKeyHeader = "Idempotency-Key"

// maxIdempotencyKey bounds an Idempotency-Key, which is stored with each delivery.
const maxIdempotencyKey = 200

type triggerRequest struct {
	// Table or Schedule (exactly one) is what each delivery runs.
	Table      string `json:"table,omitempty"`
	Downstream bool   `json:"downstream,omitempty"`
	Schedule   string `json:"schedule,omitempty"`
}

// TriggerJSON is a trigger URL; Secret is only in the answer that created it.
type TriggerJSON struct {
	ID         string    `json:"id"`
	Table      string    `json:"table,omitempty"`
	Downstream bool      `json:"downstream,omitempty"`
	Schedule   string    `json:"schedule,omitempty"`
	Group      string    `json:"group,omitempty"`
	Path       string    `json:"path"`
	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
	Secret     string    `json:"secret,omitempty"`
}

type triggerListJSON struct {
	Triggers []TriggerJSON `json:"triggers"`
}

// TriggerDeliveryJSON is one call of a trigger URL and what it did.
type TriggerDeliveryJSON struct {
	ID             string    `json:"id"`
	At             time.Time `json:"at"`
	Outcome        string    `json:"outcome"`
	Reason         string    `json:"reason,omitempty"`
	RunID          string    `json:"run_id,omitempty"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	Remote         string    `json:"remote"`
}

type triggerDeliveryListJSON struct {
	Deliveries []TriggerDeliveryJSON `json:"deliveries"`
}

// hookAnswerJSON answers a trigger delivery.
type hookAnswerJSON struct {
	DeliveryID string `json:"delivery_id"`
	Outcome    string `json:"outcome"`
	RunID      string `json:"run_id"`
}

func newTriggerJSON(tr *store.Trigger) TriggerJSON {
	return TriggerJSON{ID: tr.ID, Table: tr.Table, Downstream: tr.Downstream, Schedule: tr.Schedule, Group: tr.Group,
		Path: APIPrefix + "/hooks/" + tr.ID, CreatedBy: tr.CreatedBy, CreatedAt: tr.CreatedAt}
}

// TriggerSecret is the signing secret of a trigger: HMAC-SHA256 of its id and generation under
// the server's trigger key, in hex. The store never holds it; whoever holds the key can derive
// every trigger's, and a new generation (or a new key) replaces them all.
func TriggerSecret(key []byte, id string, generation int) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("maestro-trigger\x00" + id + "\x00" + strconv.Itoa(generation)))
	return hex.EncodeToString(m.Sum(nil))
}

// triggerRunID is the run a trigger's delivery with an idempotency key starts: the same for
// every retry, so the store's create-once on run ids lets one of them start it.
func triggerRunID(triggerID, key string) string {
	h := sha256.Sum256([]byte(triggerID + "\x00" + key))
	return "rtrg-" + hex.EncodeToString(h[:12])
}

func randomID(prefix string) string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (a *api) listTriggers(w http.ResponseWriter, r *http.Request) {
	trs, err := a.st.TriggerList(r.Context())
	if err != nil {
		a.storeFailed(w, r, err, "listing triggers", "")
		return
	}
	out := triggerListJSON{Triggers: make([]TriggerJSON, len(trs))}
	for i, tr := range trs {
		out.Triggers[i] = newTriggerJSON(tr)
	}
	writeJSON(w, out)
}

func (a *api) createTrigger(w http.ResponseWriter, r *http.Request) {
	var req triggerRequest
	if !decodeBody(w, r, defaultMaxBody, &req) {
		return
	}
	ctx := r.Context()
	req.Table = strings.ToLower(strings.TrimSpace(req.Table))
	if (req.Table == "") == (req.Schedule == "") {
		writeProblem(w, http.StatusUnprocessableEntity, "give exactly one of table or schedule",
			FieldError{Field: "table", Reason: "exactly one of table or schedule"}, FieldError{Field: "schedule", Reason: "exactly one of table or schedule"})
		return
	}
	if req.Downstream && req.Table == "" {
		writeProblem(w, http.StatusUnprocessableEntity, "downstream applies to a table", FieldError{Field: "downstream", Reason: "only with table"})
		return
	}
	tr := &store.Trigger{ID: randomID("t-"), Table: req.Table, Downstream: req.Downstream, Schedule: req.Schedule,
		Generation: 1, CreatedBy: userName(ctx), CreatedAt: a.cfg.Now().UTC()}
	if req.Table != "" {
		if !tableNameRE.MatchString(req.Table) {
			writeProblem(w, http.StatusUnprocessableEntity, "table "+strconv.Quote(req.Table)+" is not a dataset.table name",
				FieldError{Field: "table", Reason: "not a dataset.table name"})
			return
		}
		rec, err := a.st.TableGet(ctx, req.Table)
		if errors.Is(err, store.ErrNotFound) {
			writeProblem(w, http.StatusUnprocessableEntity, "no table "+req.Table, FieldError{Field: "table", Reason: "no such table"})
			return
		}
		if err != nil {
			a.storeFailed(w, r, err, "reading table "+req.Table, "")
			return
		}
		// A trigger runs the table whenever its secret's holder wants: the right of changing it.
		if !canWriteTable(w, r, req.Table, rec.Table.Group) {
			return
		}
		tr.Group = rec.Table.Group
	} else {
		// A schedule's runs span groups: only admins hand out a URL that starts one.
		if p := principalOf(ctx); p == nil || p.Role < access.Admin {
			writeProblem(w, http.StatusForbidden, "a trigger of a schedule needs the admin role; "+userName(ctx)+" is not an admin")
			return
		}
		if _, err := a.scheduleNamed(r, req.Schedule); err != nil {
			writeProblem(w, http.StatusUnprocessableEntity, "no schedule "+strconv.Quote(req.Schedule), FieldError{Field: "schedule", Reason: "no such schedule"})
			return
		}
	}
	if len(a.cfg.TriggerKey) == 0 {
		writeProblem(w, http.StatusConflict, "this server has no trigger key (MAESTRO_TRIGGER_KEY), so it can make no trigger secrets")
		return
	}
	if err := a.st.TriggerCreate(ctx, tr); err != nil {
		a.storeFailed(w, r, err, "creating a trigger", "")
		return
	}
	a.log.Info("trigger created", zap.String("trigger_id", tr.ID), zap.String("table", tr.Table),
		zap.String("schedule", tr.Schedule), zap.String("user", tr.CreatedBy))
	out := newTriggerJSON(tr)
	out.Secret = TriggerSecret(a.cfg.TriggerKey, tr.ID, tr.Generation)
	w.Header().Set("Location", APIPrefix+"/triggers/"+tr.ID)
	writeJSONStatus(w, http.StatusCreated, out)
}

// scheduleNamed returns the stored schedule of that name or ErrNotFound.
func (a *api) scheduleNamed(r *http.Request, name string) (*store.ScheduleRecord, error) {
	recs, err := a.st.ScheduleList(r.Context())
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if rec.Schedule.Name == name {
			return rec, nil
		}
	}
	return nil, store.ErrNotFound
}

// writableTrigger loads trigger id for a change by the caller, who must be allowed to write its
// table (or, for a schedule's trigger, be an admin or of its group). It has answered when ok is
// false.
func (a *api) writableTrigger(w http.ResponseWriter, r *http.Request, id string) (tr *store.Trigger, ok bool) {
	tr, err := a.st.TriggerGet(r.Context(), id)
	if err != nil {
		a.storeFailed(w, r, err, "reading trigger "+id, "no trigger "+id)
		return nil, false
	}
	what := tr.Table
	if what == "" {
		what = "of schedule " + tr.Schedule
	}
	return tr, canWriteTable(w, r, what, tr.Group)
}

func (a *api) deleteTrigger(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx := r.Context()
	if _, ok := a.writableTrigger(w, r, id); !ok {
		return
	}
	if err := a.st.TriggerDelete(ctx, id); err != nil {
		a.storeFailed(w, r, err, "deleting trigger "+id, "no trigger "+id)
		return
	}
	a.log.Info("trigger deleted", zap.String("trigger_id", id), zap.String("user", userName(ctx)))
	w.WriteHeader(http.StatusNoContent)
}

// rotateTrigger gives a trigger a new secret (its next generation), shown once; the old one
// stops working at once.
func (a *api) rotateTrigger(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx := r.Context()
	if _, ok := a.writableTrigger(w, r, id); !ok {
		return
	}
	if len(a.cfg.TriggerKey) == 0 {
		writeProblem(w, http.StatusConflict, "this server has no trigger key (MAESTRO_TRIGGER_KEY), so it can make no trigger secrets")
		return
	}
	tr, err := a.st.TriggerRotate(ctx, id)
	if err != nil {
		a.storeFailed(w, r, err, "rotating the secret of trigger "+id, "no trigger "+id)
		return
	}
	a.log.Info("trigger secret rotated", zap.String("trigger_id", id), zap.Int("generation", tr.Generation), zap.String("user", userName(ctx)))
	out := newTriggerJSON(tr)
	out.Secret = TriggerSecret(a.cfg.TriggerKey, tr.ID, tr.Generation)
	writeJSON(w, out)
}

func (a *api) listTriggerDeliveries(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	limit, ok := limitParam(w, r.URL.Query().Get("limit"))
	if !ok {
		return
	}
	ds, err := a.st.TriggerDeliveryList(r.Context(), id, limit)
	if err != nil {
		a.storeFailed(w, r, err, "listing the deliveries of trigger "+id, "")
		return
	}
	if len(ds) == 0 {
		// Deliveries outlive their trigger; an id that never existed is a 404.
		if _, err := a.st.TriggerGet(r.Context(), id); err != nil {
			a.storeFailed(w, r, err, "reading trigger "+id, "no trigger "+id)
			return
		}
	}
	out := triggerDeliveryListJSON{Deliveries: make([]TriggerDeliveryJSON, len(ds))}
	for i, d := range ds {
		out.Deliveries[i] = TriggerDeliveryJSON{ID: d.ID, At: d.At, Outcome: d.Outcome, Reason: d.Reason, RunID: d.RunID,
			IdempotencyKey: d.IdempotencyKey, Remote: d.Remote}
	}
	writeJSON(w, out)
}

// remoteOf says where a request came from, for the audit: the peer's address, and what a proxy
// in front says it forwarded for (Cloud Run's front end sets X-Forwarded-For).
func remoteOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if fwd := strings.TrimSpace(r.Header.Get("X-Forwarded-For")); fwd != "" {
		if len(fwd) > 100 {
			fwd = fwd[:100]
		}
		// The leftmost entry is what the client claimed; the last one, the nearest proxy's view.
		parts := strings.Split(fwd, ",")
		return strings.TrimSpace(parts[len(parts)-1]) + " via " + host
	}
	return host
}

// fireTrigger is the public URL of a trigger: a delivery signed with the trigger's secret
// (Maestro-Signature, the outbound callbacks' scheme and tolerance) starts its run. Each
// delivery is recorded with its outcome. With an Idempotency-Key, every retry of the delivery
// names the same run, and the store creates a run id once, so one run starts however many
// retries arrive, even at once on several API instances. Without one, a replay of the same
// signed request is refused by the replay guard.
func (a *api) fireTrigger(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(w, http.StatusRequestEntityTooLarge, "the body is larger than "+strconv.FormatInt(tooBig.Limit, 10)+" bytes")
			return
		}
		writeProblem(w, http.StatusBadRequest, "reading the body failed: "+err.Error())
		return
	}
	tr, err := a.st.TriggerGet(ctx, id)
	if err != nil {
		a.storeFailed(w, r, err, "reading trigger "+id, "no trigger "+id)
		return
	}
	now := a.cfg.Now()
	d := &store.TriggerDelivery{TriggerID: id, ID: randomID("d-"), At: now.UTC(), Remote: remoteOf(r),
		IdempotencyKey: r.Header.Get(IdempotencyKeyHeader)}
	log := a.log.With(zap.String("trigger_id", id), zap.String("delivery_id", d.ID), zap.String("remote", d.Remote))
	refuse := func(status int, reason string) {
		d.Outcome, d.Reason = store.DeliveryRefused, reason
		a.recordDelivery(r, d, log)
		log.Info("trigger delivery refused", zap.String("reason", reason))
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Maestro-Signature realm="maestro"`)
		}
		writeProblem(w, status, reason)
	}
	if len(d.IdempotencyKey) > maxIdempotencyKey {
		d.IdempotencyKey = d.IdempotencyKey[:maxIdempotencyKey]
		refuse(http.StatusBadRequest, "the Idempotency-Key is longer than "+strconv.Itoa(maxIdempotencyKey)+" characters")
		return
	}
	if len(a.cfg.TriggerKey) == 0 {
		refuse(http.StatusUnauthorized, "this server has no trigger key, so no delivery can be verified")
		return
	}
	sig := r.Header.Get(callback.SignatureHeader)
	if sig == "" {
		refuse(http.StatusUnauthorized, "the delivery is not signed: "+callback.SignatureHeader+" is missing")
		return
	}
	secret := TriggerSecret(a.cfg.TriggerKey, tr.ID, tr.Generation)
	if err := callback.Verify([]byte(secret), sig, body, now, callback.DefaultTolerance); err != nil {
		refuse(http.StatusUnauthorized, "the signature does not verify: "+err.Error())
		return
	}
	if a.sched == nil {
		refuse(http.StatusConflict, "this server starts no runs")
		return
	}
	p := scheduler.StartParams{Trigger: run.TriggerWebhook, User: "trigger:" + tr.ID + " from " + d.Remote, At: now}
	if tr.Table != "" {
		p.Tables, p.WithDownstream = []string{tr.Table}, tr.Downstream
	} else {
		p.Schedule = tr.Schedule
	}
	if d.IdempotencyKey != "" {
		p.ID = triggerRunID(tr.ID, d.IdempotencyKey)
	} else if err := a.st.NonceClaim(ctx, "trigger\x00"+tr.ID+"\x00"+sig, now, now.Add(2*callback.DefaultTolerance)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			refuse(http.StatusConflict, "this signed delivery was received already (send an Idempotency-Key to retry safely)")
			return
		}
		a.storeFailed(w, r, err, "checking the delivery for a replay", "")
		return
	}
	rn, err := a.sched.Start(ctx, p)
	switch {
	case err == nil:
		d.Outcome, d.RunID = store.DeliveryAccepted, rn.ID
		a.recordDelivery(r, d, log)
		log.Info("trigger started a run", zap.String("run_id", rn.ID))
		writeJSONStatus(w, http.StatusAccepted, hookAnswerJSON{DeliveryID: d.ID, Outcome: d.Outcome, RunID: rn.ID})
	case errors.Is(err, store.ErrConflict) && p.ID != "":
		d.Outcome, d.RunID = store.DeliveryDuplicate, p.ID
		d.Reason = "Idempotency-Key " + strconv.Quote(d.IdempotencyKey) + " started run " + p.ID + " already"
		a.recordDelivery(r, d, log)
		log.Info("duplicate trigger delivery", zap.String("run_id", p.ID))
		writeJSONStatus(w, http.StatusOK, hookAnswerJSON{DeliveryID: d.ID, Outcome: d.Outcome, RunID: p.ID})
	case errors.Is(err, scheduler.ErrNothingToRun), errors.Is(err, store.ErrNotFound):
		refuse(http.StatusUnprocessableEntity, "nothing to run: "+err.Error())
	default:
		d.Outcome, d.Reason = store.DeliveryRefused, "starting the run failed; see the server's log"
		a.recordDelivery(r, d, log)
		a.runFailed(w, r, err, p.ID)
	}
}

func (a *api) recordDelivery(r *http.Request, d *store.TriggerDelivery, log *zap.Logger) {
	if err := a.st.TriggerDeliveryRecord(r.Context(), d); err != nil {
		log.Error("recording a trigger delivery failed", zap.Error(err))
	}
}

// MuteJSON is a table's mute of Slack failure alerts.
type MuteJSON struct {
	Table     string    `json:"table"`
	Until     time.Time `json:"until"`
	Active    bool      `json:"active"`
	By        string    `json:"by"`
	CreatedAt time.Time `json:"created_at"`
}

type muteListJSON struct {
	Mutes []MuteJSON `json:"mutes"`
}

type muteRequest struct {
	// Hours the table stays muted, 1 to 720; defaults to 24.
	Hours int `json:"hours,omitempty"`
}

func (a *api) newMuteJSON(m *store.Mute) MuteJSON {
	return MuteJSON{Table: m.Table, Until: m.Until, Active: m.Active(a.cfg.Now()), By: m.By, CreatedAt: m.CreatedAt}
}

func (a *api) listMutes(w http.ResponseWriter, r *http.Request) {
	ms, err := a.st.MuteList(r.Context())
	if err != nil {
		a.storeFailed(w, r, err, "listing mutes", "")
		return
	}
	out := muteListJSON{Mutes: make([]MuteJSON, len(ms))}
	for i, m := range ms {
		out.Mutes[i] = a.newMuteJSON(m)
	}
	writeJSON(w, out)
}

func (a *api) putMute(w http.ResponseWriter, r *http.Request) {
	name := tableName(r)
	ctx := r.Context()
	var req muteRequest
	if !decodeBody(w, r, defaultMaxBody, &req) {
		return
	}
	if req.Hours == 0 {
		req.Hours = 24
	}
	if req.Hours < 1 || req.Hours > 720 {
		writeProblem(w, http.StatusUnprocessableEntity, "hours must be between 1 and 720", FieldError{Field: "hours", Reason: "between 1 and 720"})
		return
	}
	rec, err := a.st.TableGet(ctx, name)
	if err != nil {
		a.storeFailed(w, r, err, "reading table "+name, "no table "+name)
		return
	}
	if !canWriteTable(w, r, name, rec.Table.Group) {
		return
	}
	now := a.cfg.Now().UTC()
	m := &store.Mute{Table: name, Until: now.Add(time.Duration(req.Hours) * time.Hour), By: userName(ctx), CreatedAt: now}
	if err := a.st.MutePut(ctx, m); err != nil {
		a.storeFailed(w, r, err, "muting table "+name, "")
		return
	}
	a.log.Info("table muted", zap.String("table", name), zap.Time("until", m.Until), zap.String("user", m.By))
	writeJSON(w, a.newMuteJSON(m))
}

func (a *api) deleteMute(w http.ResponseWriter, r *http.Request) {
	name := tableName(r)
	ctx := r.Context()
	group := ""
	if rec, err := a.st.TableGet(ctx, name); err == nil {
		group = rec.Table.Group
	} else if !errors.Is(err, store.ErrNotFound) {
		a.storeFailed(w, r, err, "reading table "+name, "")
		return
	}
	if !canWriteTable(w, r, name, group) {
		return
	}
	if err := a.st.MuteDelete(ctx, name); err != nil {
		a.storeFailed(w, r, err, "unmuting table "+name, "table "+name+" is not muted")
		return
	}
	a.log.Info("table unmuted", zap.String("table", name), zap.String("user", userName(ctx)))
	w.WriteHeader(http.StatusNoContent)
}
