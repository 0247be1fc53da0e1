package logstore

import (
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// storeReadFile reads a whole (small) file through fs.
func storeReadFile(fs vfs.FS, path string) ([]byte, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// storeWriteFileAtomic replaces path with data so that a crash leaves either
// the old or the new content: write path.tmp, fsync it, rename it over path,
// fsync the directory so the rename itself is durable.
func storeWriteFileAtomic(fs vfs.FS, path string, data []byte) error {
	tmp := path + catalogTempSuffix
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, path); err != nil {
		return err
	}
	return storeSyncDir(fs, fs.PathDir(path))
}

// storeSyncDir fsyncs a directory so that creations, renames and removals
// in it survive a crash.
func storeSyncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return d.Close()
}
