package kafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

// groupCoordinator runs consumer groups for a Server: the classic protocol
// (JoinGroup, SyncGroup, Heartbeat, LeaveGroup; group_classic.go) and
// KIP-848 (ConsumerGroupHeartbeat; group_consumer.go), plus offsets
// (08_offset_commit.go, 09_offset_fetch.go, 47_offset_delete.go). This
// node is the coordinator of every group.
//
// Files: group_coordinator.go (this: lifecycle, load, write-behind of
// group metadata, states), group_classic.go, group_consumer.go (with the
// "uniform" and "range" server assignors), group_store.go (the store
// and topic lookup seams, an in-memory store), group_clock.go (timers on
// a clock a test can fake), group_metrics.go, and one file per API key.
// Tests: the spec in testdata/groups (group_spec_test.go, fake time),
// randomized simulated clients (group_sim_test.go), fuzzing
// (group_fuzz_test.go), and real clients over sockets
// (group_clients_test.go: franz-go, sarama, kafka-go, kcat).
//
// Invariants:
//
//  1. All group state lives in mu.groups and is read and written with mu
//     held; timers (gtimer) run their callbacks with mu held, and a
//     stopped timer never runs.
//  2. A request that must wait (JoinGroup in PreparingRebalance, SyncGroup
//     in CompletingRebalance) parks a waiter; a waiter is answered exactly
//     once, with mu held, by a non-blocking send on a buffered channel. A
//     parked member is alive: its session timer restarts when answered.
//  3. Committed offsets are written to the store synchronously before
//     OffsetCommit is answered; group metadata (membership, generation,
//     assignments) is written behind by the persister, latest state wins.
//     Group metadata written behind is for a restarted coordinator to
//     reload, so that members can carry on with their member ids.
//  4. Lock order: storeMu before mu. storeMu serialises metadata writes
//     (persister, DeleteGroups) so that a stale put never lands after a
//     delete. No store call is made with mu held.
//  5. Until the groups stored in meta are loaded, group requests are
//     answered COORDINATOR_LOAD_IN_PROGRESS.
//  6. A KIP-848 partition has at most one owner (consumerGroup.owners): a
//     partition moves only after its owner confirmed the revocation.
//
// Non-obvious:
//
//   - A KIP-848 group is stored with Protocol "kip848:<assignor>" and each
//     member's epochs and assignments as JSON in its Metadata; that is how
//     a reload tells it from a classic group of protocol type "consumer".
//   - An empty group's first rebalance waits InitialRebalanceDelay (Kafka's
//     group.initial.rebalance.delay.ms), so that consumers starting
//     together land in one generation instead of one rebalance each.
//   - OffsetFetch of an unknown group answers -1 offsets, not an error, as
//     Kafka does; OffsetCommit creates a "simple" group (no members) for
//     a generation -1 commit.
//   - Metadata identical to the last written (but for its time) is not
//     written again: KIP-848 heartbeats mark their group dirty each time.
type groupCoordinator struct {
	srv    *Server
	opts   GroupOptions
	log    *slog.Logger
	clock  clock
	store  groupStore
	topics topicLookup
	// newMemberID makes a member id from a client id; random unless a
	// test makes it deterministic.
	newMemberID func(clientID string) string

	metrics *groupMetrics

	loaded chan struct{} // closed once stored groups are loaded
	done   chan struct{} // closed by close
	wg     sync.WaitGroup
	kick   chan struct{} // cap 1: wakes the persister (full: already awake)

	storeMu sync.Mutex
	// written is the metadata last written per group; storeMu guards it.
	written map[string]meta.GroupMetadata
	mu      struct {
		sync.Mutex
		closed bool
		groups map[string]*group
		// dirty: groups whose metadata the persister must write. Bounded
		// by the number of groups; a group marked twice is written once
		// with its latest state (full-policy: coalesce).
		dirty map[string]struct{}
	}
}

// GroupOptions configure the group coordinator. The zero value is
// Kafka's defaults.
type GroupOptions struct {
	// MinSessionTimeout and MaxSessionTimeout bound a classic member's
	// session timeout (group.min/max.session.timeout.ms: 6s, 30m).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is how long the first rebalance of an empty
	// group waits for more members, extended by each join up to the
	// rebalance timeout (group.initial.rebalance.delay.ms: 3s). Negative
	// means none.
	InitialRebalanceDelay time.Duration
	// MaxGroupSize caps the members of a group (group.max.size); 0 is
	// unlimited.
	MaxGroupSize int
	// ConsumerSessionTimeout and ConsumerHeartbeatInterval are KIP-848's
	// group.consumer.session.timeout.ms (45s) and
	// group.consumer.heartbeat.interval.ms (5s).
	ConsumerSessionTimeout, ConsumerHeartbeatInterval time.Duration
	// StoreTimeout bounds one call to meta (10s).
	StoreTimeout time.Duration
}

