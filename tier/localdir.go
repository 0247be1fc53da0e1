package tier

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Local object files start with a 16-byte header (see doc.go):
//
//	magic "STRTFILE" | version u32 LE | crc32c of the payload u32 LE
const (
	localMagic      = "STRTFILE"
	localVersion    = 1
	localHeaderSize = 16
)

// LocalDir is an ObjectStore in a local directory (the embedded default,
// <data>/objects). A key maps to the file <dir>/<key> ('/' separates
// directories). Put writes a temporary file under <dir>/.strata-tmp, fsyncs
// it, renames it into place and fsyncs the directory, so an object is
// either absent or whole after a crash.
type LocalDir struct {
	root string
	tmp  string
}

var _ ObjectStore = (*LocalDir)(nil)

// NewLocalDir opens (creating it if needed) the store rooted at dir and
// removes temporary files a crash left behind.
func NewLocalDir(dir string) (*LocalDir, error) {
	if dir == "" {
		return nil, errors.New("tier: local dir: empty path")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("tier: local dir: %w", err)
	}
	tmp := filepath.Join(root, tmpDirName)
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("tier: local dir: clear temp: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("tier: local dir: %w", err)
	}
	return &LocalDir{root: root, tmp: tmp}, nil
}

// Dir returns the store's root directory.
func (l *LocalDir) Dir() string { return l.root }

// path maps a validated key to its file.
func (l *LocalDir) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	p := filepath.Join(l.root, filepath.FromSlash(key))
	if !strings.HasPrefix(p, l.root+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: %q escapes the store", ErrInvalidKey, key)
	}
	return p, nil
}

// Put implements ObjectStore.
func (l *LocalDir) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(l.tmp, "put-*")
	if err != nil {
		return fmt.Errorf("tier: local put %q: %w", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	var hdr [localHeaderSize]byte
	if _, err := f.Write(hdr[:]); err != nil {
		return fmt.Errorf("tier: local put %q: %w", key, err)
	}
	h := newCRC32C()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err != nil {
		return fmt.Errorf("tier: local put %q: %w", key, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("tier: local put %q: body has %d bytes, size says %d", key, n, size)
	}
	copy(hdr[:8], localMagic)
	binary.LittleEndian.PutUint32(hdr[8:], localVersion)
	binary.LittleEndian.PutUint32(hdr[12:], h.Sum32())
	if _, err := f.WriteAt(hdr[:], 0); err != nil {
		return fmt.Errorf("tier: local put %q: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("tier: local put %q: fsync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tier: local put %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		os.Remove(f.Name())
		return err
	}
	// A concurrent Delete may remove an emptied parent between mkdir and
	// rename; try again a few times.
	for attempt := 0; ; attempt++ {
		if err = l.mkdirAll(filepath.Dir(p)); err == nil {
			if err = os.Rename(f.Name(), p); err == nil {
				break
			}
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == 4 {
			if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
				err = fmt.Errorf("%w: %q: a file and a directory share the path: %v", ErrInvalidKey, key, err)
			}
			return fmt.Errorf("tier: local put %q: %w", key, err)
		}
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("tier: local put %q: %w", key, err)
	}
	return nil
}

// mkdirAll creates dir and its missing parents below the root, fsyncing
// each parent that gained an entry.
func (l *LocalDir) mkdirAll(dir string) error {
	if dir == l.root {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: %w", dir, syscall.ENOTDIR)
		}
		return nil
	}
	if err := l.mkdirAll(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// open opens the object file, checks its header and returns the file, the
// payload size and the stored CRC32C.
func (l *LocalDir) open(ctx context.Context, key string) (*os.File, int64, uint32, os.FileInfo, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, 0, 0, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, 0, nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, 0, 0, nil, fmt.Errorf("%w: %q", ErrNotFound, key)
		}
		return nil, 0, 0, nil, fmt.Errorf("tier: local open %q: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, 0, nil, fmt.Errorf("tier: local open %q: %w", key, err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, 0, 0, nil, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	var hdr [localHeaderSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:8]) != localMagic {
		f.Close()
		return nil, 0, 0, nil, fmt.Errorf("%w: %q: no object header", ErrCorrupt, key)
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != localVersion {
		f.Close()
		return nil, 0, 0, nil, fmt.Errorf("%w: %q: object file version %d", ErrCorrupt, key, v)
	}
	return f, fi.Size() - localHeaderSize, binary.LittleEndian.Uint32(hdr[12:]), fi, nil
}

// Get implements ObjectStore; whole-object reads verify the CRC32C.
func (l *LocalDir) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	f, size, crc, _, err := l.open(ctx, key)
	if err != nil {
		return nil, err
	}
	n, err := checkRange(key, off, length, size)
	if err != nil {
		f.Close()
		return nil, err
	}
	rc := &fileSection{SectionReader: io.NewSectionReader(f, localHeaderSize+off, n), f: f}
	if wholeObject(off, length, size) {
		return newVerifyReader(rc, key, crc, size), nil
	}
	return rc, nil
}

type fileSection struct {
	*io.SectionReader
	f *os.File
}

func (s *fileSection) Close() error { return s.f.Close() }

// Head implements ObjectStore.
func (l *LocalDir) Head(ctx context.Context, key string) (ObjectInfo, error) {
	f, size, crc, fi, err := l.open(ctx, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	f.Close()
	return ObjectInfo{Key: key, Size: size, LastModified: fi.ModTime().UTC(), ETag: localETag(fi, crc)}, nil
}

func localETag(fi os.FileInfo, crc uint32) string {
	return fmt.Sprintf("\"%x-%x-%08x\"", fi.ModTime().UnixNano(), fi.Size(), crc)
}

// List implements ObjectStore. It walks only the directory the prefix's
// complete components name.
func (l *LocalDir) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := l.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir := prefix[:i]
		if ValidateKey(dir) != nil {
			return []ObjectInfo{}, nil // no stored key can start with it
		}
		start = filepath.Join(l.root, filepath.FromSlash(dir))
	}
	out := make([]ObjectInfo, 0)
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil // removed under us, or prefix names a file
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if key == tmpDirName {
				return filepath.SkipDir
			}
			if key != "." && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if fi.Size() < localHeaderSize {
			return nil // not an object file
		}
		out = append(out, ObjectInfo{Key: key, Size: fi.Size() - localHeaderSize, LastModified: fi.ModTime().UTC()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tier: local list %q: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements ObjectStore. Emptied parent directories are removed.
func (l *LocalDir) Delete(ctx context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("tier: local delete %q: %w", key, err)
	}
	if fi.IsDir() {
		return nil // no object at key, only keys below it
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tier: local delete %q: %w", key, err)
	}
	for dir := filepath.Dir(p); dir != l.root && strings.HasPrefix(dir, l.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty (or already gone)
		}
	}
	return nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
