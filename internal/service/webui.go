package service

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/blob"
	"github.com/maestro-sql/maestro/internal/dag"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/webui"
)

// uiBackend gives the web UI the API's own answers: its authentication, its table cache and
// graph, its export links. webui cannot import this package (it is mounted by it), so it
// names what it needs and this adapter provides it.
type uiBackend struct{ a *api }

func newUI(a *api) (*webui.UI, error) {
	return webui.New(webui.Config{Backend: uiBackend{a}, Store: a.st, Pricing: a.cfg.Pricing, Log: a.log, Now: a.cfg.Now,
		TokenSignIn: a.cfg.IAP.Audience == "", SignInCodes: a.cfg.SignInCodes, DryRun: a.cfg.DryRun != nil})
}

func viewerOf(p *Principal) *webui.Viewer {
	if p == nil {
		return nil
	}
	return &webui.Viewer{Email: p.User.Email, Name: p.User.Name, Group: p.User.Group, Role: p.Role}
}

func (b uiBackend) Authenticate(r *http.Request) (*webui.Viewer, error) {
	p, err := b.a.auth.authenticate(r)
	if errors.Is(err, errUnauthenticated) {
		return nil, fmt.Errorf("%w: %s", webui.ErrBadCredentials, strings.TrimPrefix(err.Error(), errUnauthenticated.Error()+": "))
	}
	if err != nil {
		return nil, err
	}
	return viewerOf(p), nil
}

func (b uiBackend) SignIn(ctx context.Context, token string) (*webui.Viewer, error) {
	p, err := b.a.auth.token(ctx, token)
	if errors.Is(err, errUnauthenticated) {
		return nil, fmt.Errorf("%w: %s", webui.ErrBadCredentials, strings.TrimPrefix(err.Error(), errUnauthenticated.Error()+": "))
	}
	if err != nil {
		return nil, err
	}
	if p.Role == access.None {
		return nil, fmt.Errorf("%w: %s is not a Maestro user any more", webui.ErrBadCredentials, p.User.Email)
	}
	return viewerOf(p), nil
}

func (b uiBackend) Tables(ctx context.Context) ([]*store.TableRecord, error) {
	return b.a.tablesForList(ctx)
}

func (b uiBackend) Neighbours(ctx context.Context, name string) (*webui.Neighbours, error) {
	recs, err := b.a.tablesForList(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(recs, func(rec *store.TableRecord) bool { return rec.Table.Name == name }) {
		return nil, fmt.Errorf("table %s: %w", name, store.ErrNotFound)
	}
	p := b.a.projectOf(recs, nil, "")
	g, _ := project.Graph(p)
	if g == nil {
		return &webui.Neighbours{}, nil
	}
	gj := graphOf(g, p, name)
	return &webui.Neighbours{Upstream: gj.Upstream, Downstream: gj.Downstream, ExternalSources: gj.ExternalSources}, nil
}

func (b uiBackend) ExportFiles(ctx context.Context, runID, table string) ([]webui.ExportFile, error) {
	list, err := b.a.exportFiles(ctx, runID, table)
	if err != nil {
		return nil, err
	}
	out := make([]webui.ExportFile, len(list.Exports))
	for i, f := range list.Exports {
		out[i] = webui.ExportFile{Index: f.Index, Format: f.Format, Key: f.Key, Exists: f.Exists, URL: f.URL}
	}
	return out, nil
}

// Graph is the graph of the tables in the API's listing cache. Parsing every table's SQL is
// most of a graph page's time (about 0.1 s for 2,000 tables), so the graph is kept for as long
// as the tables are the same ones at the same revisions, however often the listing cache
// reloads them.
func (b uiBackend) Graph(ctx context.Context) (*dag.Graph, error) {
	recs, err := b.a.tablesForList(ctx)
	if err != nil {
		return nil, err
	}
	key := tablesVersion(recs)
	c := &b.a.graph
	c.mu.Lock()
	if c.g != nil && c.key == key {
		g := c.g
		c.mu.Unlock()
		return g, nil
	}
	c.mu.Unlock()
	g, err := project.Graph(b.a.projectOf(recs, nil, ""))
	if g == nil {
		return nil, fmt.Errorf("error building the graph of the stored tables: %w", err)
	}
	c.mu.Lock()
	c.key, c.g = key, g
	c.mu.Unlock()
	return g, nil
}

// tablesVersion names a set of tables at their revisions: equal for the same tables, each
// unchanged.
func tablesVersion(recs []*store.TableRecord) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, rec := range recs {
		h.Write([]byte(rec.Table.Name))
		binary.LittleEndian.PutUint64(n[:], uint64(rec.Revision))
		h.Write(n[:])
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func (b uiBackend) ReadExport(ctx context.Context, key string) (io.ReadCloser, error) {
	if b.a.cfg.External.Bucket == nil {
		return nil, fmt.Errorf("no bucket to read %s from: %w", key, store.ErrNotFound)
	}
	rc, err := b.a.cfg.External.Bucket.Read(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("export file %s: %w", key, store.ErrNotFound)
	}
	return rc, err
}
