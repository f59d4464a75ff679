// Package project loads a project folder (maestro.yaml plus DATASET/TABLE.sql files and optional
// DATASET/TABLE.yaml sidecars) into a spec.Project, and builds its dependency graph. README.md
// describes the format.
package project

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/dag"
	"github.com/maestro-sql/maestro/internal/schedule"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
)

// ConfigFile is the name of the project settings file at the root of a project folder.
const ConfigFile = "maestro.yaml"

// Defaults applied when maestro.yaml leaves a setting out.
const (
	MaxParallelDefault    = 4
	DefaultRetriesDefault = 2
	RetryBackoffDefault   = 30 * time.Second
	maxClusterBy          = 4
)

type configFile struct {
	DefaultProject  string           `yaml:"default_project"`
	DefaultDataset  string           `yaml:"default_dataset"`
	DefaultSchedule string           `yaml:"default_schedule"`
	MaxParallel     *int             `yaml:"max_parallel"`
	DefaultRetries  *int             `yaml:"default_retries"`
	Schedules       []scheduleFile   `yaml:"schedules"`
	Connections     []connectionFile `yaml:"connections"`
	Notify          notifyFile       `yaml:"notify"`
	Pricing         *pricingFile     `yaml:"pricing"`
}

type scheduleFile struct {
	Name        string `yaml:"name"`
	Cron        string `yaml:"cron"`
	TimeZone    string `yaml:"time_zone"`
	Description string `yaml:"description"`
	MaxParallel int    `yaml:"max_parallel"`
}

type connectionFile struct {
	Name   string `yaml:"name"`
	Driver string `yaml:"driver"`
	Secret string `yaml:"secret"`
	Seed   string `yaml:"seed"`
}

type notifyFile struct {
	SlackChannel string        `yaml:"slack_channel"`
	Webhooks     []webhookFile `yaml:"webhooks"`
	SlackToken   string        `yaml:"slack_token"`
	Routes       []routeFile   `yaml:"routes"`
}

type webhookFile struct {
	URL    string   `yaml:"url"`
	Secret string   `yaml:"secret"`
	Events []string `yaml:"events"`
}

// UnmarshalYAML reads a webhook; a bare URL (the format before webhooks were signed) is refused
// with the form to write instead.
func (w *webhookFile) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return fmt.Errorf("webhook %q needs a key to sign its messages: write {url: %s, secret: env:NAME}", n.Value, n.Value)
	}
	type plain webhookFile
	return n.Decode((*plain)(w))
}

type tableFile struct {
	Description   string         `yaml:"description"`
	Owner         string         `yaml:"owner"`
	Group         string         `yaml:"group"`
	Schedules     *[]string      `yaml:"schedules"`
	Disposition   string         `yaml:"disposition"`
	PartitionBy   string         `yaml:"partition_by"`
	ClusterBy     []string       `yaml:"cluster_by"`
	Retries       *int           `yaml:"retries"`
	RetryBackoff  string         `yaml:"retry_backoff"`
	Conditions    conditionsFile `yaml:"conditions"`
	ReadsPrevious []string       `yaml:"reads_previous"`
	Import        *importFile    `yaml:"import"`
	External      *externalFile  `yaml:"external"`
	Exports       []exportFile   `yaml:"exports"`
}

type importFile struct {
	Connection     string           `yaml:"connection"`
	Watermark      string           `yaml:"watermark"`
	OnSchemaChange string           `yaml:"on_schema_change"`
	FullRefresh    *fullRefreshFile `yaml:"full_refresh"`
}

type fullRefreshFile struct {
	conditionsFile `yaml:",inline"`
	TimeZone       string `yaml:"time_zone"`
}

// Table kinds (spec.Table.Kind).
const (
	kindQuery  = "query"
	kindImport = "import"
)

