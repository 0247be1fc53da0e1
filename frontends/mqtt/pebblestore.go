package mqtt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// PebbleStore keeps persistent sessions and retained messages in a pebble
// database of their own, normally <data>/mqtt, so both survive a broker
// restart (and a crash: see the durability rule below). Sessions() and
// Retained() are the views that go in Options.Sessions and
// Options.Retained; the caller closes the store after the Server.
//
// Why a database of its own and not the lite engine's: the lite database's
// key space is topic|partition|offset with a format key that refuses
// foreign keys, and its life is the log's (topics are deleted with range
// deletions, its WAL is synced per topic flush policy). Session state is
// small, rewritten in place and deleted often; in its own database its
// compactions, its WAL syncs and its format version are its own, and
// `rm -r <data>/mqtt` resets the broker's sessions without touching a log.
// Nothing here must survive a node loss yet (see DESIGN.md), so nothing is
// in meta.
//
// Durability rule (doc.go, "Stored sessions and retained messages", has
// the key and value formats):
//
//  1. Enqueue (a QoS 1/2 message queued for an offline persistent
//     session, called by Server.publish before PUBACK / PUBREC), Put,
//     Delete and the retained Set of a QoS 1/2 message and every retained
//     Delete are one pebble batch each, applied with pebble.Sync: the call
//     returns after the WAL is fsynced. pebble's commit pipeline syncs
//     concurrent batches together (group commit), so concurrent
//     publishers share fsyncs instead of queueing for one each.
//  2. The retained Set of a QoS 0 message is applied without sync; a
//     background loop syncs the WAL within Options.FlushInterval (200 ms)
//     when such a write is pending. A crash loses at most that window of
//     QoS 0 retained updates, as QoS 0 allows.
//  3. $SYS/ retained messages are not stored: the broker publishes them
//     again after a restart.
//  4. Put rewrites the session value only when it changed, and writes a
//     queued message only when it is not stored yet (stored queue entries
//     are immutable): a Put at shutdown of a session that Put at its
//     disconnect writes nothing.
//  5. What a crash (kill -9, power loss) keeps: subscriptions as of the
//     last change, every message acknowledged to its publisher while its
//     persistent session was offline, retained messages (QoS 0 ones up to
//     FlushInterval before), and the in-flight and queued state of each
//     session as of its last disconnect. Messages sent to a connected
//     client and not acknowledged by it when the broker died are not
//     stored per message (no hook next to session.complete yet); messages
//     queued offline and sent after the client came back may be sent again
//     after a crash (at least once), since their entries go at the next
//     Put. A clean shutdown (Server.Close) stores everything.
//
// Every value carries a magic, a version and a CRC-32C; a value that
// fails them is ErrStoreCorrupt (All fails, naming the key, unless
// Options.DropCorrupt).
type PebbleStore struct {
	opts PebbleStoreOptions
	db   *pebble.DB
	seed maphash.Seed

	// gate is held shared by every operation that uses db and exclusively
	// by Close, so pebble is never called after Close (it panics).
	gate   sync.RWMutex
	closed bool

	// mu guards the hash of each client's last written session value.
	// Lock order: gate, then mu.
	mu struct {
		sync.Mutex
		session map[string]uint64
	}

	dirty atomic.Bool // an unsynced (QoS 0 retained) write is in the WAL
	stop  chan struct{}
	done  chan struct{}

	stats struct {
		batches, enqueued, dropped, retainedSets, retainedDeletes, syncs, errors, corrupt atomic.Int64
	}
}

// Defaults of PebbleStoreOptions.
const (
	DefaultStoreFlushInterval = 200 * time.Millisecond
	// StoreDirName is the store's directory under the data directory.
	StoreDirName = "mqtt"
)

// PebbleStoreOptions configure OpenPebbleStore.
type PebbleStoreOptions struct {
	// Dir is the pebble directory, normally <data>/mqtt.
	Dir string
	// FS is the file system; nil = vfs.Default.
	FS vfs.FS
	// Logger receives pebble's messages and the store's; nil = slog.Default().
	Logger *slog.Logger
	// FlushInterval bounds how long an unsynced write (a QoS 0 retained
	// message) waits for the WAL sync.
	FlushInterval time.Duration
	// DropCorrupt makes the loads (All) skip and delete a value that fails
	// its checks, logging it and counting it in Stats().Corrupt, instead
	// of failing with ErrStoreCorrupt (which keeps the broker from
	// starting). For an operator who accepts the loss of that one
	// session or message.
	DropCorrupt bool
}

