package logstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestFileCatalogPersists(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenFileCatalog(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Load(); len(got) != 0 {
		t.Fatalf("new catalogue has %d topics", len(got))
	}
	s1, err := c.NextSeq()
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	orders := TopicMeta{Name: "orders", ID: [16]byte{1, 2, 3}, Seq: s1, Partitions: 3, Configs: map[string]string{KeyRetentionMs: "1000"}, CreatedAt: created}
	if err := c.Put(orders); err != nil {
		t.Fatal(err)
	}
	s2, _ := c.NextSeq()
	if err := c.Put(TopicMeta{Name: "audit", Seq: s2, Partitions: 1, CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("audit"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("never-there"); err != nil {
		t.Fatalf("deleting a missing topic: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Load(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close = %v, want ErrClosed", err)
	}

	c, err = OpenFileCatalog(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "orders" || got[0].ID != orders.ID || got[0].Seq != s1 ||
		got[0].Partitions != 3 || got[0].Configs[KeyRetentionMs] != "1000" || !got[0].CreatedAt.Equal(created) {
		t.Fatalf("after reopen: %+v", got)
	}
	// The seq handed out for the deleted topic is never reused.
	s3, _ := c.NextSeq()
	if s3 <= s2 {
		t.Fatalf("NextSeq after reopen = %d, want > %d", s3, s2)
	}
	// Load hands out copies.
	got[0].Configs[KeyRetentionMs] = "changed"
	again, _ := c.Load()
	if again[0].Configs[KeyRetentionMs] != "1000" {
		t.Fatal("Load shares the config map with the catalogue")
	}
}

func TestFileCatalogIgnoresStrayTempFile(t *testing.T) {
	dir := t.TempDir()
	// A crash between write and rename leaves a temp file: it must not matter.
	if err := os.WriteFile(filepath.Join(dir, CatalogFileName+catalogTempSuffix), []byte("{half"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := OpenFileCatalog(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(TopicMeta{Name: "a", Seq: 1, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := os.Stat(filepath.Join(dir, CatalogFileName+catalogTempSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file still there after a write: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, CatalogFileName))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"magic": "strata-catalog"`) {
		t.Fatalf("catalogue file lacks its magic:\n%s", data)
	}
}

func TestFileCatalogRejectsBadEntries(t *testing.T) {
	c, err := OpenFileCatalog(vfs.NewMem(), "data")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(TopicMeta{Name: "bad/name", Seq: 1, Partitions: 1}); !errors.Is(err, ErrInvalidTopic) {
		t.Fatalf("bad name: %v", err)
	}
	if err := c.Put(TopicMeta{Name: "ok", Seq: 1, Partitions: 0}); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("0 partitions: %v", err)
	}
	// A caller-chosen seq moves next_seq past it.
	if err := c.Put(TopicMeta{Name: "ok", Seq: 41, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.NextSeq(); s != 42 {
		t.Fatalf("NextSeq = %d, want 42", s)
	}
}

func TestDecodeCatalogErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", ``, "not valid JSON"},
		{"not json", `hello`, "not valid JSON"},
		{"trailing", `{"magic":"strata-catalog","version":1,"next_seq":1,"topics":[]} {}`, "data after"},
		{"magic", `{"magic":"kafka","version":1,"next_seq":1}`, `magic is "kafka"`},
		{"no magic", `{}`, `magic is ""`},
		{"version", `{"magic":"strata-catalog","version":9,"next_seq":1}`, "version 9"},
		{"next seq", `{"magic":"strata-catalog","version":1,"next_seq":0}`, "next_seq is 0"},
		{"unknown field", `{"magic":"strata-catalog","version":1,"next_seq":1,"extra":1}`, "unknown field"},
		{"bad name", `{"magic":"strata-catalog","version":1,"next_seq":5,"topics":[{"name":"a b","seq":1,"partitions":1}]}`, "invalid topic name"},
		{"dup name", `{"magic":"strata-catalog","version":1,"next_seq":5,"topics":[{"name":"a","seq":1,"partitions":1},{"name":"a","seq":2,"partitions":1}]}`, "twice"},
		{"dup seq", `{"magic":"strata-catalog","version":1,"next_seq":5,"topics":[{"name":"a","seq":1,"partitions":1},{"name":"b","seq":1,"partitions":1}]}`, "share seq"},
		{"seq past next", `{"magic":"strata-catalog","version":1,"next_seq":2,"topics":[{"name":"a","seq":2,"partitions":1}]}`, "outside"},
		{"partitions", `{"magic":"strata-catalog","version":1,"next_seq":5,"topics":[{"name":"a","seq":1,"partitions":-1}]}`, "-1 partitions"},
		{"config", `{"magic":"strata-catalog","version":1,"next_seq":5,"topics":[{"name":"a","seq":1,"partitions":1,"configs":{"retention.ms":"x"}}]}`, "retention.ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeCatalog([]byte(tc.data))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decodeCatalog(%q) = %v, want ErrCorrupt mentioning %q", tc.data, err, tc.want)
			}
		})
	}
}

func TestOpenFileCatalogNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, CatalogFileName), []byte(`{"magic":"nope"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenFileCatalog(vfs.Default, dir)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Join(dir, CatalogFileName)) {
		t.Fatalf("OpenFileCatalog on a bad file = %v, want ErrCorrupt naming the file", err)
	}
}

func FuzzDecodeCatalog(f *testing.F) {
	f.Add([]byte(`{"magic":"strata-catalog","version":1,"next_seq":3,"topics":[{"name":"a","id":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],"seq":1,"partitions":2,"configs":{"retention.ms":"1"},"created_at":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"magic":"strata-catalog","version":1,"next_seq":1,"topics":[]}`))
	f.Add([]byte(`{"magic":"strata-catalog"`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"topics":[{"name":"..","partitions":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := decodeCatalog(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		// Whatever decodes must satisfy the invariants the store relies on.
		seen := map[string]bool{}
		for _, tm := range cf.Topics {
			if ValidateTopicName(tm.Name) != nil || tm.Partitions <= 0 || tm.Seq == 0 || tm.Seq >= cf.NextSeq || seen[tm.Name] {
				t.Fatalf("decoded an invalid catalogue: %+v", cf)
			}
			seen[tm.Name] = true
		}
	})
}

// Seqs are reserved in blocks: handing one out usually writes nothing, yet
// none is handed out twice across a reopen (a crash only skips some).
func TestFileCatalogSeqBlocks(t *testing.T) {
	fs := vfs.NewMem()
	c, err := OpenFileCatalog(fs, "data")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	var last uint64
	for range 3 {
		for range catalogSeqBlock + 10 {
			s, err := c.NextSeq()
			if err != nil {
				t.Fatal(err)
			}
			if seen[s] || s <= last {
				t.Fatalf("NextSeq = %d after %d (seen before: %v)", s, last, seen[s])
			}
			seen[s], last = true, s
		}
		// Reopen without closing, as after a crash.
		if c, err = OpenFileCatalog(fs, "data"); err != nil {
			t.Fatal(err)
		}
	}
}
