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
//
// Each state machine is a deterministic `machine` (plain Go over maps,
// tested data-driven without raft) wrapped by `adapter` as a Dragonboat
// IStateMachine. Proposals are JSON Commands {op, body}.
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
