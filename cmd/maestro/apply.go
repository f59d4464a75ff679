package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/dag"
	"github.com/maestro-sql/maestro/internal/history"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

const applyLong = `Compare a project folder with a running Maestro (the api service) and make the server match
it, as the calling user: tables new in the folder are created, changed ones updated, tables the
folder no longer has deleted; schedules and connections (maestro.yaml) likewise. It prints each
difference first — for a changed table what changed and the unified diff of its SQL and its
sidecar (TABLE.yaml) — and with --dry-run stops there.

Unlike maestro push (one request, admins only), apply goes table by table through the same API a
person uses, so an editor can apply a folder in which only their group's tables differ:

  - Every change is checked against the caller's rights before anything is sent. If the folder
    would change a table of another group (or schedules and connections, which only admins
    change), nothing is changed and each refused table is named.
  - Each update and delete names the revision read (If-Match): a table someone changed since
    apply read it is not overwritten; apply stops there, and running it again shows the new
    difference.
  - Applying the same folder again changes nothing and says "no changes".
  - A saved table whose dry-run estimate costs more than the server's pricing.estimate_warn_usd
    is named in a warning (when the server has BigQuery and on-demand pricing).

The folder is checked first (SQL that does not parse, a cycle, an unknown schedule: nothing is
sent), and so is a folder that drops a table its other tables still read. Tables are created and
changed upstream first and deleted downstream first, so the server accepts each step. A table without owner: or group: in its sidecar keeps the server's (a new one
gets the caller's). Project settings the server does not keep per table (notify, pricing,
max_parallel) are not compared. The folder's default_project and default_dataset must be the
server's (as for maestro push).`

func newApplyCmd() *cobra.Command {
	var f apiFlags
	var dryRun bool
	cmd := &cobra.Command{
		Use:     "apply DIR",
		Short:   "Show how a project folder differs from the server, and apply it as yourself",
		Long:    applyLong,
		Example: "  maestro apply --dry-run examples/quickstart\n  maestro apply examples/quickstart",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, g, err := project.LoadGraph(cmd.Context(), args[0])
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			c, err := f.client(&http.Client{Timeout: 2 * time.Minute})
			if err != nil {
				return err
			}
			plan, err := planApply(cmd.Context(), c, p, g)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if plan.empty() {
				fmt.Fprintln(out, "no changes")
				return nil
			}
			plan.print(out)
			if refused := plan.refusals(); len(refused) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "nothing was changed: %s may not make these changes:\n  %s\n",
					describeUser(plan.me), strings.Join(refused, "\n  "))
				return exitError{code: 1}
			}
			if dryRun {
				fmt.Fprintf(out, "dry run, nothing changed: %s\n", plan.summary())
				return nil
			}
			done, err := plan.apply(cmd.Context(), c, cmd.ErrOrStderr())
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s\napplied before that: %s; run maestro apply again to see what is left\n", err, done)
				return exitError{code: 1}
			}
			fmt.Fprintf(out, "applied: %s\n", done)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only show the differences")
	return cmd
}

// applyMe is the caller, as GET /me says.
type applyMe struct {
	Email string `json:"email"`
	Role  string `json:"role"`
	Group string `json:"group"`
}

func (u applyMe) user() *store.User { return &store.User{Email: u.Email, Role: u.Role, Group: u.Group} }

func describeUser(u applyMe) string {
	s := u.Email + " (" + u.Role
	if u.Group != "" {
		s += " of group " + u.Group
	}
	return s + ")"
}

// tableChange is one table to create (cur nil), change, or delete (next nil).
type tableChange struct {
	name      string
	cur, next *spec.Table
	revision  int // cur's
	// what says in one line what changed; diff is the SQL's and the sidecar's unified diff.
	what, diff string
}

type settingChange struct {
	kind, name, what string
	// body is what PUT sends; nil deletes.
	body any
}

// applyPlan is every difference between the folder and the server, in the order it is applied.
type applyPlan struct {
	me       applyMe
	puts     []settingChange // schedules and connections created or changed, before the tables
	tables   []tableChange   // creates and changes upstream first, then deletes downstream first
	removals []settingChange // schedules and connections deleted, after the tables
}

func (p *applyPlan) empty() bool { return len(p.puts)+len(p.tables)+len(p.removals) == 0 }

