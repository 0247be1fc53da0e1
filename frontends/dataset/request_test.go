package dataset

import (
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		cmd   string
		want  Request
		field string // "" when valid
	}{
		{`{"dataset":"d"}`, Request{Dataset: "d", WorldSize: 1, BatchRows: DefaultBatchRows}, ""},
		{`{"dataset":"d","epoch":3,"seed":-7,"world_size":8,"batch_rows":64,"cursor":100,"columns":["a","b"]}`,
			Request{Dataset: "d", Epoch: 3, Seed: -7, WorldSize: 8, BatchRows: 64, Cursor: 100, Columns: []string{"a", "b"}}, ""},
		{`{"dataset":"d","columns":null}`, Request{Dataset: "d", WorldSize: 1, BatchRows: DefaultBatchRows}, ""},
		{`{"dataset":"d","epoch":-1}`, Request{}, "epoch"},
		{`{"dataset":"d","epoch":1.5}`, Request{}, "epoch"},
		{`{"dataset":"d","seed":"7"}`, Request{}, "seed"},
		{`{"dataset":"d","world_size":0}`, Request{}, "world_size"},
		{`{"dataset":"d","world_size":5000}`, Request{}, "world_size"},
		{`{"dataset":"d","batch_rows":0}`, Request{}, "batch_rows"},
		{`{"dataset":"d","batch_rows":2000000}`, Request{}, "batch_rows"},
		{`{"dataset":"d","cursor":-2}`, Request{}, "cursor"},
		{`{"dataset":"d","columns":["a","a"]}`, Request{}, "columns"},
		{`{"dataset":"d","columns":"a"}`, Request{}, "columns"},
		{`{"dataset":"d","rank":0}`, Request{}, "rank"},
		{`{"dataset":""}`, Request{}, "dataset"},
		{`{"dataset":null}`, Request{}, "dataset"},
		{`{}`, Request{}, "dataset"},
		{`[]`, Request{}, "descriptor"},
		{`null`, Request{}, "descriptor"},
		{`{"dataset":"d"} {}`, Request{}, "descriptor"},
	} {
		got, err := ParseCommand([]byte(tc.cmd))
		if tc.field == "" {
			if err != nil || !sameRequest(got, tc.want) {
				t.Errorf("%s: %+v %v, want %+v", tc.cmd, got, err, tc.want)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: %v, want ErrInvalid naming %q", tc.cmd, err, tc.field)
		}
	}
}

func sameRequest(a, b Request) bool {
	return a.Dataset == b.Dataset && a.Epoch == b.Epoch && a.Seed == b.Seed && a.Rank == b.Rank && a.WorldSize == b.WorldSize &&
		a.BatchRows == b.BatchRows && a.Cursor == b.Cursor && slices.Equal(a.Columns, b.Columns)
}

func TestParseQuery(t *testing.T) {
	q, _ := url.ParseQuery("epoch=2&seed=9&rank=1&world_size=4&batch_rows=10&cursor=5&columns=a,b")
	keys := []string{}
	for k := range q {
		keys = append(keys, k)
	}
	r, err := ParseQuery("d", q.Get, keys)
	want := Request{Dataset: "d", Epoch: 2, Seed: 9, Rank: 1, WorldSize: 4, BatchRows: 10, Cursor: 5, Columns: []string{"a", "b"}}
	if err != nil || !sameRequest(r, want) {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"rank=4&world_size=4", "epoch=x", "world_size=0", "bogus=1", "batch_rows=-3"} {
		q, _ := url.ParseQuery(bad)
		keys := []string{}
		for k := range q {
			keys = append(keys, k)
		}
		if _, err := ParseQuery("d", q.Get, keys); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", bad, err)
		}
	}
}

func TestTicketRoundTrip(t *testing.T) {
	r := Request{Dataset: "d", Epoch: 2, Seed: -1, Rank: 2, WorldSize: 3, BatchRows: 9, Cursor: 4, Columns: []string{"x"}}
	got, gen, err := DecodeTicket(EncodeTicket(r, 12345))
	if err != nil || gen != 12345 || !sameRequest(got, r) {
		t.Fatalf("%+v %d %v", got, gen, err)
	}
	for _, bad := range []string{"", "SDT1", "SDT1{}", `SDT1{"dataset":"d","world_size":1,"batch_rows":1,"rank":1}`, `SDT1{"dataset":"d","world_size":1,"batch_rows":1,"x":1}`, "XXXX{}"} {
		if _, _, err := DecodeTicket([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ticket %q: %v", bad, err)
		}
	}
}

// FuzzParseCommand: any bytes as a CMD descriptor either parse into a
// valid request, which survives a JSON round trip, or fail with ErrInvalid
// naming a field; never a panic.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{`{"dataset":"d"}`, `{"dataset":"d","epoch":3,"seed":7,"world_size":3,"batch_rows":1024,"cursor":0,"columns":["a","b"]}`,
		`{"dataset":"d","columns":null}`, `{"epoch":-1}`, `[]`, `{"dataset":"d","world_size":1e9}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseCommand(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted an invalid request %+v: %v", r, err)
		}
		j, _ := json.Marshal(r)
		var m map[string]any
		_ = json.Unmarshal(j, &m)
		delete(m, "rank")
		j, _ = json.Marshal(m)
		back, err := ParseCommand(j)
		if err != nil || !sameRequest(back, r) {
			t.Fatalf("round trip of %+v: %+v %v", r, back, err)
		}
	})
}

// FuzzDecodeTicket: tickets are parsed from client bytes; whatever is
// accepted is a valid request that encodes back to an equal ticket.
func FuzzDecodeTicket(f *testing.F) {
	f.Add(EncodeTicket(Request{Dataset: "d", WorldSize: 3, Rank: 2, BatchRows: 7, Columns: []string{"a"}}, 99))
	f.Add(EncodeTicket(Request{Dataset: "x", WorldSize: 1, BatchRows: 1}, 0))
	f.Add([]byte("SDT1{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, gen, err := DecodeTicket(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted %+v: %v", r, err)
		}
		back, gen2, err := DecodeTicket(EncodeTicket(r, gen))
		if err != nil || gen2 != gen || !sameRequest(back, r) {
			t.Fatalf("round trip of %+v: %+v %v", r, back, err)
		}
	})
}

// FuzzArrowFooter: the Arrow IPC footer and message parsers read object
// bytes at registration; damaged files are errors, never panics.
func FuzzArrowFooter(f *testing.F) {
	f.Add(arrowBytes(f, 0, 20, 7))
	f.Add(arrowBytes(f, 5, 1, 1))
	f.Add([]byte("ARROW1\x00\x00ARROW1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return // every block of a huge input reads up to its size: slow, not wrong
		}
		r := strings.NewReader(string(b))
		blocks, err := arrowFooterBlocks(r, int64(len(b)))
		if err != nil {
			return
		}
		for _, bl := range blocks {
			_, _ = arrowBatchLength(r, int64(len(b)), bl)
		}
	})
}
