// Package meta keeps Strata's cluster metadata in Dragonboat
// (github.com/lni/dragonboat/v4), embedded in the strata process: one
// NodeHost per process, one raft shard per state machine, so that offset
// commits never queue behind topic changes.
//
// A single node runs every shard as a one-replica raft group on local disk
// (<data>/meta) and needs nothing else; three or five nodes form a cluster
// with no other coordinator.
//
// # Shards and their state machines
//
//	shard  name       holds
//	1      cluster    nodes (id, raft address, client addresses, liveness), partition placement
//	2      topics     topics, partition counts, configs (implements logstore.Catalog)
//	3      manifests  segment manifests per partition (base/last offset, size, CRC, state, object key)
//	4      groups     consumer group offsets and group metadata
//	5      security   users, credentials, ACL rules
//	6      routes     MQTT topic filter -> topic routing rules
//	7      datasets   datasets and training cursors
//	8      producers  Kafka producer ids, transactional ids and their transactions
//
// Each state machine is a deterministic `machine` (plain Go over maps,
// tested data-driven without raft) wrapped by `adapter` as a Dragonboat
// IStateMachine. Proposals are JSON Commands {op, body}.
//
// # Node
//
// A Node (node.go) is this process's member: one Dragonboat NodeHost in
// <data>/meta running a replica of every registered shard, with replica ID
// = node ID in every shard. It implements Proposer: Propose (NO-OP
// session) and Read (SyncRead, linearizable) wait out "request dropped as
// the shard is not ready" and timeouts with backoff until the caller's
// context ends, then fail with ErrNoQuorum. Because a timed-out proposal
// may have been applied, every command must be harmless when applied
// twice (invariant 4).
//
//	first start    shards bootstrap with NodeOptions.Peers (default: this node alone),
//	               or join a running cluster (NodeOptions.Join, after AddNode elsewhere)
//	restart        shards restart from the raft log; Peers and Join are ignored
//	AddNode        raft config change on every shard (through each leader)
//	RemoveNode     likewise, and the node is forgotten by the cluster shard
//	Status         members, leader, applied index and lag per shard; registered nodes and liveness
//	Ready          a linearizable read on the topics shard succeeds (a quorum)
//
// The Node registers itself (raft and client addresses) in the cluster
// shard and heartbeats every few seconds; liveness is computed by readers.
// Catalog (catalog.go) is logstore.Catalog over the topics shard (with
// DropOnDelete, a delete also drops the topic's manifests, group offsets
// and placements, once, on the proposing node); changes
// applied on this node trigger the Store's Reconcile (OnTopicsChanged), so
// that every node opens the partitions of every topic. Meta replicates
// metadata only: replicating partition data between nodes is a later
// issue. DESIGN.md ("Node") has the concurrency rules.
//
// # Shards 3 to 7
//
// Each has a typed client over a Proposer (NewManifests, NewGroups,
// NewSecurity, NewRoutes, NewDatasets) whose methods encode a Command,
// propose or read it, and return a Rejection as an error naming the shard
// and op (RejectedWith(err, code) tests the code). The op tables are at
// the top of each machine's file; DESIGN.md has a section per machine.
//
// manifests (manifests.go): per partition, sealed segments in base order
// {base, last, size, crc32c of the .log file, max timestamp, state, object
// key}; states local -> uploading -> offloaded, uploading -> local on a
// failed upload. add_segment is idempotent for an identical entry and a
// conflict for an overlapping one. ManifestOffloader (manifests_offload.go)
// is the logstore.Offloader that records every roll asynchronously (bounded
// queue; full policy: block the roll, never drop; failed proposals retried)
// and answers IsOffloaded from the manifest; it also removes the entries
// of segments the log deleted (logstore.SegmentDeleteNotifier: retention,
// DeleteRecordsBefore, Truncate), and records only partitions it Owns.
// RemoteSegments lists the offloaded entries (logstore.RemoteLister), from
// which a tiered log knows the segments whose local copies it evicted. ReconcilePartition
// (reconcile.go) compares a partition directory with its manifest after a
// crash and lists the proposals that make them agree (Apply) and the
// problems none can fix (lost, corrupt, object missing: Err).
//
// groups (groups.go): committed offsets per (group, topic, partition)
// {offset, leader epoch, metadata, commit time}, committed in batches (one
// proposal per OffsetCommit), optionally fenced by the group generation;
// group metadata (protocol type and name, generation, state, leader,
// members with static instance ids and assignment blobs). DeleteGroups is
// refused while a group has members. Transactional offset commits are the
// Kafka frontend's (it proposes commit_offsets when the transaction
// commits).
//
// security (security.go): users with SCRAM-SHA-256/512 credentials (salt,
// iterations, StoredKey, ServerKey), derived by the client with
// crypto/pbkdf2: the machine never sees a password; SASL PLAIN checks a
// password against the same credential. ACL bindings {principal, host,
// resource type, pattern type, name, operation, allow|deny}, deduplicated,
// deleted and listed by filter with Kafka's any/match semantics;
// mqtt_topic resources take MQTT filters. Authorize decides a request
// against a list of bindings (deny wins, implied operations). Beside them,
// the ordered MQTT ACL rules (mqtt_acl.go: {permission, action, topic
// filter with %u/%c, user, client id, IP/CIDR}, ids never reused) that
// the MQTT frontend evaluates first-match.
//
// routes (routes.go): MQTT topic filter -> topic template rules ({N} = the
// N-th '+' level), key mode, direction; MatchRoute is the pure matcher the
// MQTT frontend runs on the listed rules.
//
// datasets (datasets.go): datasets {source URI, format, shards with rows
// and bytes, schema bytes} and training cursors {dataset, epoch, seed,
// world size, position}, monotonic within an epoch unless forced.
//
// producers (producers.go): the Kafka producer id counter (ids are
// allocated in blocks and never reused) and, per transactional id, the
// transaction coordinator's record {producer id, epoch, timeout, state
// (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit,
// CompleteAbort), partitions and groups in the transaction, offsets held
// by TxnOffsetCommit, start and update times}, written with a
// compare-and-set on (producer id, epoch) so a fenced coordinator call
// cannot overwrite a newer one.
//
// # Invariants
//
//  1. Update never returns an error for bad input: a malformed or refused
//     command is a Rejection (sm.Result.Value = ResultRejected), identical on
//     every replica. An Update error would stop the replica.
//  2. apply is deterministic: it reads only the command, the raft index and
//     the state (never the clock or randomness). Times and IDs are chosen by
//     the proposer and carried in the command.
//  3. A snapshot saves the whole state deterministically; load into a fresh
//     machine and save again gives the same bytes (tested per machine).
//  4. Applying a command twice is harmless: the Node retries a proposal
//     whose outcome it could not learn (a timeout), and a NO-OP session
//     does not deduplicate.
//
// # Snapshot format (every machine)
//
//	 0               8          12         14
//	+---------------+----------+----------+-------------+
//	| "STRATSNP"    | version  | kindLen  | kind bytes  |
//	+---------------+----------+----------+-------------+
//	+---------------+------------------------+----------+
//	| bodyLen u64   | body (JSON state)      | crc32c   |   crc32c (Castagnoli) covers everything before it
//	+---------------+------------------------+----------+
//	big endian; version 1; kind is the machine's name ("topics", ...).
package meta
