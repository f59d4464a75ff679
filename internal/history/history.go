// Package history mirrors every revision of every table definition into a Git repository, one
// commit per revision, authored by the user who made it, so that git log, diff and blame work on
// the SQL. The repository is derived from the store's revisions: Sync commits those it does not
// hold yet (found by the trailers of its commits), so it can be rebuilt, and a crash or a failed
// push loses nothing — the next Sync does what is left.
package history

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/store"
)

// Store is what the mirror reads of the store.
type Store interface {
	TableList(ctx context.Context) ([]*store.TableRecord, error)
	TableRevisions(ctx context.Context, name string) ([]*store.TableRecord, error)
	UserGet(ctx context.Context, email string) (*store.User, error)
}

// Config configures a Mirror.
type Config struct {
	// Dir is the local repository, created if missing: a plain Git repository whose work tree
	// holds the newest definitions (DATASET/TABLE.sql and TABLE.yaml).
	Dir string
	// Branch is the branch commits go to. Defaults to "main".
	Branch string
	// Remote, when set, is the URL of a repository fetched before and pushed after each sync:
	// https://..., ssh://... or git@host:path, or a local path.
	Remote string
	// Auth references (env:NAME, file:PATH, secretmanager:...) the remote's credential: for
	// https a token (or USER:TOKEN), for ssh a private key (PEM). Empty: none.
	Auth string
	// Resolve resolves Auth. Required when Auth is set.
	Resolve func(ctx context.Context, ref string) (string, error)
	// Attempts bounds the tries of one Sync against the remote. Defaults to 3.
	Attempts int
	// Backoff is the wait after the first failed try; it doubles after each. Defaults to 1s.
	Backoff time.Duration
	// CommitterName and CommitterEmail sign every commit as committer. Default "Maestro",
	// "maestro@localhost".
	CommitterName, CommitterEmail string
}

// Result says what a Sync did.
type Result struct {
	// Commits is how many revisions were committed.
	Commits int
	// Head is the branch's commit after the sync ("" while the history is empty).
	Head string
	// Pushed: the remote's branch is at Head.
	Pushed bool
}

// Status is the outcome of the last Sync.
type Status struct {
	At     time.Time
	Head   string
	Pushed bool
	// Error is why the last Sync failed, "" if it did not. Its commits are kept locally.
	Error string
}

// Mirror keeps a Git repository in step with the store's table revisions. Safe for concurrent
// use; syncs run one at a time.
type Mirror struct {
	st   Store
	cfg  Config
	log  *zap.Logger
	repo *git.Repository

	mu     sync.Mutex
	status Status
	// known caches the revisions mirrored in the history up to knownTip (table → highest
	// revision), so that a sync reads only the commits made since.
	known    map[string]int
	knownTip plumbing.Hash
}

const remoteName = "origin"

