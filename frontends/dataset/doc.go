// Package dataset serves training data: datasets registered over
// object-store prefixes (Parquet, Arrow IPC, JSONL, raw objects) or topics,
// read as Arrow record batches over Arrow Flight and HTTP, sharded across
// ranks, shuffled per epoch, resumable, and prefetched through the block
// cache by each read's known order.
//
// # Registration
//
// Service.Create lists the source's objects (skipping line indexes and
// names starting with "_" or ".", like Spark's _SUCCESS) and scans each,
// ScanConcurrency at a time, with ranged Gets of the store (no cache):
//
//   - parquet: the footer (one Get of the last 64 KiB in the common case):
//     rows and the Arrow schema pqarrow derives;
//   - arrow (IPC file): the footer's schema and record batch blocks, then
//     each batch's message header for its length (no bodies);
//   - jsonl: the whole object, once, to build its line index (stored beside
//     it as <key>.strata-idx) and to infer columns from the first 1000 lines
//     of the first object;
//   - raw: nothing to read: one sample (key, data) per object;
//   - topic:NAME: no objects: each partition's offsets [log start, high
//     watermark) at registration, cut into shards of TopicShardRecords
//     offsets, keyed "<partition>:<first offset>".
//
// The result is one meta.Dataset proposal: shards (key, rows, bytes) in key
// order, the schema as an Arrow IPC schema message, and CreatedMs (the
// dataset's generation).
//
// Bad input policy. An object that cannot be used — corrupt or truncated
// (ErrCorrupt), gone between the list and the scan (missing), unreadable,
// or of another schema than the first usable object in key order — is
// recorded as a shard with no rows and an Error naming what is wrong, and
// Create reports it; the dataset is registered with the other objects and
// reads them completely. Strict refuses the registration instead, and a
// source with no usable object is refused. At read time nothing is
// skipped: an object that went missing or changed since registration (its
// row count differs) fails the read with an error naming it, because
// skipping it would silently change every position after it.
//
// # The epoch order
//
// A read is (dataset, epoch, seed, rank, world_size, batch_rows, cursor,
// columns). The epoch's global order is a function of (seed, epoch) and the
// shards' row counts only (see Order): the shards with rows are permuted
// (Fisher-Yates over splitmix64), cut into windows of DefaultWindowShards
// shards, and the samples of each window are permuted by a keyed Feistel
// bijection. Rank r of w reads the global positions g ≡ r (mod w) with
// g >= cursor, in order, batch_rows per batch. Hence:
//
//  1. The order does not depend on the world size, the batch size or the
//     process: the same (seed, epoch) gives the same order after a restart
//     or an upgrade (TestOrderGolden pins one).
//  2. The ranks of one world size are disjoint and together read every
//     sample of the epoch once.
//  3. A job whose ranks have each read every one of their positions below
//     c (the cursor) and resumes at c with any world size reads exactly the
//     positions [c, total): nothing repeated, nothing skipped. Every batch
//     carries its rank's next position (BatchMetadata); a job's cursor is
//     the least of its ranks' positions.
//  4. Memory per order is O(shards); mapping a position to (shard, row) is
//     O(log shards), with no per-sample tables.
//
// # Reads
//
// A Reader holds at most two windows decoded in memory (the current one
// and the next, loaded in the background while the current is served),
// each as its shards' records projected to the requested columns. Windows
// are shared by the readers of one order (the ranks of a job: same dataset
// generation, seed, epoch and columns), so each is decoded once per server. A batch
// takes its rows from each shard it touches, then restores position order
// with one Take over the batch; windows are never concatenated.
//
//  5. Every object read goes through the source store's block cache
//     (cache.Cache, one per store). When a read opens, its block order —
//     every block of every shard, window by window, from the cursor's
//     window on, up to a horizon of 64 windows or 65,536 blocks — becomes
//     a cache plan (SetPlan); the plan is advanced as windows load
//     (Advance), rebuilt from the current window near its horizon, and
//     dropped at Close (DropPlan). The cache prefetches the next blocks and
//     evicts by the plans' next use.
//  6. Retriable store failures are retried below the reader (tier.WithRetry
//     under the cache); a read never returns a sample twice or skips one:
//     a failure that outlives the retries ends the stream with an error.
//  7. A topic shard reads its partition's offsets through logstore, so
//     offsets that live only in the object tier are read through the
//     store's own cache. An offset with no record (a transaction marker,
//     or compacted away) consumes its position and yields no row.
//  8. Tickets carry the request and the dataset's generation; a ticket for
//     a dataset deleted or registered again since is refused (ErrStale).
//  9. Every parser of client or object bytes is fuzzed: CMD descriptors
//     (FuzzParseCommand), tickets (FuzzDecodeTicket), the JSONL index
//     (FuzzJSONLIndex), Arrow footers and message headers (FuzzArrowFooter).
//
// # JSONL line index
//
// One object per JSONL object, key <key>.strata-idx, little-endian:
//
//	 0          8         10        12        16                  24
//	+----------+---------+---------+---------+-------------------+------------------------------+--------+
//	| magic    | version | flags   | lines n | object size       | n x (gap uvarint, len uvarint)| crc32c |
//	| STRAJIDX | u16 = 1 | u16 = 0 | u32     | u64               | minimal encodings             | u32    |
//	+----------+---------+---------+---------+-------------------+------------------------------+--------+
//
// Sample i spans [off_i, off_i+len_i) of the object, without its line
// terminator, where off_i = end_{i-1} + gap_i and end_{-1} = 0; blank
// lines are not samples. The CRC (Castagnoli) covers every byte before it.
// A reader rebuilds the index from the object when it is missing, fails
// its checks, or records another object size.
//
// # Tickets
//
//	"SDT1" | JSON {"dataset", "epoch", "seed", "rank", "world_size",
//	               "batch_rows", "cursor", "columns"?, "gen"}
//
// Opaque to clients; parsed strictly (unknown fields, trailing data and
// out-of-range values are InvalidArgument).
package dataset
