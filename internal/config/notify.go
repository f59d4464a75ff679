package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/spec"
)

// loadNotify reads the Slack and pricing variables into c.
func (c *Config) loadNotify(get func(string) string) []error {
	var errs []error
	c.SlackToken = get("MAESTRO_SLACK_TOKEN")
	if c.SlackToken != "" && !strings.HasPrefix(c.SlackToken, "env:") && !strings.HasPrefix(c.SlackToken, "file:") {
		// Never echoed: it may be the token itself.
		errs = append(errs, fmt.Errorf("MAESTRO_SLACK_TOKEN must be a reference (env:NAME or file:PATH), never the token itself"))
	}
	for _, ref := range []struct {
		name string
		dst  *string
	}{{"MAESTRO_SLACK_SIGNING_SECRET", &c.SlackSigningSecret}, {"MAESTRO_TRIGGER_KEY", &c.TriggerKey}} {
		*ref.dst = get(ref.name)
		if kind, _, _ := strings.Cut(*ref.dst, ":"); *ref.dst != "" && kind != "env" && kind != "file" && kind != "secretmanager" {
			// Never echoed: it may be the secret itself.
			errs = append(errs, fmt.Errorf("%s must be a reference (env:NAME, file:PATH or secretmanager:...), never the secret itself", ref.name))
		}
	}
	c.SlackChannel = get("MAESTRO_SLACK_CHANNEL")
	c.SlackAPIURL = get("MAESTRO_SLACK_API_URL")
	c.UIURL = get("MAESTRO_UI_URL")
	if routes := get("MAESTRO_SLACK_ROUTES"); routes != "" {
		dec := json.NewDecoder(bytes.NewReader([]byte(routes)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c.SlackRoutes); err != nil {
			errs = append(errs, fmt.Errorf("MAESTRO_SLACK_ROUTES must be a JSON list of routes ({tables, group, schedule, slack_channel}): %v", err))
		}
		for i, r := range c.SlackRoutes {
			if r.SlackChannel == "" || len(r.Tables) == 0 && r.Group == "" && r.Schedule == "" {
				errs = append(errs, fmt.Errorf("MAESTRO_SLACK_ROUTES: route %d needs a slack_channel and at least one of tables, group or schedule", i+1))
			}
		}
	}
	if hooks := get("MAESTRO_WEBHOOKS"); hooks != "" {
		dec := json.NewDecoder(bytes.NewReader([]byte(hooks)))
		dec.DisallowUnknownFields()
		var list []struct {
			URL    string   `json:"url"`
			Secret string   `json:"secret"`
			Events []string `json:"events"`
		}
		if err := dec.Decode(&list); err != nil {
			errs = append(errs, fmt.Errorf("MAESTRO_WEBHOOKS must be a JSON list of webhooks ({url, secret, events}): %v", err))
		}
		for i, h := range list {
			u, err := url.Parse(h.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("MAESTRO_WEBHOOKS: webhook %d: url %q is not an http(s) URL", i+1, h.URL))
			}
			if kind, _, _ := strings.Cut(h.Secret, ":"); kind != "env" && kind != "file" && kind != "secretmanager" {
				// Never echoed: it may be the key itself.
				errs = append(errs, fmt.Errorf("MAESTRO_WEBHOOKS: webhook %d: secret must be a reference (env:NAME, file:PATH or secretmanager:...), never the key itself", i+1))
			}
			for _, e := range h.Events {
				if !slices.Contains(callback.WebhookEvents, e) {
					errs = append(errs, fmt.Errorf("MAESTRO_WEBHOOKS: webhook %d: unknown event %q (%s)", i+1, e, strings.Join(callback.WebhookEvents, ", ")))
				}
			}
			c.Webhooks = append(c.Webhooks, spec.Webhook{URL: h.URL, SecretRef: h.Secret, Events: h.Events})
		}
	}
	if p := get("MAESTRO_PRICING"); p != "" {
		model, price, _ := strings.Cut(p, ":")
		usd, err := strconv.ParseFloat(price, 64)
		switch {
		case err != nil || usd <= 0:
			errs = append(errs, fmt.Errorf("MAESTRO_PRICING must be on_demand:USD_PER_TIB or editions:USD_PER_SLOT_HOUR with a positive price, not %q", p))
		case model == "on_demand":
			c.Pricing.Model, c.Pricing.USDPerTiB = model, usd
		case model == "editions":
			c.Pricing.Model, c.Pricing.USDPerSlotHour = model, usd
		default:
			errs = append(errs, fmt.Errorf("MAESTRO_PRICING: unknown model %q (on_demand or editions)", model))
		}
	}
	multiple, err := strconv.ParseFloat(get("MAESTRO_COST_ANOMALY_MULTIPLE"), 64)
	if err != nil || multiple < 0 || (multiple > 0 && multiple <= 1) {
		errs = append(errs, fmt.Errorf("MAESTRO_COST_ANOMALY_MULTIPLE must be above 1, or 0 for no alerts, not %q", get("MAESTRO_COST_ANOMALY_MULTIPLE")))
	}
	runs, err := strconv.Atoi(get("MAESTRO_COST_ANOMALY_RUNS"))
	if err != nil || runs < 3 {
		errs = append(errs, fmt.Errorf("MAESTRO_COST_ANOMALY_RUNS must be a whole number of at least 3, not %q", get("MAESTRO_COST_ANOMALY_RUNS")))
	}
	c.Pricing.AnomalyMultiple, c.Pricing.AnomalyRuns = multiple, runs
	if w := get("MAESTRO_ESTIMATE_WARN_USD"); w != "" {
		usd, err := strconv.ParseFloat(w, 64)
		if err != nil || usd <= 0 {
			errs = append(errs, fmt.Errorf("MAESTRO_ESTIMATE_WARN_USD must be a positive amount, not %q", w))
		}
		c.Pricing.EstimateWarnUSD = usd
	}
	return errs
}
