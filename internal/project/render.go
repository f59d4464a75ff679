package project

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/maestro-sql/maestro/internal/spec"
)

// SidecarDefaults are the project settings a table falls back to when its sidecar leaves a key
// out. RenderSidecar omits what equals them, so a rendered sidecar holds only what the table
// says of itself.
type SidecarDefaults struct {
	// Retries is the project's default_retries.
	Retries int
	// Schedule is the project's default_schedule ("" when it has none).
	Schedule string
	// Zones maps the project's schedules to their time zones ("" = UTC): an import's
	// full_refresh.time_zone defaults to its schedules' zone. Nil (zones unknown) spells out
	// every non-empty zone.
	Zones map[string]string
}

// DefaultsOf returns p's sidecar defaults; for a nil p, those of a project without maestro.yaml.
func DefaultsOf(p *spec.Project) SidecarDefaults {
	if p == nil {
		return SidecarDefaults{Retries: DefaultRetriesDefault}
	}
	d := SidecarDefaults{Retries: p.DefaultRetries, Schedule: p.DefaultSchedule}
	if len(p.Schedules) > 0 {
		d.Zones = make(map[string]string, len(p.Schedules))
		for _, s := range p.Schedules {
			d.Zones[s.Name] = s.TimeZone
		}
	}
	return d
}

// sidecarField is one top-level key of TABLE.yaml, in the order RenderSidecar writes them. A
// new sidecar key is one more entry here (and its decoding in applySidecar): the round-trip test
// and the fuzz target then check it both ways.
type sidecarField struct {
	key string
	// value is the key's value for t, or nil when t has the default (the key is left out).
	value func(t *spec.Table, d SidecarDefaults) *yaml.Node
}