// EnsureDefaults fills zero fields with Kafka's defaults.
func (o *GroupOptions) EnsureDefaults() {
	if o.MinSessionTimeout == 0 {
		o.MinSessionTimeout = 6 * time.Second
	}
	if o.MaxSessionTimeout == 0 {
		o.MaxSessionTimeout = 30 * time.Minute
	}
	if o.InitialRebalanceDelay == 0 {
		o.InitialRebalanceDelay = 3 * time.Second
	}
	if o.ConsumerSessionTimeout == 0 {
		o.ConsumerSessionTimeout = 45 * time.Second
	}
	if o.ConsumerHeartbeatInterval == 0 {
		o.ConsumerHeartbeatInterval = 5 * time.Second
	}
	if o.StoreTimeout == 0 {
		o.StoreTimeout = 10 * time.Second
	}
}

// Validate reports inconsistent options.
func (o GroupOptions) Validate() error {
	if o.MinSessionTimeout < 0 || o.MaxSessionTimeout < o.MinSessionTimeout {
		return fmt.Errorf("kafka: group session timeouts %v..%v", o.MinSessionTimeout, o.MaxSessionTimeout)
	}
	if o.MaxGroupSize < 0 {
		return fmt.Errorf("kafka: group max size %d is negative", o.MaxGroupSize)
	}
	if o.ConsumerHeartbeatInterval <= 0 || o.ConsumerSessionTimeout <= o.ConsumerHeartbeatInterval {
		return fmt.Errorf("kafka: consumer heartbeat interval %v must be positive and below the session timeout %v", o.ConsumerHeartbeatInterval, o.ConsumerSessionTimeout)
	}
	return nil
}

func newGroupCoordinator(s *Server) *groupCoordinator {
	var store groupStore
	if s.opts.Node != nil {
		store = meta.NewGroups(s.opts.Node)
	} else {
		s.log.Warn("kafka: no meta node; committed offsets are kept in memory only")
		store = newMemGroupStore()
	}
	var opts GroupOptions
	opts.EnsureDefaults()
	c := newCoordinator(opts, s.log, wallClock{}, store, storeTopics{s: s.opts.Store, ids: s.topicIDs})
	c.srv = s
	if err := c.metrics.register(s.opts.Registerer); err != nil {
		s.log.Warn("kafka: registering group metrics", "err", err)
	}
	c.start()
	return c
}

// newCoordinator builds a coordinator that is not loading yet; start
// begins the load and the persister.
func newCoordinator(opts GroupOptions, log *slog.Logger, clk clock, store groupStore, topics topicLookup) *groupCoordinator {
	c := &groupCoordinator{
		opts: opts, log: log, clock: clk, store: store, topics: topics,
		newMemberID: randomMemberID,
		loaded:      make(chan struct{}),
		done:        make(chan struct{}),
		kick:        make(chan struct{}, 1),
	}
	c.mu.groups = map[string]*group{}
	c.mu.dirty = map[string]struct{}{}
	c.written = map[string]meta.GroupMetadata{}
	c.metrics = newGroupMetrics(c)
	return c
}

func (c *groupCoordinator) start() {
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.loadLoop() }()
	go func() { defer c.wg.Done(); c.persistLoop() }()
}

// close stops the coordinator's timers and goroutines. Parked requests are
// answered COORDINATOR_NOT_AVAILABLE, so that their clients look for the
// coordinator again; group metadata not yet written is written first.
func (c *groupCoordinator) close() {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.closed = true
	for _, g := range c.mu.groups {
		g.stopTimers()
		g.failWaiters(kerr.CoordinatorNotAvailable.Code)
	}
	c.mu.Unlock()
	close(c.done)
	c.wg.Wait()
	c.flush(true)
	if c.srv != nil {
		c.metrics.unregister(c.srv.opts.Registerer)
	}
}

// randomMemberID is Kafka's member id form: client id, '-', a UUID.
func randomMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return clientID + "-" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// coordinatorAddr is this node as FindCoordinator names it: the
// Server's advertised broker address.
func (c *groupCoordinator) coordinatorAddr() (nodeID int32, host string, port int32) {
	host, port = c.srv.advertised()
	return c.srv.opts.BrokerID, host, port
}

