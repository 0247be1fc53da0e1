package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Limits on a read request.
const (
	// MaxWorldSize bounds world_size (and so the endpoints of one FlightInfo).
	MaxWorldSize = 4096
	// DefaultBatchRows is batch_rows when a request leaves it out.
	DefaultBatchRows = 1024
	// MaxBatchRows bounds batch_rows.
	MaxBatchRows = 1 << 20
	// MaxDescriptorBytes caps a CMD descriptor or ticket before it is parsed.
	MaxDescriptorBytes = 64 << 10
	maxColumns         = 4096
)

// ErrInvalid marks a request that names a bad field; its message names the
// field. Flight answers it with InvalidArgument, HTTP with 400.
var ErrInvalid = errors.New("dataset: invalid request")

// ErrNotFound: no dataset of that name.
var ErrNotFound = errors.New("dataset: not found")

// ErrExists: a dataset of that name is registered already.
var ErrExists = errors.New("dataset: exists")

// ErrStale: a ticket was issued for a dataset that has since been deleted
// or registered again.
var ErrStale = errors.New("dataset: ticket is stale")

// Request is one read of a dataset: the epoch order is built from (Seed,
// Epoch); rank Rank of WorldSize reads the global positions ≡ Rank (mod
// WorldSize) from Cursor on, BatchRows samples per record batch, with only
// Columns (all when empty).
type Request struct {
	Dataset   string   `json:"dataset"`
	Epoch     int64    `json:"epoch"`
	Seed      int64    `json:"seed"`
	Rank      int      `json:"rank"`
	WorldSize int      `json:"world_size"`
	BatchRows int      `json:"batch_rows"`
	Cursor    int64    `json:"cursor"`
	Columns   []string `json:"columns,omitempty"`
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// EnsureDefaults fills world_size 1 and batch_rows DefaultBatchRows.
func (r *Request) EnsureDefaults() {
	if r.WorldSize == 0 {
		r.WorldSize = 1
	}
	if r.BatchRows == 0 {
		r.BatchRows = DefaultBatchRows
	}
}

// Validate checks the fields that do not need the dataset (columns and the
// cursor's upper bound are checked against it when the read opens).
func (r *Request) Validate() error {
	switch {
	case r.Dataset == "":
		return invalid("dataset", "missing")
	case len(r.Dataset) > 249:
		return invalid("dataset", "longer than 249 bytes")
	case r.Epoch < 0:
		return invalid("epoch", "%d is negative", r.Epoch)
	case r.WorldSize < 1 || r.WorldSize > MaxWorldSize:
		return invalid("world_size", "%d is not in [1, %d]", r.WorldSize, MaxWorldSize)
	case r.Rank < 0 || r.Rank >= r.WorldSize:
		return invalid("rank", "%d is not in [0, world_size=%d)", r.Rank, r.WorldSize)
	case r.BatchRows < 1 || r.BatchRows > MaxBatchRows:
		return invalid("batch_rows", "%d is not in [1, %d]", r.BatchRows, MaxBatchRows)
	case r.Cursor < 0:
		return invalid("cursor", "%d is negative", r.Cursor)
	case len(r.Columns) > maxColumns:
		return invalid("columns", "more than %d", maxColumns)
	}
	seen := map[string]bool{}
	for _, c := range r.Columns {
		if c == "" || seen[c] {
			return invalid("columns", "%q is empty or repeated", c)
		}
		seen[c] = true
	}
	return nil
}

// descriptorFields are the keys a CMD descriptor may hold.
var descriptorFields = map[string]bool{"dataset": true, "epoch": true, "seed": true, "world_size": true,
	"batch_rows": true, "cursor": true, "columns": true}

// ParseCommand parses a CMD descriptor: a JSON object with the keys of
// Request except rank (the FlightInfo has one endpoint per rank). Unknown
// keys, wrong types and out-of-range values are ErrInvalid naming the key.
func ParseCommand(cmd []byte) (Request, error) {
	var r Request
	if len(cmd) > MaxDescriptorBytes {
		return r, invalid("descriptor", "over %d bytes", MaxDescriptorBytes)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(cmd, &raw); err != nil {
		return r, invalid("descriptor", "not a JSON object: %v", err)
	}
	if raw == nil {
		return r, invalid("descriptor", "not a JSON object")
	}
	for k, v := range raw {
		if !descriptorFields[k] {
			return r, invalid(k, "unknown field (want dataset, epoch, seed, world_size, batch_rows, cursor, columns)")
		}
		var err error
		switch k {
		case "dataset":
			err = strictJSON(v, &r.Dataset)
		case "epoch":
			err = strictJSON(v, &r.Epoch)
		case "seed":
			err = strictJSON(v, &r.Seed)
		case "world_size":
			err = strictJSON(v, &r.WorldSize)
			if err == nil && r.WorldSize == 0 {
				err = errors.New("0 is not a world size")
			}
		case "batch_rows":
			err = strictJSON(v, &r.BatchRows)
			if err == nil && r.BatchRows == 0 {
				err = errors.New("0 rows per batch")
			}
		case "cursor":
			err = strictJSON(v, &r.Cursor)
		case "columns":
			if !bytes.Equal(bytes.TrimSpace(v), []byte("null")) { // null: every column
				err = strictJSON(v, &r.Columns)
			}
		}
		if err != nil {
			return r, invalid(k, "%v", err)
		}
	}
	r.EnsureDefaults()
	return r, r.Validate()
}

// strictJSON decodes v into out, refusing null and trailing data.
func strictJSON(v json.RawMessage, out any) error {
	if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return errors.New("null")
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	if err := dec.Decode(out); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("want %s, got JSON %s", te.Type, te.Value)
		}
		return err
	}
	return nil
}

