package tier

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// storeCase is one ObjectStore under the conformance test, with a hook
// that corrupts a stored object's bytes behind the store's back.
type storeCase struct {
	name    string
	open    func(t *testing.T) ObjectStore
	corrupt func(t *testing.T, st ObjectStore, key string)
}

func storeCases() []storeCase {
	return []storeCase{
		{
			name: "Memory",
			open: func(t *testing.T) ObjectStore { return NewMemory() },
			corrupt: func(t *testing.T, st ObjectStore, key string) {
				if err := st.(*Memory).Corrupt(key, 1); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "LocalDir",
			open: func(t *testing.T) ObjectStore {
				st, err := NewLocalDir(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				return st
			},
			corrupt: func(t *testing.T, st ObjectStore, key string) {
				p := filepath.Join(st.(*LocalDir).Dir(), key)
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				b[localHeaderSize+1] ^= 1
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:    "S3-versitygw",
			open:    func(t *testing.T) ObjectStore { return newTestS3(t, nil) },
			corrupt: corruptS3,
		},
		{
			name: "S3-gofakes3",
			open: func(t *testing.T) ObjectStore {
				backend := s3mem.New()
				srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithAutoBucket(true)).Server())
				t.Cleanup(srv.Close)
				st, err := NewS3(context.Background(), S3Options{
					Bucket: "fake", Prefix: "p", Endpoint: srv.URL, PathStyle: true, Region: "us-east-1",
					AccessKey: "a", SecretKey: "s", PartSize: MinPartSize,
				})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("fake")}); err != nil {
					t.Fatal(err)
				}
				return st
			},
			corrupt: corruptS3,
		},
	}
}

