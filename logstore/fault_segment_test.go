package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Fault injection: segFaultFS wraps a crashable MemFS and fails the n-th
// mutating operation (create, write, fsync, rename, remove). A failed write
// is a short write: half the bytes land, then the error, as when a disk
// fills. The tests inject the fault at every durable step of a workload in
// turn and require that the failing call reports an error, that nothing
// unacknowledged is reported as written, that the log refuses appends once
// a write or fsync failed, and that after a reopen (of the live FS, and of
// a crash image holding only what was fsynced) every acknowledged batch is
// there byte for byte and every segment scans clean.

var errSegInjected = errors.New("injected fault")

type segFaultFS struct {
	vfs.FS
	mu     sync.Mutex
	ops    int // mutating operations so far
	failAt int // 1-based op to fail; 0 = never
	failed string
}

// step counts one mutating operation and reports whether it must fail.
func (fs *segFaultFS) step(what string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.ops++
	if fs.ops == fs.failAt {
		fs.failed = what
		return true
	}
	return false
}

func (fs *segFaultFS) wrap(name string) func(vfs.File, error) (vfs.File, error) {
	return func(f vfs.File, err error) (vfs.File, error) {
		if err != nil {
			return nil, err
		}
		return &segFaultFile{File: f, fs: fs, name: name}, nil
	}
}

func (fs *segFaultFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if fs.step("create " + name) {
		return nil, errSegInjected
	}
	return fs.wrap(name)(fs.FS.Create(name, c))
}

func (fs *segFaultFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return fs.wrap(name)(fs.FS.Open(name, opts...))
}

func (fs *segFaultFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return fs.wrap(name)(fs.FS.OpenReadWrite(name, c, opts...))
}

func (fs *segFaultFS) OpenDir(name string) (vfs.File, error) {
	return fs.wrap(name + "/")(fs.FS.OpenDir(name))
}

func (fs *segFaultFS) Rename(from, to string) error {
	if fs.step("rename " + to) {
		return errSegInjected
	}
	return fs.FS.Rename(from, to)
}

func (fs *segFaultFS) Remove(name string) error {
	if fs.step("remove " + name) {
		return errSegInjected
	}
	return fs.FS.Remove(name)
}

type segFaultFile struct {
	vfs.File
	fs   *segFaultFS
	name string // a directory's ends in "/"
}

func (f *segFaultFile) Write(p []byte) (int, error) {
	if f.fs.step("write " + f.name) {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, errSegInjected
	}
	return f.File.Write(p)
}

func (f *segFaultFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.step("write-at " + f.name) {
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, errSegInjected
	}
	return f.File.WriteAt(p, off)
}

func (f *segFaultFile) Sync() error {
	if f.fs.step("fsync " + f.name) {
		return errSegInjected
	}
	return f.File.Sync()
}

func (f *segFaultFile) SyncData() error {
	if f.fs.step("fdatasync " + f.name) {
		return errSegInjected
	}
	return f.File.SyncData()
}

// segCheckAcked reopens dir on fs and checks every acknowledged batch and
// the files.
func segCheckAcked(t *testing.T, fs vfs.FS, dir string, acked map[int64][]byte, what string) {
	t.Helper()
	l, err := OpenSegmentLog(SegmentOptions{FS: fs, Dir: dir, Config: segTestConfig(1024), Logger: segQuietLogger()})
	if err != nil {
		t.Fatalf("%s: reopen: %v", what, err)
	}
	defer l.Close()
	for off, want := range acked {
		r, err := l.Read(off, 1)
		if err != nil {
			t.Fatalf("%s: acknowledged offset %d unreadable: %v", what, off, err)
		}
		got, err := r.Bytes()
		r.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: acknowledged batch %d differs (err %v)", what, off, err)
		}
	}
	segScanDir(t, fs, dir)
	// The reopened log takes appends again.
	if _, err := l.Append(segBatch(t, 1, 1, "after", 10)); err != nil {
		t.Fatalf("%s: append after reopen: %v", what, err)
	}
}

