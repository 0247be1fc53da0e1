package meta

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// Shard 7, datasets: datasets registered over object-store prefixes or
// topics (no data copied: the shard list, row counts and schema), and
// training cursors (how far a job got in an epoch).
//
// Operations (Command.Op):
//
//	put_dataset     {dataset, replace}  -> {"created": bool}; an existing name is refused unless replace
//	                or the stored dataset is identical (a retried proposal)
//	delete_dataset  {name}              -> {"cursors": n}; its cursors go with it
//	commit_cursor   {cursor, force}     -> the stored Cursor
//	                monotonic: within an epoch the position never goes back and the seed never
//	                changes, and the epoch never goes back, unless force (an operator rewinding a job)
//	delete_cursor   {name}
//
// Lookups (Query.Op): get_dataset {name} -> *Dataset, list_datasets {} ->
// []DatasetInfo, get_cursor {name} -> *Cursor, list_cursors {dataset?} ->
// []Cursor.

// DatasetsKind names the datasets machine in its snapshots.
const DatasetsKind = "datasets"

// Dataset formats.
const (
	FormatParquet = "parquet"
	FormatArrow   = "arrow"
	FormatJSONL   = "jsonl"
	FormatRaw     = "raw"
)

// datasetSourceSchemes are the source URI forms a dataset may name.
var datasetSourceSchemes = []string{"s3://", "file://", "topic:"}

