package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"golang.org/x/sync/errgroup"

	"strata/cache"
	"strata/meta"
)

// resolved is a request checked against its dataset.
type resolved struct {
	req    Request
	d      meta.Dataset
	full   *arrow.Schema // the dataset's
	schema *arrow.Schema // the request's columns
	cols   []int
	src    Source
	order  *Order
}

// Resolve checks a request against its dataset (columns exist, the cursor
// is within the epoch) and returns the schema of its batches and the
// dataset's generation (CreatedMs, which tickets carry).
func (s *Service) Resolve(ctx context.Context, req Request) (*arrow.Schema, int64, error) {
	r, err := s.resolve(ctx, req)
	if err != nil {
		return nil, 0, err
	}
	return r.schema, r.d.CreatedMs, nil
}

func (s *Service) resolve(ctx context.Context, req Request) (*resolved, error) {
	req.EnsureDefaults()
	if err := req.Validate(); err != nil {
		return nil, err
	}
	d, full, err := s.Get(ctx, req.Dataset)
	if err != nil {
		return nil, err
	}
	src, err := ParseSource(d.Source)
	if err != nil {
		return nil, fmt.Errorf("%w: dataset %q: source: %v", ErrCorrupt, d.Name, err)
	}
	r := &resolved{req: req, d: d, full: full, src: src}
	if len(req.Columns) == 0 {
		for i := range full.NumFields() {
			r.cols = append(r.cols, i)
		}
	} else {
		for _, c := range req.Columns {
			idx := full.FieldIndices(c)
			if len(idx) != 1 {
				names := make([]string, full.NumFields())
				for i, f := range full.Fields() {
					names[i] = f.Name
				}
				return nil, invalid("columns", "%q is not a column of dataset %q (it has %s)", c, d.Name, strings.Join(names, ", "))
			}
			r.cols = append(r.cols, idx[0])
		}
	}
	r.schema = project(full, r.cols)
	rows := make([]int64, len(d.Shards))
	for i, sh := range d.Shards {
		rows[i] = sh.Rows
	}
	r.order = NewOrder(rows, req.Seed, req.Epoch, DefaultWindowShards)
	if req.Cursor > r.order.Total() {
		return nil, invalid("cursor", "%d is past the epoch's %d samples", req.Cursor, r.order.Total())
	}
	return r, nil
}

// Reader streams one rank's share of an epoch, from the cursor on, as
// record batches of BatchRows samples (the last may be shorter; a topic
// batch is shorter by the offsets that hold no record). Not safe for
// concurrent use.
type Reader struct {
	s *Service
	r *resolved
	f objectFormat // nil for a topic
	e *storeEntry  // nil for a topic
	// pos is the rank's next global position (≡ rank mod world size).
	pos int64
	// plan: the cache plan's id ("" for a topic), the windows it covers
	// [planFrom, planFrom+len(planStart)), and the plan position of each
	// one's first block.
	planID    string
	planFrom  int
	planStart []int
	cur       *window_ // the window being served, referenced
	next      *window_ // the next one, referenced, loading or loaded
}

// loaded is one window's rows: each shard's record, in window order. A
// batch takes its rows from each shard it touches, then puts them in
// position order with a second Take over the (small) batch: the window is
// never concatenated, so it is not copied and no column outgrows 32-bit
// offsets.
type loaded struct {
	wi      int
	recs    []arrow.RecordBatch
	offsets []int64  // offsets[i]: rows of the window's shards before shard i
	holes   [][]bool // per shard: rows with no record (topics); nil if none
}

func (l *loaded) release() {
	for _, r := range l.recs {
		r.Release()
	}
}

// locate returns the shard (index in the window) and row of local row j.
func (l *loaded) locate(j int64) (int, int64) {
	i := sort.Search(len(l.recs), func(i int) bool { return l.offsets[i+1] > j })
	return i, j - l.offsets[i]
}