var sidecarFields = []sidecarField{
	{"description", func(t *spec.Table, _ SidecarDefaults) *yaml.Node { return str(t.Description) }},
	{"owner", func(t *spec.Table, _ SidecarDefaults) *yaml.Node { return str(t.Owner) }},
	{"group", func(t *spec.Table, _ SidecarDefaults) *yaml.Node { return str(t.Group) }},
	{"schedules", func(t *spec.Table, d SidecarDefaults) *yaml.Node {
		if d.Schedule == "" && len(t.Schedules) == 0 || d.Schedule != "" && slices.Equal(t.Schedules, []string{d.Schedule}) {
			return nil
		}
		// With a default schedule, an explicit [] is what makes a table manual-only.
		return flow(t.Schedules, true)
	}},
	{"disposition", func(t *spec.Table, _ SidecarDefaults) *yaml.Node {
		// An import's disposition follows from its watermark; the sidecar may not say it.
		if isImport(t) || t.Disposition == "" || t.Disposition == spec.DispositionTruncate {
			return nil
		}
		return str(string(t.Disposition))
	}},
	{"partition_by", func(t *spec.Table, _ SidecarDefaults) *yaml.Node { return str(t.PartitionBy) }},
	{"cluster_by", func(t *spec.Table, _ SidecarDefaults) *yaml.Node { return flow(t.ClusterBy, false) }},
	{"retries", func(t *spec.Table, d SidecarDefaults) *yaml.Node {
		if t.Retries == d.Retries {
			return nil
		}
		return encode(t.Retries)
	}},
	{"retry_backoff", func(t *spec.Table, _ SidecarDefaults) *yaml.Node {
		if t.RetryBackoff == 0 || t.RetryBackoff == RetryBackoffDefault {
			return nil
		}
		return str(duration(t.RetryBackoff))
	}},
	{"conditions", func(t *spec.Table, _ SidecarDefaults) *yaml.Node { return conditions(t.Conditions) }},
	{"reads_previous", func(t *spec.Table, _ SidecarDefaults) *yaml.Node {
		// Import and external tables read no warehouse table; the sidecar may not say one does.
		if isImport(t) || isExternal(t) {
			return nil
		}
		return flow(t.ReadsPrevious, false)
	}},
	{"import", func(t *spec.Table, d SidecarDefaults) *yaml.Node {
		if !isImport(t) {
			return nil
		}
		var imp spec.Import
		if t.Import != nil {
			imp = *t.Import
		}
		var fr *yaml.Node
		if imp.FullRefresh != nil {
			c := imp.FullRefresh.Conditions
			fr = orEmpty(mapping(
				"months", flow(c.Months, false), "weekdays", flow(c.Weekdays, false),
				"days", flow(c.Days, false), "hours", flow(c.Hours, false),
				"time_zone", str(refreshZone(imp.FullRefresh.TimeZone, t.Schedules, d))))
		}
		// The connection is always written: "import:" alone would read as an import without one.
		return mapping("connection", encode(imp.Connection), "watermark", str(imp.Watermark),
			"on_schema_change", str(imp.OnSchemaChange), "full_refresh", fr)
	}},
	{"external", func(t *spec.Table, _ SidecarDefaults) *yaml.Node {
		if !isExternal(t) {
			return nil
		}
		var ex spec.External
		if t.External != nil {
			ex = *t.External
		}
		var timeout, header, schema *yaml.Node
		if ex.Timeout != 0 && ex.Timeout != ExternalTimeoutDefault {
			timeout = str(duration(ex.Timeout))
		}
		// A CSV file's first line names its columns unless the sidecar says otherwise.
		if ex.Header != (ex.Format == formatCSV) {
			header = encode(ex.Header)
		}
		if len(ex.Schema) > 0 {
			schema = &yaml.Node{Kind: yaml.SequenceNode}
			for _, c := range ex.Schema {
				col := mapping("name", encode(c.Name), "type", encode(c.Type))
				col.Style = yaml.FlowStyle
				schema.Content = append(schema.Content, col)
			}
		}
		// The format is always written: "external:" alone would read as a table without one.
		return mapping("format", encode(ex.Format), "timeout", timeout, "header", header, "schema", schema)
	}},
	{"exports", func(t *spec.Table, _ SidecarDefaults) *yaml.Node {
		if len(t.Exports) == 0 {
			return nil
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, ex := range t.Exports {
			var sheet, pg, cb *yaml.Node
			if ex.Sheet != nil {
				var keep *yaml.Node
				if ex.Sheet.KeepTabs != 0 {
					keep = encode(ex.Sheet.KeepTabs)
				}
				sheet = mapping("spreadsheet_id", encode(ex.Sheet.SpreadsheetID), "keep_tabs", keep,
					"credentials", str(ex.Sheet.CredentialsRef))
			}
			if ex.Postgres != nil {
				pg = mapping("connection", encode(ex.Postgres.Connection), "table", encode(ex.Postgres.Table))
			}
			if ex.Callback != nil {
				cb = mapping("url", encode(ex.Callback.URL), "secret", encode(ex.Callback.SecretRef))
			}
			// A file export always says its format (an export of nothing else would vanish); a
			// sheet or PostgreSQL export has none, and saying one would be refused.
			format := str(ex.Format)
			if format == nil && sheet == nil && pg == nil {
				format = encode(ex.Format)
			}
			seq.Content = append(seq.Content, mapping(
				"format", format, "path", str(ex.Path),
				"header", boolean(ex.Header), "gzip", boolean(ex.Gzip),
				"sheet", sheet, "postgres", pg, "callback", cb))
		}
		return seq
	}},
}

func isImport(t *spec.Table) bool { return t.Kind == kindImport || t.Import != nil }

func isExternal(t *spec.Table) bool { return t.Kind == kindExternal || t.External != nil }

func conditions(c spec.Conditions) *yaml.Node {
	return mapping(
		"months", flow(c.Months, false), "weekdays", flow(c.Weekdays, false),
		"days", flow(c.Days, false), "hours", flow(c.Hours, false))
}

// refreshZone is the full_refresh.time_zone to write for zone, "" when it is the default: the
// zone of the table's schedules. A table whose schedules run in different zones has no default.
// UTC spelled "" cannot be said under schedules in another zone: it is written "UTC".
func refreshZone(zone string, schedules []string, d SidecarDefaults) string {
	implied, mixed := "", false
	for i, s := range schedules {
		z := d.Zones[s]
		if i > 0 && z != implied {
			mixed = true
		}
		implied = z
	}
	switch {
	case zone != "" && (mixed || zone != implied):
		return zone
	case zone == "" && (mixed || implied != ""):
		return "UTC"
	}
	return ""
}

// duration is d as a person writes it: 2h and 30m rather than Go's 2h0m0s and 30m0s (1m30s and
// 1.5s stay). time.ParseDuration reads either back.
func duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// orEmpty is n, or an empty mapping ({}) for nil: a block whose presence alone means something.
func orEmpty(n *yaml.Node) *yaml.Node {
	if n == nil {
		return &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	}
	return n
}

// RenderSidecar writes t's options as the TABLE.yaml that Load reads back into t (in a project
// with defaults d), leaving out every key that has its default, keys in a fixed order. It returns
// nil when every option has its default: the table needs no sidecar.
func RenderSidecar(t *spec.Table, d SidecarDefaults) []byte {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	for _, f := range sidecarFields {
		if v := f.value(t, d); v != nil {
			doc.Content = append(doc.Content, key(f.key), v)
		}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return marshalExact(doc)
}

// marshalExact is marshal, except that a string the YAML library would not read back as written
// (it drops leading line breaks, in every style) is written double-quoted with JSON's escapes,
// which YAML reads exactly. Such strings go through the encoder as unique placeholders.
func marshalExact(doc *yaml.Node) []byte {
	var scalars []*yaml.Node
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
			scalars = append(scalars, n)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(doc)
	mark := "\ue000"
	for slices.ContainsFunc(scalars, func(n *yaml.Node) bool { return strings.Contains(n.Value, mark) }) {
		mark += "\ue000"
	}
	var replace []string
	for _, n := range scalars {
		var back struct{ V string }
		if yaml.Unmarshal(marshal(mapping("v", n)), &back) == nil && back.V == n.Value {
			continue
		}
		var quoted bytes.Buffer
		enc := json.NewEncoder(&quoted)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(n.Value) // a string always encodes
		ph := mark + strconv.Itoa(len(replace)/2) + mark
		replace = append(replace, ph, strings.TrimSpace(quoted.String()))
		n.Value, n.Style = ph, 0
	}
	out := marshal(doc)
	if len(replace) > 0 {
		out = []byte(strings.NewReplacer(replace...).Replace(string(out)))
	}
	return out
}

// SidecarChanges says which sidecar keys differ from a to b, in sidecar order: "KEY OLD → NEW"
// for a one-line value ("schedules daily → hourly", "retries default → 5"), "KEY added",
// "KEY removed" or "KEY changed" for a block (import, external, exports, conditions).
func SidecarChanges(a, b *spec.Table, d SidecarDefaults) []string {
	var out []string
	for _, f := range sidecarFields {
		va, vb := f.value(a, d), f.value(b, d)
		ta, tb := inline(va), inline(vb)
		if ta == tb {
			continue
		}
		switch {
		case isBlock(va) || isBlock(vb):
			switch {
			case va == nil:
				out = append(out, f.key+" added")
			case vb == nil:
				out = append(out, f.key+" removed")
			default:
				out = append(out, f.key+" changed")
			}
		default:
			out = append(out, f.key+" "+shown(va, ta)+" → "+shown(vb, tb))
		}
	}
	return out
}

func isBlock(n *yaml.Node) bool {
	return n != nil && (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode && n.Style&yaml.FlowStyle == 0)
}

// inline is n's YAML text on one line, "" for nil.
func inline(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(string(marshal(n)))
}

// shown is how SidecarChanges prints a one-line value: lists without brackets, "default" for a
// key left out, "none" for an empty list.
func shown(n *yaml.Node, text string) string {
	switch {
	case n == nil:
		return "default"
	case n.Kind == yaml.SequenceNode && len(n.Content) == 0:
		return "none"
	case n.Kind == yaml.SequenceNode:
		return strings.TrimSuffix(strings.TrimPrefix(text, "["), "]")
	}
	return text
}

func marshal(n *yaml.Node) []byte {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	// Encoding a tree of nodes built here cannot fail.
	_ = enc.Encode(n)
	_ = enc.Close()
	return b.Bytes()
}

func key(k string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k} }

// encode is v as a node, quoted as YAML needs so that it reads back as the same value.
func encode(v any) *yaml.Node {
	if s, ok := v.(string); ok {
		// Node.Encode would lose a string's leading line breaks; the tag alone makes the
		// encoder quote whatever would read as another type.
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	}
	var n yaml.Node
	// Strings, ints, bools and slices of them always encode.
	_ = n.Encode(v)
	return &n
}

// str is s as a node, or nil when s is empty (the default of every string key).
func str(s string) *yaml.Node {
	if s == "" {
		return nil
	}
	return encode(s)
}

func boolean(v bool) *yaml.Node {
	if !v {
		return nil
	}
	return encode(true)
}

// flow is list as a one-line [a, b], or nil when it is empty (unless keepEmpty: []).
func flow[T any](list []T, keepEmpty bool) *yaml.Node {
	if len(list) == 0 && !keepEmpty {
		return nil
	}
	if list == nil {
		list = []T{}
	}
	n := encode(list)
	n.Style = yaml.FlowStyle
	return n
}

// mapping builds a mapping of the key/value pairs kv (string, *yaml.Node alternating), leaving
// out nil values; nil when all are.
func mapping(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		if v := kv[i+1].(*yaml.Node); v != nil {
			m.Content = append(m.Content, key(kv[i].(string)), v)
		}
	}
	if len(m.Content) == 0 {
		return nil
	}
	return m
}
