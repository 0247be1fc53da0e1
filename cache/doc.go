// Package cache is Strata's read cache over the object tier: block-aligned
// reads of immutable objects through three levels,
//
//	L1  memory: a plan pool (Belady) and a ristretto cache (TinyLFU)
//	L2  a directory on local SSD, bounded by bytes, kept across restarts
//	L3  the tier.ObjectStore (local directory, S3, ...)
//
// with single-flight misses, sequential readahead, and prefetch plans.
//
// # Reads
//
// ReadAt(ctx, key, p, off) splits [off, off+len(p)) into blocks of
// Options.BlockSize (default 4 MiB; block i covers [i*bs, (i+1)*bs), the last
// block of an object is shorter). The object's size comes from one Head per
// key, kept with the key's state. Each block is looked up in the plan pool,
// the staged prefetches, the recent ring and ristretto (all L1), then L2, then
// fetched from the store with one ranged Get. Blocks of one read are fetched
// concurrently. A block fetched from the store is written to L2 behind the
// read; an L2 hit is promoted to L1.
//
// # Invariants
//
//  1. Bytes returned for (key, off) are the object's bytes at the generation
//     the cache holds for key. Objects are immutable; Invalidate(key) starts a
//     new generation, and blocks of an older one are never returned to a read
//     that started after it (L1 entries carry their generation, L2 entries of
//     the key are deleted, in-flight fills of the old generation are dropped).
//  2. Concurrent misses on one block of one generation are one fetch
//     (singleflight). The shared fetch runs under the cache's context and
//     Options.FetchTimeout, so a reader that gives up does not fail the
//     others, and a hung store request cannot hold a block forever.
//  3. Store failures are not cached: the error reaches the reader wrapped,
//     so errors.Is(err, tier.ErrUnavailable) tells a retriable one (a fetch
//     past FetchTimeout is one), and the next read tries the store again.
//  4. Memory is bounded: the plan pool by PlanBytes, ristretto by L1Bytes -
//     PlanBytes, staged prefetches by PrefetchBytes, and the recent ring by
//     min(64 blocks, L1Bytes/8), whose entries are mostly ristretto's own.
//  5. L2 holds at most L2Bytes of entry files. An entry is served only after
//     its header CRC, its length, its key and index, and its data CRC check
//     out; any failure drops the entry and the block is refetched.
//  6. Prefetching holds at most PrefetchBytes (queued, in flight, or staged
//     and unread) and sends at most PrefetchConcurrency store requests at
//     once. A staged block is never evicted before its first read; it is
//     released as wasted if the reader skips it or after 30 s unread.
//  7. Every queue is bounded with a named full policy: the prefetch queue
//     (1024; drop the request and count it), the L2 write-behind queue (64;
//     drop the write and count it), the recent ring (overwrite the oldest),
//     the per-key state (MaxObjects; drop an arbitrary key's state).
//  8. Lock order: Cache.mu before l2Dir.mu. Ristretto is never called with
//     Cache.mu held (its eviction callback runs on its own goroutine).
//
// # L2 entry format
//
// One file per block, named <fnv64a(key) hex>-<index>.blk, written to a temp
// file and renamed into place (no fsync: a crash can leave a torn entry, which
// the checks find). All integers are little-endian.
//
//	 0        8        10       12          16                  24          28          32
//	+--------+--------+--------+-----------+-------------------+-----------+-----------+---------+--------+
//	| magic  | version| key len| data len  | block index       | data CRC  | header CRC| key     | data   |
//	|STRATBLK| u16 =1 | u16    | u32       | u64               | u32       | u32       | key len | data   |
//	|        |        |        |           |                   | crc32c    | crc32c of | bytes   | len    |
//	|        |        |        |           |                   | (data)    | [0,28)+key|         | bytes  |
//	+--------+--------+--------+-----------+-------------------+-----------+-----------+---------+--------+
//
// On Open the directory is scanned: temp files are removed, and each entry's
// header is read and checked (magic, version, header CRC, file size = 32 +
// key len + data len, name matches key and index); a bad entry is dropped.
// The index is rebuilt from the headers, least recently modified first, so
// eviction (least recently used) carries on across restarts. The data CRC is
// checked on every read of the entry.
//
// # Sequential readahead
//
// Per key the cache tracks up to four streams (sequential readers), each
// the last block it read and the length of its run of consecutive blocks. A
// read whose first block is a stream's last block or the next one continues
// that stream; any other read starts a new stream, replacing the least
// recently used one (its unread readahead is released as wasted). From a run
// of three blocks on, the next Readahead blocks after the stream are
// prefetched. Three rather than two because with several streams a random
// reader would often land next to some recent read. A log consumer reading a
// segment front to back gets Readahead blocks in flight ahead of it, which
// hides the store's latency as long as Readahead*BlockSize covers latency
// times the reader's throughput (the bandwidth-delay product), and
// PrefetchConcurrency covers Readahead.
//
// # Plans and eviction
//
// SetPlan(id, blocks) hands the cache the ordered list of blocks a reader
// will read (a training epoch's shuffled shards). The plan's position moves
// with Advance, or by itself when a read lands on a block planned within the
// next 64 positions. The cache prefetches the plan's next blocks, in order,
// within the prefetch budget; and it keeps in memory the blocks the active
// plans need soonest.
//
// Belady's rule (MIN): when the cache is full, evict the block whose next use
// is furthest in the future. For a known request sequence and equal-sized
// blocks MIN gives the fewest misses of any policy. Proof sketch (exchange
// argument): let OPT be a schedule with the fewest misses that agrees with
// MIN before time t and at t evicts b' where MIN evicts b, so b' is requested
// again before b. Let OPT' evict b at t and then copy OPT; the two caches
// differ in one slot, where OPT' holds y (at first y = b') and OPT holds b.
// If OPT evicts b, OPT' evicts y and they agree at no cost. If y is requested
// first, OPT' hits where OPT misses; OPT's fetch evicts some z, and either
// z = b (they agree) or OPT' keeps holding z in b's place. This happens
// before any request of b, since b' comes before b; so when b is requested
// and OPT' misses it, OPT' has already gained a hit over OPT, and after that
// miss the caches agree. Either way OPT' misses no more than OPT and agrees
// with MIN through t; by induction MIN is optimal. Bypass (serving a block
// without keeping it) fits the same argument with the requested block among
// the candidates: if its own next use is furthest, it is not kept.
//
// How the cache applies it:
//
//   - Ristretto cannot be steered per key: its admission (TinyLFU) and
//     eviction (sampled LFU) decide on their own, Set and Del are applied
//     asynchronously, and it cannot be asked "which resident is needed
//     furthest". So the blocks a plan will read again live in a separate plan
//     pool, a bounded share of L1 (PlanBytes, default half), that the cache
//     manages itself by Belady; ristretto keeps the rest of L1 for blocks no
//     plan mentions (log consumers, Kafka fetches), with its own policy. A
//     bounded share keeps unplanned traffic from being starved by plans, and
//     the reverse.
//   - A block being inserted goes to the pool if some plan reads it again;
//     while the pool is over its bound the resident with the furthest next
//     use (never, if no plan reads it again) is evicted, unless the incoming
//     block is itself the furthest, which then bypasses the pool. A read
//     moves a plan TO the block read, not past it, so the block just read
//     has distance 0 and is kept until the reader reads a later planned
//     block: readers read one block several times in a row (a Parquet
//     reader, each column chunk in it), and one plan entry covers them all.
//     For the block just read this is MIN's demand form (the requested
//     block is always loaded); bypass remains for blocks fetched ahead. Evicted and
//     bypassed blocks are offered to ristretto, so a block the plans need
//     late can still hit there. A ristretto hit on a block a plan will read
//     again moves it into the pool.
//   - Next use is exact within one plan: each plan indexes the positions of
//     its blocks, and the distance is the first position at or after the
//     plan's current position minus that position (binary search). Over
//     several plans the distance is the least over plans, in each plan's own
//     steps: exact when the plans advance in lockstep (the ranks of one job),
//     an approximation when their readers run at different rates.
//   - The lookahead is bounded where it costs: prefetching looks only as far
//     ahead as the prefetch budget allows, and a prefetched block is staged
//     (not placed in the pool) until its first read, when Belady places it.
//     Eviction itself scans the pool's residents, PlanBytes/BlockSize of them
//     (128 for 512 MiB of 4 MiB blocks), times the number of plans.
//   - With the whole of L1 as the pool and one plan, the cache's hits equal
//     MIN's on the same sequence (TestPlanPoolMatchesMIN).
//
// # Metrics
//
// strata_cache_hits_total, _misses_total, _bytes_total and _evictions_total
// by level (l1, l2, store; evictions also plan), strata_cache_prefetch_
// issued/used/wasted/dropped_total, strata_cache_fetch_seconds by level (l2,
// store), strata_cache_resident_bytes (plan, l2), strata_cache_l2_corrupt_
// total, strata_cache_l2_writes_dropped_total, strata_cache_store_gets_total.
// Stats returns the same counters as a snapshot.
package cache
