// Package kafka is Strata's Kafka broker: the Kafka wire protocol on port
// 9092 over the logstore (topics, partitions, logs) and meta (groups,
// users, ACLs). Bodies are encoded and decoded with franz-go's kmsg, error
// codes come from kerr; the frame, the request header and the response
// header are ours (header.go). One file per API key, NN_name.go, opens
// with the versions it serves; ApiVersions advertises exactly the handler
// table (handler.go). DESIGN.md has the file map, the goroutines and the
// lock order.
//
// # Invariants
//
//  1. A connection answers in request order: one read goroutine decodes
//     and serves requests one at a time, one write goroutine writes the
//     responses, and they meet at a bounded queue (full: the reader
//     waits). Pipelined requests are allowed; two produces on one
//     connection append in the order they were sent.
//  2. A frame's size is checked against Options.MaxFrameBytes before its
//     buffer is allocated. A frame that cannot be framed or decoded, an
//     unknown api key, or a handler panic closes that connection with the
//     reason logged, and nothing else.
//  3. Produced batches reach the log byte-for-byte but for the base
//     offset (Log.Append assigns it) and the partition leader epoch (0,
//     set by Produce), both outside the CRC; fetched batches leave the log
//     byte-for-byte, as file
//     chunks sent with sendfile(2) where the engine has files. No record
//     is decompressed or re-encoded on either path.
//  4. A fetch returns whole batches only, at most partition_max_bytes per
//     partition and max_bytes in all, except the first batch found, which
//     is whole however large (KIP-74).
//  5. A Produce response (acks 1 or -1) is sent only after Log.Append
//     returned, so the batch is as durable as the topic's flush policy
//     says, and readable.
//  6. This node is the only broker: the leader, with leader epoch 0, of
//     every partition, and the coordinator of every group.
//
// # Frames
//
// Every request and response is a 4-byte big-endian size, then that many
// bytes.
//
//	request:  | size int32 | api_key int16 | api_version int16 | correlation_id int32 |
//	          | client_id int16 length + bytes (-1 = null) | [tagged fields] | body |
//	response: | size int32 | correlation_id int32 | [tagged fields] | body |
//
// The request header has tagged fields (a uvarint count, then per field a
// uvarint tag, uvarint size and bytes) exactly when the request body is
// flexible; the response header has them (always an empty section here:
// one zero byte) when the response body is flexible, except ApiVersions,
// whose response header never has them so that a client can read it
// before it knows which versions the broker speaks.
//
// A Fetch response is written in pieces (fetch_encode.go): the encoded
// fields up to a partition's records length, the records straight from
// the segment file, and so on; the bytes equal kmsg's own encoding of the
// same response.
package kafka