// ready reports whether stored groups are loaded.
func (c *groupCoordinator) ready() bool {
	select {
	case <-c.loaded:
		return true
	default:
		return false
	}
}

// caller is who sent a group request.
type caller struct {
	clientID string
	host     string // "/ip", as Kafka reports a member's client host
}

func callerOf(rc *reqCtx) caller {
	host := ""
	if rc.conn != nil {
		host = rc.conn.remoteAddr
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	return caller{clientID: rc.clientID, host: "/" + host}
}

// await waits for a parked request's response.
func await(ctx context.Context, ch <-chan kmsg.Response) (kmsg.Response, error) {
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// replyChan returns a reply function for a parked request and the channel
// its response arrives on.
func replyChan() (func(kmsg.Response), <-chan kmsg.Response) {
	ch := make(chan kmsg.Response, 1)
	return func(r kmsg.Response) {
		select {
		case ch <- r:
		default: // answered twice: a broken invariant 2, keep the first
		}
	}, ch
}

// storeCtx is the context of one store call.
func (c *groupCoordinator) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.opts.StoreTimeout)
}

// storeErrCode maps a store failure to a Kafka error code: meta not
// reachable is COORDINATOR_NOT_AVAILABLE (clients retry), anything else
// UNKNOWN_SERVER_ERROR.
func storeErrCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, meta.ErrNoQuorum), errors.Is(err, meta.ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.CoordinatorNotAvailable.Code
	case meta.RejectedWith(err, meta.RejectInvalid):
		return kerr.InvalidRequest.Code
	}
	return kerr.UnknownServerError.Code
}

// --- group ---

// groupState is a group's state: the classic protocol's five and KIP-848's.
type groupState int8

const (
	groupEmpty groupState = iota
	groupPreparingRebalance
	groupCompletingRebalance
	groupStable
	groupDead
	groupAssigning
	groupReconciling
)

var groupStateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Assigning", "Reconciling"}

func (s groupState) String() string { return groupStateNames[s] }

func parseGroupState(s string) (groupState, bool) {
	i := slices.Index(groupStateNames[:], s)
	return groupState(i), i >= 0
}

const (
	groupTypeClassic  = "classic"
	groupTypeConsumer = "consumer"
)

// group is one consumer group; every field is guarded by the
// coordinator's mu.
type group struct {
	c     *groupCoordinator
	name  string
	typ   string // groupTypeClassic or groupTypeConsumer
	state groupState

	// staticMembers maps group.instance.id to member id, both protocols.
	staticMembers map[string]string

	// Classic protocol.
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	pending      map[string]*member // given MEMBER_ID_REQUIRED, not joined yet
	protocols    map[string]int     // protocol name -> members supporting it
	nJoining     int                // members with a parked JoinGroup
	tRebalance   *gtimer
	delayCap     time.Time // while the initial join delay runs: its latest end
	pendingSync  map[string]struct{}
	tPendingSync *gtimer

	// KIP-848.
	cg *consumerGroup
}

func (c *groupCoordinator) newGroup(name string) *group {
	return &group{
		c: c, name: name, typ: groupTypeClassic, state: groupEmpty,
		staticMembers: map[string]string{},
		members:       map[string]*member{},
		pending:       map[string]*member{},
		protocols:     map[string]int{},
	}
}

// getOrCreate returns the group, creating an Empty classic one. mu held.
func (c *groupCoordinator) getOrCreate(name string) *group {
	g := c.mu.groups[name]
	if g == nil {
		g = c.newGroup(name)
		c.mu.groups[name] = g
	}
	return g
}

// markDirty queues g's metadata for the persister. mu held.
func (g *group) markDirty() { g.c.mu.dirty[g.name] = struct{}{} }

func (g *group) stopTimers() {
	for _, m := range g.members {
		m.t.stop()
	}
	for _, m := range g.pending {
		m.t.stop()
	}
	g.tRebalance.stop()
	g.tPendingSync.stop()
	if g.cg != nil {
		for _, m := range g.cg.members {
			m.t.stop()
			m.tRebal.stop()
		}
	}
}

// failWaiters answers every parked request with code.
func (g *group) failWaiters(code int16) {
	for _, m := range g.members {
		if m.waiting != nil {
			w := m.waiting
			m.waiting = nil
			w.fail(code)
		}
	}
}

// isEmpty reports whether the group has no members of either protocol.
func (g *group) isEmpty() bool {
	if g.typ == groupTypeConsumer {
		return g.cg.activeCount() == 0
	}
	return len(g.members) == 0
}

// --- persistence ---

