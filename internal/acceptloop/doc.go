// Package acceptloop is the accept loop the Kafka and MQTT listeners
// share.
//
// Invariants:
//
//  1. Only a closed listener ends the loop. Any other Accept error (out of
//     descriptors: EMFILE, ENFILE; out of buffers or memory; a connection
//     aborted before it was accepted) is logged and retried after a
//     backoff that doubles from 5 ms to 1 s, as net/http does, so a
//     process that ran out of descriptors serves again once some are free.
//  2. Every accepted connection goes to the handler, on the loop's
//     goroutine: the handler starts the connection's own goroutines and
//     returns.
package acceptloop
