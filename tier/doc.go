// Package tier owns the object tier: the ObjectStore interface, its
// implementations, the retry and fault-injection wrappers, and the layout
// of the objects Strata writes (segment objects and their keys).
//
// # Stores
//
//   - LocalDir (NewLocalDir): a local directory, the embedded default
//     (<data>/objects). Key "a/b/c" is the file <dir>/a/b/c.
//   - S3 (NewS3): an S3 bucket under a prefix through aws-sdk-go-v2, or any
//     S3-compatible server (Endpoint / AWS_ENDPOINT_URL, PathStyle):
//     ranged GetObject, HeadObject, ListObjectsV2 page by page,
//     DeleteObject, PutObject up to PartSize and a multipart upload above
//     it (aborted on failure). The SDK's own retries are off.
//   - Memory (NewMemory): in memory, for tests.
//   - Retrying (WithRetry): retries ErrUnavailable with exponential backoff
//     and full jitter under a per-attempt timeout; resumes a Get body that
//     fails mid-read.
//   - Faulty (NewFaulty): injects latency, outages, hangs and errors, and
//     counts requests, for tests of everything above the tier.
//
// ParseURL and Open turn a --tier location (s3://bucket/prefix,
// file:///dir, mem://) into a store. internal/faultproxy is a TCP
// proxy that injects network faults in front of a real S3 server in tests.
//
// # Invariants
//
//  1. Keys are the same everywhere: ValidateKey's rules (relative,
//     '/'-separated, no empty, "." or ".." component, no NUL or backslash,
//     UTF-8, at most 1024 bytes, not under ".strata-tmp/") hold for every
//     store, so a key that works on LocalDir works on S3 and back.
//  2. Put is atomic: a reader sees the old object, or the whole new one,
//     never a part. LocalDir writes a temporary file under
//     <dir>/.strata-tmp, fsyncs it, renames it into place and fsyncs the
//     directory (and every directory it created); NewLocalDir deletes
//     leftover temporary files. S3 has atomic PutObject and
//     CompleteMultipartUpload. Put returns after the object is durable.
//  3. Every object carries the CRC32C (Castagnoli) of its bytes, written by
//     Put: S3 in the user metadata x-amz-meta-crc32c (8 hex digits), LocalDir
//     in the file header, Memory beside the bytes. A Get that covers the
//     whole object (off 0, and length -1 or at least the size) verifies it at
//     EOF: a mismatch, or a length that differs from the stored size, turns
//     the final io.EOF into ErrCorrupt. A ranged Get cannot be verified (the
//     checksum covers the whole object); callers that need ranged integrity
//     check their own framing (a segment payload is Kafka batches with their
//     own CRCs). S3 objects written by others, without the metadata, are
//     read unverified.
//  4. Ranges are the same everywhere: off 0 is always valid (whole or
//     empty object); any other off must be below the size, else ErrRange; a
//     length past the end is cut at the end; length -1 reads to the end;
//     length 0 yields no bytes (on S3 it costs a HeadObject).
//  5. Errors wrap the sentinels so errors.Is works through every wrapper:
//     ErrNotFound (no object; S3 NoSuchKey/404), ErrRange (S3 416,
//     InvalidRange), ErrUnavailable (throttling, 5xx, timeouts, refused,
//     reset or cut connections: worth retrying), ErrCorrupt (checksum),
//     ErrInvalidKey. The original error is wrapped too. The caller's own
//     cancellation comes back as context.Canceled / DeadlineExceeded and is
//     never retried.
//  6. WithRetry retries only ErrUnavailable (an attempt that times out
//     counts as one). Put is retried only when the reader is an io.Seeker
//     (sought back to where it stood); any other reader gets one attempt,
//     because its bytes are gone. A whole-object Get (off 0, length -1)
//     resumed after a cut is read again from offset 0 and the delivered prefix skipped, so
//     invariant 3 still holds; a ranged Get resumes at the next byte.
//  7. S3 multipart: a Put of more than PartSize bytes (default 8 MiB)
//     reads the body twice, once for the CRC32C that goes into
//     CreateMultipartUpload's metadata and once to upload Concurrency parts
//     at a time; a body that changed between the passes aborts the upload.
//     A body that is not an io.ReadSeeker is first spooled to a temporary
//     file. Parts double in size past 10,000 parts.
//  8. LocalDir cannot hold both "a" and "a/b" (a file and a directory
//     share the path): such a Put fails with ErrInvalidKey. Strata's own
//     keys never nest that way (segment keys end in ".seg").
//
// # LocalDir object file
//
// Each object is one file: a 16-byte header, then the object's bytes.
//
//	 0                 8            12           16
//	+-----------------+------------+------------+----------------...
//	| magic "STRTFILE"| version u32| crc32c u32 | object bytes
//	+-----------------+------------+------------+----------------...
//	little endian; version 1; crc32c (Castagnoli) of the object bytes.
//	Object size = file size - 16. A file without the magic is ErrCorrupt.
//
// # Segment objects
//
// A sealed log segment uploaded to the tier is one self-describing object:
// the objects alone name their topic, partition and offsets, so a store
// can be audited, or a manifest rebuilt, without meta. Its key is
//
//	topics/<topic>/<partition>/<baseOffset:020d>-<lastOffset:020d>.seg
//	e.g. topics/orders/3/00000000000000000100-00000000000000000199.seg
//
// (SegmentKey, ParseSegmentKey, SegmentPrefix), so a partition's objects
// list in offset order. The object is a header, then the payload (the
// segment's record batches, byte-for-byte as stored in the .log file after
// its own header). The header is a fixed 64 bytes, big endian, followed by
// the topic name (EncodeSegmentHeader, DecodeSegmentHeader,
// ReadSegmentHeader):
//
//	 0                   8       10      12              16
//	+-------------------+-------+-------+---------------+
//	| magic "STRATOBJ"  |version|hdr len| flags (0)     |
//	+-------------------+-------+-------+---------------+
//	 16              20              24
//	+---------------+---------------+
//	| partition i32 | payload crc32c|
//	+---------------+---------------+
//	 24                              32                              40
//	+-------------------------------+-------------------------------+
//	| base offset i64               | last offset i64 (inclusive)   |
//	+-------------------------------+-------------------------------+
//	 40                              48                              56
//	+-------------------------------+-------------------------------+
//	| payload size i64              | reserved (0)                  |
//	+-------------------------------+-------------------------------+
//	 56      58      60              64                   64+n
//	+-------+-------+---------------+--------------------+---------...
//	|topic n|rsv (0)| header crc32c | topic name (n bytes)| payload
//	+-------+-------+---------------+--------------------+---------...
//	version 1 (u16); hdr len = 64 + n (u16); n = 1..249, a Kafka-legal name;
//	header crc32c covers bytes [0,60) and the topic name;
//	payload crc32c covers the payload bytes that follow the header.
//
// Decoding rejects, as ErrCorrupt, a bad magic, an unknown version, a
// header length that disagrees with the topic length, a header checksum
// mismatch, set reserved bytes or flags, and invalid fields (negative
// partition, last < base); a buffer too short for the header wraps
// io.ErrUnexpectedEOF. The header's payload CRC32C lets a reader that
// fetched the payload in ranges (block by block, through the cache) verify
// it once assembled, which the store's whole-object checksum (invariant 3)
// cannot.
//
// # Uploads
//
// meta.ManifestOffloader uploads, when it is given a store (strata serve
// --tier, default file://<data-dir>/objects; s3://bucket/prefix with
// --tier-endpoint or AWS_ENDPOINT_URL for S3-compatible servers, then
// path-style): every sealed segment of a topic whose storage.mode is
// tiered, once it is recorded in the manifest, in seal order, off the
// append path. The manifest entry moves local -> uploading (the key fixed
// first) -> offloaded only after the Put returned and a Head saw the
// object's full size; a failure leaves the entry uploading (or local) and
// the upload is retried, and start-up reconciliation resets an
// interrupted one. The object is exactly the header above and the .log
// file's bytes after its own 24-byte header. Retention of a tiered topic
// deletes a local segment only once it is offloaded, and then deletes its
// object too (after the manifest entry): until local-only eviction exists,
// retention ends a segment in every tier. Reading offloaded
// segments back (tiered reads through the cache) is the next step and not
// built yet.
package tier
