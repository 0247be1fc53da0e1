package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"strata/tier"
)

// plainDir is a tier.ObjectStore over a directory of ordinary files: the
// store of a file:/// dataset source. (tier.LocalDir keeps objects in its
// own checksummed format, so it cannot read files a user put there.) Keys
// are slash-separated paths relative to the directory.
type plainDir struct{ root string }

var _ tier.ObjectStore = plainDir{}

func newPlainDir(root string) (plainDir, error) {
	st, err := os.Stat(root)
	if err != nil {
		return plainDir{}, invalid("source", "directory: %v", err)
	}
	if !st.IsDir() {
		return plainDir{}, invalid("source", "%s is not a directory", root)
	}
	return plainDir{root: root}, nil
}

func (d plainDir) path(key string) (string, error) {
	if err := tier.ValidateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

func mapFSErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", tier.ErrNotFound, key)
	}
	return err
}

func (d plainDir) Put(_ context.Context, key string, r io.Reader, _ int64) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".strata-put-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

type fileSection struct {
	*io.SectionReader
	f *os.File
}

func (s fileSection) Close() error { return s.f.Close() }

func (d plainDir) Get(_ context.Context, key string, off, length int64) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, mapFSErr(key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := st.Size()
	if off < 0 || off > size || off == size && size > 0 && length != 0 {
		f.Close()
		return nil, fmt.Errorf("%w: %s: offset %d of %d bytes", tier.ErrRange, key, off, size)
	}
	if length < 0 || off+length > size {
		length = size - off
	}
	return fileSection{io.NewSectionReader(f, off, length), f}, nil
}

func (d plainDir) Head(_ context.Context, key string) (tier.ObjectInfo, error) {
	p, err := d.path(key)
	if err != nil {
		return tier.ObjectInfo{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return tier.ObjectInfo{}, mapFSErr(key, err)
	}
	return tier.ObjectInfo{Key: key, Size: st.Size(), LastModified: st.ModTime()}, nil
}

func (d plainDir) List(ctx context.Context, prefix string) ([]tier.ObjectInfo, error) {
	var out []tier.ObjectInfo
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.root, p)
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			if key != "." && strings.HasPrefix(e.Name(), ".strata-") {
				return filepath.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) || strings.HasPrefix(e.Name(), ".strata-put-") {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		out = append(out, tier.ObjectInfo{Key: key, Size: info.Size(), LastModified: info.ModTime()})
		return nil
	})
	slices.SortFunc(out, func(a, b tier.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, err
}

func (d plainDir) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