// EnsureDefaults fills the unset fields.
func (o *PebbleStoreOptions) EnsureDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultStoreFlushInterval
	}
}

// Validate reports options that cannot work.
func (o PebbleStoreOptions) Validate() error {
	switch {
	case o.Dir == "":
		return errors.New("mqtt: PebbleStoreOptions.Dir is empty")
	case o.FlushInterval < 0:
		return errors.New("mqtt: PebbleStoreOptions.FlushInterval is negative")
	}
	return nil
}

// Store errors. ErrStoreCorrupt marks a value or key that fails its
// checks (torn, overwritten, another program's), so callers can tell it
// from an I/O error.
var (
	ErrStoreCorrupt = errors.New("mqtt: store value corrupt")
	ErrStoreClosed  = errors.New("mqtt: store closed")
)

// PebbleStoreStats are the store's counters.
type PebbleStoreStats struct {
	Batches         int64 // batches applied (Put, Delete, Enqueue, retained)
	Enqueued        int64 // messages stored by Enqueue
	Dropped         int64 // oldest queued messages deleted by Enqueue (queue bound)
	RetainedSets    int64
	RetainedDeletes int64
	Syncs           int64 // WAL syncs by the flush loop (unsynced writes)
	Errors          int64 // failed writes
	Corrupt         int64 // values dropped by All (DropCorrupt)
}

// OpenPebbleStore opens (creating if needed) the store in opts.Dir.
func OpenPebbleStore(opts PebbleStoreOptions) (*PebbleStore, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := opts.FS.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("mqtt: store: %w", err)
	}
	db, err := pebble.Open(opts.Dir, &pebble.Options{
		FS:                 opts.FS,
		Logger:             storePebbleLogger{opts.Logger},
		FormatMajorVersion: pebble.FormatNewest,
	})
	if err != nil {
		return nil, fmt.Errorf("mqtt: store: open %s: %w", opts.Dir, err)
	}
	if err := storeInitFormat(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("mqtt: store: %s: %w", opts.Dir, err)
	}
	p := &PebbleStore{opts: opts, db: db, seed: maphash.MakeSeed(), stop: make(chan struct{}), done: make(chan struct{})}
	p.mu.session = make(map[string]uint64)
	go p.flushLoop()
	return p, nil
}

// storeInitFormat checks the format key, writing it into a new database.
func storeInitFormat(db *pebble.DB) error {
	v, closer, err := db.Get(storeFormatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		it, err := db.NewIter(nil)
		if err != nil {
			return err
		}
		empty := !it.First()
		if err := it.Close(); err != nil {
			return err
		}
		if !empty {
			return fmt.Errorf("%w: database has keys but no format key", ErrStoreCorrupt)
		}
		return db.Set(storeFormatKey, sealValue(appendValueHeader(nil, kindFormat)), pebble.Sync)
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if _, err := openValue(v, kindFormat); err != nil {
		return fmt.Errorf("format key: %w", err)
	}
	return nil
}

// Sessions is the SessionStore (with Enqueue) for Options.Sessions.
func (p *PebbleStore) Sessions() SessionQueueStore { return pebbleSessions{p} }

// Retained is the RetainedStore for Options.Retained.
func (p *PebbleStore) Retained() RetainedStore { return pebbleRetained{p} }

// Stats returns the counters.
func (p *PebbleStore) Stats() PebbleStoreStats {
	return PebbleStoreStats{
		Batches: p.stats.batches.Load(), Enqueued: p.stats.enqueued.Load(), Dropped: p.stats.dropped.Load(),
		RetainedSets: p.stats.retainedSets.Load(), RetainedDeletes: p.stats.retainedDeletes.Load(),
		Syncs: p.stats.syncs.Load(), Errors: p.stats.errors.Load(), Corrupt: p.stats.corrupt.Load(),
	}
}

// Close syncs what is pending and closes the database. Close the Server
// first: it stores every session on Close.
func (p *PebbleStore) Close() error {
	p.gate.Lock()
	defer p.gate.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	close(p.stop)
	<-p.done
	err := p.db.LogData(nil, pebble.Sync)
	return errors.Join(err, p.db.Close())
}

// enter admits an operation that uses db; exit ends it.
func (p *PebbleStore) enter() error {
	p.gate.RLock()
	if p.closed {
		p.gate.RUnlock()
		return ErrStoreClosed
	}
	return nil
}

func (p *PebbleStore) exit() { p.gate.RUnlock() }

// apply commits b (synced or not) and counts it.
func (p *PebbleStore) apply(b *pebble.Batch, sync bool) error {
	defer b.Close()
	if b.Empty() {
		return nil
	}
	opt := pebble.Sync
	if !sync {
		opt = pebble.NoSync
	}
	if err := p.db.Apply(b, opt); err != nil {
		p.stats.errors.Add(1)
		return fmt.Errorf("mqtt: store: %w", err)
	}
	p.stats.batches.Add(1)
	if !sync {
		p.dirty.Store(true)
	}
	return nil
}

// flushLoop syncs the WAL every FlushInterval while unsynced writes wait.
func (p *PebbleStore) flushLoop() {
	defer close(p.done)
	t := time.NewTicker(p.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			if p.dirty.Swap(false) {
				if err := p.db.LogData(nil, pebble.Sync); err != nil {
					p.stats.errors.Add(1)
					p.opts.Logger.Warn("mqtt: store: WAL sync", "err", err)
					p.dirty.Store(true)
					continue
				}
				p.stats.syncs.Add(1)
			}
		}
	}
}

