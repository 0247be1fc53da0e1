// Package logstore owns topics, partitions and their logs: the one storage
// engine that every frontend (Kafka, MQTT, dataset) reads and writes.
//
// A partition is a Log: an ordered sequence of Kafka v2 record batches, each
// stored byte-for-byte as produced except for the base offset, which the log
// assigns. Four implementations sit behind the Log interface:
//
//   - segment: files per partition (<data>/topics/<topic>-<partition>/), the
//     default for persistent and tiered topics;
//   - lite: one pebble database for all lite topics (<data>/lite), so a node
//     holds millions of small topics;
//   - memory: RAM only, bounded by bytes;
//   - hybrid: a memory log in front of a segment log written behind.
//
// # Invariants
//
//  1. Offsets are dense and increasing: each batch's base offset is the
//     previous batch's last offset + 1; the first batch of a log starts at
//     the log's creation offset (0) or where Truncate left it.
//  2. Stored batch bytes equal produced bytes except bytes [0,8) (base offset)
//     and [12,16) (partition leader epoch), which lie outside the CRC32C. So a
//     stored batch always passes CheckBatch, and a read returns exactly what
//     was acknowledged.
//  3. Append is all-or-nothing across the batches of one call, and returns
//     only after the data is as durable as the topic's flush policy says
//     (flush.messages=1, the default: fsynced, with concurrent appends sharing
//     one fsync).
//  4. Reads never return a partial batch, and never a batch that was not
//     acknowledged (the high watermark moves only after the append is done).
//  5. Every durable file starts with an 8-byte magic and a version.
//
// # Record batch (Kafka v2), as stored
//
//	 0                   8           12          16 17          21    23
//	+-------------------+-----------+-----------+--+-----------+-----+
//	| baseOffset int64  | length i32| leaderEp  |mg| crc32c    |attr |
//	+-------------------+-----------+-----------+--+-----------+-----+
//	 23          27                  35                  43
//	+-----------+-------------------+-------------------+
//	|lastOffDelta| firstTimestamp   | maxTimestamp      |
//	+-----------+-------------------+-------------------+
//	 43                  51    53          57          61
//	+-------------------+-----+-----------+-----------+---------...
//	| producerId int64  |pEpoch| baseSeq   | numRecords| records (maybe compressed)
//	+-------------------+-----+-----------+-----------+---------...
//	length = total size - 12; crc32c covers [21, end).
//
// # Segment engine files
//
// Each file is named by its base offset, zero-padded to 20 digits, and
// starts with the same 24-byte header (big endian):
//
//	 0               8         12        16                24
//	+---------------+---------+---------+-----------------+
//	| magic [8]byte | version | reserved| baseOffset int64 |
//	+---------------+---------+---------+-----------------+
//	magic: "STRATLOG" (.log), "STRATIDX" (.index), "STRATTIX" (.timeindex); version 1.
//
// 00000000000000000000.log: the header, then whole batches back to back.
// A batch's position is its byte offset in the file (header included).
//
//	| header 24 | batch | batch | batch | ...
//
// .index: the header, then sparse 8-byte entries, one at least every
// DefaultIndexIntervalBytes of log, strictly increasing in both fields:
//
//	+--------------------+------------------+
//	| relOffset uint32   | position uint32  |   relOffset = baseOffset of a batch - segment base
//	+--------------------+------------------+
//
// .timeindex: the header, then 12-byte entries, added when a batch raises
// the segment's max timestamp (strictly increasing in both fields):
//
//	+----------------------+------------------+
//	| timestamp int64 (ms) | relOffset uint32 |
//	+----------------------+------------------+
//
// Index files are derived data: recovery rebuilds a missing or damaged one
// from the .log file. The .log file is the truth; ScanSegment validates it.
// The active segment's indexes live in memory and are written (whole, by
// write-fsync-rename) when the segment rolls and at Close.
//
// checkpoint: one 64-byte file per partition directory, replaced
// atomically (write checkpoint.tmp, fsync, rename, fsync the directory):
//
//	 0               8         12        16                24
//	+---------------+---------+---------+-----------------+
//	| "STRATCKP"    | version | flags   | logStartOffset  |
//	+---------------+---------+---------+-----------------+
//	 24                32                40                48
//	+-----------------+-----------------+-----------------+
//	| recoveryPoint   | endOffset (HW)  | activeBase      |
//	+-----------------+-----------------+-----------------+
//	 48                56        60        64
//	+-----------------+---------+---------+
//	| activeSize      | crc32c  | zero    |   crc32c (Castagnoli) covers [0, 56)
//	+-----------------+---------+---------+
//	version 1; flags bit 0 = clean shutdown; all integers big endian.
//
// # Segment engine: recovery, group commit, retention
//
// Recovery (OpenSegmentLog, which first takes the directory's LOCK file so
// that one process writes a partition):
//
//  1. Leftover *.tmp files and index files without a .log are removed.
//  2. A clean checkpoint whose activeBase and activeSize match the last
//     .log file skips every scan: the indexes are loaded from their files
//     and HW = endOffset. The checkpoint is rewritten with the clean flag
//     off before the first append changes a byte (not at open, so idle
//     partitions open without an fsync); until then the marker stays true.
//  3. Otherwise the segments before the recovery point (every one of them
//     was fsynced when it rolled) are trusted: their header is checked and
//     their index files loaded. The segment holding the recovery point and
//     every later one are scanned with ScanSegment; at the first torn or
//     corrupt batch the file is truncated to validEnd and every later
//     segment is deleted; a bad header, or a base offset that does not
//     follow the previous segment, deletes that segment and the later ones.
//  4. A missing or damaged index is rebuilt by a scan. If that scan finds
//     damage below the recovery point, the open fails with ErrCorrupt
//     (file and byte position) rather than drop data that was durable.
//  5. Segments wholly below the checkpoint's logStartOffset are deleted
//     (a retention or DeleteRecordsBefore that stopped half way).
//
// The recovery point moves to the new active segment at every roll, after
// the old segment, its index files and the new file's directory entry are
// fsynced. Retention and DeleteRecordsBefore write the new logStartOffset
// to the checkpoint before they delete a file, so it survives a restart.
//
// Group commit: Append validates its batches (CRC32C, framing) in the
// caller's goroutine, then queues on a bounded channel (SegmentOptions
// QueueSize; full = the appender blocks). One writer goroutine drains the
// queue, assigns offsets, copies the group into one buffer and issues one
// pwrite and, per flush.messages, one fdatasync. A lone Append (empty
// queue, no commit in progress) commits in its own goroutine instead,
// which saves two scheduler hand-offs; the rest then queue behind it and
// share the next write and fsync. With flush.messages=1 the
// HW moves and the Appends return only after the fdatasync; with N>1 they
// return after the write, and the writer fsyncs once N messages are
// unsynced; flush.ms=T adds a timer fsync every T ms while bytes are
// unsynced. An Append never spans two segments: the roll check (size,
// counting the header; segment.ms since the first append; relative offset
// above 2^31-1) runs before each Append's batches are placed.
//
// A failed write or fsync poisons the log: the failing Appends return the
// error (nothing is acknowledged), and every later Append, Sync and
// Truncate fails until the log is reopened. After a failed fsync Linux may
// already have dropped the dirty pages and cleared the error, so a retry
// could report success for lost data; only recovery knows what is on disk.
// Close of a poisoned log leaves the checkpoint unclean.
//
// Reads take the log's mutex only to find the segments and pin their file
// handles (a reference count); the chunks are then read without locks.
// Retention, DeleteRecordsBefore and Truncate unlink files but a pinned
// handle stays open until the last ReadResult closes; Truncate of a pinned
// file writes the kept prefix to a new inode instead of cutting in place.
//
// The Offloader (offload.go) hears of every sealed segment (SegmentSealed,
// at each roll and again at open for those IsOffloaded denies). Two
// optional interfaces, found by type assertion: SegmentDeleteNotifier
// hears of every sealed segment that retention, DeleteRecordsBefore or
// Truncate removed (after its files are gone, under writeMu, no I/O), and
// Uploader says whether tiered retention must wait for IsOffloaded.
//
// # Tiered topics (remote.go)
//
// A tiered segment log is two lists, oldest first:
//
//	remote segments (objects, read through the cache) | local segments (files) ... active
//	[lso ....................... segs[0].base) [segs[0].base ................. hw)
//
// The rules:
//
//  1. Every remote segment lies below the first local segment; the log
//     start offset may lie in either list.
//  2. A local copy is evicted only when the Offloader says the segment is
//     offloaded (uploaded, verified, recorded in the manifest) and the
//     local copy is past local.retention.bytes/ms (-2: as retention.*).
//     Eviction publishes the segment as remote, then deletes .log before
//     the indexes; a crash in between leaves index files without a log,
//     which recovery deletes. Eviction does not notify SegmentDeleted: the
//     segment is still in the log.
//  3. retention.bytes/ms and DeleteRecordsBefore count remote and local
//     segments together and drop remote ones first; a dropped remote
//     segment is announced with SegmentDeleted (the offloader removes the
//     manifest entry, then the object) and its cached blocks invalidated.
//  4. At open the log asks the Offloader (RemoteLister) for the offloaded
//     segments below its first local one. Their entries wholly below the
//     checkpoint's log start offset are announced as deleted again (a
//     crash interrupted that deletion).
//  5. A remote read returns whole batches of one remote segment, read
//     through the RemoteReader (the block cache: readahead, single-flight
//     misses) into memory and checked batch by batch (CRC32C) before a
//     consumer sees them. Store failures come back as
//     ErrRemoteUnavailable, which is retriable. Positions are .log file
//     positions; the object holds the same bytes after its own header
//     (tier/doc.go), so position p is object offset p - 24 + header length.
//     A remote segment keeps its offset index thinned to one entry per
//     256 KiB (none after a restart: a lookup then walks batch headers
//     from the start), plus the position where the last read ended, so a
//     sequential consumer never walks.
//  6. Truncate below the first local segment is refused (ErrOffloaded).
//
// VerifySegmentDir checks a directory read-only for tools: every CRC,
// offset continuity, every index entry and the checkpoint.
//
// Lock order: SegmentLog.appendGate, then writeMu (the writer goroutine and
// every operation that changes files or the segment list), then mu (the
// state readers see). File reference counts are atomic.
//
// # Lite engine
//
// One pebble database (<data>/lite, LiteDB) holds every lite partition, so
// a partition costs a few keys rather than a directory of files and an open
// partition (LiteLog) is a small struct with no goroutine. Keys (big
// endian, so that pebble's byte order is offset order):
//
//	 0                   8           12                  20
//	+-------------------+-----------+-------------------+
//	| topicSeq uint64   | part u32  | baseOffset uint64 |  -> the batch, byte-for-byte as stored
//	+-------------------+-----------+-------------------+
//	+-------------------+-----------+
//	| topicSeq uint64   | part u32  |                      -> the partition's meta value
//	+-------------------+-----------+
//	+----+
//	| 00 |                                                 -> format value: "STRATLIT" | version u32 (1)
//	+----+
//
// topicSeq is the catalogue's TopicMeta.Seq (never reused). A partition's
// meta key sorts just before its data keys, so [topicSeq|part,
// topicSeq|part+1) covers the whole partition and DeleteLog is one range
// deletion. The meta value is rewritten in the same pebble batch as every
// change to the partition, so it always agrees with the data after a crash:
//
//	+---------+------------+-----------+--------------+----------------+
//	| version | lso uvarint| hw uvarint| bytes uvarint| batches uvarint|   version 1; minimal uvarints
//	+---------+------------+-----------+--------------+----------------+
//
// OpenLog reads only the meta key. Durability: with flush.messages=1 every
// append is a synced pebble write, and concurrent appends (to one
// partition or many) share a WAL fsync; the high watermark moves once the
// sync returns. With flush.messages > 1 appends are written without sync
// and the append that brings the unsynced records to flush.messages is
// synced; with flush.ms > 0 the database's one syncer goroutine syncs the
// WAL within flush.ms of an unsynced write. Truncate, DeleteRecordsBefore
// and retention are synced. Retention drops whole batches, never the last.
//
// Measured cost per topic (BenchmarkLiteMillionTopics, -lite.topics
// 1000000: OpenLog, then one synced Append of a ~100-byte incompressible
// record, from 64 goroutines, every log kept open; 2 cores shared with
// other builds, the VM's disk): 24 µs of wall time (24.8 s for the
// million), 216 bytes of Go heap (the LiteLog and its entry in the
// open-log map), 381 bytes of resident memory, and 161 bytes on disk after
// a flush.
//
// # Memory and hybrid engines
//
// MemoryLog keeps batches in RAM, bounded by retention.bytes (256 MiB when
// unset): an append that goes over the bound drops the oldest batches
// (counted by Dropped), never the newest. Append copies the caller's bytes
// (a network reader may reuse its buffer) and stored bytes are never
// modified, so reads hand out sub-slices without copying.
//
// HybridLog is a MemoryLog in front of a durable Log (a SegmentLog). An
// append is acknowledged once it is in memory and queued; one writer
// goroutine appends the queue, in order and in chunks of up to 4 MiB,
// to the log behind, which must give every batch the offset memory gave it.
// The queue is bounded by bytes (half the memory bound, 64 KiB to 64 MiB)
// and its full policy is "block the producer". A crash loses what was
// queued and what the log behind had not synced (its flush.ms). The memory
// front starts at the log behind's high watermark on open; reads below the
// memory window go to the log behind and continue into memory.
//
// # Store
//
// Store owns one data directory: it keeps the topic catalogue (behind the
// Catalog interface; FileCatalog until meta exists), opens each partition
// with the engine its config names, and runs retention every
// RetentionCheckInterval (Kafka's log.retention.check.interval.ms, 5 min).
//
//	<data>/LOCK                         held while a Store is open (one process per data dir)
//	<data>/catalog.json                 FileCatalog: {"magic":"strata-catalog","version":1,...}
//	<data>/topics/<topic>-<partition>/  segment partitions, and the segment log behind a hybrid one
//	<data>/lite/                        the pebble database of every lite partition
//
// Topic creation writes the catalogue entry first, then opens partitions
// (rolled back on failure). Deletion closes the logs and removes the data
// before the catalogue entry: a crash midway leaves a catalogued topic with
// fewer records (the delete can be repeated), never data that a later topic
// of the same name would inherit.
package logstore