// ParsePath parses a PATH descriptor: exactly one element, the dataset
// name; epoch 0, seed 0, world size 1, default batch rows.
func ParsePath(path []string) (Request, error) {
	if len(path) != 1 {
		return Request{}, invalid("path", "want one element, the dataset name; got %d", len(path))
	}
	r := Request{Dataset: path[0]}
	r.EnsureDefaults()
	return r, r.Validate()
}

// ParseQuery builds a request from URL query values (the HTTP stream):
// epoch, seed, rank, world_size, batch_rows, cursor, columns (comma
// separated). get returns "" for an absent key.
func ParseQuery(dataset string, get func(string) string, keys []string) (Request, error) {
	r := Request{Dataset: dataset}
	known := map[string]bool{"epoch": true, "seed": true, "rank": true, "world_size": true, "batch_rows": true, "cursor": true, "columns": true}
	for _, k := range keys {
		if !known[k] {
			return r, invalid(k, "unknown query parameter (want epoch, seed, rank, world_size, batch_rows, cursor, columns)")
		}
	}
	ints := []struct {
		key string
		dst *int64
	}{{"epoch", &r.Epoch}, {"seed", &r.Seed}, {"cursor", &r.Cursor}}
	for _, f := range ints {
		if s := get(f.key); s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return r, invalid(f.key, "%q is not an integer", s)
			}
			*f.dst = v
		}
	}
	small := []struct {
		key string
		dst *int
	}{{"rank", &r.Rank}, {"world_size", &r.WorldSize}, {"batch_rows", &r.BatchRows}}
	for _, f := range small {
		if s := get(f.key); s != "" {
			v, err := strconv.ParseInt(s, 10, 32)
			if err != nil || v == 0 && f.key != "rank" {
				return r, invalid(f.key, "%q is not a positive integer", s)
			}
			*f.dst = int(v)
		}
	}
	if s := get("columns"); s != "" {
		r.Columns = strings.Split(s, ",")
	}
	r.EnsureDefaults()
	return r, r.Validate()
}

// Tickets are opaque to clients; the server writes
//
//	"SDT1" | JSON ticket
//
// where the ticket holds the Request (rank included) and the dataset's
// CreatedMs, so a ticket for a dataset that was deleted or registered again
// is refused (ErrStale) rather than read against other shards.
const ticketMagic = "SDT1"

type ticket struct {
	Request
	Generation int64 `json:"gen"`
}

// EncodeTicket returns the ticket of r for a dataset of generation gen.
func EncodeTicket(r Request, gen int64) []byte {
	b, err := json.Marshal(ticket{Request: r, Generation: gen})
	if err != nil {
		panic(err) // a Request always marshals
	}
	return append([]byte(ticketMagic), b...)
}

// DecodeTicket parses and validates a ticket.
func DecodeTicket(b []byte) (Request, int64, error) {
	if len(b) > MaxDescriptorBytes {
		return Request{}, 0, invalid("ticket", "over %d bytes", MaxDescriptorBytes)
	}
	if !bytes.HasPrefix(b, []byte(ticketMagic)) {
		return Request{}, 0, invalid("ticket", "not a Strata dataset ticket")
	}
	var t ticket
	dec := json.NewDecoder(bytes.NewReader(b[len(ticketMagic):]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return Request{}, 0, invalid("ticket", "%v", err)
	}
	if dec.More() {
		return Request{}, 0, invalid("ticket", "trailing data")
	}
	if err := t.Request.Validate(); err != nil {
		return Request{}, 0, err
	}
	return t.Request, t.Generation, nil
}