// Open opens the repository at cfg.Dir, creating it if needed.
func Open(st Store, cfg Config, log *zap.Logger) (*Mirror, error) {
	if cfg.Dir == "" {
		return nil, errors.New("error opening the history: no repository folder")
	}
	if cfg.Branch == "" {
		cfg.Branch = "main"
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.CommitterName == "" {
		cfg.CommitterName = "Maestro"
	}
	if cfg.CommitterEmail == "" {
		cfg.CommitterEmail = "maestro@localhost"
	}
	if !plumbing.NewBranchReferenceName(cfg.Branch).IsBranch() || strings.ContainsAny(cfg.Branch, " ~^:?*[\\") {
		return nil, fmt.Errorf("error opening the history: %q is not a branch name", cfg.Branch)
	}
	if cfg.Remote != "" {
		if err := checkRemote(cfg.Remote); err != nil {
			return nil, err
		}
		if cfg.Auth != "" && cfg.Resolve == nil {
			return nil, errors.New("error opening the history: the remote's credential is a secret reference, and no resolver was given")
		}
	}
	if log == nil {
		log = zap.NewNop()
	}
	repo, err := git.PlainOpen(cfg.Dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err = os.MkdirAll(cfg.Dir, 0o755); err == nil {
			repo, err = git.PlainInitWithOptions(cfg.Dir, &git.PlainInitOptions{
				InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(cfg.Branch)},
			})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("error opening the history repository %s: %w", cfg.Dir, err)
	}
	// The work tree shows the branch the history goes to, whatever a previous configuration chose.
	head := plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(cfg.Branch))
	if err := repo.Storer.SetReference(head); err != nil {
		return nil, fmt.Errorf("error opening the history repository %s: %w", cfg.Dir, err)
	}
	m := &Mirror{st: st, cfg: cfg, log: log, repo: repo}
	if cfg.Remote != "" {
		if err := m.setRemote(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// checkRemote refuses a remote URL with a password in it: credentials go in Auth, a secret
// reference, so that they are never in configuration, logs or errors.
func checkRemote(remote string) error {
	if u, err := url.Parse(remote); err == nil && u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword || u.Scheme == "http" || u.Scheme == "https" {
			return errors.New("error opening the history: the remote URL holds credentials; give them as a secret reference (the auth setting) instead")
		}
	}
	return nil
}

func (m *Mirror) setRemote() error {
	cfg, err := m.repo.Config()
	if err != nil {
		return fmt.Errorf("error reading the history repository's configuration: %w", err)
	}
	want := &gitconfig.RemoteConfig{Name: remoteName, URLs: []string{m.cfg.Remote},
		Fetch: []gitconfig.RefSpec{gitconfig.RefSpec("+refs/heads/*:refs/remotes/" + remoteName + "/*")}}
	if cur, ok := cfg.Remotes[remoteName]; ok && len(cur.URLs) == 1 && cur.URLs[0] == m.cfg.Remote {
		return nil
	}
	cfg.Remotes[remoteName] = want
	if err := m.repo.SetConfig(cfg); err != nil {
		return fmt.Errorf("error setting the history repository's remote: %w", err)
	}
	return nil
}

// Status returns the outcome of the last Sync.
func (m *Mirror) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status
}

// Sync commits the revisions the history lacks, oldest first, and pushes them when a remote is
// configured, trying cfg.Attempts times with backoff. On error the commits made stay in the
// local repository, and the next Sync pushes them (or, if the remote moved meanwhile, makes them
// again on top of it).
//
// A nil Mirror keeps no history: Sync does nothing.
func (m *Mirror) Sync(ctx context.Context) (Result, error) {
	if m == nil {
		return Result{}, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var total Result
	var err error
	wait := m.cfg.Backoff
	for attempt := 1; ; attempt++ {
		var res Result
		res, err = m.syncOnce(ctx)
		total.Commits += res.Commits
		total.Head, total.Pushed = res.Head, res.Pushed
		if err == nil || attempt >= m.cfg.Attempts || ctx.Err() != nil || m.cfg.Remote == "" {
			break
		}
		m.log.Warn("history sync failed; retrying", zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
	m.status = Status{At: time.Now(), Head: total.Head, Pushed: total.Pushed}
	if err != nil {
		m.status.Error = err.Error()
		m.log.Error("history sync failed; its commits are kept and the next sync retries", zap.Error(err))
	} else if total.Commits > 0 {
		m.log.Info("history synced", zap.Int("commits", total.Commits), zap.String("head", total.Head), zap.Bool("pushed", total.Pushed))
	}
	return total, err
}

func (m *Mirror) syncOnce(ctx context.Context) (Result, error) {
	var res Result
	branch := plumbing.NewBranchReferenceName(m.cfg.Branch)
	local := m.refHash(branch)
	base := local

	var auth transport.AuthMethod
	var remoteErr error
	remoteTip := plumbing.ZeroHash
	if m.cfg.Remote != "" {
		var err error
		if auth, err = m.auth(ctx); err != nil {
			return res, err
		}
		remoteTip, remoteErr = m.fetch(ctx, auth)
		if remoteErr == nil {
			if base, remoteErr = m.chooseBase(local, remoteTip); remoteErr != nil {
				return res, remoteErr
			}
		}
	}

	head, n, err := m.commitPending(ctx, base)
	res.Commits = n
	if !head.IsZero() {
		res.Head = head.String()
	}
	if err != nil {
		return res, err
	}
	if head != local {
		if err := m.repo.Storer.SetReference(plumbing.NewHashReference(branch, head)); err != nil {
			return res, fmt.Errorf("error moving branch %s of the history: %w", m.cfg.Branch, err)
		}
		m.checkout(head)
	}
	if m.cfg.Remote == "" {
		return res, nil
	}
	if remoteErr != nil {
		return res, remoteErr
	}
	if head == remoteTip || head.IsZero() {
		res.Pushed = true
		return res, nil
	}
	spec := gitconfig.RefSpec(branch.String() + ":" + branch.String())
	err = m.repo.PushContext(ctx, &git.PushOptions{RemoteName: remoteName, RefSpecs: []gitconfig.RefSpec{spec}, Auth: auth})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return res, fmt.Errorf("error pushing the history to %s: %w", m.cfg.Remote, err)
	}
	res.Pushed = true
	return res, nil
}

func (m *Mirror) refHash(name plumbing.ReferenceName) plumbing.Hash {
	ref, err := m.repo.Storer.Reference(name)
	if err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

// fetch brings the remote's branch and returns its commit (zero if the remote has none yet).
func (m *Mirror) fetch(ctx context.Context, auth transport.AuthMethod) (plumbing.Hash, error) {
	remoteRef := plumbing.NewRemoteReferenceName(remoteName, m.cfg.Branch)
	spec := gitconfig.RefSpec("+" + plumbing.NewBranchReferenceName(m.cfg.Branch).String() + ":" + remoteRef.String())
	err := m.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: remoteName, RefSpecs: []gitconfig.RefSpec{spec}, Auth: auth})
	var noRef git.NoMatchingRefSpecError
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.As(err, &noRef):
		return plumbing.ZeroHash, nil
	default:
		return plumbing.ZeroHash, fmt.Errorf("error fetching the history from %s: %w", m.cfg.Remote, err)
	}
	return m.refHash(remoteRef), nil
}

// chooseBase picks the commit to add to: the local branch if it holds the remote's (it is ahead
// with commits a failed push left), else the remote's. Local commits the remote lacks are then
// dropped, to be made again from the store on top of the remote's: no revision is lost.
func (m *Mirror) chooseBase(local, remote plumbing.Hash) (plumbing.Hash, error) {
	if remote.IsZero() || local == remote {
		return local, nil
	}
	if local.IsZero() {
		return remote, nil
	}
	lc, err := m.repo.CommitObject(local)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("error reading the history's commit %s: %w", local, err)
	}
	rc, err := m.repo.CommitObject(remote)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("error reading the remote history's commit %s: %w", remote, err)
	}
	if ahead, err := rc.IsAncestor(lc); err == nil && ahead {
		return local, nil
	}
	if behind, err := lc.IsAncestor(rc); err != nil || !behind {
		m.log.Info("the remote history moved on; local commits it lacks are made again on top of it",
			zap.String("local", local.String()), zap.String("remote", remote.String()))
	}
	return remote, nil
}

