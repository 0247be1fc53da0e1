package dataset

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	flatbuffers "github.com/google/flatbuffers/go"

	"strata/cache"
	"strata/meta"
	"strata/tier"
)

// objectFormat reads one format's objects: scan at registration (rows and
// schema from the footer, or a line index), load at read time (every row
// of one shard, only some columns).
type objectFormat interface {
	// scan returns the object's rows and schema. Errors that are the
	// object's fault wrap ErrCorrupt.
	scan(ctx context.Context, st tier.ObjectStore, obj tier.ObjectInfo) (int64, *arrow.Schema, error)
	// load reads the shard's rows, the columns cols (indexes into
	// schema's fields) only, in the shard's row order.
	load(ctx context.Context, c *cache.Cache, st tier.ObjectStore, sh meta.DatasetShard, schema *arrow.Schema, cols []int) (arrow.RecordBatch, error)
}

func formatOf(name string) (objectFormat, error) {
	switch name {
	case meta.FormatParquet:
		return parquetFormat{}, nil
	case meta.FormatArrow:
		return arrowFormat{}, nil
	case meta.FormatJSONL:
		return &jsonlFormat{}, nil
	case meta.FormatRaw:
		return rawFormat{}, nil
	}
	return nil, invalid("format", "%q is not parquet, arrow, jsonl or raw", name)
}

var mem = memory.DefaultAllocator

// tailReader is an io.ReaderAt + io.Seeker over one object for scans: the
// object's last 64 KiB (where footers live) are fetched with one ranged Get
// on first use; other reads are ranged Gets of their own.
type tailReader struct {
	ctx  context.Context
	st   tier.ObjectStore
	key  string
	size int64
	tail []byte
	pos  int64
}

const tailBytes = 64 << 10

func (r *tailReader) get(off, n int64) ([]byte, error) {
	rc, err := r.st.Get(r.ctx, r.key, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("read %q [%d, %d): %w", r.key, off, off+n, err)
	}
	return b, nil
}

func (r *tailReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.size-off)
	tailStart := max(0, r.size-tailBytes)
	if off >= tailStart {
		if r.tail == nil {
			b, err := r.get(tailStart, r.size-tailStart)
			if err != nil {
				return 0, err
			}
			r.tail = b
		}
		copy(p, r.tail[off-tailStart:off-tailStart+n])
	} else {
		b, err := r.get(off, n)
		if err != nil {
			return 0, err
		}
		copy(p, b)
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

func (r *tailReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += r.pos
	case io.SeekEnd:
		off += r.size
	}
	if off < 0 {
		return 0, errors.New("negative position")
	}
	r.pos = off
	return off, nil
}

func (r *tailReader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.pos)
	r.pos += int64(n)
	return n, err
}

// cachedReader is a ReadAt/Seek/Read view of an object through the block
// cache, for loads.
func cachedReader(ctx context.Context, c *cache.Cache, key string, size int64) *io.SectionReader {
	return io.NewSectionReader(c.Reader(ctx, key), 0, size)
}

// corrupt wraps a decoder's complaint about an object's bytes as
// ErrCorrupt; I/O failures from the store keep their own class.
func corrupt(err error) error {
	if err == nil || errors.Is(err, tier.ErrUnavailable) || errors.Is(err, tier.ErrNotFound) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}

// recordOf turns a table into one record batch of its columns cols.
func recordOf(tbl arrow.Table) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, tbl.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range cols {
		chunks := tbl.Column(i).Data().Chunks()
		if len(chunks) == 1 {
			chunks[0].Retain()
			cols[i] = chunks[0]
			continue
		}
		if len(chunks) == 0 {
			cols[i] = array.MakeArrayOfNull(mem, tbl.Schema().Field(i).Type, 0)
			continue
		}
		a, err := array.Concatenate(chunks, mem)
		if err != nil {
			return nil, err
		}
		cols[i] = a
	}
	return array.NewRecordBatch(tbl.Schema(), cols, tbl.NumRows()), nil
}