// TestSegmentFaultEveryStep runs a workload of appends (with rolls, index
// and checkpoint writes) and Syncs, failing the n-th mutating file
// operation for every n the workload reaches.
func TestSegmentFaultEveryStep(t *testing.T) {
	const dir = "/data/p"
	workload := func(t *testing.T, fs *segFaultFS, acked map[int64][]byte) (opened bool, failure error) {
		l, err := OpenSegmentLog(SegmentOptions{FS: fs, Dir: dir, Config: segTestConfig(1024), Logger: segQuietLogger()})
		if err != nil {
			return false, err
		}
		defer func() {
			if cerr := l.Close(); failure == nil {
				failure = cerr
			}
		}()
		for i := range 24 {
			b := segBatch(t, 1+i%3, int64(i), fmt.Sprint(i), 90)
			res, err := l.Append(b)
			if err != nil {
				// Poisoned: later appends and syncs fail too, and the
				// high watermark did not move past the failure.
				hw := l.HighWatermark()
				if _, err2 := l.Append(segBatch(t, 1, 1, "again", 10)); err2 == nil {
					t.Fatalf("append after a failed append (%v) succeeded", err)
				}
				if err2 := l.Sync(); err2 == nil {
					t.Fatalf("sync after a failed append (%v) succeeded", err)
				}
				if l.HighWatermark() != hw {
					t.Fatal("high watermark moved after the log was poisoned")
				}
				return true, err
			}
			SetBaseOffset(b, res.BaseOffset)
			acked[res.BaseOffset] = b
			if i%7 == 6 {
				if err := l.Sync(); err != nil {
					return true, err
				}
			}
		}
		return true, nil
	}

	// Count the workload's operations without faults.
	clean := &segFaultFS{FS: vfs.NewCrashableMem()}
	if _, err := workload(t, clean, map[int64][]byte{}); err != nil {
		t.Fatalf("workload without faults: %v", err)
	}
	total := clean.ops
	if total < 50 {
		t.Fatalf("workload made only %d file operations", total)
	}
	for n := 1; n <= total; n++ {
		mem := vfs.NewCrashableMem()
		fs := &segFaultFS{FS: mem, failAt: n}
		acked := map[int64][]byte{}
		_, err := workload(t, fs, acked)
		if fs.failed == "" {
			t.Fatalf("op %d: no fault was injected", n)
		}
		if err == nil && !segDerivedOp(fs.failed) {
			t.Fatalf("op %d (%s): fault went unreported", n, fs.failed)
		}
		if err != nil && !errors.Is(err, errSegInjected) {
			t.Fatalf("op %d (%s): error %v does not wrap the injected fault", n, fs.failed, err)
		}
		what := fmt.Sprintf("op %d (%s)", n, fs.failed)
		// A crash image first (only fsynced data), then the live FS.
		segCheckAcked(t, mem.CrashClone(vfs.CrashCloneCfg{}), dir, acked, what+" crash image")
		segCheckAcked(t, mem, dir, acked, what+" live")
	}
}

// segDerivedOp reports whether a failed operation touched only derived or
// advisory state, whose failure the log may log and survive: index files,
// the checkpoint written at roll (recovery then scans from an older
// segment), and temporary files. Failures on .log files never qualify.
func segDerivedOp(op string) bool {
	return strings.HasSuffix(op, IndexExt) || strings.HasSuffix(op, TimeIndexExt) ||
		strings.HasSuffix(op, tmpExt) || strings.HasSuffix(op, CheckpointFileName) || strings.HasSuffix(op, "/")
}

// TestSegmentFsyncErrorPoisons checks the documented policy directly: after
// a failed fsync, Append and Sync fail until the log is reopened, and Close
// does not mark the checkpoint clean.
func TestSegmentFsyncErrorPoisons(t *testing.T) {
	mem := vfs.NewCrashableMem()
	fs := &segFaultFS{FS: mem}
	l, err := OpenSegmentLog(SegmentOptions{FS: fs, Dir: "/p", Config: segTestConfig(1 << 20), Logger: segQuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(segBatch(t, 1, 1, "ok", 10)); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	fs.failAt = fs.ops + 2 // the data write, then its fdatasync
	fs.mu.Unlock()
	if _, err := l.Append(segBatch(t, 1, 1, "fails", 10)); !errors.Is(err, errSegInjected) {
		t.Fatalf("append with failing fsync: %v", err)
	}
	if !strings.HasPrefix(fs.failed, "fdatasync") {
		t.Fatalf("failed %q, want the fdatasync", fs.failed)
	}
	if hw := l.HighWatermark(); hw != 1 {
		t.Fatalf("hw=%d after the failed append, want 1", hw)
	}
	if _, err := l.Append(segBatch(t, 1, 1, "refused", 10)); !errors.Is(err, errSegInjected) {
		t.Fatalf("append on a poisoned log: %v", err)
	}
	if err := l.Sync(); err == nil {
		t.Fatal("sync on a poisoned log succeeded")
	}
	if r, err := l.Read(0, 100); err != nil {
		t.Fatalf("reads still work on a poisoned log: %v", err)
	} else {
		r.Close()
	}
	if err := l.Close(); !errors.Is(err, errSegInjected) {
		t.Fatalf("close of a poisoned log: %v", err)
	}
	c, err := ReadCheckpoint(mem, "/p")
	if err != nil || c.Clean {
		t.Fatalf("checkpoint after poisoned close: %+v %v (want unclean)", c, err)
	}
	l2, err := OpenSegmentLog(SegmentOptions{FS: mem, Dir: "/p", Config: segTestConfig(1 << 20), Logger: segQuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if _, err := l2.Append(segBatch(t, 1, 1, "again", 10)); err != nil {
		t.Fatalf("append after reopen: %v", err)
	}
}
