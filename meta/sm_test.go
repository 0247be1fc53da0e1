package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// runMachineDataDriven runs the data-driven files at path against a fresh
// machine per file. Commands:
//
//	apply op=NAME [index=N]   <JSON body>  -> "ok <result JSON>" | "rejected CODE: message"
//	lookup op=NAME            <JSON body>  -> the result as indented JSON, or "error: ..."
//	state                                  -> the snapshot body (machine.save), indented
//	snapshot                               -> "ok": save, frame, decode, load into a new
//	                                          machine, save again; the bytes must match
//
// Apply goes through the Dragonboat adapter, so command decoding and the
// rejection encoding are tested on the same path raft uses. index defaults
// to a counter that increases per apply.
func runMachineDataDriven(t *testing.T, path string, newMachine func() machine) {
	datadriven.Walk(t, path, func(t *testing.T, path string) {
		m := newMachine()
		a := &adapter{m: m}
		idx := uint64(0)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "apply":
				var op string
				d.ScanArgs(t, "op", &op)
				idx++
				if d.HasArg("index") {
					d.ScanArgs(t, "index", &idx)
				}
				var body json.RawMessage
				if s := strings.TrimSpace(d.Input); s != "" {
					body = json.RawMessage(s)
				}
				cmd, err := json.Marshal(Command{Op: op, Body: body})
				if err != nil {
					return "error: " + err.Error()
				}
				res, err := a.Update(sm.Entry{Index: idx, Cmd: cmd})
				if err != nil {
					t.Fatalf("Update returned an error (fatal in raft): %v", err)
				}
				var out json.RawMessage
				if err := DecodeResult(res, &out); err != nil {
					var rej *Rejection
					if errors.As(err, &rej) {
						return fmt.Sprintf("rejected %s: %s\n", rej.Code, rej.Message)
					}
					return "error: " + err.Error() + "\n"
				}
				if len(res.Data) == 0 {
					return "ok\n"
				}
				return "ok " + string(res.Data) + "\n"
			case "lookup":
				var op string
				d.ScanArgs(t, "op", &op)
				q := Query{Op: op}
				if s := strings.TrimSpace(d.Input); s != "" {
					q.Body = json.RawMessage(s)
				}
				v, err := a.Lookup(q)
				if err != nil {
					return "error: " + err.Error() + "\n"
				}
				b, err := json.MarshalIndent(v, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				return string(b) + "\n"
			case "state":
				var buf bytes.Buffer
				if err := m.save(&buf); err != nil {
					t.Fatal(err)
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, buf.Bytes(), "", "  "); err != nil {
					return buf.String() + "\n"
				}
				return pretty.String() + "\n"
			case "snapshot":
				checkSnapshotRoundTrip(t, m, newMachine)
				return "ok\n"
			default:
				t.Fatalf("unknown command %q", d.Cmd)
				return ""
			}
		})
	})
}

// checkSnapshotRoundTrip saves m through the adapter, restores it into a new
// machine and requires the restored state to save to the same bytes.
func checkSnapshotRoundTrip(t *testing.T, m machine, newMachine func() machine) {
	t.Helper()
	var framed bytes.Buffer
	if err := (&adapter{m: m}).SaveSnapshot(&framed, nil, nil); err != nil {
		t.Fatal(err)
	}
	m2 := newMachine()
	if err := (&adapter{m: m2}).RecoverFromSnapshot(bytes.NewReader(framed.Bytes()), nil, nil); err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := m.save(&a); err != nil {
		t.Fatal(err)
	}
	if err := m2.save(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("snapshot round trip changed the state:\nbefore %s\nafter  %s", a.Bytes(), b.Bytes())
	}
}

func TestSnapshotFraming(t *testing.T) {
	for shard, newMachine := range machines {
		m := newMachine()
		b, err := encodeSnapshot(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeSnapshot(b, m.kind()); err != nil {
			t.Fatalf("%s: %v", ShardName(shard), err)
		}
		for i := range b {
			c := append([]byte(nil), b...)
			c[i] ^= 0x01
			if _, err := decodeSnapshot(c, m.kind()); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("%s: flipping byte %d: %v, want ErrCorruptSnapshot", ShardName(shard), i, err)
			}
		}
		if _, err := decodeSnapshot(b, m.kind()+"x"); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("%s: wrong kind accepted", ShardName(shard))
		}
	}
}

// FuzzStateMachines feeds arbitrary commands and snapshots to every
// machine: Update must never return an error or panic, and a snapshot
// that decodes must load or fail cleanly.
func FuzzStateMachines(f *testing.F) {
	f.Add(uint8(ShardTopics), []byte(`{"op":"create","body":{}}`), []byte("STRATSNP"))
	f.Add(uint8(ShardGroups), []byte(`{"op":"commit","body":{"group":"g"}}`), []byte{})
	f.Fuzz(func(t *testing.T, shard uint8, cmd []byte, snap []byte) {
		newMachine, ok := machines[uint64(shard)]
		if !ok {
			return
		}
		a := &adapter{m: newMachine()}
		if _, err := a.Update(sm.Entry{Index: 1, Cmd: cmd}); err != nil {
			t.Fatalf("Update: %v", err)
		}
		_ = a.RecoverFromSnapshot(bytes.NewReader(snap), nil, nil)
		checkSnapshotRoundTrip(t, a.m, newMachine)
	})
}