// corrupt handles a value of key that failed its checks during a load: an
// error (ErrStoreCorrupt, naming the key), or with DropCorrupt a deletion
// in b, a log line and a count.
func (p *PebbleStore) corrupt(b *pebble.Batch, key []byte, err error) error {
	if !p.opts.DropCorrupt {
		return fmt.Errorf("mqtt: store: key %q: %w", key, err)
	}
	p.stats.corrupt.Add(1)
	p.opts.Logger.Error("mqtt: store: dropping a corrupt value", "key", fmt.Sprintf("%q", key), "err", err)
	_ = b.Delete(key, nil)
	return nil
}

// ---- sessions ----

type pebbleSessions struct{ p *PebbleStore }

// Put stores the session value when it changed, deletes the stored queue
// entries at or below st.LastSeq that st.Queued no longer holds (sent,
// dropped) and writes the queued messages not stored yet; one synced
// batch.
func (s pebbleSessions) Put(st *StoredSession) error {
	p := s.p
	if err := p.enter(); err != nil {
		return err
	}
	defer p.exit()
	if len(st.ClientID) > math.MaxUint16 {
		return fmt.Errorf("mqtt: store: client id of %d bytes", len(st.ClientID))
	}
	val := encodeSessionValue(st)
	h := maphash.Bytes(p.seed, val)
	p.mu.Lock()
	old, had := p.mu.session[st.ClientID]
	p.mu.Unlock()
	b := p.db.NewBatch()
	if !had || old != h {
		_ = b.Set(sessionKey(st.ClientID), val, nil)
	}
	want := make(map[uint64]bool, len(st.Queued))
	for _, q := range st.Queued {
		want[q.Seq] = true
	}
	have := make(map[uint64]bool, len(st.Queued))
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: queueKey(st.ClientID, 0), UpperBound: queueBound(st.ClientID, st.LastSeq)})
	if err != nil {
		b.Close()
		return fmt.Errorf("mqtt: store: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		_, seq, kerr := decodeQueueKey(it.Key())
		if kerr != nil {
			continue // not ours to judge here; All reports it
		}
		if want[seq] {
			have[seq] = true
		} else {
			_ = b.Delete(it.Key(), nil)
		}
	}
	if err := it.Close(); err != nil {
		b.Close()
		return fmt.Errorf("mqtt: store: %w", err)
	}
	for i := range st.Queued {
		q := &st.Queued[i]
		if !have[q.Seq] {
			_ = b.Set(queueKey(st.ClientID, q.Seq), encodeQueuedValue(q), nil)
		}
	}
	if err := p.apply(b, true); err != nil {
		return err
	}
	p.mu.Lock()
	p.mu.session[st.ClientID] = h
	p.mu.Unlock()
	return nil
}