// planApply reads the server's definitions and compares the folder's with them; g is the
// folder's graph.
func planApply(ctx context.Context, c *apiClient, p *spec.Project, g *dag.Graph) (*applyPlan, error) {
	plan := &applyPlan{}
	if err := c.call(ctx, http.MethodGet, "/me", nil, &plan.me); err != nil {
		return nil, err
	}
	// Names in the SQL resolve against the defaults: a folder written for others would read
	// other tables once on the server.
	var server struct {
		DefaultProject string `json:"default_project"`
		DefaultDataset string `json:"default_dataset"`
	}
	if err := c.call(ctx, http.MethodGet, "/graph", nil, &server); err != nil {
		return nil, err
	}
	if p.DefaultProject != "" && !strings.EqualFold(p.DefaultProject, server.DefaultProject) ||
		p.DefaultDataset != "" && !strings.EqualFold(p.DefaultDataset, server.DefaultDataset) {
		return nil, fmt.Errorf("the folder's defaults (default_project %q, default_dataset %q) differ from the server's (%q, %q): its SQL would read other tables there",
			p.DefaultProject, p.DefaultDataset, server.DefaultProject, server.DefaultDataset)
	}
	stored, err := c.listTables(ctx, nil, tablesPage)
	if err != nil {
		return nil, err
	}
	var schedules struct {
		Schedules []spec.Schedule `json:"schedules"`
	}
	if err := c.call(ctx, http.MethodGet, "/schedules", nil, &schedules); err != nil {
		return nil, err
	}
	var conns struct {
		Connections []spec.Connection `json:"connections"`
	}
	if err := c.call(ctx, http.MethodGet, "/connections", nil, &conns); err != nil {
		return nil, err
	}

	// Schedules and connections: created or replaced first (tables name them), deleted last.
	curSchedules := map[string]spec.Schedule{}
	for _, s := range schedules.Schedules {
		curSchedules[s.Name] = s
	}
	for _, s := range p.Schedules {
		cur, ok := curSchedules[s.Name]
		delete(curSchedules, s.Name)
		switch {
		case !ok:
			plan.puts = append(plan.puts, settingChange{"schedule", s.Name, "+ schedule " + s.Name + " (" + scheduleText(s) + ")", s})
		case cur != s:
			plan.puts = append(plan.puts, settingChange{"schedule", s.Name, "~ schedule " + s.Name + ": " + scheduleChanges(cur, s), s})
		}
	}
	curConns := map[string]spec.Connection{}
	for _, c := range conns.Connections {
		curConns[c.Name] = c
	}
	for _, cn := range p.Connections {
		cur, ok := curConns[cn.Name]
		delete(curConns, cn.Name)
		switch {
		case !ok:
			plan.puts = append(plan.puts, settingChange{"connection", cn.Name, "+ connection " + cn.Name + " (" + connText(cn) + ")", cn})
		case cur != cn:
			plan.puts = append(plan.puts, settingChange{"connection", cn.Name, "~ connection " + cn.Name + ": " + connText(cur) + " → " + connText(cn), cn})
		}
	}
	for _, name := range sortedKeys(curSchedules) {
		plan.removals = append(plan.removals, settingChange{kind: "schedule", name: name, what: "- schedule " + name})
	}
	for _, name := range sortedKeys(curConns) {
		plan.removals = append(plan.removals, settingChange{kind: "connection", name: name, what: "- connection " + name})
	}

	// Tables: created and changed in the folder's run order, so that each one's upstream is
	// already as the folder has it when the server checks it (no passing cycle).
	order := map[string]int{}
	for i, layer := range g.Layers() {
		for _, k := range layer {
			order[k] = i
		}
	}
	rank := func(name string) int { return order[g.Key(project.TableName(p, name))] }
	byName := map[string]*apiTable{}
	for i := range stored {
		byName[stored[i].Name] = &stored[i]
	}
	defaults := project.DefaultsOf(p)
	for i := range p.Tables {
		t := p.Tables[i]
		cur := byName[t.Name]
		delete(byName, t.Name)
		var curTable *spec.Table
		if cur != nil {
			curTable = &cur.Table
		}
		next := asSaved(t, curTable, plan.me)
		if cur == nil {
			plan.tables = append(plan.tables, tableChange{name: t.Name, next: &next, what: "+ table " + t.Name})
			continue
		}
		old := cur.Table
		old.File = ""
		old.Kind = kindName(old.Kind)
		if sameTable(old, next) {
			continue
		}
		var changes []string
		if old.SQL != next.SQL {
			changes = append(changes, "SQL changed")
		}
		changes = append(changes, project.SidecarChanges(&old, &next, defaults)...)
		path := strings.Replace(t.Name, ".", "/", 1)
		diff := history.UnifiedDiff("a/"+path+".sql", "b/"+path+".sql", old.SQL, next.SQL) +
			history.UnifiedDiff("a/"+path+".yaml", "b/"+path+".yaml", string(project.RenderSidecar(&old, defaults)), string(project.RenderSidecar(&next, defaults)))
		plan.tables = append(plan.tables, tableChange{name: t.Name, cur: curTable, next: &next, revision: cur.Revision,
			what: "~ table " + t.Name + ": " + strings.Join(changes, "; "), diff: diff})
	}
	slices.SortStableFunc(plan.tables, func(a, b tableChange) int { return rank(a.name) - rank(b.name) })

	// Deleted downstream first: the server refuses to delete a table another one reads.
	var deletes []tableChange
	for _, t := range byName {
		deletes = append(deletes, tableChange{name: t.Name, cur: &t.Table, revision: t.Revision, what: "- table " + t.Name})
	}
	storedOrder := map[string]int{}
	sp := &spec.Project{DefaultProject: p.DefaultProject, DefaultDataset: p.DefaultDataset}
	for _, t := range stored {
		sp.Tables = append(sp.Tables, t.Table)
	}
	sg, _ := project.Graph(sp)
	if sg != nil {
		for i, layer := range sg.Layers() {
			for _, k := range layer {
				storedOrder[k] = i
			}
		}
	}
	storedRank := func(name string) int {
		if sg == nil {
			return 0
		}
		return storedOrder[sg.Key(project.TableName(sp, name))]
	}
	slices.SortFunc(deletes, func(a, b tableChange) int {
		if d := storedRank(b.name) - storedRank(a.name); d != 0 {
			return d
		}
		return strings.Compare(a.name, b.name)
	})
	// The server refuses to delete a table another one reads; say so before changing anything.
	readers := map[string][]string{}
	for _, k := range g.Nodes() {
		for _, ext := range g.External(k) {
			readers[ext] = append(readers[ext], k)
		}
	}
	for _, d := range deletes {
		if r := readers[g.Key(project.TableName(p, d.name))]; len(r) > 0 {
			return nil, fmt.Errorf("the folder drops table %s, which %s still read: the server would refuse to delete it; nothing was changed",
				d.name, strings.Join(r, ", "))
		}
	}
	plan.tables = append(plan.tables, deletes...)
	return plan, nil
}