type conditionsFile struct {
	Months   []int `yaml:"months"`
	Weekdays []int `yaml:"weekdays"`
	Days     []int `yaml:"days"`
	Hours    []int `yaml:"hours"`
}

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	smRE      = regexp.MustCompile(`^projects/[^/\s]+/secrets/[^/\s]+(/versions/[^/\s]+)?$`)
	// projectRE is a Google Cloud project id (possibly domain-scoped).
	projectRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.:-]*[a-z0-9]$`)
	drivers   = map[string]bool{"postgres": true, "mysql": true, "sqlite": true}
)

// decodeStrict decodes YAML data into v, refusing unknown keys. An empty document decodes to
// the zero value.
func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Load reads the project folder dir. A folder without maestro.yaml is a project with default
// settings (no default project, dataset or schedule). Every problem found is reported, joined
// (errors.Join), each a *Error naming its file and line; the project is then nil.
func Load(ctx context.Context, dir string) (*spec.Project, error) {
	p, _, err := load(ctx, dir)
	return p, err
}

// LoadGraph loads the project folder dir and builds its graph, parsing each table's SQL once.
// When the folder is valid but the graph has cycles it returns the project, the graph and a
// *dag.CycleError. On other errors the graph is nil.
func LoadGraph(ctx context.Context, dir string) (*spec.Project, *dag.Graph, error) {
	p, results, err := load(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	g, err := buildGraph(p, results)
	return p, g, err
}

// Graph parses every table's SQL of p (in parallel), resolving names with p's default project and
// dataset, and builds the dependency graph. When the graph has cycles it returns it together with
// a *dag.CycleError.
func Graph(p *spec.Project) (*dag.Graph, error) {
	results := make([]*sqlref.Result, len(p.Tables))
	var errs errorList
	var mu sync.Mutex
	opts := sqlref.Options{DefaultProject: p.DefaultProject, DefaultDataset: p.DefaultDataset}
	// One Extractor per worker: it reuses its token buffers from file to file.
	xs := make([]sqlref.Extractor, workers(len(p.Tables)))
	parallel(context.Background(), len(p.Tables), func(w, i int) {
		t := &p.Tables[i]
		if t.Kind == kindImport {
			results[i] = importResult(p, t)
			return
		}
		if t.Kind == kindExternal {
			results[i] = externalResult(p, t)
			return
		}
		r, err := xs[w].Extract(t.SQL, opts)
		if err != nil {
			file := t.File
			if file == "" {
				file = t.Name
			}
			mu.Lock()
			errs = append(errs, sqlError(file, err))
			mu.Unlock()
			return
		}
		results[i] = r
	})
	if err := errs.join(); err != nil {
		return nil, fmt.Errorf("error parsing SQL: %w", err)
	}
	return buildGraph(p, results)
}

// importResult is what an import table means to the graph: its SQL runs in the source database
// and is in that database's dialect, so it is never parsed as GoogleSQL. It reads nothing of the
// warehouse and writes its own table: a root that its readers wait for.
func importResult(p *spec.Project, t *spec.Table) *sqlref.Result {
	return &sqlref.Result{Writes: []sqlref.TableName{TableName(p, t.Name)}}
}

func buildGraph(p *spec.Project, results []*sqlref.Result) (*dag.Graph, error) {
	inputs := make([]dag.Input, len(p.Tables))
	for i := range p.Tables {
		t := &p.Tables[i]
		in := dag.Input{Name: TableName(p, t.Name), Result: results[i]}
		for _, rp := range t.ReadsPrevious {
			in.ReadsPrevious = append(in.ReadsPrevious, TableName(p, rp))
		}
		inputs[i] = in
	}
	return dag.Build(inputs, &dag.Options{DefaultProject: p.DefaultProject})
}

// TableName resolves "dataset.table" (or "project.dataset.table") against p's default project.
func TableName(p *spec.Project, name string) sqlref.TableName {
	parts := strings.Split(strings.ToLower(name), ".")
	switch len(parts) {
	case 3:
		return sqlref.TableName{Project: parts[0], Dataset: parts[1], Table: parts[2]}
	case 2:
		return sqlref.TableName{Project: strings.ToLower(p.DefaultProject), Dataset: parts[0], Table: parts[1]}
	default:
		return sqlref.TableName{Project: strings.ToLower(p.DefaultProject), Dataset: strings.ToLower(p.DefaultDataset), Table: parts[len(parts)-1]}
	}
}

// tableEntry is one DATASET/TABLE found in the folder.
type tableEntry struct {
	dataset, table string
	sqlPath        string // relative, slash-separated
	yamlPath       string // relative; empty without a sidecar
}

func load(ctx context.Context, dir string) (*spec.Project, []*sqlref.Result, error) {
	var errs errorList
	p := &spec.Project{MaxParallel: MaxParallelDefault, DefaultRetries: DefaultRetriesDefault}

	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	switch {
	case err == nil:
		errs = append(errs, parseConfig(data, p, dir)...)
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, nil, fmt.Errorf("error reading project folder %q: %w", dir, err)
	}

	seeds := map[string]bool{}
	for _, c := range p.Connections {
		if c.Seed != "" {
			seeds[c.Seed] = true
		}
	}
	entries, ferrs, err := scan(dir, seeds)
	if err != nil {
		return nil, nil, fmt.Errorf("error reading project folder %q: %w", dir, err)
	}
	errs = append(errs, ferrs...)

	known := declared{schedules: make(map[string]bool, len(p.Schedules)), zones: make(map[string]string, len(p.Schedules)),
		connections: make(map[string]bool, len(p.Connections)), drivers: make(map[string]string, len(p.Connections))}
	for _, s := range p.Schedules {
		known.schedules[s.Name] = true
		known.zones[s.Name] = s.TimeZone
	}
	for _, c := range p.Connections {
		if c.Name != "" && !known.connections[c.Name] {
			known.connections[c.Name] = true
			known.drivers[c.Name] = c.Driver
			known.connectionList = append(known.connectionList, c.Name)
		}
	}
	sort.Strings(known.connectionList)
	p.Tables = make([]spec.Table, len(entries))
	results := make([]*sqlref.Result, len(entries))
	perFile := make([]errorList, len(entries))
	opts := sqlref.Options{DefaultProject: p.DefaultProject, DefaultDataset: p.DefaultDataset}
	readers := make([]*fileReader, workers(len(entries)))
	xs := make([]sqlref.Extractor, len(readers)) // reused from file to file by each worker
	for w := range readers {
		if readers[w], err = newFileReader(dir); err != nil {
			for _, r := range readers[:w] {
				r.close()
			}
			return nil, nil, fmt.Errorf("error reading project folder %q: %w", dir, err)
		}
	}
	parallel(ctx, len(entries), func(w, i int) {
		results[i], perFile[i] = loadTable(readers[w], &xs[w], entries[i], p, &known, opts, &p.Tables[i])
	})
	for _, r := range readers {
		r.close()
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	for _, l := range perFile {
		errs = append(errs, l...)
	}
	if err := errs.join(); err != nil {
		return nil, nil, err
	}
	return p, results, nil
}

// parseConfig decodes and validates maestro.yaml, of project folder dir, into p.
func parseConfig(data []byte, p *spec.Project, dir string) errorList {
	const file = ConfigFile
	var errs errorList
	var c configFile
	if err := decodeStrict(data, &c); err != nil {
		errs = append(errs, yamlErrors(file, err)...)
	}
	ln := &lines{data: data}

	p.DefaultProject = strings.ToLower(c.DefaultProject)
	if p.DefaultProject != "" && !projectRE.MatchString(p.DefaultProject) {
		errs.add(file, ln.at("default_project"), "default_project %q is not a valid project id", c.DefaultProject)
	}
	p.DefaultDataset = strings.ToLower(c.DefaultDataset)
	if p.DefaultDataset != "" && !IsIdent(p.DefaultDataset) {
		errs.add(file, ln.at("default_dataset"), "default_dataset %q is not a valid dataset name (letters, digits, underscore)", c.DefaultDataset)
	}
	if c.MaxParallel != nil {
		p.MaxParallel = *c.MaxParallel
		if p.MaxParallel < 1 {
			errs.add(file, ln.at("max_parallel"), "max_parallel must be at least 1, not %d", p.MaxParallel)
		}
	}
	if c.DefaultRetries != nil {
		p.DefaultRetries = *c.DefaultRetries
		if p.DefaultRetries < 0 {
			errs.add(file, ln.at("default_retries"), "default_retries must not be negative")
		}
	}

	seen := map[string]bool{}
	for i, s := range c.Schedules {
		switch {
		case s.Name == "":
			errs.add(file, ln.at("schedules", i), "schedule without a name")
		case !nameRE.MatchString(s.Name):
			errs.add(file, ln.at("schedules", i, "name"), "schedule name %q may hold only letters, digits, '_' and '-'", s.Name)
		case seen[s.Name]:
			errs.add(file, ln.at("schedules", i, "name"), "schedule %q is defined twice", s.Name)
		}
		seen[s.Name] = true
		if s.Cron == "" {
			errs.add(file, ln.at("schedules", i), "schedule %q has no cron expression", s.Name)
		} else if _, err := schedule.Parse(s.Cron, ""); err != nil {
			// The zone is checked on its own below, so that each error points at its line.
			errs.add(file, ln.at("schedules", i, "cron"), "schedule %q: %v", s.Name, err)
		}
		if s.TimeZone != "" {
			if _, err := time.LoadLocation(s.TimeZone); err != nil {
				errs.add(file, ln.at("schedules", i, "time_zone"), "schedule %q: unknown time zone %q", s.Name, s.TimeZone)
			}
		}
		if s.MaxParallel < 0 {
			errs.add(file, ln.at("schedules", i, "max_parallel"), "schedule %q: max_parallel must not be negative", s.Name)
		}
		p.Schedules = append(p.Schedules, spec.Schedule{
			Name: s.Name, Cron: s.Cron, TimeZone: s.TimeZone, Description: s.Description, MaxParallel: s.MaxParallel,
		})
	}
	if c.DefaultSchedule != "" {
		if !seen[c.DefaultSchedule] {
			errs.add(file, ln.at("default_schedule"), "unknown schedule %q", c.DefaultSchedule)
		}
		p.DefaultSchedule = c.DefaultSchedule
	}

	seen = map[string]bool{}
	for i, cn := range c.Connections {
		switch {
		case cn.Name == "":
			errs.add(file, ln.at("connections", i), "connection without a name")
		case !nameRE.MatchString(cn.Name):
			errs.add(file, ln.at("connections", i, "name"), "connection name %q may hold only letters, digits, '_' and '-'", cn.Name)
		case seen[cn.Name]:
			errs.add(file, ln.at("connections", i, "name"), "connection %q is defined twice", cn.Name)
		}
		seen[cn.Name] = true
		if !drivers[cn.Driver] {
			errs.add(file, ln.at("connections", i, "driver"), "connection %q: unknown driver %q (postgres, mysql or sqlite)", cn.Name, cn.Driver)
		}
		if msg := checkSecretRef(cn.Secret); msg != "" {
			// Never echo the value: it may be the secret itself.
			errs.add(file, ln.at("connections", i, "secret"), "connection %q: %s", cn.Name, msg)
		}
		if cn.Seed != "" {
			if msg := checkSeed(dir, cn.Seed); msg != "" {
				errs.add(file, ln.at("connections", i, "seed"), "connection %q: %s", cn.Name, msg)
			}
		}
		p.Connections = append(p.Connections, spec.Connection{Name: cn.Name, Driver: cn.Driver, SecretRef: cn.Secret, Seed: cn.Seed})
	}

	p.Notify = spec.Notify{SlackChannel: c.Notify.SlackChannel}
	errs = append(errs, parseNotify(c.Notify, c.Pricing, p, ln)...)
	for i, w := range c.Notify.Webhooks {
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs.add(file, ln.at("notify", "webhooks", i, "url"), "webhook %d: url %q is not an http(s) URL", i+1, w.URL)
		}
		if msg := checkSecretRef(w.Secret); msg != "" {
			errs.add(file, ln.at("notify", "webhooks", i, "secret"), "webhook %d: %s", i+1, msg)
		}
		for j, e := range w.Events {
			if !slices.Contains(callback.WebhookEvents, e) {
				errs.add(file, ln.at("notify", "webhooks", i, "events", j), "webhook %d: unknown event %q (%s)", i+1, e, strings.Join(callback.WebhookEvents, ", "))
			}
		}
		p.Notify.Webhooks = append(p.Notify.Webhooks, spec.Webhook{URL: w.URL, SecretRef: w.Secret, Events: w.Events})
	}
	return errs
}

// checkSecretRef returns why ref is not a secret reference, or "".
func checkSecretRef(ref string) string {
	const want = "secret must be a reference (env:NAME, file:PATH or secretmanager:projects/P/secrets/S[/versions/V]), never the secret itself"
	kind, rest, ok := strings.Cut(ref, ":")
	if !ok {
		return want
	}
	switch kind {
	case "env":
		if envNameRE.MatchString(rest) {
			return ""
		}
	case "file":
		// A path, not a URL-shaped DSN.
		if rest != "" && !strings.Contains(rest, "://") && !strings.ContainsAny(rest, "\n") {
			return ""
		}
	case "secretmanager":
		if smRE.MatchString(rest) {
			return ""
		}
	}
	return want
}

// checkSeed says what is wrong with a connection's seed script path, or "". Seeds live in a
// folder of their own, one level down, which is then not a dataset.
func checkSeed(dir, seed string) string {
	clean := path.Clean(seed)
	folder, file, ok := strings.Cut(clean, "/")
	switch {
	case clean != seed || path.IsAbs(seed) || strings.Contains(seed, "\\"):
		return fmt.Sprintf("seed %q must be a plain relative path such as sources/shop.sql", seed)
	case !ok || strings.Contains(file, "/") || folder == ".." || strings.HasPrefix(folder, "."):
		return fmt.Sprintf("seed %q must be FOLDER/FILE.sql, one folder deep in the project", seed)
	case path.Ext(file) != ".sql":
		return fmt.Sprintf("seed %q must be a .sql file", seed)
	}
	if info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(seed))); err != nil || !info.Mode().IsRegular() {
		return fmt.Sprintf("seed %s is not a file in the project folder", seed)
	}
	return ""
}

// scan lists DIR/DATASET/TABLE.sql and .yaml files. Hidden entries (".git") and the folders
// holding connections' seed scripts (seeds, by their paths) are skipped; a table's SQL file in
// such a folder is an error rather than a table silently missing.
func scan(dir string, seeds map[string]bool) ([]tableEntry, errorList, error) {
	var errs errorList
	top, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	skip := map[string]bool{}
	for s := range seeds {
		folder, _, _ := strings.Cut(s, "/")
		skip[folder] = true
	}
	var out []tableEntry
	datasets := map[string]string{} // lowercased -> folder name
	for _, d := range top {
		name := d.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if skip[name] && d.IsDir() {
			files, err := os.ReadDir(filepath.Join(dir, name))
			if err != nil {
				return nil, nil, err
			}
			for _, f := range files {
				if rel := name + "/" + f.Name(); filepath.Ext(rel) == ".sql" && !seeds[rel] {
					errs.add(rel, 0, "folder %s holds seed scripts (connections in %s), not tables: move this table to a dataset folder", name, ConfigFile)
				}
			}
			continue
		}
		if !d.IsDir() {
			switch filepath.Ext(name) {
			case ".sql":
				errs.add(name, 0, "a table's SQL must be in a dataset folder: DATASET/TABLE.sql")
			case ".yml":
				if name == "maestro.yml" {
					errs.add(name, 0, "the settings file is maestro.yaml")
				}
			}
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, err
		}
		dataset := strings.ToLower(name)
		dsOK := IsIdent(name)
		if !dsOK {
			errs.add(name, 0, "dataset folder name %q may hold only letters, digits and underscores", name)
		} else if other, dup := datasets[dataset]; dup {
			errs.add(name, 0, "same dataset as folder %s (names are case-insensitive)", other)
			continue
		}
		datasets[dataset] = name
		sqls := map[string]int{} // lowercased table -> index in out
		var sidecars []string
		for _, f := range files {
			fn := f.Name()
			rel := name + "/" + fn
			if strings.HasPrefix(fn, ".") {
				continue
			}
			if f.IsDir() {
				errs.add(rel, 0, "nested folders are not allowed: tables are DATASET/TABLE.sql")
				continue
			}
			ext := filepath.Ext(fn)
			base := strings.TrimSuffix(fn, ext)
			switch ext {
			case ".sql":
				if !IsIdent(base) {
					errs.add(rel, 0, "table name %q may hold only letters, digits and underscores", base)
					continue
				}
				key := strings.ToLower(base)
				if j, dup := sqls[key]; dup {
					errs.add(rel, 0, "same table as %s (names are case-insensitive)", out[j].sqlPath)
					continue
				}
				if !dsOK {
					continue
				}
				sqls[key] = len(out)
				out = append(out, tableEntry{dataset: dataset, table: key, sqlPath: rel})
			case ".yaml":
				sidecars = append(sidecars, fn)
			case ".yml":
				errs.add(rel, 0, "a sidecar file is named TABLE.yaml")
			}
		}
		for _, fn := range sidecars {
			base := strings.ToLower(strings.TrimSuffix(fn, ".yaml"))
			j, ok := sqls[base]
			if !ok {
				if dsOK {
					errs.add(name+"/"+fn, 0, "sidecar without a SQL file (%s/%s.sql)", name, strings.TrimSuffix(fn, ".yaml"))
				}
				continue
			}
			out[j].yamlPath = name + "/" + fn
		}
	}
	return out, errs, nil
}

// declared is what maestro.yaml declares that sidecars may name.
type declared struct {
	schedules      map[string]bool
	zones          map[string]string // schedule → its time zone ("" = UTC)
	connections    map[string]bool
	connectionList []string          // sorted, for error messages
	drivers        map[string]string // connection name -> driver
}

// loadTable reads one table's SQL and sidecar into t and parses the SQL. The sidecar comes first:
// it says whether the SQL is GoogleSQL at all.
func loadTable(fr *fileReader, x *sqlref.Extractor, e tableEntry, p *spec.Project, known *declared, opts sqlref.Options, t *spec.Table) (*sqlref.Result, errorList) {
	var errs errorList
	*t = spec.Table{
		Name: e.dataset + "." + e.table, Kind: kindQuery, File: e.sqlPath,
		Disposition: spec.DispositionTruncate, Retries: p.DefaultRetries, RetryBackoff: RetryBackoffDefault,
	}
	if p.DefaultSchedule != "" {
		t.Schedules = []string{p.DefaultSchedule}
	}
	sql, err := fr.read(e.sqlPath)
	if err != nil {
		errs.add(e.sqlPath, 0, "error reading file: %v", err)
		return nil, errs
	}
	t.SQL = sql
	if e.yamlPath != "" {
		data, err := fr.read(e.yamlPath)
		if err != nil {
			errs.add(e.yamlPath, 0, "error reading file: %v", err)
		} else {
			errs = append(errs, applySidecar(e.yamlPath, []byte(data), known, t)...)
		}
	}
	var res *sqlref.Result
	switch {
	case t.Kind == kindExternal:
		if err := checkExternalSQL(e.sqlPath, t.SQL); err != nil {
			errs = append(errs, err)
		} else {
			res = externalResult(p, t)
		}
	case strings.TrimSpace(t.SQL) == "":
		errs.add(e.sqlPath, 0, "the file is empty")
	case t.Kind == kindImport:
		res = importResult(p, t)
	default:
		if r, err := x.Extract(t.SQL, opts); err != nil {
			errs = append(errs, sqlError(e.sqlPath, err))
		} else {
			res = r
		}
	}
	return res, errs
}

// applySidecar decodes and validates a TABLE.yaml into t.
func applySidecar(file string, data []byte, known *declared, t *spec.Table) errorList {
	var errs errorList
	var f tableFile
	if !decodeSidecarFast(data, &f) {
		if err := decodeStrict(data, &f); err != nil {
			errs = append(errs, yamlErrors(file, err)...)
		}
	}
	ln := &lines{data: data}
	t.Description, t.Owner, t.Group = f.Description, f.Owner, f.Group
	if f.Schedules != nil {
		t.Schedules = nil
		seen := map[string]bool{}
		for i, s := range *f.Schedules {
			if !known.schedules[s] {
				errs.add(file, ln.at("schedules", i), "unknown schedule %q", s)
			}
			if !seen[s] {
				t.Schedules = append(t.Schedules, s)
			}
			seen[s] = true
		}
	}
	switch spec.Disposition(f.Disposition) {
	case "":
	case spec.DispositionTruncate, spec.DispositionAppend:
		t.Disposition = spec.Disposition(f.Disposition)
	default:
		errs.add(file, ln.at("disposition"), "disposition must be truncate or append, not %q", f.Disposition)
	}
	t.PartitionBy = strings.TrimSpace(f.PartitionBy)
	if len(f.ClusterBy) > maxClusterBy {
		errs.add(file, ln.at("cluster_by"), "cluster_by allows at most %d columns, not %d", maxClusterBy, len(f.ClusterBy))
	}
	for i, c := range f.ClusterBy {
		if !IsIdent(c) {
			errs.add(file, ln.at("cluster_by", i), "cluster_by column %q is not a column name", c)
		}
	}
	t.ClusterBy = f.ClusterBy
	if f.Retries != nil {
		if *f.Retries < 0 {
			errs.add(file, ln.at("retries"), "retries must not be negative")
		}
		t.Retries = *f.Retries
	}
	if f.RetryBackoff != "" {
		d, err := time.ParseDuration(f.RetryBackoff)
		if err != nil || d <= 0 {
			errs.add(file, ln.at("retry_backoff"), "retry_backoff %q is not a positive duration such as 30s or 5m", f.RetryBackoff)
		} else {
			t.RetryBackoff = d
		}
	}
	checkRange := func(key string, vals []int, lo, hi int) []int {
		for i, v := range vals {
			if v < lo || v > hi {
				errs.add(file, ln.at("conditions", key, i), "conditions.%s: %d is out of range %d-%d", key, v, lo, hi)
			}
		}
		return vals
	}
	t.Conditions = spec.Conditions{
		Months:   checkRange("months", f.Conditions.Months, 1, 12),
		Weekdays: checkRange("weekdays", f.Conditions.Weekdays, 0, 6),
		Days:     checkRange("days", f.Conditions.Days, 1, 31),
		Hours:    checkRange("hours", f.Conditions.Hours, 0, 23),
	}
	for i, rp := range f.ReadsPrevious {
		parts := strings.Split(rp, ".")
		ok := len(parts) == 2 || len(parts) == 3
		for j, part := range parts {
			if j == 0 && len(parts) == 3 {
				ok = ok && projectRE.MatchString(strings.ToLower(part))
				continue
			}
			ok = ok && IsIdent(part)
		}
		if !ok {
			errs.add(file, ln.at("reads_previous", i), "reads_previous %q is not dataset.table", rp)
			continue
		}
		t.ReadsPrevious = append(t.ReadsPrevious, strings.ToLower(rp))
	}
	if f.External != nil || ln.has("external") {
		errs = append(errs, applyExternal(file, ln, f, t)...)
	} else if f.Import != nil || ln.has("import") {
		errs = append(errs, applyImport(file, ln, f, known, t)...)
	}
	errs = append(errs, applyExports(file, ln, f.Exports, known, t)...)
	return errs
}

// applyImport makes t an import table from the sidecar's import block.
func applyImport(file string, ln *lines, f tableFile, known *declared, t *spec.Table) errorList {
	var errs errorList
	var imp importFile
	if f.Import != nil {
		imp = *f.Import
	}
	t.Kind = kindImport
	t.Import = &spec.Import{Connection: imp.Connection, Watermark: imp.Watermark}
	connLine := ln.at("import", "connection")
	if !ln.has("import", "connection") {
		connLine = ln.keyAt("import")
	}
	switch {
	case strings.TrimSpace(imp.Connection) == "":
		errs.add(file, connLine, "import needs a connection: the name of one declared in %s", ConfigFile)
	case !known.connections[imp.Connection]:
		declared := "none are declared"
		if len(known.connectionList) > 0 {
			declared = "declared: " + strings.Join(known.connectionList, ", ")
		}
		errs.add(file, connLine, "unknown connection %q (%s in %s)", imp.Connection, declared, ConfigFile)
	}
	if ln.has("import", "watermark") && !isColumnName(imp.Watermark) {
		errs.add(file, ln.at("import", "watermark"), "import watermark %q is not a plain column name (a letter or underscore, then letters, digits and underscores)", imp.Watermark)
	}
	// An import's disposition follows from its watermark: without one each run re-imports the
	// whole result, so it must replace the table; with one it reads only newer rows, so it must
	// append. Letting the sidecar say otherwise would lose or duplicate rows.
	if f.Disposition != "" {
		errs.add(file, ln.at("disposition"), "disposition does not apply to an import: it follows from the watermark (none: truncate, every run re-imports everything; set: append the newer rows)")
	}
	t.Disposition = spec.DispositionTruncate
	if imp.Watermark != "" {
		t.Disposition = spec.DispositionAppend
	}
	// An import reads the source database, never a warehouse table, let alone its previous run.
	if len(f.ReadsPrevious) > 0 {
		errs.add(file, ln.at("reads_previous"), "reads_previous does not apply to an import: it reads the source database, no warehouse table")
	}
	t.ReadsPrevious = nil
	errs = append(errs, applyRefresh(file, ln, imp, known, t)...)
	return errs
}

// applyRefresh reads the options that make an incremental import re-import in full: on a schema
// change (on_schema_change) and periodically (full_refresh).
func applyRefresh(file string, ln *lines, imp importFile, known *declared, t *spec.Table) errorList {
	var errs errorList
	switch imp.OnSchemaChange {
	case "", spec.SchemaChangeFail, spec.SchemaChangeFullRefresh:
		t.Import.OnSchemaChange = imp.OnSchemaChange
	default:
		errs.add(file, ln.at("import", "on_schema_change"), "import on_schema_change must be %s or %s, not %q",
			spec.SchemaChangeFail, spec.SchemaChangeFullRefresh, imp.OnSchemaChange)
	}
	// A full import replaces the table and its schema on every run already.
	for _, key := range []string{"on_schema_change", "full_refresh"} {
		if imp.Watermark == "" && ln.has("import", key) {
			errs.add(file, ln.keyAt("import", key), "import %s applies only to an incremental import (with a watermark): without one every run re-imports everything", key)
		}
	}
	if !ln.has("import", "full_refresh") {
		return errs
	}
	line := ln.keyAt("import", "full_refresh")
	fr := imp.FullRefresh
	if fr == nil {
		fr = &fullRefreshFile{}
	}
	checkRange := func(key string, vals []int, lo, hi int) []int {
		for i, v := range vals {
			if v < lo || v > hi {
				errs.add(file, ln.at("import", "full_refresh", key, i), "import full_refresh.%s: %d is out of range %d-%d", key, v, lo, hi)
			}
		}
		return vals
	}
	out := &spec.FullRefresh{Conditions: spec.Conditions{
		Months:   checkRange("months", fr.Months, 1, 12),
		Weekdays: checkRange("weekdays", fr.Weekdays, 0, 6),
		Days:     checkRange("days", fr.Days, 1, 31),
		Hours:    checkRange("hours", fr.Hours, 0, 23),
	}}
	c := out.Conditions
	if len(c.Months)+len(c.Weekdays)+len(c.Days)+len(c.Hours) == 0 {
		errs.add(file, line, "import full_refresh needs at least one of months, weekdays, days or hours: with none every run would re-import everything (drop the watermark for that)")
	}
	switch {
	case fr.TimeZone != "":
		if _, err := time.LoadLocation(fr.TimeZone); err != nil {
			errs.add(file, ln.at("import", "full_refresh", "time_zone"), "import full_refresh: unknown time zone %q", fr.TimeZone)
		}
		out.TimeZone = fr.TimeZone
	default:
		// The zone of the table's schedules, so that hours mean what they mean in conditions.
		zones := map[string][]string{}
		for _, s := range t.Schedules {
			z := known.zones[s]
			zones[z] = append(zones[z], s)
			out.TimeZone = z
		}
		if len(zones) > 1 {
			var list []string
			for z, names := range zones {
				if z == "" {
					z = "UTC"
				}
				list = append(list, strings.Join(names, ", ")+": "+z)
			}
			sort.Strings(list)
			errs.add(file, line, "import full_refresh: the table's schedules run in different time zones (%s); set full_refresh.time_zone", strings.Join(list, "; "))
		}
	}
	t.Import.FullRefresh = out
	return errs
}

// workers is how many goroutines parallel uses for n items: GOMAXPROCS (at least 2, since file
// reads block), never more than n, so 10,000 tables never mean 10,000 goroutines.
func workers(n int) int { return min(max(runtime.GOMAXPROCS(0), 2), n) }

// parallel runs fn(w, i) for i in 0..n-1 on workers(n) goroutines, w being the worker's number,
// pulling indexes from a shared counter. It stops handing out work once ctx is done.
func parallel(ctx context.Context, n int, fn func(w, i int)) {
	var next atomic.Int64
	take := func() int {
		if ctx.Err() != nil {
			return -1
		}
		if i := int(next.Add(1) - 1); i < n {
			return i
		}
		return -1
	}
	var wg sync.WaitGroup
	for w := range workers(n) {
		wg.Go(func() {
			for i := take(); i >= 0; i = take() {
				fn(w, i)
			}
		})
	}
	wg.Wait()
}

// IsIdent reports whether s is a non-empty run of ASCII letters, digits and underscores (a
// dataset, table or column name). A plain loop: a plan checks 10,000 file names.
func IsIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// isColumnName reports whether s is a column name every source dialect takes unquoted: an
// identifier that does not start with a digit.
func isColumnName(s string) bool {
	return IsIdent(s) && !(s[0] >= '0' && s[0] <= '9')
}