// Delete removes the session value and its whole queue; one synced batch.
func (s pebbleSessions) Delete(clientID string) error {
	p := s.p
	if err := p.enter(); err != nil {
		return err
	}
	defer p.exit()
	p.mu.Lock()
	delete(p.mu.session, clientID)
	p.mu.Unlock()
	if len(clientID) > math.MaxUint16 {
		return nil // never stored
	}
	b := p.db.NewBatch()
	_ = b.Delete(sessionKey(clientID), nil)
	_ = b.DeleteRange(queueKey(clientID, 0), queueBound(clientID, math.MaxUint64), nil)
	return p.apply(b, true)
}

// Enqueue stores each queued message under its session and Seq, and
// deletes the one the queue bound dropped; one synced batch, so it
// returns once every message is durable.
func (s pebbleSessions) Enqueue(changes []QueuedChange) error {
	p := s.p
	if err := p.enter(); err != nil {
		return err
	}
	defer p.exit()
	b := p.db.NewBatch()
	var dropped int64
	for i := range changes {
		ch := &changes[i]
		if len(ch.ClientID) > math.MaxUint16 {
			continue
		}
		_ = b.Set(queueKey(ch.ClientID, ch.Queued.Seq), encodeQueuedValue(&ch.Queued), nil)
		if ch.Dropped != 0 {
			_ = b.Delete(queueKey(ch.ClientID, ch.Dropped), nil)
			dropped++
		}
	}
	if err := p.apply(b, true); err != nil {
		return err
	}
	p.stats.enqueued.Add(int64(len(changes)))
	p.stats.dropped.Add(dropped)
	return nil
}

// All loads every session with its queue (in Seq order). Queue entries of
// a client with no session value (enqueued while its session ended) are
// deleted.
func (s pebbleSessions) All() ([]*StoredSession, error) {
	p := s.p
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.exit()
	fix := p.db.NewBatch() // orphans and dropped corrupt values
	// fix is closed by apply, or here on an early return: never twice (a
	// second Close of a pebble batch hands it back to pebble's pool again,
	// so two later NewBatch calls could share it).
	applied := false
	defer func() {
		if !applied {
			fix.Close()
		}
	}()
	var out []*StoredSession
	byID := make(map[string]*StoredSession)
	hashes := make(map[string]uint64)
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keySession}, UpperBound: []byte{keySession + 1}})
	if err != nil {
		return nil, fmt.Errorf("mqtt: store: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		id := string(it.Key()[1:])
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("mqtt: store: %w", err)
		}
		st, err := decodeSessionValue(id, v)
		if err != nil {
			if err := p.corrupt(fix, it.Key(), err); err != nil {
				it.Close()
				return nil, err
			}
			continue
		}
		out = append(out, st)
		byID[id] = st
		hashes[id] = maphash.Bytes(p.seed, v)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("mqtt: store: %w", err)
	}
	it, err = p.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyQueued}, UpperBound: []byte{keyQueued + 1}})
	if err != nil {
		return nil, fmt.Errorf("mqtt: store: %w", err)
	}
	orphans := 0
	for ok := it.First(); ok; ok = it.Next() {
		id, seq, err := decodeQueueKey(it.Key())
		if err != nil {
			if err := p.corrupt(fix, it.Key(), err); err != nil {
				it.Close()
				return nil, err
			}
			continue
		}
		st := byID[id]
		if st == nil {
			orphans++
			_ = fix.Delete(it.Key(), nil)
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("mqtt: store: %w", err)
		}
		q, err := decodeQueuedValue(seq, v)
		if err != nil {
			if err := p.corrupt(fix, it.Key(), err); err != nil {
				it.Close()
				return nil, err
			}
			continue
		}
		st.Queued = append(st.Queued, q)
		st.LastSeq = max(st.LastSeq, seq)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("mqtt: store: %w", err)
	}
	if orphans > 0 {
		p.opts.Logger.Info("mqtt: store: deleting queued messages of ended sessions", "messages", orphans)
	}
	applied = true
	if err := p.apply(fix, true); err != nil {
		return nil, err
	}
	p.mu.Lock()
	for id, h := range hashes {
		p.mu.session[id] = h
	}
	p.mu.Unlock()
	return out, nil
}

