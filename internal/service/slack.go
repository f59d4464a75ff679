package service

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/notify"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/store"
)

// SlackTolerance is how far a Slack request's timestamp may be from now: Slack's own advice.
const SlackTolerance = 5 * time.Minute

// SlackConfig serves Slack's interactivity (the buttons of failure and summary messages) and
// the /maestro slash command.
type SlackConfig struct {
	// SigningSecret is the Slack app's signing secret; every request must be signed with it.
	// Empty: the Slack routes answer 404.
	SigningSecret []byte
	// Users finds the email of a Slack user, to know them as a Maestro user.
	Users SlackUsers
	// Client posts to Slack's response URLs. Defaults to a client with a 10 s timeout.
	Client *http.Client
	// Timeout bounds the work done after Slack was answered (a run started, the message
	// updated). Defaults to 30 s.
	Timeout time.Duration
}

// SlackUsers finds a Slack user's email address.
type SlackUsers interface {
	SlackUserEmail(ctx context.Context, userID string) (string, error)
}

// SlackWebUsers finds emails with Slack's users.info at apiURL (Slack's https://slack.com/api/
// when empty) with the bot token, which needs the users:read and users:read.email scopes.
// It speaks the Web API with net/http rather than slack-go's client: that client's hundreds of
// methods would all stay in the api binary.
func SlackWebUsers(apiURL, token string, client *http.Client) SlackUsers {
	if apiURL == "" {
		apiURL = "https://slack.com/api/"
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &slackWebUsers{url: apiURL + "users.info", token: token, client: client}
}

type slackWebUsers struct {
	url, token string
	client     *http.Client
}

func (s *slackWebUsers) SlackUserEmail(ctx context.Context, userID string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(url.Values{"user": {userID}}.Encode()))
	if err != nil {
		return "", fmt.Errorf("error looking up slack user %s: %w", userID, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("error looking up slack user %s: %w", userID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("error looking up slack user %s: users.info answered %s", userID, resp.Status)
	}
	var out struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		User  struct {
			Profile struct {
				Email string `json:"email"`
			} `json:"profile"`
		} `json:"user"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return "", fmt.Errorf("error looking up slack user %s: decoding users.info: %w", userID, err)
	}
	if !out.OK {
		return "", fmt.Errorf("error looking up slack user %s: users.info: %s", userID, out.Error)
	}
	if out.User.Profile.Email == "" {
		return "", fmt.Errorf("slack user %s has no email Maestro may read (the app needs the users:read.email scope)", userID)
	}
	return out.User.Profile.Email, nil
}

// slackForm is the form Slack posted, once slackVerified has checked that Slack sent it.
func (a *api) slackForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	body, ok := a.slackVerified(w, r)
	if !ok {
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "the body is not a form: "+err.Error())
		return nil, false
	}
	return form, true
}

// slackVerified reads a Slack request's body and checks that Slack sent it: the v0 signature
// (HMAC-SHA256 of "v0:TIMESTAMP:BODY" under the signing secret), a timestamp within
// SlackTolerance, and that this signature was not accepted before. The replay guard is a
// store claim of the signature (NonceClaim), so a request replayed to another API instance is
// refused too; the claim expires when the timestamp would be refused anyway.
func (a *api) slackVerified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if len(a.cfg.Slack.SigningSecret) == 0 {
		writeProblem(w, http.StatusNotFound, "Slack is not configured on this server: it has no signing secret")
		return nil, false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(w, http.StatusRequestEntityTooLarge, "the body is larger than "+strconv.FormatInt(tooBig.Limit, 10)+" bytes")
			return nil, false
		}
		writeProblem(w, http.StatusBadRequest, "reading the body failed: "+err.Error())
		return nil, false
	}
	now := a.cfg.Now()
	ts, err := VerifySlack(a.cfg.Slack.SigningSecret, r.Header, body, now)
	if err != nil {
		a.log.Info("slack request refused", zap.String("remote", remoteOf(r)), zap.Error(err))
		w.Header().Set("WWW-Authenticate", `Slack-Signature realm="maestro"`)
		writeProblem(w, http.StatusUnauthorized, err.Error())
		return nil, false
	}
	sig := r.Header.Get("X-Slack-Signature")
	switch err := a.st.NonceClaim(r.Context(), "slack\x00"+sig, now, ts.Add(2*SlackTolerance)); {
	case errors.Is(err, store.ErrConflict):
		a.log.Warn("replayed slack request refused", zap.String("remote", remoteOf(r)))
		w.Header().Set("WWW-Authenticate", `Slack-Signature realm="maestro"`)
		writeProblem(w, http.StatusUnauthorized, "this Slack request was received already: a replay")
		return nil, false
	case err != nil:
		a.storeFailed(w, r, err, "checking the Slack request for a replay", "")
		return nil, false
	}
	return body, true
}

// VerifySlack checks a request's X-Slack-Signature and X-Slack-Request-Timestamp against
// the signing secret and returns the request's time.
func VerifySlack(secret []byte, h http.Header, body []byte, now time.Time) (time.Time, error) {
	rawTS, sig := h.Get("X-Slack-Request-Timestamp"), h.Get("X-Slack-Signature")
	if rawTS == "" || sig == "" {
		return time.Time{}, errors.New("not signed by Slack: X-Slack-Signature and X-Slack-Request-Timestamp are required")
	}
	secs, err := strconv.ParseInt(rawTS, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("X-Slack-Request-Timestamp %q is not a unix time", rawTS)
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > SlackTolerance || d < -SlackTolerance {
		return time.Time{}, fmt.Errorf("the Slack request is stale: signed at %s, more than %s from now", ts.UTC().Format(time.RFC3339), SlackTolerance)
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil {
		return time.Time{}, errors.New("X-Slack-Signature is not of the form v0=<hex>")
	}
	if !hmac.Equal(got, slackMAC(secret, rawTS, body)) {
		return time.Time{}, errors.New("X-Slack-Signature does not match the body under the signing secret")
	}
	return ts, nil
}

func slackMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return m.Sum(nil)
}

// SignSlack signs a body as Slack does (tests and tools): the two headers' values.
func SignSlack(secret []byte, t time.Time, body []byte) (timestamp, signature string) {
	ts := strconv.FormatInt(t.Unix(), 10)
	return ts, "v0=" + hex.EncodeToString(slackMAC(secret, ts, body))
}

// slackActor is the Maestro user behind a Slack user, or why there is none.
type slackActor struct {
	slackID string
	user    *store.User
	role    access.Role
	// refusal says why the Slack user may do nothing (no email, not a Maestro user).
	refusal string
}

// label is how runs and mutes record who acted: "slack:U123 (ana@example.com)".
func (s *slackActor) label() string {
	if s.user == nil {
		return "slack:" + s.slackID
	}
	return "slack:" + s.slackID + " (" + s.user.Email + ")"
}

func (s *slackActor) who() string {
	if s.user == nil {
		return "<@" + s.slackID + ">"
	}
	return s.user.Email
}

// slackActorOf maps a Slack user to a Maestro user through their email, with the role the
// API would give them.
func (a *api) slackActorOf(ctx context.Context, slackID string) (*slackActor, error) {
	act := &slackActor{slackID: slackID}
	if a.cfg.Slack.Users == nil {
		act.refusal = "this Maestro cannot look up Slack users (no bot token), so it does not know who you are"
		return act, nil
	}
	email, err := a.cfg.Slack.Users.SlackUserEmail(ctx, slackID)
	if err != nil {
		a.log.Warn("looking up a slack user failed", zap.String("slack_user", slackID), zap.Error(err))
		act.refusal = "Maestro could not find your email in Slack, so it does not know who you are"
		return act, nil
	}
	u, err := a.st.UserGet(ctx, strings.ToLower(email))
	if errors.Is(err, store.ErrNotFound) {
		u, err = a.st.UserGet(ctx, email)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		act.refusal = email + " is not a Maestro user: ask an admin to add you"
		return act, nil
	case err != nil:
		return nil, fmt.Errorf("error loading user %s: %w", email, err)
	}
	act.user, act.role = u, access.RoleOf(u)
	if act.role == access.None {
		act.refusal = email + " has no valid Maestro role: ask an admin"
	}
	return act, nil
}

// slackMessage is what Maestro posts to a response URL.
type slackMessage struct {
	ResponseType    string `json:"response_type,omitempty"`
	ReplaceOriginal bool   `json:"replace_original"`
	Text            string `json:"text"`
	Blocks          []any  `json:"blocks,omitempty"`
}

// slackInteractionPayload is the part of Slack's block_actions payload Maestro reads. The
// message's blocks stay raw: they go back to Slack as they came, with a line added.
type slackInteractionPayload struct {
	Type        string `json:"type"`
	ResponseURL string `json:"response_url"`
	User        struct {
		ID string `json:"id"`
	} `json:"user"`
	Message struct {
		Blocks []json.RawMessage `json:"blocks"`
	} `json:"message"`
	Actions []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
	} `json:"actions"`
}

func (a *api) slackClient() *http.Client {
	if a.cfg.Slack.Client != nil {
		return a.cfg.Slack.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// respond posts a message to a Slack response URL.
func (a *api) respond(ctx context.Context, responseURL string, m slackMessage) error {
	u, err := url.Parse(responseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("error answering slack: the response_url %q is not an http(s) URL", responseURL)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("error encoding a slack answer: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("error answering slack: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.slackClient().Do(req)
	if err != nil {
		return fmt.Errorf("error answering slack at its response_url: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("error answering slack at its response_url: status %d", resp.StatusCode)
	}
	return nil
}

// later runs fn after Slack was answered (Slack waits at most 3 s for an answer), detached
// from the request, within SlackConfig.Timeout.
func (a *api) later(ctx context.Context, fn func(ctx context.Context)) {
	timeout := a.cfg.Slack.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	go func() {
		defer cancel()
		fn(ctx)
	}()
}

func ephemeral(text string) slackMessage {
	return slackMessage{ResponseType: "ephemeral", Text: text}
}

// slackInteraction handles a pressed button of a failure or summary message: it answers Slack
// at once, then acts as the Maestro user behind the Slack user, held to the API's roles, and
// updates the message in place saying what was done and by whom, or tells only the presser
// (ephemeral) why nothing was done.
func (a *api) slackInteraction(w http.ResponseWriter, r *http.Request) {
	form, ok := a.slackForm(w, r)
	if !ok {
		return
	}
	var cb slackInteractionPayload
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		writeProblem(w, http.StatusBadRequest, "the payload is not an interaction: "+err.Error())
		return
	}
	if cb.Type != "block_actions" || len(cb.Actions) == 0 {
		w.WriteHeader(http.StatusOK) // nothing Maestro offers; Slack needs only the 200
		return
	}
	act := cb.Actions[0]
	table, runID, valid := notify.ParseActionValue(act.Value)
	if !valid || cb.User.ID == "" || cb.ResponseURL == "" {
		writeProblem(w, http.StatusBadRequest, "the action is not one of Maestro's buttons")
		return
	}
	w.WriteHeader(http.StatusOK)
	a.later(r.Context(), func(ctx context.Context) {
		log := a.log.With(zap.String("slack_user", cb.User.ID), zap.String("action", act.ActionID),
			zap.String("node", table), zap.String("run_id", runID))
		msg := a.slackAct(ctx, log, &cb, act.ActionID, table, runID)
		if err := a.respond(ctx, cb.ResponseURL, msg); err != nil {
			log.Warn("answering a slack button failed", zap.Error(err))
		}
	})
}

// slackAct does what a button asks and says what happened.
func (a *api) slackAct(ctx context.Context, log *zap.Logger, cb *slackInteractionPayload, action, table, runID string) slackMessage {
	actor, err := a.slackActorOf(ctx, cb.User.ID)
	if err != nil {
		log.Error("mapping a slack user failed", zap.Error(err))
		return ephemeral("Nothing was done: Maestro could not check who you are; try again.")
	}
	var need access.Role
	var what string
	switch action {
	case notify.ActionRerun:
		need, what = access.Editor, "re-running "+table
	case notify.ActionRerunDownstream:
		need, what = access.Editor, "re-running "+table+" with everything downstream"
	case notify.ActionResume:
		need, what = access.Editor, "resuming run "+runID
	case notify.ActionMute:
		need, what = access.Editor, "muting "+table
	default:
		return ephemeral("Nothing was done: Maestro has no button " + action + ".")
	}
	if actor.refusal != "" {
		log.Info("slack action refused", zap.String("reason", actor.refusal))
		return ephemeral("Nothing was done: " + actor.refusal + ".")
	}
	if actor.role < need {
		log.Info("slack action refused", zap.String("user", actor.user.Email), zap.String("role", actor.role.String()))
		return ephemeral(fmt.Sprintf("Nothing was done: %s is a %s in Maestro, and %s needs the %s role.", actor.user.Email, actor.role, what, need))
	}
	if (action == notify.ActionRerun || action == notify.ActionRerunDownstream || action == notify.ActionMute) && table == "" {
		return ephemeral("Nothing was done: the button names no table.")
	}
	if a.sched == nil && action != notify.ActionMute {
		return ephemeral("Nothing was done: this Maestro server starts no runs.")
	}
	var done string
	switch action {
	case notify.ActionRerun, notify.ActionRerunDownstream:
		down := action == notify.ActionRerunDownstream
		rn, err := a.sched.Start(ctx, scheduler.StartParams{Tables: []string{table}, WithDownstream: down,
			Trigger: run.TriggerSlack, User: actor.label(), At: a.cfg.Now()})
		if err != nil {
			log.Info("slack re-run failed", zap.Error(err))
			return ephemeral("Could not re-run " + table + ": " + err.Error())
		}
		kind := "Re-run of " + table
		if down {
			kind = "Re-run of " + table + " and everything downstream"
		}
		done = fmt.Sprintf("%s started by %s — run %s", kind, actor.who(), rn.ID)
		log.Info("slack started a run", zap.String("new_run_id", rn.ID), zap.String("user", actor.label()))
	case notify.ActionResume:
		rn, err := a.sched.Resume(ctx, runID, actor.label())
		if err != nil {
			log.Info("slack resume failed", zap.Error(err))
			return ephemeral("Could not resume run " + runID + ": " + err.Error())
		}
		done = fmt.Sprintf("Run %s resumed by %s — run %s", runID, actor.who(), rn.ID)
		log.Info("slack resumed a run", zap.String("new_run_id", rn.ID), zap.String("user", actor.label()))
	case notify.ActionMute:
		rec, err := a.st.TableGet(ctx, table)
		if err != nil {
			return ephemeral("Could not mute " + table + ": " + err.Error())
		}
		if !access.CanWriteTable(actor.user, rec.Table.Group) {
			return ephemeral(fmt.Sprintf("Nothing was done: %s belongs to %s, and %s may not change it.", table, groupName(rec.Table.Group), actor.user.Email))
		}
		now := a.cfg.Now().UTC()
		m := &store.Mute{Table: table, Until: now.Add(24 * time.Hour), By: actor.label(), CreatedAt: now}
		if err := a.st.MutePut(ctx, m); err != nil {
			log.Error("slack mute failed", zap.Error(err))
			return ephemeral("Could not mute " + table + "; see the server's log.")
		}
		done = fmt.Sprintf("Alerts of %s muted until %s by %s", table, m.Until.Format("2006-01-02 15:04 MST"), actor.who())
		log.Info("slack muted a table", zap.Time("until", m.Until), zap.String("user", actor.label()))
	}
	blocks := make([]any, 0, len(cb.Message.Blocks)+1)
	for _, b := range cb.Message.Blocks {
		blocks = append(blocks, b)
	}
	blocks = append(blocks, map[string]any{"type": "context",
		"elements": []any{map[string]any{"type": "mrkdwn", "text": ":white_check_mark: " + slackEscape(done)}}})
	return slackMessage{ReplaceOriginal: true, Text: done, Blocks: blocks}
}

func groupName(g string) string {
	if g == "" {
		return "no group (admins only)"
	}
	return "group " + g
}

func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

const slashUsage = "Usage: `/maestro status TABLE`, `/maestro run TABLE [--downstream]`, `/maestro runs`"

// slackCommand answers the /maestro slash command. status and runs are read and answered at
// once; run is acknowledged at once and its outcome posted to the response URL, so Slack's
// three seconds are never the limit.
func (a *api) slackCommand(w http.ResponseWriter, r *http.Request) {
	form, ok := a.slackForm(w, r)
	if !ok {
		return
	}
	userID, responseURL := form.Get("user_id"), form.Get("response_url")
	if userID == "" {
		writeProblem(w, http.StatusBadRequest, "the command names no user_id")
		return
	}
	args := strings.Fields(form.Get("text"))
	if len(args) == 0 {
		writeJSON(w, ephemeral(slashUsage))
		return
	}
	ctx := r.Context()
	log := a.log.With(zap.String("slack_user", userID), zap.String("command", args[0]))
	switch args[0] {
	case "status", "runs":
		if (args[0] == "status") != (len(args) == 2) || len(args) > 2 {
			writeJSON(w, ephemeral(slashUsage))
			return
		}
		actor, err := a.slackActorOf(ctx, userID)
		if err != nil {
			log.Error("mapping a slack user failed", zap.Error(err))
			writeJSON(w, ephemeral("Maestro could not check who you are; try again."))
			return
		}
		if actor.refusal != "" {
			writeJSON(w, ephemeral(actor.refusal+"."))
			return
		}
		if args[0] == "runs" {
			writeJSON(w, ephemeral(a.slackRuns(ctx)))
			return
		}
		writeJSON(w, ephemeral(a.slackStatus(ctx, strings.ToLower(args[1]))))
	case "run":
		if len(args) < 2 || len(args) > 3 || (len(args) == 3 && args[2] != "--downstream") {
			writeJSON(w, ephemeral(slashUsage))
			return
		}
		if responseURL == "" {
			writeProblem(w, http.StatusBadRequest, "the command has no response_url")
			return
		}
		table, down := strings.ToLower(args[1]), len(args) == 3
		writeJSON(w, ephemeral("Starting a run of "+table+"…"))
		a.later(ctx, func(ctx context.Context) {
			msg := a.slackRun(ctx, log, userID, table, down)
			if err := a.respond(ctx, responseURL, msg); err != nil {
				log.Warn("answering a slash command failed", zap.Error(err))
			}
		})
	default:
		writeJSON(w, ephemeral("Maestro has no command "+strconv.Quote(args[0])+". "+slashUsage))
	}
}

func (a *api) slackRun(ctx context.Context, log *zap.Logger, userID, table string, down bool) slackMessage {
	actor, err := a.slackActorOf(ctx, userID)
	if err != nil {
		log.Error("mapping a slack user failed", zap.Error(err))
		return ephemeral("Nothing was done: Maestro could not check who you are; try again.")
	}
	if actor.refusal != "" {
		return ephemeral("Nothing was done: " + actor.refusal + ".")
	}
	if actor.role < access.Editor {
		return ephemeral(fmt.Sprintf("Nothing was done: %s is a %s in Maestro, and running %s needs the editor role.", actor.user.Email, actor.role, table))
	}
	if a.sched == nil {
		return ephemeral("Nothing was done: this Maestro server starts no runs.")
	}
	rn, err := a.sched.Start(ctx, scheduler.StartParams{Tables: []string{table}, WithDownstream: down,
		Trigger: run.TriggerSlack, User: actor.label(), At: a.cfg.Now()})
	if err != nil {
		return ephemeral("Could not run " + table + ": " + err.Error())
	}
	log.Info("slack started a run", zap.String("run_id", rn.ID), zap.String("node", table), zap.String("user", actor.label()))
	what := table
	if down {
		what += " and everything downstream"
	}
	return slackMessage{ResponseType: "in_channel", Text: fmt.Sprintf("Run %s of %s started by %s", rn.ID, what, actor.who())}
}

// slackRuns lists the latest runs.
func (a *api) slackRuns(ctx context.Context) string {
	runs, err := a.st.RunList(ctx, &store.RunListParams{Limit: 10})
	if err != nil {
		a.log.Error("listing runs for slack failed", zap.Error(err))
		return "Maestro could not list runs; see the server's log."
	}
	if len(runs) == 0 {
		return "No runs yet."
	}
	var b strings.Builder
	b.WriteString("Latest runs:\n")
	for _, rn := range runs {
		fmt.Fprintf(&b, "• %s %s (%s", rn.ID, rn.State, rn.Trigger)
		if rn.Schedule != "" {
			fmt.Fprintf(&b, " %s", rn.Schedule)
		}
		fmt.Fprintf(&b, ", by %s, %s)\n", rn.CreatedBy, rn.CreatedAt.UTC().Format("2006-01-02 15:04 MST"))
	}
	return slackEscape(b.String())
}

// slackStatus tells a table's latest state: the newest of the last runs that included it.
func (a *api) slackStatus(ctx context.Context, table string) string {
	rec, err := a.st.TableGet(ctx, table)
	if errors.Is(err, store.ErrNotFound) {
		return "No table " + slackEscape(table) + "."
	}
	if err != nil {
		a.log.Error("reading a table for slack failed", zap.String("node", table), zap.Error(err))
		return "Maestro could not read " + slackEscape(table) + "; see the server's log."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (owner %s, group %s): ", table, orNone(rec.Table.Owner), orNone(rec.Table.Group))
	runs, err := a.st.RunList(ctx, &store.RunListParams{Limit: 50})
	if err != nil {
		a.log.Error("listing runs for slack failed", zap.Error(err))
		return "Maestro could not list runs; see the server's log."
	}
	found := false
	for _, rn := range runs {
		n, err := a.st.NodeGet(ctx, rn.ID, table)
		if err != nil {
			continue
		}
		found = true
		fmt.Fprintf(&b, "%s in run %s (attempt %d", n.State, rn.ID, n.Attempt)
		if !n.FinishedAt.IsZero() {
			fmt.Fprintf(&b, ", finished %s", n.FinishedAt.UTC().Format("2006-01-02 15:04 MST"))
		}
		b.WriteString(")")
		if n.Error != "" {
			fmt.Fprintf(&b, ": %s", excerptText(n.Error, 200))
		}
		break
	}
	if !found {
		b.WriteString("not in any of the last 50 runs")
	}
	if m, err := a.st.MuteGet(ctx, table); err == nil && m.Active(a.cfg.Now()) {
		fmt.Fprintf(&b, ". Alerts muted until %s by %s", m.Until.Format("2006-01-02 15:04 MST"), m.By)
	}
	b.WriteString(".")
	return slackEscape(b.String())
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func excerptText(s string, n int) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n]) + "…"
}