// checkout brings the work tree to head so that the folder shows the newest definitions. The
// history is in the commits; a work tree that fails to follow loses nothing.
func (m *Mirror) checkout(head plumbing.Hash) {
	wt, err := m.repo.Worktree()
	if err != nil {
		return // a bare repository
	}
	if err := wt.Reset(&git.ResetOptions{Commit: head, Mode: git.HardReset}); err != nil {
		m.log.Warn("updating the history's work tree", zap.Error(err))
	}
}

// auth resolves the remote's credential, each sync anew so that a rotated secret is picked up.
func (m *Mirror) auth(ctx context.Context) (transport.AuthMethod, error) {
	if m.cfg.Auth == "" {
		return nil, nil
	}
	ep, err := transport.NewEndpoint(m.cfg.Remote)
	if err != nil {
		return nil, fmt.Errorf("error reading the history remote's URL: %w", err)
	}
	secret, err := m.cfg.Resolve(ctx, m.cfg.Auth)
	if err != nil {
		return nil, fmt.Errorf("error resolving the history remote's credential: %w", err)
	}
	switch ep.Protocol {
	case "http", "https":
		user, token, ok := strings.Cut(secret, ":")
		if !ok {
			// Token authentication ignores the user name, but it must not be empty.
			user, token = "maestro", secret
		}
		return &githttp.BasicAuth{Username: user, Password: token}, nil
	case "ssh":
		user := ep.User
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeys(user, []byte(secret), "")
		if err != nil {
			// The key's parse error never quotes the key.
			return nil, fmt.Errorf("error reading the history remote's SSH key (%s): %w", m.cfg.Auth, err)
		}
		return keys, nil
	}
	return nil, nil
}

// pending is one revision to commit, with the one before it (nil for the first).
type pending struct {
	prev, rec *store.TableRecord
}

