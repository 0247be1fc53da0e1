package logtool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"strata/logstore"
)

// DumpOptions selects what Dump prints.
type DumpOptions struct {
	JSON bool
	// From and To bound the records printed (inclusive); batches wholly
	// outside are skipped.
	From, To int64
	// Preview caps the bytes of a value shown in text output.
	Preview int
}

// EnsureDefaults fills zero fields.
func (o *DumpOptions) EnsureDefaults() {
	if o.To == 0 {
		o.To = math.MaxInt64
	}
	if o.Preview == 0 {
		o.Preview = 64
	}
}

// Validate checks the range.
func (o DumpOptions) Validate() error {
	if o.From < 0 || o.To < o.From {
		return fmt.Errorf("--from %d / --to %d is not a valid offset range", o.From, o.To)
	}
	return nil
}

type jsonHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type jsonRecord struct {
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   []jsonHeader `json:"headers,omitempty"`
}

type jsonBatch struct {
	Segment       string       `json:"segment"`
	Position      int64        `json:"position"`
	BaseOffset    int64        `json:"base_offset"`
	LastOffset    int64        `json:"last_offset"`
	Size          int          `json:"size"`
	Records       int32        `json:"record_count"`
	Codec         string       `json:"codec"`
	CRC           uint32       `json:"crc"`
	FirstTS       int64        `json:"first_timestamp"`
	MaxTS         int64        `json:"max_timestamp"`
	ProducerID    int64        `json:"producer_id"`
	ProducerEpoch int16        `json:"producer_epoch"`
	BaseSequence  int32        `json:"base_sequence"`
	Transactional bool         `json:"transactional"`
	Control       bool         `json:"control"`
	RecordList    []jsonRecord `json:"records"`
}

var codecNames = map[int8]string{0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

func codecName(c int8) string {
	if n, ok := codecNames[c]; ok {
		return n
	}
	return "unknown(" + strconv.Itoa(int(c)) + ")"
}

// Dump prints the batches and records of one segment-engine partition
// directory to w: text for people, or one JSON object per batch (JSON
// lines) for scripts. It stops at the first corrupt batch with an error
// naming the file and byte position, after printing everything before it.
func Dump(dir string, opts DumpOptions, w io.Writer) error {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return err
	}
	segs, err := listSegments(dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("%s holds no segment files (*.log); dump reads a segment-engine partition directory such as <data>/topics/<topic>-0", dir)
	}
	enc := json.NewEncoder(w)
	for i, s := range segs {
		// Skip segments wholly before From: the next segment's base bounds this one.
		if i+1 < len(segs) && segs[i+1].Base <= opts.From {
			continue
		}
		if s.Base > opts.To {
			break
		}
		if !opts.JSON {
			fmt.Fprintf(w, "segment %s (%d bytes)\n", s.Log, s.Size)
		}
		_, _, _, err := scanFile(s.Log, func(pos int64, h logstore.BatchHeader, batch []byte) error {
			if h.LastOffset() < opts.From || h.BaseOffset > opts.To {
				return nil
			}
			recs, derr := logstore.DecodeRecords(batch)
			if derr != nil {
				return fmt.Errorf("%s: batch at byte %d: %w", s.Log, pos, derr)
			}
			if opts.JSON {
				return enc.Encode(batchJSON(s.Log, pos, h, recs, opts))
			}
			printBatchText(w, pos, h, recs, opts)
			return nil
		})
		if err != nil {
			if errors.Is(err, logstore.ErrCorrupt) {
				return fmt.Errorf("%s: %w", s.Log, err)
			}
			return err
		}
	}
	return nil
}

func batchJSON(seg string, pos int64, h logstore.BatchHeader, recs []logstore.Record, opts DumpOptions) jsonBatch {
	jb := jsonBatch{
		Segment: seg, Position: pos, BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), Size: h.Size(),
		Records: h.NumRecords, Codec: codecName(h.Compression()), CRC: h.CRC, FirstTS: h.FirstTimestamp, MaxTS: h.MaxTimestamp,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		Transactional: h.IsTransactional(), Control: h.IsControl(), RecordList: []jsonRecord{},
	}
	for _, r := range recs {
		if r.Offset < opts.From || r.Offset > opts.To {
			continue
		}
		jr := jsonRecord{Offset: r.Offset, Timestamp: r.Timestamp, Key: bytesPtr(r.Key), Value: bytesPtr(r.Value)}
		for _, hd := range r.Headers {
			jr.Headers = append(jr.Headers, jsonHeader{Key: hd.Key, Value: string(hd.Value)})
		}
		jb.RecordList = append(jb.RecordList, jr)
	}
	return jb
}

// bytesPtr keeps the null/empty distinction Kafka has for keys and values.
func bytesPtr(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func printBatchText(w io.Writer, pos int64, h logstore.BatchHeader, recs []logstore.Record, opts DumpOptions) {
	fmt.Fprintf(w, "batch offsets=%d..%d pos=%d size=%d records=%d codec=%s crc=%08x maxTimestamp=%s producer=%d/%d seq=%d",
		h.BaseOffset, h.LastOffset(), pos, h.Size(), h.NumRecords, codecName(h.Compression()), h.CRC,
		fmtTime(h.MaxTimestamp), h.ProducerID, h.ProducerEpoch, h.BaseSequence)
	if h.IsTransactional() {
		fmt.Fprint(w, " transactional")
	}
	if h.IsControl() {
		fmt.Fprint(w, " control")
	}
	fmt.Fprintln(w)
	for _, r := range recs {
		if r.Offset < opts.From || r.Offset > opts.To {
			continue
		}
		fmt.Fprintf(w, "  offset=%d timestamp=%s key=%s", r.Offset, fmtTime(r.Timestamp), preview(r.Key, opts.Preview))
		if len(r.Headers) > 0 {
			fmt.Fprint(w, " headers=[")
			for i, hd := range r.Headers {
				if i > 0 {
					fmt.Fprint(w, " ")
				}
				fmt.Fprintf(w, "%s=%s", strconv.Quote(hd.Key), preview(hd.Value, opts.Preview))
			}
			fmt.Fprint(w, "]")
		}
		fmt.Fprintf(w, " value(%d)=%s\n", len(r.Value), preview(r.Value, opts.Preview))
	}
}

func fmtTime(ms int64) string {
	if ms < 0 {
		return strconv.FormatInt(ms, 10)
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// preview quotes up to n bytes: text as a Go string, binary as hex.
func preview(b []byte, n int) string {
	if b == nil {
		return "null"
	}
	cut := b
	if len(cut) > n {
		cut = cut[:n]
	}
	var s string
	if utf8.Valid(cut) {
		s = strconv.Quote(string(cut))
	} else {
		s = fmt.Sprintf("0x%x", cut)
	}
	if len(b) > n {
		s += "..."
	}
	return s
}
