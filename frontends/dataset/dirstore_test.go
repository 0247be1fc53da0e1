package dataset

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"strata/tier"
)

// TestPlainDir: the file:// store reads files a user put there, lists them
// recursively with slash keys (not its own temporary files or index
// writes in flight), serves ranges, and maps a missing file to
// tier.ErrNotFound.
func TestPlainDir(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(root, "a", "b", "x.jsonl"), []byte("hello world"), 0o644)
	os.WriteFile(filepath.Join(root, "top.bin"), []byte("0123456789"), 0o644)
	os.WriteFile(filepath.Join(root, "a", ".strata-put-123"), []byte("partial"), 0o644)
	os.MkdirAll(filepath.Join(root, ".strata-tmp"), 0o755)
	os.WriteFile(filepath.Join(root, ".strata-tmp", "junk"), []byte("x"), 0o644)
	d, err := newPlainDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	objs, err := d.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	if strings.Join(keys, ",") != "a/b/x.jsonl,top.bin" {
		t.Fatalf("list: %v", keys)
	}
	if objs, _ := d.List(ctx, "a/"); len(objs) != 1 || objs[0].Size != 11 {
		t.Fatalf("list a/: %+v", objs)
	}
	get := func(key string, off, n int64) (string, error) {
		rc, err := d.Get(ctx, key, off, n)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	for _, tc := range []struct {
		off, n int64
		want   string
	}{{0, -1, "0123456789"}, {3, 4, "3456"}, {8, 100, "89"}, {10, 0, ""}} {
		if got, err := get("top.bin", tc.off, tc.n); err != nil || got != tc.want {
			t.Errorf("get [%d,+%d): %q %v, want %q", tc.off, tc.n, got, err, tc.want)
		}
	}
	if _, err := get("top.bin", 11, 1); !errors.Is(err, tier.ErrRange) {
		t.Errorf("past the end: %v", err)
	}
	if _, err := get("nope", 0, -1); !errors.Is(err, tier.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	if _, err := d.Head(ctx, "nope"); !errors.Is(err, tier.ErrNotFound) {
		t.Errorf("head missing: %v", err)
	}
	if _, err := get("../etc/passwd", 0, -1); !errors.Is(err, tier.ErrInvalidKey) {
		t.Errorf("escaping key: %v", err)
	}
	if err := d.Put(ctx, "a/b/x.jsonl"+IndexSuffix, strings.NewReader("idx"), 3); err != nil {
		t.Fatal(err)
	}
	if got, err := get("a/b/x.jsonl"+IndexSuffix, 0, -1); err != nil || got != "idx" {
		t.Fatalf("put then get: %q %v", got, err)
	}
	if err := d.Delete(ctx, "a/b/x.jsonl"+IndexSuffix); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "a/b/x.jsonl"+IndexSuffix); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
	if _, err := newPlainDir(filepath.Join(root, "top.bin")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a file as the directory: %v", err)
	}
}