// ---- retained messages ----

type pebbleRetained struct{ p *PebbleStore }

// storedRetained reports whether topic's retained message is stored: $SYS/
// ones are the broker's statistics, published again at start.
func storedRetained(topic string) bool { return !strings.HasPrefix(topic, "$SYS/") }

// Set stores msg under its topic: synced for QoS 1/2, within FlushInterval
// for QoS 0.
func (r pebbleRetained) Set(msg *Message) error {
	p := r.p
	if !storedRetained(msg.Topic) {
		return nil
	}
	if err := p.enter(); err != nil {
		return err
	}
	defer p.exit()
	b := p.db.NewBatch()
	_ = b.Set(retainedKey(msg.Topic), encodeRetainedValue(msg), nil)
	if err := p.apply(b, msg.QoS > 0); err != nil {
		return err
	}
	p.stats.retainedSets.Add(1)
	return nil
}

// Delete removes topic's retained message, synced (a clear that a crash
// undid would bring an old message back).
func (r pebbleRetained) Delete(topic string) error {
	p := r.p
	if !storedRetained(topic) {
		return nil
	}
	if err := p.enter(); err != nil {
		return err
	}
	defer p.exit()
	b := p.db.NewBatch()
	_ = b.Delete(retainedKey(topic), nil)
	if err := p.apply(b, true); err != nil {
		return err
	}
	p.stats.retainedDeletes.Add(1)
	return nil
}

// All loads every retained message, by topic.
func (r pebbleRetained) All() ([]*Message, error) {
	p := r.p
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.exit()
	fix := p.db.NewBatch()
	// fix is closed by apply, or here on an early return: never twice (a
	// second Close of a pebble batch hands it back to pebble's pool again,
	// so two later NewBatch calls could share it).
	applied := false
	defer func() {
		if !applied {
			fix.Close()
		}
	}()
	var out []*Message
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyRetained}, UpperBound: []byte{keyRetained + 1}})
	if err != nil {
		return nil, fmt.Errorf("mqtt: store: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("mqtt: store: %w", err)
		}
		m, err := decodeRetainedValue(string(it.Key()[1:]), v)
		if err != nil {
			if err := p.corrupt(fix, it.Key(), err); err != nil {
				it.Close()
				return nil, err
			}
			continue
		}
		out = append(out, m)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("mqtt: store: %w", err)
	}
	applied = true
	if err := p.apply(fix, true); err != nil {
		return nil, err
	}
	return out, nil
}

// storePebbleLogger sends pebble's messages to slog.
type storePebbleLogger struct{ l *slog.Logger }

func (s storePebbleLogger) Infof(format string, args ...any) {
	s.l.Debug("mqtt store pebble: " + fmt.Sprintf(format, args...))
}

func (s storePebbleLogger) Errorf(format string, args ...any) {
	s.l.Error("mqtt store pebble: " + fmt.Sprintf(format, args...))
}

func (s storePebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.l.Error("mqtt store pebble: fatal: " + msg)
	panic(msg)
}

// ---- keys and values (doc.go, "Stored sessions and retained messages") ----

const (
	storeVersion = 1

	keySession  byte = 's'
	keyQueued   byte = 'q'
	keyRetained byte = 'r'

	kindFormat   byte = 'F'
	kindSession  byte = 'S'
	kindQueued   byte = 'Q'
	kindRetained byte = 'R'

	// delivery flags (queued and in-flight messages)
	dfQoS      = 0x03
	dfRetain   = 0x04
	dfReleased = 0x08
	// message flags
	mfQoS    = 0x03
	mfRetain = 0x04

	valueHeaderLen = 4 // magic 'M' 'Q', version, kind
	valueCRCLen    = 4
)

// storeFormatKey holds the database's magic and version; one byte, below
// every other key.
var storeFormatKey = []byte{0x00}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func sessionKey(id string) []byte { return append([]byte{keySession}, id...) }

func retainedKey(topic string) []byte { return append([]byte{keyRetained}, topic...) }

// queueKey is 'q' | len(id) u16 | id | seq u64, big-endian: a client's
// entries are contiguous and in Seq order.
func queueKey(id string, seq uint64) []byte {
	k := make([]byte, 0, 3+len(id)+8)
	k = append(k, keyQueued)
	k = binary.BigEndian.AppendUint16(k, uint16(len(id)))
	k = append(k, id...)
	return binary.BigEndian.AppendUint64(k, seq)
}