// commitPending commits, on top of base, the revisions of the store that the history up to base
// lacks, in the order they were made, and returns the new head and how many it committed.
func (m *Mirror) commitPending(ctx context.Context, base plumbing.Hash) (plumbing.Hash, int, error) {
	known, err := m.mirrored(base)
	if err != nil {
		return base, 0, err
	}
	tree, err := m.readTree(base)
	if err != nil {
		return base, 0, err
	}
	todo, err := m.pendingRevisions(ctx, known, tree)
	if err != nil {
		return base, 0, err
	}
	if len(todo) == 0 {
		m.known, m.knownTip = known, base
		return base, 0, nil
	}
	// The new objects gather in memory and go to the repository as one pack: a loose file per
	// object costs a file creation each, which dominated a first sync of thousands of tables.
	objs := memory.NewStorage()
	head := base
	authors := map[string]object.Signature{}
	for _, p := range todo {
		if err := ctx.Err(); err != nil {
			return base, 0, err
		}
		if err := tree.apply(objs, p.rec); err != nil {
			return base, 0, err
		}
		treeHash, err := tree.write(objs)
		if err != nil {
			return base, 0, err
		}
		author, err := m.author(ctx, authors, p.rec.UpdatedBy)
		if err != nil {
			return base, 0, err
		}
		author.When = p.rec.UpdatedAt
		c := &object.Commit{
			Author:    author,
			Committer: object.Signature{Name: m.cfg.CommitterName, Email: m.cfg.CommitterEmail, When: p.rec.UpdatedAt},
			Message:   CommitMessage(p.prev, p.rec),
			TreeHash:  treeHash,
		}
		if !head.IsZero() {
			c.ParentHashes = []plumbing.Hash{head}
		}
		obj := objs.NewEncodedObject()
		if err := c.Encode(obj); err != nil {
			return base, 0, fmt.Errorf("error encoding the commit of %s@%d: %w", p.rec.Table.Name, p.rec.Revision, err)
		}
		if head, err = objs.SetEncodedObject(obj); err != nil {
			return base, 0, fmt.Errorf("error writing the commit of %s@%d: %w", p.rec.Table.Name, p.rec.Revision, err)
		}
		known[p.rec.Table.Name] = p.rec.Revision
	}
	if err := writePack(m.repo.Storer, objs); err != nil {
		return base, 0, err
	}
	m.known, m.knownTip = known, head
	return head, len(todo), nil
}

// author is the signature of user id: the store's name and e-mail for it, else the id itself.
func (m *Mirror) author(ctx context.Context, cache map[string]object.Signature, id string) (object.Signature, error) {
	if sig, ok := cache[id]; ok {
		return sig, nil
	}
	sig := object.Signature{Name: id, Email: id}
	u, err := m.st.UserGet(ctx, id)
	switch {
	case err == nil:
		if u.Name != "" {
			sig.Name = u.Name
		}
		if u.Email != "" {
			sig.Email = u.Email
		}
	case !errors.Is(err, store.ErrNotFound):
		return sig, fmt.Errorf("error loading user %q: %w", id, err)
	}
	if sig.Name == "" {
		sig.Name, sig.Email = "unknown", "unknown"
	}
	cache[id] = sig
	return sig, nil
}

// mirrored returns, for each table, the highest revision committed in the history up to tip.
func (m *Mirror) mirrored(tip plumbing.Hash) (map[string]int, error) {
	known := map[string]int{}
	if tip.IsZero() {
		return known, nil
	}
	// Walk every commit reachable from tip, except through knownTip, whose ancestry the cache
	// covers already.
	useCache := !m.knownTip.IsZero()
	seen := map[plumbing.Hash]bool{}
	queue := []plumbing.Hash{tip}
	for len(queue) > 0 {
		h := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if seen[h] {
			continue
		}
		seen[h] = true
		if useCache && h == m.knownTip {
			for name, rev := range m.known {
				known[name] = max(known[name], rev)
			}
			continue
		}
		c, err := m.repo.CommitObject(h)
		if err != nil {
			return nil, fmt.Errorf("error reading the history's commit %s: %w", h, err)
		}
		for _, tr := range parseTrailers(c.Message) {
			known[tr.table] = max(known[tr.table], tr.revision)
		}
		queue = append(queue, c.ParentHashes...)
	}
	return known, nil
}

// pendingRevisions lists the revisions not in known, oldest first: those of tables whose
// current revision is newer than the history's, and the deletion of tables the history still
// has and the store no longer lists.
func (m *Mirror) pendingRevisions(ctx context.Context, known map[string]int, tree *folder) ([]pending, error) {
	current, err := m.st.TableList(ctx)
	if err != nil {
		return nil, fmt.Errorf("error listing tables for the history: %w", err)
	}
	var names []string
	listed := map[string]bool{}
	for _, rec := range current {
		listed[rec.Table.Name] = true
		if rec.Revision > known[rec.Table.Name] {
			names = append(names, rec.Table.Name)
		}
	}
	for _, name := range tree.tables() {
		if !listed[name] {
			names = append(names, name)
		}
	}
	var out []pending
	for _, name := range names {
		revs, err := m.st.TableRevisions(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("error loading the revisions of %s for the history: %w", name, err)
		}
		for i, rec := range revs {
			if rec.Revision <= known[name] {
				continue
			}
			if _, _, ok := tablePaths(name); !ok {
				m.log.Warn("a table whose name is no dataset.table is left out of the history", zap.String("table", name))
				break
			}
			p := pending{rec: rec}
			if i > 0 {
				p.prev = revs[i-1]
			}
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].rec, out[j].rec
		if !a.UpdatedAt.Equal(b.UpdatedAt) {
			return a.UpdatedAt.Before(b.UpdatedAt)
		}
		if a.Table.Name != b.Table.Name {
			return a.Table.Name < b.Table.Name
		}
		return a.Revision < b.Revision
	})
	return out, nil
}