// asSaved is t as the API would store it for caller me, with cur the stored definition (nil
// for a new table): without a file, its kind spelled out, and the owner and group it keeps when
// the folder names none.
func asSaved(t spec.Table, cur *spec.Table, me applyMe) spec.Table {
	t.File = ""
	t.Kind = kindName(t.Kind)
	if t.Owner == "" {
		if cur != nil {
			t.Owner = cur.Owner
		} else {
			t.Owner = me.Email
		}
	}
	if t.Group == "" {
		if cur != nil {
			t.Group = cur.Group
		} else if me.Role == access.Editor.String() {
			t.Group = me.Group
		}
	}
	return t
}

func sameTable(a, b spec.Table) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func scheduleText(s spec.Schedule) string {
	out := s.Cron
	if s.TimeZone != "" {
		out += " " + s.TimeZone
	}
	if s.MaxParallel > 0 {
		out += fmt.Sprintf(", max_parallel %d", s.MaxParallel)
	}
	return out
}

// scheduleChanges says which of a schedule's fields differ from a to b.
func scheduleChanges(a, b spec.Schedule) string {
	var out []string
	field := func(name, x, y string) {
		if x != y {
			out = append(out, fmt.Sprintf("%s %q → %q", name, x, y))
		}
	}
	field("cron", a.Cron, b.Cron)
	field("time_zone", a.TimeZone, b.TimeZone)
	if a.MaxParallel != b.MaxParallel {
		out = append(out, fmt.Sprintf("max_parallel %d → %d", a.MaxParallel, b.MaxParallel))
	}
	if a.Description != b.Description {
		out = append(out, "description changed")
	}
	return strings.Join(out, "; ")
}