// queueBound is the first key after the client's entry seq.
func queueBound(id string, seq uint64) []byte { return append(queueKey(id, seq), 0) }

func decodeQueueKey(k []byte) (string, uint64, error) {
	if len(k) < 3+8 || k[0] != keyQueued {
		return "", 0, fmt.Errorf("%w: queue key of %d bytes", ErrStoreCorrupt, len(k))
	}
	n := int(binary.BigEndian.Uint16(k[1:]))
	if len(k) != 3+n+8 {
		return "", 0, fmt.Errorf("%w: queue key length %d with a client id of %d", ErrStoreCorrupt, len(k), n)
	}
	return string(k[3 : 3+n]), binary.BigEndian.Uint64(k[3+n:]), nil
}

func appendValueHeader(dst []byte, kind byte) []byte {
	return append(dst, 'M', 'Q', storeVersion, kind)
}

// sealValue appends the CRC-32C of everything before it.
func sealValue(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// openValue checks v's CRC, magic, version and kind and returns its body.
func openValue(v []byte, kind byte) ([]byte, error) {
	if len(v) < valueHeaderLen+valueCRCLen {
		return nil, fmt.Errorf("%w: value of %d bytes", ErrStoreCorrupt, len(v))
	}
	body, sum := v[:len(v)-valueCRCLen], binary.BigEndian.Uint32(v[len(v)-valueCRCLen:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrStoreCorrupt)
	}
	switch {
	case body[0] != 'M' || body[1] != 'Q':
		return nil, fmt.Errorf("%w: bad magic %x", ErrStoreCorrupt, body[:2])
	case body[2] != storeVersion:
		return nil, fmt.Errorf("%w: unknown version %d", ErrStoreCorrupt, body[2])
	case body[3] != kind:
		return nil, fmt.Errorf("%w: kind %q where %q belongs", ErrStoreCorrupt, body[3], kind)
	}
	return body[valueHeaderLen:], nil
}

func storeAppendBytes(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func storeAppendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

func appendMessage(b []byte, m *Message) []byte {
	b = storeAppendString(b, m.Topic)
	b = storeAppendBytes(b, m.Payload)
	f := m.QoS & mfQoS
	if m.Retain {
		f |= mfRetain
	}
	b = append(b, f)
	b = storeAppendString(b, m.From)
	b = appendTime(b, m.Created)
	return appendMessageProps(b, &m.Props)
}

// Message property presence bits (the properties that travel with a
// message: messageProps).
const (
	mpPayloadFormat = 1 << iota
	mpMessageExpiry
	mpContentType
	mpResponseTopic
	mpCorrelationData
	mpAll = 1<<iota - 1
)

// appendMessageProps writes the message properties in the store's own
// layout, not the wire's: the wire decoder refuses what the broker may hold
// (an injected content type that is not UTF-8), and a load must not.
func appendMessageProps(b []byte, p *Properties) []byte {
	var present byte
	for i, id := range []PropID{PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic, PropCorrelationData} {
		if p.Has(id) {
			present |= 1 << i
		}
	}
	b = append(b, present)
	if present&mpPayloadFormat != 0 {
		b = append(b, p.PayloadFormat)
	}
	if present&mpMessageExpiry != 0 {
		b = binary.BigEndian.AppendUint32(b, p.MessageExpiry)
	}
	if present&mpContentType != 0 {
		b = storeAppendString(b, p.ContentType)
	}
	if present&mpResponseTopic != 0 {
		b = storeAppendString(b, p.ResponseTopic)
	}
	if present&mpCorrelationData != 0 {
		b = storeAppendBytes(b, p.CorrelationData)
	}
	b = binary.AppendUvarint(b, uint64(len(p.User)))
	for _, u := range p.User {
		b = storeAppendString(storeAppendString(b, u.Key), u.Value)
	}
	return b
}

func appendDelivery(b []byte, qos byte, retain, released bool, subIDs []uint32, m *Message) []byte {
	f := qos & dfQoS
	if retain {
		f |= dfRetain
	}
	if released {
		f |= dfReleased
	}
	b = append(b, f)
	b = binary.AppendUvarint(b, uint64(len(subIDs)))
	for _, id := range subIDs {
		b = binary.AppendUvarint(b, uint64(id))
	}
	return appendMessage(b, m)
}

func encodeSessionValue(st *StoredSession) []byte {
	b := appendValueHeader(make([]byte, 0, 64), kindSession)
	b = append(b, st.Version)
	b = binary.BigEndian.AppendUint32(b, st.ExpiryInterval)
	b = appendTime(b, st.DisconnectedAt)
	b = binary.AppendUvarint(b, st.LastSeq)
	b = binary.AppendUvarint(b, uint64(len(st.Subscriptions)))
	for _, s := range st.Subscriptions {
		b = storeAppendString(b, s.Filter)
		o := s.QoS & 0x03
		if s.NoLocal {
			o |= 0x04
		}
		if s.RetainAsPublished {
			o |= 0x08
		}
		o |= (s.RetainHandling & 0x03) << 4
		b = append(b, o)
		b = binary.AppendUvarint(b, uint64(s.ID))
	}
	b = binary.AppendUvarint(b, uint64(len(st.Inflight)))
	for _, in := range st.Inflight {
		b = binary.BigEndian.AppendUint16(b, in.PacketID)
		b = appendDelivery(b, in.QoS, in.Retain, in.Released, in.SubIDs, in.Msg)
	}
	b = binary.AppendUvarint(b, uint64(len(st.InboundQoS2)))
	for _, id := range st.InboundQoS2 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	return sealValue(b)
}

func encodeQueuedValue(q *StoredQueued) []byte {
	b := appendValueHeader(make([]byte, 0, 64), kindQueued)
	return sealValue(appendDelivery(b, q.QoS, q.Retain, false, q.SubIDs, q.Msg))
}

func encodeRetainedValue(m *Message) []byte {
	return sealValue(appendMessage(appendValueHeader(make([]byte, 0, 64), kindRetained), m))
}

// valueReader decodes a value body; the first error sticks.
type valueReader struct {
	b   []byte
	err error
}

func (r *valueReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrStoreCorrupt}, args...)...)
	}
}

