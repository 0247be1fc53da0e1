package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"strata/meta"
)

// fixture shapes: rows per object (one empty object; Parquet row groups of
// 16, Arrow batches of 10).
var shape = []int64{40, 1, 0, 57, 33, 16, 70, 25, 9, 48}

// putFormat writes a dataset of shape in format under dir; it returns the
// sample ids (as the id or key column shows them).
func putFormat(t *testing.T, f *s3Fixture, format, dir string) (ids []string, idCol string) {
	t.Helper()
	var first int64
	for i, n := range shape {
		key := fmt.Sprintf("%s/part-%03d", dir, i)
		switch format {
		case meta.FormatParquet:
			if n == 0 {
				continue // a Parquet file of no rows is fine but dull
			}
			f.put(t, key+".parquet", parquetBytes(t, first, n, 16))
		case meta.FormatArrow:
			f.put(t, key+".arrow", arrowBytes(t, first, n, 10))
		case meta.FormatJSONL:
			f.put(t, key+".jsonl", jsonlBytes(first, n))
		case meta.FormatRaw:
			for j := range n {
				k := fmt.Sprintf("%s-%03d.bin", key, j)
				f.put(t, k, []byte("raw sample "+k))
				ids = append(ids, f.prefix+k)
			}
		}
		if format != meta.FormatRaw {
			for j := first; j < first+n; j++ {
				ids = append(ids, strconv.FormatInt(j, 10))
			}
		}
		first += n
	}
	if format == meta.FormatRaw {
		return ids, "key"
	}
	return ids, "id"
}

func cmdDescriptor(t testing.TB, v map[string]any) *flight.FlightDescriptor {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: b}
}

// readAll reads every endpoint of a FlightInfo, returning each rank's ids
// in order.
func readAll(t *testing.T, c flight.Client, fi *flight.FlightInfo, idCol string) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := make([][]string, len(fi.Endpoint))
	for rank, ep := range fi.Endpoint {
		recs, _, err := readEndpoint(ctx, c, ep)
		if err != nil {
			t.Fatalf("rank %d: %v", rank, err)
		}
		out[rank] = column(t, recs, idCol)
		release(recs)
	}
	return out
}

// interleave rebuilds the global order from ranks' sequences read from
// cursor 0.
func interleave(ranks [][]string) []string { return interleaveFrom(ranks, 0) }

// interleaveFrom rebuilds the global order from cursor on: rank r's kth
// sample is at its first position at or after cursor, plus k*w.
func interleaveFrom(ranks [][]string, cursor int64) []string {
	w := len(ranks)
	n := 0
	for _, r := range ranks {
		n += len(r)
	}
	out := make([]string, n)
	for rank, r := range ranks {
		first, _ := RankPositions(cursor, cursor+int64(n), rank, w)
		for k, s := range r {
			out[first-cursor+int64(k*w)] = s
		}
	}
	return out
}