// Open starts a read. gen, when not 0, must be the dataset's generation
// (a ticket's), else ErrStale.
func (s *Service) Open(ctx context.Context, req Request, gen int64) (*Reader, error) {
	r, err := s.resolve(ctx, req)
	if err != nil {
		return nil, err
	}
	if gen != 0 && gen != r.d.CreatedMs {
		return nil, fmt.Errorf("%w: dataset %q was registered again since the ticket was issued", ErrStale, r.d.Name)
	}
	rd := &Reader{s: s, r: r}
	rd.pos, _ = RankPositions(r.req.Cursor, r.order.Total(), r.req.Rank, r.req.WorldSize)
	if r.src.Topic == "" {
		if rd.f, err = formatOf(r.d.Format); err != nil {
			return nil, err
		}
		if rd.e, err = s.stores.get(ctx, r.src); err != nil {
			return nil, err
		}
	}
	if rd.e != nil && rd.pos < r.order.Total() {
		rd.planID = "dataset/" + rd.r.d.Name + "/" + strconv.FormatUint(rd.s.nextID.Add(1), 10)
		rd.setPlan(r.order.WindowOf(rd.pos))
	}
	return rd, nil
}

// Plan horizon: a plan covers planWindows windows (or planMaxBlocks
// blocks, whichever ends first) and is rebuilt from the window being
// loaded when that one is within planRefresh windows of its end, so a
// plan's memory stays bounded however large the dataset.
const (
	planWindows   = 64
	planMaxBlocks = 1 << 16
	planRefresh   = 8
)

// setPlan hands the cache the blocks of the windows from first on, in read
// order, up to the horizon.
func (rd *Reader) setPlan(first int) {
	c := rd.e.cache
	bs := c.BlockSize()
	o := rd.r.order
	rd.planFrom, rd.planStart = first, rd.planStart[:0]
	// Parquet and Arrow IPC files are read footer first, then front to
	// back: the plan lists a shard's last block first so the reads follow
	// the plan in order (a read moves the plan to its block; see cache's
	// doc.go).
	footerFirst := rd.r.d.Format == meta.FormatParquet || rd.r.d.Format == meta.FormatArrow
	var blocks []cache.BlockRef
	for wi := first; wi < o.Windows() && wi < first+planWindows && (wi == first || len(blocks) < planMaxBlocks); wi++ {
		rd.planStart = append(rd.planStart, len(blocks))
		shards, _, _ := o.Window(wi)
		for _, si := range shards {
			sh := rd.r.d.Shards[si]
			last := (sh.Bytes - 1) / bs
			if footerFirst && last > 0 {
				blocks = append(blocks, cache.BlockRef{Key: sh.Key, Index: last})
			}
			for b := int64(0); b*bs < sh.Bytes; b++ {
				blocks = append(blocks, cache.BlockRef{Key: sh.Key, Index: b})
			}
		}
	}
	c.SetPlan(rd.planID, blocks)
}

// advancePlan moves the plan to window wi, rebuilding it near its end.
func (rd *Reader) advancePlan(wi int) {
	end := rd.planFrom + len(rd.planStart)
	if wi < rd.planFrom || wi >= end || end < rd.r.order.Windows() && wi >= end-planRefresh {
		rd.setPlan(wi)
	}
	rd.e.cache.Advance(rd.planID, rd.planStart[wi-rd.planFrom])
}

// Schema is the schema of the reader's batches.
func (rd *Reader) Schema() *arrow.Schema { return rd.r.schema }

// Total is the number of samples in the epoch.
func (rd *Reader) Total() int64 { return rd.r.order.Total() }

// Position is the rank's next global position: every position of this
// rank below it has been returned. A job's global cursor is the least
// Position over its ranks.
func (rd *Reader) Position() int64 { return min(rd.pos, rd.r.order.Total()) }

// Remaining is how many samples this rank has yet to read.
func (rd *Reader) Remaining() int64 {
	_, n := RankPositions(rd.pos, rd.r.order.Total(), rd.r.req.Rank, rd.r.req.WorldSize)
	return n
}