func (r *valueReader) u8() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail("short value")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *valueReader) u16() uint16 {
	if r.err != nil || len(r.b) < 2 {
		r.fail("short value")
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *valueReader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.fail("short value")
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *valueReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *valueReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads an element count, each element at least min bytes long.
func (r *valueReader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.fail("count %d beyond the value", n)
		return 0
	}
	return int(n)
}

func (r *valueReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail("length %d beyond the value", n)
		return nil
	}
	v := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return v
}

func (r *valueReader) str() string { return string(r.bytes()) }

func (r *valueReader) time() time.Time {
	ns := r.varint()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (r *valueReader) message() *Message {
	m := &Message{Topic: r.str()}
	m.Payload = r.bytes()
	f := r.u8()
	if f&^(mfQoS|mfRetain) != 0 || f&mfQoS == 3 {
		r.fail("message flags %#x", f)
	}
	m.QoS, m.Retain = f&mfQoS, f&mfRetain != 0
	m.From = r.str()
	m.Created = r.time()
	if r.err != nil {
		return nil
	}
	if err := validTopicName(m.Topic); err != nil {
		r.fail("message topic %q: %v", m.Topic, err)
		return nil
	}
	r.messageProps(&m.Props)
	if r.err != nil {
		return nil
	}
	return m
}

// messageProps reads appendMessageProps's layout.
func (r *valueReader) messageProps(p *Properties) {
	present := r.u8()
	if present&^mpAll != 0 {
		r.fail("message property bits %#x", present)
		return
	}
	if present&mpPayloadFormat != 0 {
		p.PayloadFormat = r.u8()
		p.Set(PropPayloadFormat)
	}
	if present&mpMessageExpiry != 0 {
		p.MessageExpiry = r.u32()
		p.Set(PropMessageExpiry)
	}
	if present&mpContentType != 0 {
		p.ContentType = r.str()
		p.Set(PropContentType)
	}
	if present&mpResponseTopic != 0 {
		p.ResponseTopic = r.str()
		p.Set(PropResponseTopic)
	}
	if present&mpCorrelationData != 0 {
		p.CorrelationData = r.bytes()
		p.Set(PropCorrelationData)
	}
	for n := r.count(2); n > 0 && r.err == nil; n-- {
		k := r.str()
		p.User = append(p.User, UserProperty{k, r.str()})
	}
}

// delivery reads a queued or in-flight message's delivery fields.
func (r *valueReader) delivery() (qos byte, retain, released bool, subIDs []uint32, m *Message) {
	f := r.u8()
	if f&^(dfQoS|dfRetain|dfReleased) != 0 || f&dfQoS == 0 || f&dfQoS == 3 {
		r.fail("delivery flags %#x", f)
	}
	if n := r.count(1); n > 0 {
		subIDs = make([]uint32, n)
		for i := range subIDs {
			v := r.uvarint()
			if v == 0 || v > MaxVarint {
				r.fail("subscription identifier %d", v)
			}
			subIDs[i] = uint32(v)
		}
	}
	m = r.message()
	return f & dfQoS, f&dfRetain != 0, f&dfReleased != 0, subIDs, m
}

// end fails unless the body was read to its end.
func (r *valueReader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the value", len(r.b))
	}
	return r.err
}

