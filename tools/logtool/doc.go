// Package logtool implements the log inspection subcommands of the strata
// binary: `strata log dump`, `strata log verify` and `strata log stats`.
// They read a data directory directly (no server needed; run them on a
// stopped node or a copy, since a live server keeps appending).
//
// What each reads:
//
//	<data>/topics/<topic>-<partition>/<base:020d>.log        segment engine data (truth)
//	<data>/topics/<topic>-<partition>/<base:020d>.index      sparse offset index (derived)
//	<data>/topics/<topic>-<partition>/<base:020d>.timeindex  time index (derived)
//	<data>/lite/                                            pebble database of lite topics
//
// Topic modes and engines live in meta (raft, <data>/meta), which a tool
// cannot read offline; `strata log stats --server URL` asks a running
// server's admin API for them (and for the offsets of lite and memory
// partitions, which have no files). A data directory from before meta
// still has its catalog.json, which stats reads directly.
//
// The file formats are drawn in the logstore package doc; this package only
// uses logstore's exported decoders (ScanSegment, DecodeIndex,
// DecodeTimeIndex, DecodeRecords), so a tool and the engine can never
// disagree on what a valid file is.
//
// Invariants of the tools:
//
//  1. They never write to the data directory.
//  2. verify stops at the first corruption and names the file and byte
//     position; its exit code is 0 when clean and 1 otherwise.
//  3. A torn tail (what a crash leaves and recovery truncates) is reported
//     by verify as corruption: verify describes the files as they are.
//  4. Progress bars go to stderr, only when stderr is a terminal and the
//     work has run for more than a second, so scripted output stays clean.
package logtool
