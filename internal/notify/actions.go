package notify

import (
	"strings"

	"github.com/slack-go/slack"
)

// The action ids of the buttons on failure and run-summary messages. Slack sends a pressed
// button to the api service's interactivity endpoint (internal/service), which acts on it.
const (
	ActionRerun           = "maestro_rerun"            // run the table again
	ActionRerunDownstream = "maestro_rerun_downstream" // run it and everything downstream
	ActionResume          = "maestro_resume"           // resume the run (its failed and skipped tables)
	ActionMute            = "maestro_mute"             // mute the table's failure alerts for a day
)

// ActionValue is a button's value: the table (empty for a run's buttons) and the run.
func ActionValue(table, runID string) string { return table + "|" + runID }

// ParseActionValue splits a button's value; ok is false for a value no Maestro button makes.
func ParseActionValue(v string) (table, runID string, ok bool) {
	table, runID, ok = strings.Cut(v, "|")
	return table, runID, ok && runID != "" && !strings.Contains(runID, "|")
}

func button(actionID, label, value string, style slack.Style) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(actionID, value, plain(label))
	if style != "" {
		b.Style = style
	}
	return b
}

// failureActions are the buttons under a table's failure message.
func failureActions(table, runID string) slack.Block {
	v := ActionValue(table, runID)
	return slack.NewActionBlock("maestro_failure",
		button(ActionRerun, "Re-run table", v, slack.StylePrimary),
		button(ActionRerunDownstream, "Re-run with downstream", v, ""),
		button(ActionResume, "Resume run", ActionValue("", runID), ""),
		button(ActionMute, "Mute for a day", v, slack.StyleDanger),
	)
}

// summaryActions are the buttons under a failed run's summary.
func summaryActions(runID string) slack.Block {
	return slack.NewActionBlock("maestro_summary", button(ActionResume, "Resume run", ActionValue("", runID), slack.StylePrimary))
}