func connText(c spec.Connection) string {
	out := c.Driver + ", " + c.SecretRef
	if c.Seed != "" {
		out += ", seed " + c.Seed
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (p *applyPlan) print(w io.Writer) {
	for _, s := range p.puts {
		fmt.Fprintln(w, s.what)
	}
	for _, t := range p.tables {
		fmt.Fprintln(w, t.what)
		if t.diff != "" {
			fmt.Fprint(w, "    "+strings.ReplaceAll(strings.TrimSuffix(t.diff, "\n"), "\n", "\n    ")+"\n")
		}
	}
	for _, s := range p.removals {
		fmt.Fprintln(w, s.what)
	}
}

// counts of what the plan does: created, changed and deleted tables, settings.
func (p *applyPlan) summary() string {
	var created, changed, deleted int
	for _, t := range p.tables {
		switch {
		case t.cur == nil:
			created++
		case t.next == nil:
			deleted++
		default:
			changed++
		}
	}
	return fmt.Sprintf("%d tables to create, %d to change, %d to delete; %d schedules and connections to set, %d to delete",
		created, changed, deleted, len(p.puts), len(p.removals))
}

// refusals names each change the caller may not make, by the rules the API applies
// (access.CanWriteTable on the group before and after; schedules and connections: admins).
func (p *applyPlan) refusals() []string {
	u := p.me.user()
	var out []string
	for _, t := range p.tables {
		action := "change"
		switch {
		case t.cur == nil:
			action = "create"
		case t.next == nil:
			action = "delete"
		}
		type side struct{ group, verb string }
		var sides []side
		if t.cur != nil {
			sides = append(sides, side{t.cur.Group, "belongs"})
		}
		if t.next != nil && (t.cur == nil || t.next.Group != t.cur.Group) {
			sides = append(sides, side{t.next.Group, "would belong"})
		}
		for _, sd := range sides {
			if !access.CanWriteTable(u, sd.group) {
				owner := "no group (admins only)"
				if sd.group != "" {
					owner = "group " + sd.group
				}
				out = append(out, action+" table "+t.name+": it "+sd.verb+" to "+owner)
				break
			}
		}
	}
	if access.RoleOf(u) < access.Admin {
		for _, s := range append(slices.Clone(p.puts), p.removals...) {
			verb := "set"
			if s.body == nil {
				verb = "delete"
			}
			out = append(out, verb+" "+s.kind+" "+s.name+": only admins change schedules and connections")
		}
	}
	return out
}

// apply makes the changes in order, stopping at the first the server refuses; done counts
// what was applied. The server's cost warnings for saved tables go to warn.
func (p *applyPlan) apply(ctx context.Context, c *apiClient, warn io.Writer) (string, error) {
	var n struct{ created, changed, deleted, settings int }
	done := func() string {
		return fmt.Sprintf("%d tables created, %d changed, %d deleted; %d schedules and connections", n.created, n.changed, n.deleted, n.settings)
	}
	setting := func(s settingChange) error {
		path := "/" + s.kind + "s/" + url.PathEscape(s.name)
		if s.body == nil {
			return c.call(ctx, http.MethodDelete, path, nil, nil)
		}
		return c.call(ctx, http.MethodPut, path, s.body, nil)
	}
	for _, s := range p.puts {
		if err := setting(s); err != nil {
			return done(), err
		}
		n.settings++
	}
	for _, t := range p.tables {
		path := "/tables/" + url.PathEscape(t.name)
		ifMatch := http.Header{"If-Match": {etagOf(t.revision)}}
		var (
			err   error
			saved struct {
				Estimate *struct {
					Warning string `json:"warning"`
				} `json:"estimate"`
			}
		)
		switch {
		case t.cur == nil:
			_, err = c.send(ctx, http.MethodPost, "/tables", nil, t.next, &saved)
			n.created++
		case t.next == nil:
			_, err = c.send(ctx, http.MethodDelete, path, ifMatch, nil, nil)
			n.deleted++
		default:
			_, err = c.send(ctx, http.MethodPut, path, ifMatch, t.next, &saved)
			n.changed++
		}
		if saved.Estimate != nil && saved.Estimate.Warning != "" {
			fmt.Fprintln(warn, "warning:", saved.Estimate.Warning)
		}
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusPreconditionFailed {
				err = fmt.Errorf("table %s was changed on the server since apply read it (revision %d); it was left as it is: %w", t.name, t.revision, err)
			} else {
				err = fmt.Errorf("table %s: %w", t.name, err)
			}
			switch {
			case t.cur == nil:
				n.created--
			case t.next == nil:
				n.deleted--
			default:
				n.changed--
			}
			return done(), err
		}
	}
	for _, s := range p.removals {
		if err := setting(s); err != nil {
			return done(), err
		}
		n.settings++
	}
	return done(), nil
}
