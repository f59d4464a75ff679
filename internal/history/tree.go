package history

import (
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/maestro-sql/maestro/internal/store"
)

// folder is the history's tree: dataset → file name → blob.
type folder struct {
	datasets map[string]map[string]plumbing.Hash
	// trees caches each unchanged dataset's tree.
	trees map[string]plumbing.Hash
	// others are entries beside the datasets (a README someone pushed), kept as they are.
	others []object.TreeEntry
}

func (m *Mirror) readTree(head plumbing.Hash) (*folder, error) {
	f := &folder{datasets: map[string]map[string]plumbing.Hash{}, trees: map[string]plumbing.Hash{}}
	if head.IsZero() {
		return f, nil
	}
	c, err := m.repo.CommitObject(head)
	if err != nil {
		return nil, fmt.Errorf("error reading the history's commit %s: %w", head, err)
	}
	root, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("error reading the history's tree: %w", err)
	}
	for _, e := range root.Entries {
		if e.Mode != filemode.Dir {
			f.others = append(f.others, e)
			continue
		}
		sub, err := m.repo.TreeObject(e.Hash)
		if err != nil {
			return nil, fmt.Errorf("error reading the history's tree %s: %w", e.Name, err)
		}
		files := map[string]plumbing.Hash{}
		for _, fe := range sub.Entries {
			if fe.Mode.IsFile() {
				files[fe.Name] = fe.Hash
			}
		}
		f.datasets[e.Name] = files
		f.trees[e.Name] = e.Hash
	}
	return f, nil
}

// tables lists the tables whose SQL file is in the tree.
func (f *folder) tables() []string {
	var out []string
	for ds, files := range f.datasets {
		for name := range files {
			if t, ok := strings.CutSuffix(name, ".sql"); ok {
				out = append(out, ds+"."+t)
			}
		}
	}
	sort.Strings(out)
	return out
}

// apply writes rec's files into the tree (removes them for a deletion).
func (f *folder) apply(objs storer.EncodedObjectStorer, rec *store.TableRecord) error {
	ds, base, _ := tablePaths(rec.Table.Name)
	files := f.datasets[ds]
	if files == nil {
		files = map[string]plumbing.Hash{}
		f.datasets[ds] = files
	}
	delete(f.trees, ds)
	delete(files, base+".sql")
	delete(files, base+".yaml")
	if rec.Deleted {
		if len(files) == 0 {
			delete(f.datasets, ds)
		}
		return nil
	}
	sql, sidecar := Files(&rec.Table)
	for name, data := range map[string][]byte{base + ".sql": []byte(sql), base + ".yaml": sidecar} {
		if name == base+".yaml" && len(data) == 0 {
			continue
		}
		h, err := writeBlob(objs, data)
		if err != nil {
			return fmt.Errorf("error writing %s/%s to the history: %w", ds, name, err)
		}
		files[name] = h
	}
	return nil
}

// write stores the tree's objects and returns the root's hash.
func (f *folder) write(objs storer.EncodedObjectStorer) (plumbing.Hash, error) {
	root := &object.Tree{Entries: append([]object.TreeEntry(nil), f.others...)}
	for ds, files := range f.datasets {
		h, ok := f.trees[ds]
		if !ok {
			sub := &object.Tree{}
			for name, blob := range files {
				sub.Entries = append(sub.Entries, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: blob})
			}
			var err error
			if h, err = writeTree(objs, sub); err != nil {
				return plumbing.ZeroHash, err
			}
			f.trees[ds] = h
		}
		root.Entries = append(root.Entries, object.TreeEntry{Name: ds, Mode: filemode.Dir, Hash: h})
	}
	return writeTree(objs, root)
}

func writeBlob(objs storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
	obj := objs.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return objs.SetEncodedObject(obj)
}

// writeTree stores t with its entries in Git's order, where a folder sorts as its name and "/".
func writeTree(objs storer.EncodedObjectStorer, t *object.Tree) (plumbing.Hash, error) {
	sortKey := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(t.Entries, func(i, j int) bool { return sortKey(t.Entries[i]) < sortKey(t.Entries[j]) })
	obj := objs.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("error encoding a tree of the history: %w", err)
	}
	h, err := objs.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("error writing a tree of the history: %w", err)
	}
	return h, nil
}

// writePack stores every object of objs in the repository's storage as one pack.
func writePack(dst storage.Storer, objs *memory.Storage) error {
	var hashes []plumbing.Hash
	for h := range objs.Objects {
		hashes = append(hashes, h)
	}
	pw, ok := dst.(storer.PackfileWriter)
	if !ok {
		for _, h := range hashes {
			if _, err := dst.SetEncodedObject(objs.Objects[h]); err != nil {
				return fmt.Errorf("error writing the history's objects: %w", err)
			}
		}
		return nil
	}
	w, err := pw.PackfileWriter()
	if err != nil {
		return fmt.Errorf("error writing the history's objects: %w", err)
	}
	// Window 10: revisions of one file delta-compress against each other, as git gc would.
	if _, err := packfile.NewEncoder(w, objs, false).Encode(hashes, 10); err != nil {
		_ = w.Close()
		return fmt.Errorf("error packing the history's objects: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("error writing the history's objects: %w", err)
	}
	return nil
}