// corruptS3 rewrites the object with one bit flipped, keeping the stored
// CRC32C metadata of the original.
func corruptS3(t *testing.T, st ObjectStore, key string) {
	s := st.(*S3)
	ctx := context.Background()
	out, err := s.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket()), Key: aws.String(s.ObjectKey(key))})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	b[1] ^= 1
	if _, err := s.Client().PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket()), Key: aws.String(s.ObjectKey(key)),
		Body: bytes.NewReader(b), Metadata: out.Metadata,
	}); err != nil {
		t.Fatal(err)
	}
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func readObject(ctx context.Context, st ObjectStore, key string, off, length int64) ([]byte, error) {
	rc, err := st.Get(ctx, key, off, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func mustPut(t *testing.T, st ObjectStore, key string, data []byte) {
	t.Helper()
	if err := st.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

func keysOf(infos []ObjectInfo) []string {
	out := make([]string, len(infos))
	for i, o := range infos {
		out[i] = o.Key
	}
	return out
}

// onlyReader hides every interface but io.Reader (no Seek, no WriterTo).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestConformance runs every ObjectStore method and error mapping against
// every implementation: Memory, LocalDir, S3 on a real versitygw, and S3
// on the in-process gofakes3.
func TestConformance(t *testing.T) {
	const big = 11<<20 + 12345 // three parts at the tests' 5 MiB part size
	tests := []struct {
		name string
		run  func(t *testing.T, sc storeCase, st ObjectStore)
	}{
		{"PutGetWhole", func(t *testing.T, sc storeCase, st ObjectStore) {
			data := randBytes(1, 1000)
			mustPut(t, st, "a/b/c.seg", data)
			got, err := readObject(context.Background(), st, "a/b/c.seg", 0, -1)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get: %d bytes, %v", len(got), err)
			}
		}},
		{"RangedGets", func(t *testing.T, sc storeCase, st ObjectStore) {
			data := randBytes(2, 1000)
			mustPut(t, st, "r", data)
			for _, c := range []struct {
				off, length int64
				want        []byte
				err         error
			}{
				{0, -1, data, nil},
				{0, 1000, data, nil},
				{0, 5000, data, nil},
				{10, 20, data[10:30], nil},
				{10, -1, data[10:], nil},
				{999, -1, data[999:], nil},
				{999, 1, data[999:], nil},
				{990, 100, data[990:], nil},
				{500, 0, []byte{}, nil},
				{1000, -1, nil, ErrRange},
				{1000, 10, nil, ErrRange},
				{5000, 1, nil, ErrRange},
				{-1, 10, nil, ErrRange},
				{0, -2, nil, ErrRange},
			} {
				got, err := readObject(context.Background(), st, "r", c.off, c.length)
				if c.err != nil {
					if !errors.Is(err, c.err) {
						t.Errorf("get(%d, %d): err %v, want %v", c.off, c.length, err, c.err)
					}
					continue
				}
				if err != nil || !bytes.Equal(got, c.want) {
					t.Errorf("get(%d, %d): %d bytes (want %d), %v", c.off, c.length, len(got), len(c.want), err)
				}
			}
		}},
		{"EmptyObject", func(t *testing.T, sc storeCase, st ObjectStore) {
			mustPut(t, st, "empty", nil)
			got, err := readObject(context.Background(), st, "empty", 0, -1)
			if err != nil || len(got) != 0 {
				t.Fatalf("get: %q %v", got, err)
			}
			if info, err := st.Head(context.Background(), "empty"); err != nil || info.Size != 0 {
				t.Fatalf("head: %+v %v", info, err)
			}
			for _, length := range []int64{0, 10} {
				if got, err := readObject(context.Background(), st, "empty", 0, length); err != nil || len(got) != 0 {
					t.Fatalf("get(0, %d): %q %v", length, got, err)
				}
			}
			if _, err := readObject(context.Background(), st, "empty", 1, -1); !errors.Is(err, ErrRange) {
				t.Fatalf("get(1): %v, want ErrRange", err)
			}
		}},
		{"NotFound", func(t *testing.T, sc storeCase, st ObjectStore) {
			ctx := context.Background()
			if _, err := st.Get(ctx, "missing/key", 0, -1); !errors.Is(err, ErrNotFound) {
				t.Errorf("get: %v", err)
			}
			if _, err := st.Get(ctx, "missing/key", 10, 10); !errors.Is(err, ErrNotFound) {
				t.Errorf("ranged get: %v", err)
			}
			if _, err := st.Head(ctx, "missing/key"); !errors.Is(err, ErrNotFound) {
				t.Errorf("head: %v", err)
			}
			if err := st.Delete(ctx, "missing/key"); err != nil {
				t.Errorf("delete of a missing key: %v", err)
			}
			mustPut(t, st, "dir/obj", []byte("x"))
			if _, err := st.Head(ctx, "dir"); !errors.Is(err, ErrNotFound) {
				t.Errorf("head of a key's parent: %v", err)
			}
		}},
		{"HeadAndOverwrite", func(t *testing.T, sc storeCase, st ObjectStore) {
			ctx := context.Background()
			mustPut(t, st, "k", randBytes(3, 300))
			info, err := st.Head(ctx, "k")
			if err != nil || info.Size != 300 || info.Key != "k" || info.LastModified.IsZero() {
				t.Fatalf("head: %+v %v", info, err)
			}
			data := randBytes(4, 77)
			mustPut(t, st, "k", data)
			info, err = st.Head(ctx, "k")
			if err != nil || info.Size != 77 {
				t.Fatalf("head after overwrite: %+v %v", info, err)
			}
			if got, err := readObject(ctx, st, "k", 0, -1); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get after overwrite: %v", err)
			}
		}},
		{"UnknownSizeAndMismatch", func(t *testing.T, sc storeCase, st ObjectStore) {
			ctx := context.Background()
			data := randBytes(5, 4096)
			if err := st.Put(ctx, "u", onlyReader{bytes.NewReader(data)}, -1); err != nil {
				t.Fatal(err)
			}
			if got, err := readObject(ctx, st, "u", 0, -1); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get: %v", err)
			}
			if err := st.Put(ctx, "short", bytes.NewReader(data[:10]), 20); err == nil {
				t.Fatal("put with a body shorter than size succeeded")
			}
			if err := st.Put(ctx, "long", bytes.NewReader(data[:30]), 20); err == nil {
				t.Fatal("put with a body longer than size succeeded")
			}
			for _, k := range []string{"short", "long"} {
				if _, err := st.Head(ctx, k); !errors.Is(err, ErrNotFound) {
					t.Errorf("head %q after a failed put: %v", k, err)
				}
			}
		}},
		{"List", func(t *testing.T, sc storeCase, st ObjectStore) {
			ctx := context.Background()
			keys := []string{"topics/t/0/b", "topics/t/0/a", "topics/t/1/a", "topics/t.x", "topics/u/0/a", "other"}
			for i, k := range keys {
				mustPut(t, st, k, randBytes(uint64(i), i+1))
			}
			for _, c := range []struct {
				prefix string
				want   []string
			}{
				{"", []string{"other", "topics/t.x", "topics/t/0/a", "topics/t/0/b", "topics/t/1/a", "topics/u/0/a"}},
				{"topics/", []string{"topics/t.x", "topics/t/0/a", "topics/t/0/b", "topics/t/1/a", "topics/u/0/a"}},
				{"topics/t", []string{"topics/t.x", "topics/t/0/a", "topics/t/0/b", "topics/t/1/a"}},
				{"topics/t/", []string{"topics/t/0/a", "topics/t/0/b", "topics/t/1/a"}},
				{"topics/t/0/", []string{"topics/t/0/a", "topics/t/0/b"}},
				{"topics/t/0/a", []string{"topics/t/0/a"}},
				{"topics/t/0/a/", []string{}},
				{"nothing/", []string{}},
				{"oth", []string{"other"}},
			} {
				infos, err := st.List(ctx, c.prefix)
				if err != nil {
					t.Fatalf("list %q: %v", c.prefix, err)
				}
				if got := keysOf(infos); !slices.Equal(got, c.want) {
					t.Errorf("list %q: %q, want %q", c.prefix, got, c.want)
				}
			}
			infos, _ := st.List(ctx, "topics/t/1/")
			if len(infos) != 1 || infos[0].Size != 3 {
				t.Errorf("list sizes: %+v", infos)
			}
		}},
		{"Delete", func(t *testing.T, sc storeCase, st ObjectStore) {
			ctx := context.Background()
			mustPut(t, st, "d/1", []byte("one"))
			mustPut(t, st, "d/2", []byte("two"))
			if err := st.Delete(ctx, "d/1"); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Head(ctx, "d/1"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("head after delete: %v", err)
			}
			if err := st.Delete(ctx, "d/1"); err != nil {
				t.Fatalf("second delete: %v", err)
			}
			if err := st.Delete(ctx, "d/2"); err != nil {
				t.Fatal(err)
			}
			if infos, err := st.List(ctx, "d/"); err != nil || len(infos) != 0 {
				t.Fatalf("list after deletes: %v %v", infos, err)
			}
			mustPut(t, st, "d/3", []byte("three")) // the emptied prefix is usable again
			if got, err := readObject(ctx, st, "d/3", 0, -1); err != nil || string(got) != "three" {
				t.Fatalf("get after re-put: %q %v", got, err)
			}
		}},
		{"InvalidKeys", func(t *testing.T, sc storeCase, st ObjectStore) {
			ctx := context.Background()
			for _, k := range []string{"", "/abs", "a/../b", "..", "a/./b", "a//b", "a/", "a\x00b", `a\b`, ".strata-tmp/x", strings.Repeat("k", MaxKeyLen+1), "bad\xffutf8"} {
				if err := st.Put(ctx, k, bytes.NewReader(nil), 0); !errors.Is(err, ErrInvalidKey) {
					t.Errorf("put %q: %v", k, err)
				}
				if _, err := st.Get(ctx, k, 0, -1); !errors.Is(err, ErrInvalidKey) {
					t.Errorf("get %q: %v", k, err)
				}
				if _, err := st.Head(ctx, k); !errors.Is(err, ErrInvalidKey) {
					t.Errorf("head %q: %v", k, err)
				}
				if err := st.Delete(ctx, k); !errors.Is(err, ErrInvalidKey) {
					t.Errorf("delete %q: %v", k, err)
				}
			}
		}},
		{"Large", func(t *testing.T, sc storeCase, st ObjectStore) {
			ctx := context.Background()
			data := randBytes(6, big)
			mustPut(t, st, "big/seekable", data)
			if err := st.Put(ctx, "big/stream", onlyReader{bytes.NewReader(data)}, -1); err != nil {
				t.Fatal(err)
			}
			if err := st.Put(ctx, "big/stream-sized", onlyReader{bytes.NewReader(data)}, int64(len(data))); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"big/seekable", "big/stream", "big/stream-sized"} {
				got, err := readObject(ctx, st, k, 0, -1)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: get: %d bytes, %v", k, len(got), err)
				}
				// Across the first part boundary, and the tail.
				off := int64(MinPartSize - 100)
				if got, err := readObject(ctx, st, k, off, 300); err != nil || !bytes.Equal(got, data[off:off+300]) {
					t.Fatalf("%s: ranged get: %v", k, err)
				}
				if got, err := readObject(ctx, st, k, big-10, -1); err != nil || !bytes.Equal(got, data[big-10:]) {
					t.Fatalf("%s: tail: %v", k, err)
				}
				if info, err := st.Head(ctx, k); err != nil || info.Size != big {
					t.Fatalf("%s: head: %+v %v", k, info, err)
				}
			}
		}},
		{"ChecksumVerifiedOnRead", func(t *testing.T, sc storeCase, st ObjectStore) {
			ctx := context.Background()
			data := randBytes(7, 2048)
			mustPut(t, st, "c/obj", data)
			sc.corrupt(t, st, "c/obj")
			if _, err := readObject(ctx, st, "c/obj", 0, -1); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("whole get of a corrupt object: %v, want ErrCorrupt", err)
			}
			if _, err := readObject(ctx, st, "c/obj", 0, 100000); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("covering ranged get of a corrupt object: %v, want ErrCorrupt", err)
			}
			// A ranged read cannot be verified: it returns the bytes.
			if got, err := readObject(ctx, st, "c/obj", 100, 100); err != nil || !bytes.Equal(got, data[100:200]) {
				t.Fatalf("ranged get: %v", err)
			}
		}},
		{"ContextCancelled", func(t *testing.T, sc storeCase, st ObjectStore) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := st.Put(ctx, "x", bytes.NewReader([]byte("x")), 1); !errors.Is(err, context.Canceled) {
				t.Errorf("put: %v", err)
			}
			if _, err := st.Get(ctx, "x", 0, -1); !errors.Is(err, context.Canceled) {
				t.Errorf("get: %v", err)
			}
			if _, err := st.List(ctx, ""); !errors.Is(err, context.Canceled) {
				t.Errorf("list: %v", err)
			}
		}},
	}
	for _, sc := range storeCases() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, sc, sc.open(t))
				})
			}
		})
	}
}
