package project

import (
	"path"
	"strings"

	"github.com/maestro-sql/maestro/internal/spec"
)

type routeFile struct {
	Tables       []string `yaml:"tables"`
	Group        string   `yaml:"group"`
	Schedule     string   `yaml:"schedule"`
	SlackChannel string   `yaml:"slack_channel"`
}

type pricingFile struct {
	Model           string   `yaml:"model"`
	USDPerTiB       float64  `yaml:"usd_per_tib"`
	USDPerSlotHour  float64  `yaml:"usd_per_slot_hour"`
	EstimateWarnUSD float64  `yaml:"estimate_warn_usd"`
	AnomalyMultiple *float64 `yaml:"anomaly_multiple"`
	AnomalyRuns     *int     `yaml:"anomaly_runs"`
}

// Cost alert defaults, applied when maestro.yaml sets a pricing model but not these.
const (
	AnomalyMultipleDefault = 3
	AnomalyRunsDefault     = 10
	// anomalyRunsMin: a median of fewer runs is noise, not a baseline.
	anomalyRunsMin = 3
)

// parseNotify validates the notify routes and the pricing of maestro.yaml into p; p.Schedules
// must be parsed already.
func parseNotify(n notifyFile, pr *pricingFile, p *spec.Project, ln *lines) errorList {
	const file = ConfigFile
	var errs errorList
	if n.SlackToken != "" {
		if msg := checkSecretRef(n.SlackToken); msg != "" {
			errs.add(file, ln.at("notify", "slack_token"), "notify: slack_token: %s", msg)
		}
		p.Notify.SlackToken = n.SlackToken
	}
	if n.SlackChannel != "" {
		if msg := checkChannel(n.SlackChannel); msg != "" {
			errs.add(file, ln.at("notify", "slack_channel"), "notify: slack_channel %s", msg)
		}
	}
	schedules := map[string]bool{}
	for _, s := range p.Schedules {
		schedules[s.Name] = true
	}
	for i, r := range n.Routes {
		at := func(key string) int { return ln.at("notify", "routes", i, key) }
		switch {
		case r.SlackChannel == "":
			errs.add(file, ln.at("notify", "routes", i), "notify route %d has no slack_channel", i+1)
		default:
			if msg := checkChannel(r.SlackChannel); msg != "" {
				errs.add(file, at("slack_channel"), "notify route %d: slack_channel %s", i+1, msg)
			}
		}
		if len(r.Tables) == 0 && r.Group == "" && r.Schedule == "" {
			errs.add(file, ln.at("notify", "routes", i), "notify route %d matches nothing: give tables, group or schedule", i+1)
		}
		tables := make([]string, len(r.Tables))
		for j, t := range r.Tables {
			tables[j] = strings.ToLower(t)
			if msg := checkTablePattern(tables[j]); msg != "" {
				errs.add(file, ln.at("notify", "routes", i, "tables", j), "notify route %d: table %q %s", i+1, t, msg)
			}
		}
		if len(tables) == 0 {
			tables = nil
		}
		if r.Schedule != "" && !schedules[r.Schedule] {
			errs.add(file, at("schedule"), "notify route %d: unknown schedule %q", i+1, r.Schedule)
		}
		p.Notify.Routes = append(p.Notify.Routes, spec.NotifyRoute{Tables: tables, Group: r.Group, Schedule: r.Schedule, SlackChannel: r.SlackChannel})
	}
	if pr != nil {
		errs = append(errs, parsePricing(pr, p, ln)...)
	}
	return errs
}

func parsePricing(pr *pricingFile, p *spec.Project, ln *lines) errorList {
	const file = ConfigFile
	var errs errorList
	at := func(key string) int { return ln.at("pricing", key) }
	p.Pricing = spec.Pricing{Model: pr.Model, USDPerTiB: pr.USDPerTiB, USDPerSlotHour: pr.USDPerSlotHour,
		EstimateWarnUSD: pr.EstimateWarnUSD, AnomalyMultiple: AnomalyMultipleDefault, AnomalyRuns: AnomalyRunsDefault}
	switch pr.Model {
	case "on_demand":
		if pr.USDPerTiB <= 0 {
			errs.add(file, ln.at("pricing"), "pricing: model on_demand needs usd_per_tib, a positive price")
		}
		if pr.USDPerSlotHour != 0 {
			errs.add(file, at("usd_per_slot_hour"), "pricing: usd_per_slot_hour is for model editions, not on_demand")
		}
	case "editions":
		if pr.USDPerSlotHour <= 0 {
			errs.add(file, ln.at("pricing"), "pricing: model editions needs usd_per_slot_hour, a positive price")
		}
		if pr.USDPerTiB != 0 {
			errs.add(file, at("usd_per_tib"), "pricing: usd_per_tib is for model on_demand, not editions")
		}
	case "":
		errs.add(file, ln.at("pricing"), "pricing: model is required (on_demand or editions)")
	default:
		errs.add(file, at("model"), "pricing: unknown model %q (on_demand or editions)", pr.Model)
	}
	if pr.EstimateWarnUSD < 0 {
		errs.add(file, at("estimate_warn_usd"), "pricing: estimate_warn_usd must not be negative")
	}
	if pr.AnomalyMultiple != nil {
		p.Pricing.AnomalyMultiple = *pr.AnomalyMultiple
		if m := *pr.AnomalyMultiple; m != 0 && m <= 1 {
			errs.add(file, at("anomaly_multiple"), "pricing: anomaly_multiple must be above 1 (or 0: no alerts), not %g", m)
		}
	}
	if pr.AnomalyRuns != nil {
		p.Pricing.AnomalyRuns = *pr.AnomalyRuns
		if *pr.AnomalyRuns < anomalyRunsMin {
			errs.add(file, at("anomaly_runs"), "pricing: anomaly_runs must be at least %d, not %d", anomalyRunsMin, *pr.AnomalyRuns)
		}
	}
	return errs
}

// checkChannel says what is wrong with a Slack channel (a #name or a channel id), or "".
func checkChannel(c string) string {
	if strings.ContainsAny(c, " \t\n,") {
		return "must be one channel (#name or an id such as C0123456), without spaces"
	}
	return ""
}

// checkTablePattern says what is wrong with a route's table name or pattern, or "".
func checkTablePattern(t string) string {
	ds, tb, ok := strings.Cut(t, ".")
	if !ok || ds == "" || tb == "" || strings.Contains(tb, ".") {
		return "must be dataset.table, where either may be a pattern such as sales.* or *.daily_*"
	}
	if _, err := path.Match(t, ""); err != nil {
		return "is not a valid pattern"
	}
	return ""
}