// DatasetShard is one object (or topic partition) of a dataset.
type DatasetShard struct {
	Key   string `json:"key"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
	// Error, when not "", says why the registrar could not use the object
	// (corrupt, missing, another schema); such a shard has no rows, and
	// the rest of the dataset stays readable.
	Error string `json:"error,omitempty"`
}

// Dataset is a registered dataset.
type Dataset struct {
	Name   string         `json:"name"`
	Source string         `json:"source"`
	Format string         `json:"format"`
	Shards []DatasetShard `json:"shards"`
	// Schema is the dataset's schema as the registrar encoded it (an Arrow
	// IPC schema message, or JSON); the machine does not interpret it.
	Schema    []byte `json:"schema,omitempty"`
	CreatedMs int64  `json:"created_ms"`
}

// Rows is the dataset's total row (sample) count.
func (d Dataset) Rows() int64 {
	var n int64
	for _, s := range d.Shards {
		n += s.Rows
	}
	return n
}

// DatasetInfo is one row of list_datasets.
type DatasetInfo struct {
	Name      string `json:"name"`
	Source    string `json:"source"`
	Format    string `json:"format"`
	Shards    int    `json:"shards"`
	Rows      int64  `json:"rows"`
	Bytes     int64  `json:"bytes"`
	CreatedMs int64  `json:"created_ms"`
}

// Cursor is a training job's committed progress through a dataset.
type Cursor struct {
	Name      string `json:"name"`
	Dataset   string `json:"dataset"`
	Epoch     int64  `json:"epoch"`
	Seed      int64  `json:"seed"`
	WorldSize int    `json:"world_size"`
	// Position is the number of samples of the epoch already consumed (a
	// global position, independent of the world size).
	Position  int64 `json:"position"`
	UpdatedMs int64 `json:"updated_ms"`
}

func (d Dataset) validate() error {
	if !validTopicName(d.Name) {
		return fmt.Errorf("bad dataset name %q ([a-zA-Z0-9._-], at most 249)", d.Name)
	}
	if !slices.ContainsFunc(datasetSourceSchemes, func(p string) bool { return strings.HasPrefix(d.Source, p) && len(d.Source) > len(p) }) {
		return fmt.Errorf("dataset %q: source %q is not s3://..., file://... or topic:NAME", d.Name, d.Source)
	}
	switch d.Format {
	case FormatParquet, FormatArrow, FormatJSONL, FormatRaw:
	default:
		return fmt.Errorf("dataset %q: format %q is not parquet, arrow, jsonl or raw", d.Name, d.Format)
	}
	keys := make(map[string]bool, len(d.Shards))
	for _, s := range d.Shards {
		if s.Key == "" || !utf8.ValidString(s.Key) || keys[s.Key] {
			return fmt.Errorf("dataset %q: shard key %q is empty or repeated", d.Name, s.Key)
		}
		keys[s.Key] = true
		if s.Rows < 0 || s.Bytes < 0 {
			return fmt.Errorf("dataset %q: shard %q has negative rows or bytes", d.Name, s.Key)
		}
	}
	return nil
}

type (
	putDatasetBody struct {
		Dataset Dataset `json:"dataset"`
		Replace bool    `json:"replace,omitempty"`
	}
	nameBody struct {
		Name string `json:"name"`
	}
	commitCursorBody struct {
		Cursor Cursor `json:"cursor"`
		Force  bool   `json:"force,omitempty"`
	}
	listCursorsBody struct {
		Dataset string `json:"dataset,omitempty"`
	}
)

type datasetsMachine struct {
	datasets map[string]Dataset
	cursors  map[string]Cursor
}

func newDatasetsMachine() machine {
	return &datasetsMachine{datasets: map[string]Dataset{}, cursors: map[string]Cursor{}}
}

func init() { registerMachine(ShardDatasets, newDatasetsMachine) }

func (m *datasetsMachine) kind() string { return DatasetsKind }

func (m *datasetsMachine) apply(_ uint64, cmd Command) (any, *Rejection) {
	switch cmd.Op {
	case "put_dataset":
		var b putDatasetBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "put_dataset: %v", err)
		}
		d := b.Dataset
		if err := d.validate(); err != nil {
			return nil, reject(RejectInvalid, "put_dataset: %v", err)
		}
		if d.Shards == nil {
			d.Shards = []DatasetShard{}
		}
		old, exists := m.datasets[d.Name]
		if exists && !b.Replace && !sameJSON(old, d) {
			return nil, reject(RejectExists, "dataset %q exists", d.Name)
		}
		m.datasets[d.Name] = d
		return createdResult{!exists}, nil
	case "delete_dataset":
		var b nameBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "delete_dataset: %v", err)
		}
		if _, ok := m.datasets[b.Name]; !ok {
			return nil, reject(RejectNotFound, "dataset %q does not exist", b.Name)
		}
		delete(m.datasets, b.Name)
		n := 0
		for name, c := range m.cursors {
			if c.Dataset == b.Name {
				delete(m.cursors, name)
				n++
			}
		}
		return struct {
			Cursors int `json:"cursors"`
		}{n}, nil
	case "commit_cursor":
		var b commitCursorBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "commit_cursor: %v", err)
		}
		return m.commitCursor(b)
	case "delete_cursor":
		var b nameBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "delete_cursor: %v", err)
		}
		if _, ok := m.cursors[b.Name]; !ok {
			return nil, reject(RejectNotFound, "cursor %q does not exist", b.Name)
		}
		delete(m.cursors, b.Name)
		return nil, nil
	}
	return nil, reject(RejectInvalid, "unknown datasets op %q", cmd.Op)
}

func (m *datasetsMachine) commitCursor(b commitCursorBody) (any, *Rejection) {
	c := b.Cursor
	switch {
	case c.Name == "" || len(c.Name) > 255 || !utf8.ValidString(c.Name):
		return nil, reject(RejectInvalid, "commit_cursor: bad cursor name %q", c.Name)
	case c.Epoch < 0 || c.Position < 0:
		return nil, reject(RejectInvalid, "commit_cursor: cursor %q: negative epoch or position", c.Name)
	case c.WorldSize < 1:
		return nil, reject(RejectInvalid, "commit_cursor: cursor %q: world size %d", c.Name, c.WorldSize)
	}
	d, ok := m.datasets[c.Dataset]
	if !ok {
		return nil, reject(RejectNotFound, "cursor %q: dataset %q does not exist", c.Name, c.Dataset)
	}
	if rows := d.Rows(); rows > 0 && c.Position > rows {
		return nil, reject(RejectInvalid, "commit_cursor: cursor %q: position %d is past the dataset's %d rows", c.Name, c.Position, rows)
	}
	if old, ok := m.cursors[c.Name]; ok && !b.Force {
		switch {
		case old.Dataset != c.Dataset:
			return nil, reject(RejectConflict, "cursor %q belongs to dataset %q, not %q", c.Name, old.Dataset, c.Dataset)
		case c.Epoch < old.Epoch:
			return nil, reject(RejectConflict, "cursor %q is at epoch %d; %d goes back (force to rewind)", c.Name, old.Epoch, c.Epoch)
		case c.Epoch == old.Epoch && c.Seed != old.Seed:
			return nil, reject(RejectConflict, "cursor %q: epoch %d was read with seed %d, not %d", c.Name, c.Epoch, old.Seed, c.Seed)
		case c.Epoch == old.Epoch && c.Position < old.Position:
			return nil, reject(RejectConflict, "cursor %q is at position %d of epoch %d; %d goes back (force to rewind)", c.Name, old.Position, c.Epoch, c.Position)
		}
	}
	m.cursors[c.Name] = c
	return c, nil
}

func (m *datasetsMachine) infos() []DatasetInfo {
	out := []DatasetInfo{}
	for _, name := range slices.Sorted(maps.Keys(m.datasets)) {
		d := m.datasets[name]
		info := DatasetInfo{Name: name, Source: d.Source, Format: d.Format, Shards: len(d.Shards), CreatedMs: d.CreatedMs}
		for _, s := range d.Shards {
			info.Rows += s.Rows
			info.Bytes += s.Bytes
		}
		out = append(out, info)
	}
	return out
}

func (m *datasetsMachine) cursorList(dataset string) []Cursor {
	out := []Cursor{}
	for _, name := range slices.Sorted(maps.Keys(m.cursors)) {
		if c := m.cursors[name]; dataset == "" || c.Dataset == dataset {
			out = append(out, c)
		}
	}
	return out
}

func (m *datasetsMachine) lookup(q any) (any, error) {
	query, err := asQuery(q)
	if err != nil {
		return nil, err
	}
	switch query.Op {
	case "get_dataset":
		var b nameBody
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		d, ok := m.datasets[b.Name]
		if !ok {
			return (*Dataset)(nil), nil
		}
		d.Shards = slices.Clone(d.Shards)
		d.Schema = slices.Clone(d.Schema)
		return &d, nil
	case "list_datasets":
		var b struct{}
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		return m.infos(), nil
	case "get_cursor":
		var b nameBody
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		if c, ok := m.cursors[b.Name]; ok {
			return &c, nil
		}
		return (*Cursor)(nil), nil
	case "list_cursors":
		var b listCursorsBody
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		return m.cursorList(b.Dataset), nil
	}
	return nil, reject(RejectInvalid, "unknown datasets lookup %q", query.Op)
}

type datasetsSnapshot struct {
	Datasets []Dataset `json:"datasets"`
	Cursors  []Cursor  `json:"cursors"`
}

func (m *datasetsMachine) save(w io.Writer) error {
	snap := datasetsSnapshot{Datasets: []Dataset{}, Cursors: m.cursorList("")}
	for _, name := range slices.Sorted(maps.Keys(m.datasets)) {
		snap.Datasets = append(snap.Datasets, m.datasets[name])
	}
	return writeJSON(w, snap)
}

func (m *datasetsMachine) load(r io.Reader) error {
	var snap datasetsSnapshot
	if err := decodeSnapshotBody(r, &snap); err != nil {
		return err
	}
	datasets := make(map[string]Dataset, len(snap.Datasets))
	for _, d := range snap.Datasets {
		if _, dup := datasets[d.Name]; dup {
			return fmt.Errorf("%w: datasets: dataset %q twice", ErrCorruptSnapshot, d.Name)
		}
		if d.Shards == nil {
			d.Shards = []DatasetShard{}
		}
		datasets[d.Name] = d
	}
	cursors := make(map[string]Cursor, len(snap.Cursors))
	for _, c := range snap.Cursors {
		if _, dup := cursors[c.Name]; dup {
			return fmt.Errorf("%w: datasets: cursor %q twice", ErrCorruptSnapshot, c.Name)
		}
		cursors[c.Name] = c
	}
	m.datasets, m.cursors = datasets, cursors
	return nil
}

// Datasets is the typed client of the datasets shard.
type Datasets struct{ p Proposer }

// NewDatasets returns a datasets client over p.
func NewDatasets(p Proposer) *Datasets { return &Datasets{p: p} }

// Put registers d (CreatedMs is the caller's clock). An existing name is an
// exists rejection unless replace.
func (c *Datasets) Put(ctx context.Context, d Dataset, replace bool) (created bool, err error) {
	var res createdResult
	err = proposeOp(ctx, c.p, ShardDatasets, "put_dataset", putDatasetBody{Dataset: d, Replace: replace}, &res)
	return res.Created, err
}

// Delete removes a dataset and its cursors, returning how many cursors went.
func (c *Datasets) Delete(ctx context.Context, name string) (cursors int, err error) {
	var res struct {
		Cursors int `json:"cursors"`
	}
	err = proposeOp(ctx, c.p, ShardDatasets, "delete_dataset", nameBody{Name: name}, &res)
	return res.Cursors, err
}

// Get returns a dataset; ok is false if there is none.
func (c *Datasets) Get(ctx context.Context, name string) (d Dataset, ok bool, err error) {
	p, err := readOp[*Dataset](ctx, c.p, ShardDatasets, "get_dataset", nameBody{Name: name})
	if err != nil || p == nil {
		return Dataset{}, false, err
	}
	return *p, true, nil
}

// List summarises every dataset, sorted by name.
func (c *Datasets) List(ctx context.Context) ([]DatasetInfo, error) {
	return readOp[[]DatasetInfo](ctx, c.p, ShardDatasets, "list_datasets", nil)
}

// CommitCursor stores a training cursor (UpdatedMs is the caller's clock).
// Without force it must not go back: an older epoch, another seed within
// the epoch, or a smaller position within the epoch is a conflict.
func (c *Datasets) CommitCursor(ctx context.Context, cur Cursor, force bool) (Cursor, error) {
	var out Cursor
	err := proposeOp(ctx, c.p, ShardDatasets, "commit_cursor", commitCursorBody{Cursor: cur, Force: force}, &out)
	return out, err
}

// GetCursor returns a cursor; ok is false if there is none.
func (c *Datasets) GetCursor(ctx context.Context, name string) (cur Cursor, ok bool, err error) {
	p, err := readOp[*Cursor](ctx, c.p, ShardDatasets, "get_cursor", nameBody{Name: name})
	if err != nil || p == nil {
		return Cursor{}, false, err
	}
	return *p, true, nil
}

// ListCursors lists cursors, of one dataset when dataset is not "".
func (c *Datasets) ListCursors(ctx context.Context, dataset string) ([]Cursor, error) {
	return readOp[[]Cursor](ctx, c.p, ShardDatasets, "list_cursors", listCursorsBody{Dataset: dataset})
}

// DeleteCursor removes a cursor (not_found if there is none).
func (c *Datasets) DeleteCursor(ctx context.Context, name string) error {
	return proposeOp(ctx, c.p, ShardDatasets, "delete_cursor", nameBody{Name: name}, nil)
}