// Next returns the next batch, io.EOF after the last. The caller releases
// the batch. A failed Next consumes nothing: calling it again (after a
// store outage, say) returns the same batch.
func (rd *Reader) Next(ctx context.Context) (_ arrow.RecordBatch, err error) {
	o, w := rd.r.order, int64(rd.r.req.WorldSize)
	if rd.pos >= o.Total() {
		return nil, io.EOF
	}
	var parts []arrow.RecordBatch
	startPos := rd.pos
	defer func() {
		for _, p := range parts {
			p.Release()
		}
		if err != nil {
			rd.pos = startPos
		}
	}()
	taken := 0
	for taken < rd.r.req.BatchRows && rd.pos < o.Total() {
		wi := o.WindowOf(rd.pos)
		win, err := rd.window(ctx, wi)
		if err != nil {
			return nil, err
		}
		_, start, rows := o.Window(wi)
		var picks []pick
		for ; rd.pos < start+rows && taken < rd.r.req.BatchRows; rd.pos += w {
			taken++
			si, row := win.locate(o.Local(wi, rd.pos))
			if win.holes[si] == nil || !win.holes[si][row] {
				picks = append(picks, pick{si, row})
			}
		}
		part, err := win.take(ctx, rd.r.schema, picks)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part)
	}
	if len(parts) == 1 {
		p := parts[0]
		parts = nil
		return p, nil
	}
	return concatRecords(rd.r.schema, parts)
}

func take(ctx context.Context, schema *arrow.Schema, rec arrow.RecordBatch, idx arrow.Array) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range cols {
		c, err := compute.TakeArray(ctx, rec.Column(i), idx)
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	return array.NewRecordBatch(schema, cols, int64(idx.Len())), nil
}

// window returns window wi's rows, taking them from the shared windows
// (loaded by this reader or another rank's), and asks for the next window
// so that it loads while this one is served.
func (rd *Reader) window(ctx context.Context, wi int) (*loaded, error) {
	if rd.cur != nil && rd.cur.key.wi == wi {
		return rd.cur.l, nil
	}
	if rd.cur != nil {
		rd.s.windows.release(rd.cur)
		rd.cur = nil
	}
	e := rd.next
	rd.next = nil
	if e == nil || e.key.wi != wi {
		if e != nil {
			rd.s.windows.release(e)
		}
		e = rd.acquire(wi)
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		rd.s.windows.release(e)
		return nil, ctx.Err()
	}
	if e.err != nil {
		rd.s.windows.release(e)
		return nil, e.err
	}
	rd.cur = e
	if wi+1 < rd.r.order.Windows() {
		rd.next = rd.acquire(wi + 1)
	}
	return e.l, nil
}

// acquire takes window wi from the shared windows, moving the cache plan
// to it.
func (rd *Reader) acquire(wi int) *window_ {
	if rd.planID != "" {
		rd.advancePlan(wi)
	}
	return rd.s.windows.acquire(keyOf(rd.r, wi), func(ctx context.Context) (*loaded, error) { return rd.load(ctx, wi) })
}