// decodeSessionValue decodes the session value of client id.
func decodeSessionValue(id string, v []byte) (*StoredSession, error) {
	body, err := openValue(v, kindSession)
	if err != nil {
		return nil, err
	}
	r := &valueReader{b: body}
	st := &StoredSession{ClientID: id}
	st.Version = r.u8()
	if r.err == nil && st.Version > Version5 { // 0: a session the broker never saw connect (kept as is)
		r.fail("protocol level %d", st.Version)
	}
	st.ExpiryInterval = r.u32()
	st.DisconnectedAt = r.time()
	st.LastSeq = r.uvarint()
	for n := r.count(3); n > 0 && r.err == nil; n-- {
		var s StoredSubscription
		s.Filter = r.str()
		o := r.u8()
		if o&0xC0 != 0 || o&0x03 == 3 || o>>4&0x03 == 3 {
			r.fail("subscription options %#x", o)
		}
		s.QoS, s.NoLocal, s.RetainAsPublished, s.RetainHandling = o&0x03, o&0x04 != 0, o&0x08 != 0, o>>4&0x03
		id := r.uvarint()
		if id > MaxVarint {
			r.fail("subscription identifier %d", id)
		}
		s.ID = uint32(id)
		st.Subscriptions = append(st.Subscriptions, s)
	}
	for n := r.count(4); n > 0 && r.err == nil; n-- {
		var in StoredInflight
		in.PacketID = r.u16()
		if r.err == nil && in.PacketID == 0 {
			r.fail("packet id 0 in flight")
		}
		in.QoS, in.Retain, in.Released, in.SubIDs, in.Msg = r.delivery()
		if in.Released && in.QoS != 2 {
			r.fail("released QoS %d message", in.QoS)
		}
		st.Inflight = append(st.Inflight, in)
	}
	for n := r.count(2); n > 0 && r.err == nil; n-- {
		st.InboundQoS2 = append(st.InboundQoS2, r.u16())
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return st, nil
}

// decodeQueuedValue decodes the queue entry seq.
func decodeQueuedValue(seq uint64, v []byte) (StoredQueued, error) {
	body, err := openValue(v, kindQueued)
	if err != nil {
		return StoredQueued{}, err
	}
	r := &valueReader{b: body}
	q := StoredQueued{Seq: seq}
	var released bool
	q.QoS, q.Retain, released, q.SubIDs, q.Msg = r.delivery()
	if released {
		r.fail("released flag on a queued message")
	}
	if err := r.end(); err != nil {
		return StoredQueued{}, err
	}
	return q, nil
}

// decodeRetainedValue decodes the retained message stored under topic.
func decodeRetainedValue(topic string, v []byte) (*Message, error) {
	body, err := openValue(v, kindRetained)
	if err != nil {
		return nil, err
	}
	r := &valueReader{b: body}
	m := r.message()
	if err := r.end(); err != nil {
		return nil, err
	}
	if m.Topic != topic {
		return nil, fmt.Errorf("%w: retained message of %q stored under %q", ErrStoreCorrupt, m.Topic, topic)
	}
	return m, nil
}