// TestFlightFormatsS3: datasets of every object format on the real S3
// server, read with arrow-go's Flight client: each world size's ranks
// together read every sample once, and the global order is the same for
// every world size.
func TestFlightFormatsS3(t *testing.T) {
	f := startS3(t)
	svc := newService(t, Options{OpenStore: opener(f.store)})
	fs, err := svc.ListenFlight("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	c := flightClient(t, fs.Addr().String())
	ctx := context.Background()
	for _, format := range []string{meta.FormatParquet, meta.FormatArrow, meta.FormatJSONL, meta.FormatRaw} {
		t.Run(format, func(t *testing.T) {
			ids, idCol := putFormat(t, f, format, format)
			name := "fl-" + format + "-" + strings.ToLower(f.prefix[len(f.prefix)-7:len(f.prefix)-1])
			res, err := svc.Create(ctx, CreateRequest{Name: name, Source: f.source(format), Format: format}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Dataset.Rows != int64(len(ids)) || len(res.Errors) != 0 {
				t.Fatalf("registered %+v errors %v, want %d rows", res.Dataset, res.Errors, len(ids))
			}
			var global []string
			for _, w := range []int{1, 2, 3, 8} {
				fi, err := c.GetFlightInfo(ctx, cmdDescriptor(t, map[string]any{"dataset": name, "epoch": 1, "seed": 7, "world_size": w, "batch_rows": 13}))
				if err != nil {
					t.Fatal(err)
				}
				if len(fi.Endpoint) != w || fi.TotalRecords != int64(len(ids)) {
					t.Fatalf("w %d: %d endpoints, %d records", w, len(fi.Endpoint), fi.TotalRecords)
				}
				ranks := readAll(t, c, fi, idCol)
				order := interleave(ranks)
				if got, want := slices.Sorted(slices.Values(order)), slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
					t.Fatalf("w %d: read %d samples, want each of %d once", w, len(got), len(want))
				}
				if global == nil {
					global = order
					if slices.Equal(global, ids) {
						t.Fatal("the epoch is not shuffled")
					}
				} else if !slices.Equal(order, global) {
					t.Fatalf("w %d: the global order differs from w 1's", w)
				}
			}
			// Resume at a cursor with another world size: exactly the rest.
			fi, err := c.GetFlightInfo(ctx, cmdDescriptor(t, map[string]any{"dataset": name, "epoch": 1, "seed": 7, "world_size": 3, "cursor": 100, "columns": []string{idCol}}))
			if err != nil {
				t.Fatal(err)
			}
			if rest := interleaveFrom(readAll(t, c, fi, idCol), 100); !slices.Equal(rest, global[100:]) {
				t.Fatalf("resumed at 100: %d samples, not the rest of the epoch", len(rest))
			}
			// Another epoch differs.
			fi, err = c.GetFlightInfo(ctx, cmdDescriptor(t, map[string]any{"dataset": name, "epoch": 2, "seed": 7}))
			if err != nil {
				t.Fatal(err)
			}
			if other := interleave(readAll(t, c, fi, idCol)); slices.Equal(other, global) {
				t.Fatal("epoch 2 has epoch 1's order")
			}
		})
	}
}

func TestFlightDescriptorsAndActions(t *testing.T) {
	f := startS3(t)
	svc := newService(t, Options{OpenStore: opener(f.store)})
	fs, err := svc.ListenFlight("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	c := flightClient(t, fs.Addr().String())
	ctx := context.Background()
	f.put(t, "d/a.parquet", parquetBytes(t, 0, 30, 8))
	f.put(t, "d/b.parquet", parquetBytes(t, 30, 20, 8))
	name := "desc-" + strings.Trim(strings.ToLower(f.prefix[len(f.prefix)-7:]), "/")
	if _, err := svc.Create(ctx, CreateRequest{Name: name, Source: f.source("d"), Format: "parquet"}, nil); err != nil {
		t.Fatal(err)
	}

	// ListFlights shows it with its rows.
	lf, err := c.ListFlights(ctx, &flight.Criteria{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for {
		fi, err := lf.Recv()
		if err != nil {
			break
		}
		if p := fi.FlightDescriptor.GetPath(); len(p) == 1 && p[0] == name {
			found = fi.TotalRecords == 50 && len(fi.Endpoint) == 1
		}
	}
	if !found {
		t.Fatal("ListFlights does not list the dataset with 50 records")
	}

	// A PATH descriptor is epoch 0, seed 0, one rank.
	fi, err := c.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	pathOrder := readAll(t, c, fi, "id")[0]
	fi, err = c.GetFlightInfo(ctx, cmdDescriptor(t, map[string]any{"dataset": name}))
	if err != nil {
		t.Fatal(err)
	}
	if cmdOrder := readAll(t, c, fi, "id")[0]; !slices.Equal(cmdOrder, pathOrder) || len(pathOrder) != 50 {
		t.Fatalf("PATH read %d samples, not the CMD read of epoch 0 seed 0", len(pathOrder))
	}

	// Bad descriptors: InvalidArgument naming the field.
	for _, tc := range []struct {
		desc  *flight.FlightDescriptor
		field string
		code  codes.Code
	}{
		{cmdDescriptor(t, map[string]any{"dataset": name, "epoch": -1}), "epoch", codes.InvalidArgument},
		{cmdDescriptor(t, map[string]any{"dataset": name, "world_size": 0}), "world_size", codes.InvalidArgument},
		{cmdDescriptor(t, map[string]any{"dataset": name, "batch_rows": "many"}), "batch_rows", codes.InvalidArgument},
		{cmdDescriptor(t, map[string]any{"dataset": name, "cursor": 51}), "cursor", codes.InvalidArgument},
		{cmdDescriptor(t, map[string]any{"dataset": name, "columns": []string{"nope"}}), "columns", codes.InvalidArgument},
		{cmdDescriptor(t, map[string]any{"dataset": name, "rank": 1}), "rank", codes.InvalidArgument},
		{cmdDescriptor(t, map[string]any{"epoch": 1}), "dataset", codes.InvalidArgument},
		{&flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte("{not json")}, "descriptor", codes.InvalidArgument},
		{&flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"a", "b"}}, "path", codes.InvalidArgument},
		{cmdDescriptor(t, map[string]any{"dataset": "no-such-dataset"}), "no-such-dataset", codes.NotFound},
	} {
		_, err := c.GetFlightInfo(ctx, tc.desc)
		if st, _ := status.FromError(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.field) {
			t.Errorf("descriptor %s: %v, want %v naming %q", tc.desc, err, tc.code, tc.field)
		}
	}
	stream, err := c.DoGet(ctx, &flight.Ticket{Ticket: []byte("forged")})
	if err == nil {
		_, err = stream.Recv()
	}
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument {
		t.Errorf("forged ticket: %v", err)
	}

	// Cursors through DoAction.
	commit := func(body map[string]any) ([]byte, error) {
		b, _ := json.Marshal(body)
		rs, err := c.DoAction(ctx, &flight.Action{Type: ActionCommitCursor, Body: b})
		if err != nil {
			return nil, err
		}
		r, err := rs.Recv()
		if err != nil {
			return nil, err
		}
		return r.Body, nil
	}
	if _, err := commit(map[string]any{"name": name + "-job", "dataset": name, "epoch": 1, "seed": 7, "world_size": 2, "position": 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := commit(map[string]any{"name": name + "-job", "dataset": name, "epoch": 1, "seed": 7, "world_size": 2, "position": 10}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a cursor going back: %v, want FailedPrecondition", err)
	}
	rs, err := c.DoAction(ctx, &flight.Action{Type: ActionGetCursor, Body: []byte(`{"name":"` + name + `-job"}`)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var cur meta.Cursor
	if err := json.Unmarshal(r.Body, &cur); err != nil || cur.Position != 20 || cur.Epoch != 1 || cur.Dataset != name {
		t.Fatalf("get-cursor: %s (%v)", r.Body, err)
	}
	rs, err = c.DoAction(ctx, &flight.Action{Type: ActionGetCursor, Body: []byte(`{"name":"nobody"}`)})
	if err == nil {
		_, err = rs.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Fatalf("get-cursor of a missing cursor: %v", err)
	}
}