// kickPersister wakes the persister if any group is dirty.
func (c *groupCoordinator) kickPersister() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *groupCoordinator) persistLoop() {
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-c.done:
			return
		case <-c.kick:
		}
		if c.flush(false) {
			backoff = 50 * time.Millisecond
			continue
		}
		// A write failed and the group is dirty again: retry later.
		select {
		case <-c.done:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
		c.kickPersister()
	}
}

// flush writes every dirty group's metadata and reports whether all writes
// succeeded; failed ones stay dirty. Metadata equal to what was last
// written (but for its time) is not written again: a KIP-848 heartbeat
// marks its group dirty, and most change nothing. Each write gets
// StoreTimeout; a flush at close gets one StoreTimeout for all of them.
func (c *groupCoordinator) flush(closing bool) bool {
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	c.mu.Lock()
	var mds []meta.GroupMetadata
	for name := range c.mu.dirty {
		if g := c.mu.groups[name]; g != nil {
			mds = append(mds, g.metadata())
		}
	}
	clear(c.mu.dirty)
	c.mu.Unlock()
	var all context.Context = context.Background()
	if closing {
		var cancel context.CancelFunc
		all, cancel = c.storeCtx()
		defer cancel()
	}
	ok := true
	for _, md := range mds {
		if last, ok := c.written[md.Group]; ok && sameMetadata(last, md) {
			continue
		}
		ctx, cancel := context.WithTimeout(all, c.opts.StoreTimeout)
		err := c.store.PutGroup(ctx, md, nil)
		cancel()
		if meta.RejectedWith(err, meta.RejectInvalid) {
			// Retrying cannot help: a broken invariant, logged once.
			c.log.Error("kafka: group metadata refused by meta", "group", md.Group, "err", err)
			continue
		}
		if err != nil {
			c.log.Warn("kafka: writing group metadata", "group", md.Group, "err", err)
			c.mu.Lock()
			if c.mu.groups[md.Group] != nil {
				c.mu.dirty[md.Group] = struct{}{}
			}
			c.mu.Unlock()
			ok = false
			continue
		}
		c.written[md.Group] = md
	}
	return ok
}

// sameMetadata compares two writes of a group but for their time.
func sameMetadata(a, b meta.GroupMetadata) bool {
	a.StateTimeMs, b.StateTimeMs = 0, 0
	return reflect.DeepEqual(a, b)
}

// kip848Protocol prefixes the stored Protocol of a KIP-848 group (then
// the server assignor's name): that is how a reload tells the two kinds
// of "consumer" group apart.
const kip848Protocol = "kip848:"

// metadata is g as stored in meta. mu held.
func (g *group) metadata() meta.GroupMetadata {
	md := meta.GroupMetadata{
		Group: g.name, State: g.state.String(), StateTimeMs: g.c.clock.now().UnixMilli(),
	}
	if g.typ == groupTypeConsumer {
		g.cg.fillMetadata(&md)
		return md
	}
	md.ProtocolType, md.Protocol, md.Generation, md.Leader = g.protocolType, g.protocol, g.generation, g.leader
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		m := g.members[id]
		gm := meta.GroupMember{
			MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			SessionTimeoutMs: m.sessionTimeoutMs, RebalanceTimeoutMs: m.rebalanceTimeoutMs,
			Assignment: m.assignment,
		}
		gm.Metadata = m.protocolMetadata(g.protocol)
		if g.protocol == "" && len(m.protocols) > 0 {
			gm.Metadata = m.protocols[0].Metadata
		}
		md.Members = append(md.Members, gm)
	}
	if _, ok := g.members[md.Leader]; !ok {
		md.Leader = ""
	}
	return md
}

