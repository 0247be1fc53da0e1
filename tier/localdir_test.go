package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func typeName(v any) string { return fmt.Sprintf("%T", v) }

func TestLocalDirLayout(t *testing.T) {
	dir := t.TempDir()
	st, err := NewLocalDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustPut(t, st, "topics/t/0/a.seg", []byte("payload"))
	b, err := os.ReadFile(filepath.Join(dir, "topics", "t", "0", "a.seg"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != localHeaderSize+7 || string(b[:8]) != localMagic || string(b[16:]) != "payload" {
		t.Fatalf("file: %q", b)
	}
	// A crash leaves temporary files; reopening clears them and List
	// never shows them.
	os.WriteFile(filepath.Join(dir, tmpDirName, "put-123"), []byte("torn"), 0o644)
	if infos, _ := st.List(ctx, ""); len(infos) != 1 {
		t.Fatalf("list shows temp files: %v", infos)
	}
	if _, err := NewLocalDir(dir); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, tmpDirName)); len(ents) != 0 {
		t.Fatalf("temp files survive reopening: %v", ents)
	}
	// A foreign file is corrupt, not an object.
	os.WriteFile(filepath.Join(dir, "foreign"), []byte("not an object file at all"), 0o644)
	if _, err := st.Get(ctx, "foreign", 0, -1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("foreign file: %v", err)
	}
	// Deleting the last object of a directory removes the directory.
	if err := st.Delete(ctx, "topics/t/0/a.seg"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "topics")); !os.IsNotExist(err) {
		t.Fatalf("emptied directories remain: %v", err)
	}
	// A key cannot be both an object and a directory of objects.
	mustPut(t, st, "x/y", []byte("1"))
	if err := st.Put(ctx, "x", bytes.NewReader([]byte("2")), 1); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("put over a directory: %v", err)
	}
	if err := st.Put(ctx, "x/y/z", bytes.NewReader([]byte("3")), 1); err == nil {
		t.Fatal("put under a file succeeded")
	}
	if _, err := NewLocalDir(""); err == nil {
		t.Fatal("empty dir accepted")
	}
}

// TestLocalDirConcurrent puts and deletes keys that share directories at
// once: a Delete emptying a directory must not break a Put into it.
func TestLocalDirConcurrent(t *testing.T) {
	st, err := NewLocalDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				key := fmt.Sprintf("p/%d/k%d", i%3, w)
				if err := st.Put(ctx, key, bytes.NewReader([]byte(key)), int64(len(key))); err != nil {
					errs <- err
					return
				}
				if err := st.Delete(ctx, key); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
