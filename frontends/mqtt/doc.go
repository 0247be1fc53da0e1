// Package mqtt is Strata's MQTT broker: MQTT 3.1 (protocol name
// "MQIsdp", level 3), 3.1.1 (level 4) and 5.0 (level 5) on TCP (1883),
// TLS (8883), WebSocket (8083, path /mqtt) and WebSocket over TLS (8084).
//
// The codec (packets.go, properties.go) is ours. We evaluated
// github.com/mochi-mqtt/server/v2/packets (v2.7.9): its decoder covers
// the three versions, but (1) its module requires
// github.com/cockroachdb/pebble v1.1.0, badger, redis and bbolt, and
// adding it would raise the pebble that Dragonboat (meta) builds against
// from its 2022 pseudo-version to v1.1.0 under minimal version
// selection; (2) it accepts repeated properties that 5.0 makes a
// protocol error ([MQTT-2.2.2-2]) and keeps one flat property struct
// without presence, so a zero that was sent cannot be told from one that
// was not; (3) its packet sizes are checked after the body is read. Our
// codec is ~900 lines, checks a packet's size before allocating it, and
// is held to golden byte-annotated packets (testdata/packets.txt, used by
// the codec and the server tests) and fuzzed (FuzzDecode).
//
// Seams for the work that follows (DESIGN.md lists them): SessionStore
// and RetainedStore (store.go), Authenticator, Authorizer and Limiter
// (auth.go), Router and Server.Inject (router.go).
//
// # Invariants
//
//  1. A packet's size (fixed header included) is checked against
//     Options.MaxPacketSize before its body is allocated; a malformed
//     packet or a protocol error closes that one connection (5.0: after a
//     DISCONNECT with the reason code) and nothing else.
//  2. Each connection has one read goroutine, which handles packets in
//     the order they arrive, and one write goroutine, which writes the
//     connection's queue in order; both are started by startConn and
//     counted, so Close waits for them. CONNACK is the first packet
//     queued, and a server DISCONNECT the last.
//  3. Delivery never blocks the publisher on a subscriber: QoS 0 copies
//     are dropped (and counted) when a connection's queue is full; QoS
//     1/2 copies enter the subscriber's in-flight window
//     (min(Options.MaxInflight, the client's receive maximum)) or its
//     session queue (Options.MaxQueuedMessages; full: drop the oldest,
//     counted). Every queue is bounded.
//  4. Per session, QoS 1/2 messages are sent in the order they were
//     published (the queue is FIFO and the window is filled from its
//     head), so delivery is ordered per topic and QoS.
//  5. A QoS 1 publish is acknowledged, and a QoS 2 publish gets PUBREC,
//     only after Router.Route returned (the message is durable where it
//     routes) and after it was queued for every matching session; a copy
//     queued for an offline persistent session is in the
//     SessionQueueStore (PebbleStore: fsynced) by then.
//  6. A QoS 2 publish is delivered once: its packet id stays in the
//     session's inbound set from PUBREC until PUBREL, and a PUBLISH with
//     an id in the set is answered with PUBREC without delivery.
//  7. A session lives from CONNECT until its expiry interval has passed
//     with no connection (0: at disconnect; 3.x clean session 0: never).
//     In-flight messages survive reconnection and are resent with DUP.
//  8. Queued messages carry a per-session Seq, given under session.mu and
//     increasing in queue order; stored queues are ordered by it, and a
//     Put never deletes an entry above its snapshot's LastSeq.
//
// # Packets
//
// Every packet is a fixed header, a variable header and a payload:
//
//	byte 1:   | type (4 bits) | flags (4 bits) |   PUBLISH flags: DUP, QoS (2 bits), RETAIN
//	byte 2-5: remaining length, variable byte integer (7 bits a byte, high bit = more, at most 4)
//
//	CONNECT:  | "MQTT" or "MQIsdp" (uint16 len + bytes) | level u8 | flags u8 | keep alive u16 |
//	          | [5.0: properties] | client id | [will: [5.0: will properties] topic, payload] |
//	          | [user name] | [password] |
//	          flags: 0x80 user name, 0x40 password, 0x20 will retain, 0x18 will QoS, 0x04 will,
//	                 0x02 clean start, 0x01 reserved (must be 0)
//	CONNACK:  | flags u8 (0x01 session present) | return / reason code u8 | [5.0: properties] |
//	PUBLISH:  | topic | [QoS > 0: packet id u16] | [5.0: properties] | payload (the rest) |
//	PUBACK, PUBREC, PUBREL (flags 0x2), PUBCOMP:
//	          | packet id u16 | [5.0: reason u8 | properties], both omitted when 0x00 and none |
//	SUBSCRIBE (flags 0x2): | packet id | [5.0: properties] | (filter, options u8)+ |
//	          options: QoS (bits 0-1), 5.0: no local 0x04, retain as published 0x08,
//	                   retain handling (bits 4-5)
//	SUBACK:   | packet id | [5.0: properties] | reason u8 per filter (3.x: 0, 1, 2, 0x80) |
//	UNSUBSCRIBE (flags 0x2): | packet id | [5.0: properties] | filter+ |
//	UNSUBACK: | packet id | [5.0: properties | reason u8 per filter] |
//	PINGREQ, PINGRESP: no body
//	DISCONNECT: | [5.0: reason u8 | properties] |
//	AUTH (5.0): | reason u8 | properties |
//
// Strings are a uint16 length and UTF-8 bytes without U+0000; binary data
// is a uint16 length and bytes. Properties (5.0) are a variable byte
// integer length, then (identifier, value) pairs; only user properties
// (and subscription identifiers on PUBLISH) may repeat.
//
// # Stored sessions and retained messages
//
// PebbleStore (pebblestore.go, which has the durability rule) keeps
// sessions and retained messages in a pebble database, <data>/mqtt.
// Keys:
//
//	0x00                                      format key (value kind 'F', empty body)
//	's' | client id                           session (kind 'S')
//	'q' | len u16 | client id | seq u64       queued message of a session (kind 'Q'); big-endian,
//	                                          so a client's queue is one key range in Seq order
//	'r' | topic                               retained message (kind 'R'); $SYS/ topics are not stored
//
// Every value:
//
//	| 'M' 'Q' | version u8 (1) | kind u8 | body | CRC-32C (Castagnoli) u32 of everything before it |
//
// Bodies (uv = unsigned varint, sv = zigzag varint, both encoding/binary;
// str / bin = uv length + bytes; times are Unix nanoseconds, 0 = none):
//
//	'S' session:  | level u8 (3, 4, 5; 0 none) | expiry interval u32 | disconnected at sv | last seq uv |
//	              | uv n, n x subscription | uv n, n x (packet id u16 | delivery) | uv n, n x inbound QoS 2 id u16 |
//	    subscription: | filter str | options u8 (SUBSCRIBE's: QoS bits 0-1, no local 0x04,
//	                  |   retain as published 0x08, retain handling bits 4-5) | subscription id uv |
//	'Q' queued:   | delivery |
//	'R' retained: | message |
//	delivery:     | flags u8 (QoS 1/2 bits 0-1, retain 0x04, released 0x08) | uv n, n x subscription id uv | message |
//	message:      | topic str | payload bin | flags u8 (QoS bits 0-1, retain 0x04) | from str |
//	              | created sv | properties |
//	properties:   | present u8 (payload format 0x01, message expiry 0x02, content type 0x04,
//	              |   response topic 0x08, correlation data 0x10) | [payload format u8] |
//	              | [message expiry u32] | [content type str] | [response topic str] |
//	              | [correlation data bin] | uv n, n x user property (key str, value str) |
//
// Decoders (FuzzStoreValue) check the CRC first, then magic, version and
// kind, every length against the bytes left and every field's range, and
// that the body ends exactly; a failure is ErrStoreCorrupt.
package mqtt