// concatRecords concatenates batches of one schema.
func concatRecords(schema *arrow.Schema, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	tbl := array.NewTableFromRecords(schema, recs)
	defer tbl.Release()
	return recordOf(tbl)
}

// project returns a schema of the fields cols.
func project(schema *arrow.Schema, cols []int) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = schema.Field(c)
	}
	md := schema.Metadata()
	return arrow.NewSchema(fields, &md)
}

// ---- Parquet: rows, row groups and schema from the footer.

type parquetFormat struct{}

func (parquetFormat) scan(ctx context.Context, st tier.ObjectStore, obj tier.ObjectInfo) (int64, *arrow.Schema, error) {
	pf, err := file.NewParquetReader(&tailReader{ctx: ctx, st: st, key: obj.Key, size: obj.Size})
	if err != nil {
		return 0, nil, corrupt(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		return 0, nil, corrupt(err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return 0, nil, corrupt(err)
	}
	return pf.NumRows(), sc, nil
}

func (parquetFormat) load(ctx context.Context, c *cache.Cache, _ tier.ObjectStore, sh meta.DatasetShard, schema *arrow.Schema, cols []int) (arrow.RecordBatch, error) {
	pf, err := file.NewParquetReader(cachedReader(ctx, c, sh.Key, sh.Bytes))
	if err != nil {
		return nil, corrupt(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, mem)
	if err != nil {
		return nil, corrupt(err)
	}
	rgs := make([]int, pf.NumRowGroups())
	for i := range rgs {
		rgs[i] = i
	}
	tbl, err := fr.ReadRowGroups(ctx, cols, rgs)
	if err != nil {
		return nil, corrupt(err)
	}
	defer tbl.Release()
	return recordOf(tbl)
}

// ---- Arrow IPC file: schema from the footer; rows from each record
// batch's message header (one small read per batch, no bodies).

type arrowFormat struct{}

func (arrowFormat) scan(ctx context.Context, st tier.ObjectStore, obj tier.ObjectInfo) (int64, *arrow.Schema, error) {
	tr := &tailReader{ctx: ctx, st: st, key: obj.Key, size: obj.Size}
	fr, err := ipc.NewFileReader(tr)
	if err != nil {
		return 0, nil, corrupt(err)
	}
	defer fr.Close()
	blocks, err := arrowFooterBlocks(tr, obj.Size)
	if err != nil {
		return 0, nil, corrupt(err)
	}
	if len(blocks) != fr.NumRecords() {
		return 0, nil, fmt.Errorf("%w: footer lists %d batches, reader %d", ErrCorrupt, len(blocks), fr.NumRecords())
	}
	var rows int64
	for _, b := range blocks {
		n, err := arrowBatchLength(tr, obj.Size, b)
		if err != nil {
			return 0, nil, corrupt(err)
		}
		rows += n
	}
	return rows, fr.Schema(), nil
}

func (arrowFormat) load(ctx context.Context, c *cache.Cache, _ tier.ObjectStore, sh meta.DatasetShard, schema *arrow.Schema, cols []int) (arrow.RecordBatch, error) {
	fr, err := ipc.NewFileReader(cachedReader(ctx, c, sh.Key, sh.Bytes))
	if err != nil {
		return nil, corrupt(err)
	}
	defer fr.Close()
	out := project(schema, cols)
	recs := make([]arrow.RecordBatch, 0, fr.NumRecords())
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for i := range fr.NumRecords() {
		rec, err := fr.RecordBatchAt(i)
		if err != nil {
			return nil, corrupt(err)
		}
		arrs := make([]arrow.Array, len(cols))
		for j, c := range cols {
			arrs[j] = rec.Column(c)
		}
		recs = append(recs, array.NewRecordBatch(out, arrs, rec.NumRows()))
		rec.Release()
	}
	return concatRecords(out, recs)
}

type ipcBlock struct {
	offset  int64
	metaLen int32
}

// arrowFooterBlocks parses the file footer's record batch blocks:
//
//	... | footer flatbuffer | int32 footer length | "ARROW1"
//
// Footer: table {version: short; schema: Schema; dictionaries: [Block];
// recordBatches: [Block]}; Block: struct {offset: long; metaDataLength:
// int; (pad) bodyLength: long} (24 bytes).
func arrowFooterBlocks(r io.ReaderAt, size int64) ([]ipcBlock, error) {
	if size < 10+8 {
		return nil, errors.New("arrow file too short")
	}
	var trailer [10]byte
	if _, err := r.ReadAt(trailer[:], size-10); err != nil {
		return nil, err
	}
	if string(trailer[4:]) != "ARROW1" {
		return nil, errors.New("no ARROW1 trailer")
	}
	flen := int64(int32(binary.LittleEndian.Uint32(trailer[:4])))
	if flen <= 0 || flen > size-10-8 {
		return nil, fmt.Errorf("footer length %d", flen)
	}
	buf := make([]byte, flen)
	if _, err := r.ReadAt(buf, size-10-flen); err != nil {
		return nil, err
	}
	var out []ipcBlock
	err := safeFlatbuffer(func() error {
		t := flatbuffers.Table{Bytes: buf, Pos: flatbuffers.GetUOffsetT(buf)}
		o := flatbuffers.UOffsetT(t.Offset(10)) // recordBatches
		if o == 0 {
			return nil
		}
		vec := t.Vector(o)
		n := t.VectorLen(o)
		if n < 0 || int64(vec)+int64(n)*24 > int64(len(buf)) {
			return fmt.Errorf("record batch vector of %d", n)
		}
		for i := range n {
			p := vec + flatbuffers.UOffsetT(i*24)
			out = append(out, ipcBlock{
				offset:  int64(binary.LittleEndian.Uint64(buf[p:])),
				metaLen: int32(binary.LittleEndian.Uint32(buf[p+8:])),
			})
		}
		return nil
	})
	return out, err
}

// arrowBatchLength reads a record batch's message header: Message table
// {version: short; header_type: ubyte; header: RecordBatch; bodyLength:
// long}, RecordBatch table {length: long; ...}, after an optional 0xFFFFFFFF
// continuation and the int32 metadata length.
func arrowBatchLength(r io.ReaderAt, size int64, b ipcBlock) (int64, error) {
	if b.metaLen < 8 || b.metaLen > 1<<20 || b.offset < 0 || b.offset > size-int64(b.metaLen) {
		return 0, fmt.Errorf("block metadata length %d at %d of %d bytes", b.metaLen, b.offset, size)
	}
	buf := make([]byte, b.metaLen)
	if _, err := r.ReadAt(buf, b.offset); err != nil {
		return 0, err
	}
	if binary.LittleEndian.Uint32(buf) == 0xFFFFFFFF {
		buf = buf[8:]
	} else {
		buf = buf[4:]
	}
	var n int64
	err := safeFlatbuffer(func() error {
		m := flatbuffers.Table{Bytes: buf, Pos: flatbuffers.GetUOffsetT(buf)}
		if o := flatbuffers.UOffsetT(m.Offset(6)); o == 0 || m.GetByte(o+m.Pos) != 3 { // MessageHeader.RecordBatch
			return errors.New("block is not a record batch message")
		}
		o := flatbuffers.UOffsetT(m.Offset(8))
		if o == 0 {
			return errors.New("message without a header")
		}
		rb := flatbuffers.Table{Bytes: buf, Pos: m.Indirect(o + m.Pos)}
		if lo := flatbuffers.UOffsetT(rb.Offset(4)); lo != 0 {
			n = rb.GetInt64(lo + rb.Pos)
		}
		if n < 0 {
			return fmt.Errorf("batch length %d", n)
		}
		return nil
	})
	return n, err
}

// safeFlatbuffer runs fn, turning the panics of out-of-range flatbuffer
// offsets in damaged bytes into an error.
func safeFlatbuffer(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("damaged flatbuffer: %v", r)
		}
	}()
	return fn()
}

// ---- raw: one sample per object, (key, data).

type rawFormat struct{}

// RawSchema is the schema of a raw dataset.
var RawSchema = arrow.NewSchema([]arrow.Field{
	{Name: "key", Type: arrow.BinaryTypes.String},
	{Name: "data", Type: arrow.BinaryTypes.Binary},
}, nil)

func (rawFormat) scan(_ context.Context, _ tier.ObjectStore, obj tier.ObjectInfo) (int64, *arrow.Schema, error) {
	return 1, RawSchema, nil
}

func (rawFormat) load(ctx context.Context, c *cache.Cache, _ tier.ObjectStore, sh meta.DatasetShard, schema *arrow.Schema, cols []int) (arrow.RecordBatch, error) {
	data := make([]byte, sh.Bytes)
	if sh.Bytes > 0 {
		if _, err := c.ReadAt(ctx, sh.Key, data, 0); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	arrs := make([]arrow.Array, len(cols))
	for i, col := range cols {
		if col == 0 {
			b := array.NewStringBuilder(mem)
			b.Append(sh.Key)
			arrs[i] = b.NewArray()
			b.Release()
		} else {
			b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
			b.Append(data)
			arrs[i] = b.NewArray()
			b.Release()
		}
	}
	rec := array.NewRecordBatch(project(schema, cols), arrs, 1)
	for _, a := range arrs {
		a.Release()
	}
	return rec, nil
}

// ---- JSONL: a line index beside each object; columns inferred from the
// first lines of the first object.

type jsonlFormat struct{}

// inferLines is how many lines of the first object decide a JSONL
// dataset's schema.
const inferLines = 1000

func indexKey(key string) string { return key + IndexSuffix }

func (*jsonlFormat) scan(ctx context.Context, st tier.ObjectStore, obj tier.ObjectInfo) (int64, *arrow.Schema, error) {
	rc, err := st.Get(ctx, obj.Key, 0, -1)
	if err != nil {
		return 0, nil, err
	}
	defer rc.Close()
	inf := newInferrer()
	ix, err := buildJSONLIndex(rc, obj.Size, func(n int, line []byte) error {
		if n < inferLines {
			return inf.add(line)
		}
		if !json.Valid(line) {
			return fmt.Errorf("line %d is not JSON", n+1)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	enc := encodeJSONLIndex(ix)
	if err := st.Put(ctx, indexKey(obj.Key), bytes.NewReader(enc), int64(len(enc))); err != nil {
		return 0, nil, fmt.Errorf("write the line index %s: %w", indexKey(obj.Key), err)
	}
	return int64(len(ix.Lines)), inf.schema(), nil
}

// loadIndex reads a shard's index, or rebuilds it (and tries to store it)
// when it is missing, damaged or for another version of the object.
func loadIndex(ctx context.Context, c *cache.Cache, st tier.ObjectStore, sh meta.DatasetShard) (jsonlIndex, error) {
	ik := indexKey(sh.Key)
	if size, err := c.Size(ctx, ik); err == nil {
		b := make([]byte, size)
		if _, err := c.ReadAt(ctx, ik, b, 0); err == nil || errors.Is(err, io.EOF) {
			if ix, err := decodeJSONLIndex(b); err == nil && ix.ObjectSize == sh.Bytes {
				return ix, nil
			}
		}
		c.Invalidate(ik)
	}
	ix, err := buildJSONLIndex(cachedReader(ctx, c, sh.Key, sh.Bytes), sh.Bytes, nil)
	if err != nil {
		return ix, err
	}
	enc := encodeJSONLIndex(ix)
	_ = st.Put(ctx, ik, bytes.NewReader(enc), int64(len(enc))) // best effort: the next read rebuilds
	return ix, nil
}

func (*jsonlFormat) load(ctx context.Context, c *cache.Cache, st tier.ObjectStore, sh meta.DatasetShard, schema *arrow.Schema, cols []int) (arrow.RecordBatch, error) {
	ix, err := loadIndex(ctx, c, st, sh)
	if err != nil {
		return nil, err
	}
	if int64(len(ix.Lines)) != sh.Rows {
		return nil, fmt.Errorf("%w: %d lines now, %d at registration (the object changed)", ErrCorrupt, len(ix.Lines), sh.Rows)
	}
	data := make([]byte, sh.Bytes)
	if sh.Bytes > 0 {
		if _, err := c.ReadAt(ctx, sh.Key, data, 0); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	out := project(schema, cols)
	b := array.NewRecordBuilder(mem, out)
	defer b.Release()
	for n, s := range ix.Lines {
		var obj map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(data[s.Off : s.Off+s.Len]))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrCorrupt, n+1, err)
		}
		for i, f := range out.Fields() {
			if err := appendJSON(b.Field(i), f.Type, obj[f.Name]); err != nil {
				return nil, fmt.Errorf("%w: line %d: field %q: %v", ErrCorrupt, n+1, f.Name, err)
			}
		}
	}
	rec := b.NewRecordBatch()
	if rec.NumCols() == 0 { // no columns asked or known: the rows still count
		rec.Release()
		return array.NewRecordBatch(out, nil, int64(len(ix.Lines))), nil
	}
	return rec, nil
}

// appendJSON appends one JSON value to a column of an inferred type.
func appendJSON(b array.Builder, t arrow.DataType, v json.RawMessage) error {
	if len(v) == 0 || string(v) == "null" {
		b.AppendNull()
		return nil
	}
	switch t.ID() {
	case arrow.BOOL:
		var x bool
		if err := json.Unmarshal(v, &x); err != nil {
			return err
		}
		b.(*array.BooleanBuilder).Append(x)
	case arrow.INT64:
		var x int64
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("want an integer: %v", err)
		}
		b.(*array.Int64Builder).Append(x)
	case arrow.FLOAT64:
		var x float64
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("want a number: %v", err)
		}
		b.(*array.Float64Builder).Append(x)
	default:
		var s string
		if v[0] == '"' && json.Unmarshal(v, &s) == nil {
			b.(*array.StringBuilder).Append(s)
		} else {
			b.(*array.StringBuilder).Append(string(v)) // objects, arrays, mixed: the JSON text
		}
	}
	return nil
}

// inferrer derives a JSONL schema: each top-level key in order of first
// appearance; bool, int64 (every number an integer), float64, or utf8
// (strings; objects, arrays and mixed types as their JSON text).
type inferrer struct {
	order []string
	kinds map[string]string
}

func newInferrer() *inferrer { return &inferrer{kinds: map[string]string{}} }

func (f *inferrer) add(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	// first-appearance order within a line follows the text
	for _, k := range orderedKeys(line, keys) {
		kind := "string"
		switch v := obj[k].(type) {
		case nil:
			kind = ""
		case bool:
			kind = "bool"
		case json.Number:
			kind = "int"
			if _, err := v.Int64(); err != nil {
				kind = "float"
			}
		case string:
			kind = "string"
		default:
			kind = "json"
		}
		old, seen := f.kinds[k]
		if !seen {
			f.order = append(f.order, k)
			f.kinds[k] = kind
			continue
		}
		switch {
		case kind == "" || old == kind:
		case old == "":
			f.kinds[k] = kind
		case old == "int" && kind == "float" || old == "float" && kind == "int":
			f.kinds[k] = "float"
		default:
			f.kinds[k] = "json"
		}
	}
	return nil
}

// orderedKeys sorts keys by where "key": first appears in line.
func orderedKeys(line []byte, keys []string) []string {
	pos := map[string]int{}
	for _, k := range keys {
		q, _ := json.Marshal(k)
		i := bytes.Index(line, q)
		if i < 0 {
			i = len(line)
		}
		pos[k] = i
	}
	out := append([]string(nil), keys...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && (pos[out[j]] < pos[out[j-1]] || pos[out[j]] == pos[out[j-1]] && strings.Compare(out[j], out[j-1]) < 0); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (f *inferrer) schema() *arrow.Schema {
	fields := make([]arrow.Field, 0, len(f.order))
	for _, k := range f.order {
		var t arrow.DataType = arrow.BinaryTypes.String
		switch f.kinds[k] {
		case "bool":
			t = arrow.FixedWidthTypes.Boolean
		case "int":
			t = arrow.PrimitiveTypes.Int64
		case "float":
			t = arrow.PrimitiveTypes.Float64
		}
		fields = append(fields, arrow.Field{Name: k, Type: t, Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}