// loadLoop loads the stored groups, retrying until it succeeds or the
// coordinator closes.
func (c *groupCoordinator) loadLoop() {
	backoff := 50 * time.Millisecond
	for {
		err := c.load()
		if err == nil {
			close(c.loaded)
			return
		}
		c.log.Info("kafka: loading consumer groups, retrying", "err", err)
		select {
		case <-c.done:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (c *groupCoordinator) load() error {
	ctx, cancel := c.storeCtx()
	sums, err := c.store.ListGroups(ctx)
	cancel()
	if err != nil {
		return err
	}
	mds := make([]*meta.GroupMetadata, len(sums))
	for i, s := range sums {
		ctx, cancel := c.storeCtx()
		md, ok, err := c.store.GetGroup(ctx, s.Group)
		cancel()
		if err != nil {
			return err
		}
		if ok {
			mds[i] = &md
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range sums {
		if c.mu.groups[s.Group] != nil {
			continue
		}
		g := c.newGroup(s.Group)
		if md := mds[i]; md != nil {
			g.restore(*md)
		}
		c.mu.groups[s.Group] = g
	}
	if len(sums) > 0 {
		c.log.Info("kafka: consumer groups loaded", "groups", len(sums))
	}
	return nil
}

// restore rebuilds g from its stored metadata. Members come back with
// their member ids and a fresh session timer; a group that was
// mid-rebalance starts the rebalance again. mu held.
func (g *group) restore(md meta.GroupMetadata) {
	if strings.HasPrefix(md.Protocol, kip848Protocol) {
		g.typ = groupTypeConsumer
		g.cg = newConsumerGroup(g)
		g.cg.restore(md)
		return
	}
	g.protocolType, g.protocol, g.generation, g.leader = md.ProtocolType, md.Protocol, md.Generation, md.Leader
	st, _ := parseGroupState(md.State)
	for _, gm := range md.Members {
		m := &member{
			id: gm.MemberID, instanceID: gm.InstanceID, clientID: gm.ClientID, clientHost: gm.ClientHost,
			sessionTimeoutMs: gm.SessionTimeoutMs, rebalanceTimeoutMs: gm.RebalanceTimeoutMs,
			protocolType: md.ProtocolType,
			protocols:    []kmsg.JoinGroupRequestProtocol{{Name: md.Protocol, Metadata: gm.Metadata}},
			assignment:   gm.Assignment,
		}
		g.addMember(m)
		g.heartbeatSeen(m)
	}
	switch {
	case len(g.members) == 0:
		g.state = groupEmpty
	case st == groupStable:
		g.state = groupStable
	default:
		// Mid-rebalance when the coordinator stopped: members learn of
		// the rebalance from their next heartbeat and rejoin.
		g.state = groupStable
		g.rebalance()
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// setTiming replaces the options that are only read with mu held (the
// session bounds, the initial join delay, the group size cap and the
// KIP-848 session and heartbeat interval). Tests use it to run groups on
// short timers; the StoreTimeout stays.
func (c *groupCoordinator) setTiming(o GroupOptions) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o.EnsureDefaults()
	c.opts.MinSessionTimeout, c.opts.MaxSessionTimeout = o.MinSessionTimeout, o.MaxSessionTimeout
	c.opts.InitialRebalanceDelay, c.opts.MaxGroupSize = o.InitialRebalanceDelay, o.MaxGroupSize
	c.opts.ConsumerSessionTimeout, c.opts.ConsumerHeartbeatInterval = o.ConsumerSessionTimeout, o.ConsumerHeartbeatInterval
}

// adoptStored brings groups that the store holds but this coordinator
// does not into memory: groups whose only trace is offsets committed
// around it (the transaction coordinator commits a transaction's offsets
// to the store directly). DescribeGroups, ListGroups, DeleteGroups and
// OffsetDelete call it so that they see every group the store has. A
// store failure leaves the group out. No lock held.
func (c *groupCoordinator) adoptStored(names []string) {
	c.mu.Lock()
	var missing []string
	for _, n := range names {
		if n != "" && c.mu.groups[n] == nil {
			missing = append(missing, n)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return
	}
	// storeMu: a group DeleteGroups is deleting is not adopted back.
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	for _, name := range missing {
		ctx, cancel := c.storeCtx()
		md, ok, err := c.store.GetGroup(ctx, name)
		if err == nil && !ok {
			var offs []meta.CommittedOffset
			offs, err = c.store.FetchOffsets(ctx, name, nil)
			ok = len(offs) > 0
		}
		cancel()
		if err != nil || !ok {
			continue
		}
		c.mu.Lock()
		if !c.mu.closed && c.mu.groups[name] == nil {
			g := c.newGroup(name)
			if md.Group == name {
				g.restore(md)
			}
			c.mu.groups[name] = g
		}
		c.mu.Unlock()
	}
}

// adoptAllStored is adoptStored for every group the store lists.
func (c *groupCoordinator) adoptAllStored() {
	ctx, cancel := c.storeCtx()
	sums, err := c.store.ListGroups(ctx)
	cancel()
	if err != nil {
		return
	}
	names := make([]string, len(sums))
	for i, s := range sums {
		names[i] = s.Group
	}
	c.adoptStored(names)
}

// validGroupID reports whether a group id can be stored: meta takes a
// non-empty UTF-8 id of at most 255 bytes. Requests that would create a
// group answer INVALID_GROUP_ID for any other.
func validGroupID(id string) bool {
	return id != "" && len(id) <= 255 && utf8.ValidString(id)
}
