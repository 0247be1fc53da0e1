package dataset

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"strata/logstore"
	"strata/meta"
)

// TopicSchema is the schema of a topic dataset: one row per record.
var TopicSchema = arrow.NewSchema([]arrow.Field{
	{Name: "partition", Type: arrow.PrimitiveTypes.Int32},
	{Name: "offset", Type: arrow.PrimitiveTypes.Int64},
	{Name: "timestamp", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: "key", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "value", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "headers", Type: arrow.ListOf(arrow.StructOf(
		arrow.Field{Name: "key", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "value", Type: arrow.BinaryTypes.Binary, Nullable: true},
	))},
}, nil)

// topicShardKey names a topic shard: "<partition>:<first offset>".
func topicShardKey(p int32, start int64) string {
	return strconv.Itoa(int(p)) + ":" + strconv.FormatInt(start, 10)
}

func parseTopicShardKey(key string) (int32, int64, error) {
	ps, os, ok := strings.Cut(key, ":")
	p, err1 := strconv.ParseInt(ps, 10, 32)
	o, err2 := strconv.ParseInt(os, 10, 64)
	if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
		return 0, 0, fmt.Errorf("%w: topic shard key %q is not partition:offset", ErrCorrupt, key)
	}
	return int32(p), o, nil
}

// topicShards cuts every partition's offsets [log start, high watermark)
// at registration into shards of at most per offsets.
func topicShards(store *logstore.Store, topic string, per int64) ([]meta.DatasetShard, error) {
	info, err := store.Topic(topic)
	if err != nil {
		return nil, fmt.Errorf("%w: source topic:%s: %w", ErrInvalid, topic, err)
	}
	var out []meta.DatasetShard
	for p := range info.Partitions {
		l, err := store.Partition(topic, p)
		if err != nil {
			return nil, err
		}
		for start, end := l.LogStartOffset(), l.HighWatermark(); start < end; start += per {
			out = append(out, meta.DatasetShard{Key: topicShardKey(p, start), Rows: min(per, end-start)})
		}
	}
	return out, nil
}

// loadTopicShard reads offsets [start, start+rows) of the shard's partition
// as rows of TopicSchema (all columns). holes[i] is true where offset
// start+i has no record (a transaction marker, or compacted away): the row
// is there, all null but its offset, so row numbers stay offsets; readers
// drop such rows.
func loadTopicShard(ctx context.Context, store *logstore.Store, topic string, sh meta.DatasetShard) (arrow.RecordBatch, []bool, error) {
	p, start, err := parseTopicShardKey(sh.Key)
	if err != nil {
		return nil, nil, err
	}
	if store == nil {
		return nil, nil, errors.New("dataset: this server has no topics")
	}
	l, err := store.Partition(topic, p)
	if err != nil {
		return nil, nil, err
	}
	end := start + sh.Rows
	recs := make([]*logstore.Record, sh.Rows)
	for off := start; off < end; {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		res, err := l.Read(off, 4<<20)
		if err != nil {
			return nil, nil, fmt.Errorf("read offset %d: %w", off, err)
		}
		b, err := res.Bytes()
		next := res.NextOffset
		res.Close()
		if err != nil {
			return nil, nil, err
		}
		if next <= off {
			return nil, nil, fmt.Errorf("offsets [%d, %d) of partition %d are gone (high watermark %d)", off, end, p, next)
		}
		err = logstore.SplitBatches(b, func(batch []byte, h logstore.BatchHeader) error {
			if h.IsControl() {
				return nil
			}
			rs, err := logstore.DecodeRecords(batch)
			if err != nil {
				return err
			}
			for i := range rs {
				if o := rs[i].Offset; o >= start && o < end {
					recs[o-start] = &rs[i]
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		off = next
	}
	bld := array.NewRecordBuilder(mem, TopicSchema)
	defer bld.Release()
	parts := bld.Field(0).(*array.Int32Builder)
	offs := bld.Field(1).(*array.Int64Builder)
	ts := bld.Field(2).(*array.TimestampBuilder)
	keys := bld.Field(3).(*array.BinaryBuilder)
	vals := bld.Field(4).(*array.BinaryBuilder)
	hdrs := bld.Field(5).(*array.ListBuilder)
	hs := hdrs.ValueBuilder().(*array.StructBuilder)
	hk := hs.FieldBuilder(0).(*array.StringBuilder)
	hv := hs.FieldBuilder(1).(*array.BinaryBuilder)
	var holes []bool
	for i, r := range recs {
		parts.Append(p)
		offs.Append(start + int64(i))
		if r == nil {
			if holes == nil {
				holes = make([]bool, len(recs))
			}
			holes[i] = true
			ts.AppendNull()
			keys.AppendNull()
			vals.AppendNull()
			hdrs.AppendNull()
			continue
		}
		ts.Append(arrow.Timestamp(r.Timestamp))
		appendNullable(keys, r.Key)
		appendNullable(vals, r.Value)
		hdrs.Append(true)
		for _, h := range r.Headers {
			hs.Append(true)
			hk.Append(h.Key)
			appendNullable(hv, h.Value)
		}
	}
	return bld.NewRecordBatch(), holes, nil
}

func appendNullable(b *array.BinaryBuilder, v []byte) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.Append(v)
}
