package webui

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/history"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// costDays is how far back a table's cost chart and the costs page look by default.
const costDays = 30

// tableRun is one recent run of a table: the run and the table's node in it.
type tableRun struct {
	Run  *run.Run
	Node *run.Node
}

// Duration is how long the node ran; zero when it did not finish.
func (t tableRun) Duration() time.Duration { return lastNode(t).Duration() }

// tableData is the table page's.
type tableData struct {
	Rec        *store.TableRecord
	Neighbours *Neighbours
	Revisions  []history.Entry // newest first, at most shownRevisions
	// OlderRevisions: there are more than shown (the API's history route has them all).
	OlderRevisions bool
	Runs           []tableRun
	CostChart      template.HTML
	CostTotal      string
	// ExportRun is the run whose export files are listed (the newest where the table succeeded).
	ExportRun string
	Exports   []ExportFile
	CanWrite  bool
	CanRun    bool
	// RunBody and RunDownstreamBody are the JSON bodies of the run buttons.
	RunBody, RunDownstreamBody string
}

// shownRevisions bounds the revisions a table page diffs: rendering a revision's files and
// diffing them is the page's largest cost, and a table may have hundreds.
const shownRevisions = 25

// newestRevisions reads only a table's newest n revisions, for history.TableLog.
type newestRevisions struct {
	Reader
	n int
}

func (s newestRevisions) TableRevisions(ctx context.Context, name string) ([]*store.TableRecord, error) {
	revs, err := s.Reader.TableRevisions(ctx, name)
	if len(revs) > s.n {
		revs = revs[len(revs)-s.n:]
	}
	return revs, err
}

// findTable returns a stored table by name from the listing cache, or ErrNotFound.
func (u *UI) findTable(ctx context.Context, name string) (*store.TableRecord, error) {
	recs, err := u.cfg.Backend.Tables(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(recs, func(rec *store.TableRecord) bool { return rec.Table.Name == name })
	if i < 0 {
		return nil, store.ErrNotFound
	}
	return recs[i], nil
}

func (u *UI) tablePage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	name := strings.ToLower(r.PathValue("name"))
	rec, err := u.findTable(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		u.fail(w, r, v, http.StatusNotFound, "There is no table "+name+".")
		return
	}
	if err != nil {
		u.storeFailed(w, r, v, "reading table "+name, err)
		return
	}
	d := tableData{Rec: rec, CanWrite: v.CanWriteTable(rec.Table.Group), CanRun: v.CanEdit()}
	if d.Neighbours, err = u.cfg.Backend.Neighbours(ctx, name); err != nil {
		u.storeFailed(w, r, v, "placing table "+name+" in the graph", err)
		return
	}
	revs, err := history.TableLog(ctx, newestRevisions{u.cfg.Store, shownRevisions + 1}, name)
	if err != nil {
		u.storeFailed(w, r, v, "reading the revisions of "+name, err)
		return
	}
	if len(revs) > shownRevisions {
		// The oldest one read is there only as the base of the next one's diff.
		revs, d.OlderRevisions = revs[1:], true
	}
	slices.Reverse(revs)
	d.Revisions = revs
	runs, nodes, err := u.recentNodes(ctx, recentRuns)
	if err != nil {
		u.storeFailed(w, r, v, "reading the recent runs", err)
		return
	}
	for i, rn := range runs {
		for _, n := range nodes[i] {
			if n.Name != name {
				continue
			}
			if len(d.Runs) < 10 {
				d.Runs = append(d.Runs, tableRun{Run: rn, Node: n})
			}
			if d.ExportRun == "" && n.State == run.NodeSucceeded && hasFileExports(rec) {
				d.ExportRun = rn.ID
			}
		}
	}
	if d.ExportRun != "" {
		if d.Exports, err = u.cfg.Backend.ExportFiles(ctx, d.ExportRun, name); err != nil {
			// The page is still worth showing without its export links.
			u.cfg.Log.Warn("listing a table's export files", zap.String("table", name), zap.String("run_id", d.ExportRun), zap.Error(err))
		}
	}
	now := u.cfg.Now()
	since := now.AddDate(0, 0, -costDays+1).UTC().Truncate(24 * time.Hour)
	items, err := cost.Collect(ctx, u.reader(), since)
	if err != nil {
		u.storeFailed(w, r, v, "summing the costs of "+name, err)
		return
	}
	var days []dayCost
	var total run.Stats
	for _, it := range items {
		if it.Table == name {
			days = append(days, dayCost{Day: it.Day, Stats: it.Stats})
			total.Add(it.Stats)
		}
	}
	d.CostChart = costChart(days, since, now, u.cfg.Pricing, "Daily cost of "+name)
	d.CostTotal = u.showCost(total)
	d.RunBody = mustJSON(map[string]any{"tables": []string{name}})
	d.RunDownstreamBody = mustJSON(map[string]any{"tables": []string{name}, "downstream": true})
	u.render(w, r, http.StatusOK, "table", name, "tables", d)
}

func hasFileExports(rec *store.TableRecord) bool {
	return slices.ContainsFunc(rec.Table.Exports, func(x spec.Export) bool { return x.Path != "" })
}

// showCost prices stats, or says the bytes billed without pricing.
func (u *UI) showCost(s run.Stats) string {
	if usd, ok := cost.Of(u.cfg.Pricing, s); ok {
		return cost.Format(usd, true)
	}
	return formatBytes(s.BytesBilled) + " billed"
}

// mustJSON encodes the small maps of strings and bools the run buttons carry.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// exportFile serves one export file of a run: a redirect to its signed URL in production, or
// its bytes from the server's bucket (maestro dev, whose file:// URLs a web page may not open).
// The key comes from the table's definition, never from the request.
func (u *UI) exportFile(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	name, runID := strings.ToLower(r.PathValue("name")), r.PathValue("run")
	index, err := strconv.Atoi(r.PathValue("index"))
	if err != nil {
		u.fail(w, r, v, http.StatusBadRequest, "The export's number must be a whole number, not "+r.PathValue("index")+".")
		return
	}
	files, err := u.cfg.Backend.ExportFiles(ctx, runID, name)
	if err != nil {
		u.storeFailed(w, r, v, "listing the export files of "+name+" in run "+runID, err)
		return
	}
	i := slices.IndexFunc(files, func(f ExportFile) bool { return f.Index == index })
	if i < 0 {
		u.fail(w, r, v, http.StatusNotFound, "Table "+name+" has no file export number "+strconv.Itoa(index)+".")
		return
	}
	f := files[i]
	if strings.HasPrefix(f.URL, "https://") || strings.HasPrefix(f.URL, "http://") {
		http.Redirect(w, r, f.URL, http.StatusFound)
		return
	}
	rc, err := u.cfg.Backend.ReadExport(ctx, f.Key)
	if err != nil {
		u.storeFailed(w, r, v, "reading export file "+f.Key, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(f.Key)}))
	if _, err := io.Copy(w, rc); err != nil {
		u.cfg.Log.Warn("sending an export file", zap.String("key", f.Key), zap.String("run_id", runID), zap.Error(err))
	}
}