func (rd *Reader) load(ctx context.Context, wi int) (*loaded, error) {
	shards, _, _ := rd.r.order.Window(wi)
	recs := make([]arrow.RecordBatch, len(shards))
	holes := make([][]bool, len(shards))
	defer func() {
		for _, r := range recs {
			if r != nil {
				r.Release()
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rd.s.opts.LoadConcurrency)
	for i, si := range shards {
		sh := rd.r.d.Shards[si]
		g.Go(func() error {
			var rec arrow.RecordBatch
			var err error
			if rd.e == nil {
				var full arrow.RecordBatch
				full, holes[i], err = loadTopicShard(gctx, rd.s.opts.Topics, rd.r.src.Topic, sh)
				if err == nil {
					rec = projectRecord(full, rd.r.schema, rd.r.cols)
					full.Release()
				}
			} else {
				rec, err = rd.f.load(gctx, rd.e.cache, rd.e.store, sh, rd.r.full, rd.r.cols)
			}
			if err == nil && rec.NumRows() != sh.Rows {
				rec.Release()
				err = fmt.Errorf("%w: %d rows, %d at registration (changed since?)", ErrCorrupt, rec.NumRows(), sh.Rows)
			}
			if err != nil {
				return fmt.Errorf("dataset %q: %s %q: %w", rd.r.d.Name, shardNoun(rd.e), sh.Key, err)
			}
			recs[i] = rec
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	l := &loaded{wi: wi, recs: recs, offsets: make([]int64, len(shards)+1), holes: holes}
	recs = nil // owned by l now
	for i, si := range shards {
		l.offsets[i+1] = l.offsets[i] + rd.r.d.Shards[si].Rows
	}
	return l, nil
}

// pick is one sample of a batch: shard (in the window) and row.
type pick struct {
	shard int
	row   int64
}

// take builds the batch of picks, in order: one Take per shard touched,
// the parts concatenated, then one Take that restores the picks' order.
func (l *loaded) take(ctx context.Context, schema *arrow.Schema, picks []pick) (arrow.RecordBatch, error) {
	per := make([][]int64, len(l.recs))
	for _, p := range picks {
		per[p.shard] = append(per[p.shard], p.row)
	}
	first := make([]int64, len(l.recs)+1)
	var parts []arrow.RecordBatch
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	for i, rows := range per {
		first[i+1] = first[i] + int64(len(rows))
		if len(rows) == 0 {
			continue
		}
		part, err := takeRows(ctx, schema, l.recs[i], rows)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 { // every pick was a topic's empty offset
		cols := emptyColumns(schema)
		rec := array.NewRecordBatch(schema, cols, 0)
		for _, c := range cols {
			c.Release()
		}
		return rec, nil
	}
	var grouped arrow.RecordBatch
	if len(parts) == 1 {
		grouped = parts[0]
		grouped.Retain()
	} else {
		var err error
		if grouped, err = concatRecords(schema, parts); err != nil {
			return nil, err
		}
	}
	defer grouped.Release()
	order := make([]int64, len(picks))
	next := first[:len(l.recs)]
	inOrder := true
	for j, p := range picks {
		order[j] = next[p.shard]
		next[p.shard]++
		inOrder = inOrder && order[j] == int64(j)
	}
	if inOrder {
		grouped.Retain()
		return grouped, nil
	}
	return takeRows(ctx, schema, grouped, order)
}

func takeRows(ctx context.Context, schema *arrow.Schema, rec arrow.RecordBatch, rows []int64) (arrow.RecordBatch, error) {
	ib := array.NewInt64Builder(mem)
	ib.AppendValues(rows, nil)
	idx := ib.NewInt64Array()
	ib.Release()
	defer idx.Release()
	return take(ctx, schema, rec, idx)
}

func emptyColumns(schema *arrow.Schema) []arrow.Array {
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i] = array.MakeArrayOfNull(mem, f.Type, 0)
	}
	return cols
}

func shardNoun(e *storeEntry) string {
	if e == nil {
		return "topic shard"
	}
	return "object"
}

func projectRecord(rec arrow.RecordBatch, schema *arrow.Schema, cols []int) arrow.RecordBatch {
	arrs := make([]arrow.Array, len(cols))
	for i, c := range cols {
		arrs[i] = rec.Column(c)
	}
	return array.NewRecordBatch(schema, arrs, rec.NumRows())
}

// Close lets go of the windows held (a load still running goes on for the
// other ranks; the windows stay idle for a while) and drops the cache
// plan.
func (rd *Reader) Close() error {
	for _, e := range []*window_{rd.cur, rd.next} {
		if e != nil {
			rd.s.windows.release(e)
		}
	}
	rd.cur, rd.next = nil, nil
	if rd.planID != "" {
		rd.e.cache.DropPlan(rd.planID)
	}
	return nil
}

// ErrIsInvalid reports whether err is the client's fault (a bad field).
func ErrIsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }
