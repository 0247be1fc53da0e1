package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"strata/logstore"
	"strata/meta"
)

// TestServeCluster3 runs three `strata serve` processes as one meta
// cluster on loopback: topics created through any node appear on every
// node; SIGKILL of the topics leader; creates continue through the others
// within seconds; the killed node restarts and catches up; no acknowledged
// create is lost or duplicated. Then two nodes stop and the last one is
// not ready and refuses topic changes with 503 no_quorum. Consumer offsets
// are committed (`strata group commit`, one batch each) through every node,
// before and after the kill; after the restart every node reads exactly
// the last acknowledged offset of every partition.
func TestServeCluster3(t *testing.T) {
	type proc struct {
		dir, http, raft string
		srv             *server
	}
	procs := map[uint64]*proc{}
	var peers []string
	for id := uint64(1); id <= 3; id++ {
		p := &proc{dir: t.TempDir(), http: fmt.Sprintf("127.0.0.1:%d", freePort(t)), raft: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
		procs[id] = p
		peers = append(peers, fmt.Sprintf("%d=%s", id, p.raft))
	}
	start := func(id uint64) {
		t.Helper()
		p := procs[id]
		srv, err := spawnServer(t, p.dir, p.http, "--node-id", fmt.Sprint(id), "--raft-addr", p.raft, "--peers", strings.Join(peers, ","))
		if err != nil {
			t.Fatal(err)
		}
		p.srv = srv
	}
	for id := uint64(1); id <= 3; id++ {
		start(id)
	}
	for id := uint64(1); id <= 3; id++ {
		if err := procs[id].srv.waitReady(20 * time.Second); err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
	}
	cwd := t.TempDir()
	cli := func(id uint64, args ...string) cliResult {
		return runStrata(t, cwd, cleanEnv("STRATA_SERVER="+procs[id].srv.url), args...)
	}
	var acked []string
	create := func(id uint64, name string) {
		t.Helper()
		if r := cli(id, "topic", "create", name, "-p", "2"); r.code != 0 {
			t.Fatalf("create %s through node %d: exit %d: %s", name, id, r.code, r.stderr)
		}
		acked = append(acked, name)
	}
	seesAll := func(ids ...uint64) {
		t.Helper()
		want := slices.Sorted(slices.Values(acked))
		for _, id := range ids {
			deadline := time.Now().Add(10 * time.Second)
			for {
				r := cli(id, "topic", "list", "-o", "json")
				var list topicListJSON
				_ = json.Unmarshal([]byte(r.stdout), &list)
				var got []string
				partitionsOK := true
				for _, tp := range list.Topics {
					got = append(got, tp.Name)
					partitionsOK = partitionsOK && len(tp.PartitionStats) == 2
				}
				if slices.Equal(got, want) && partitionsOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %d lists %v, want %v (exit %d %s)", id, got, want, r.code, r.stderr)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	status := func(id uint64) clusterJSON {
		t.Helper()
		r := cli(id, "cluster", "status", "-o", "json")
		var st clusterJSON
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
			t.Fatalf("cluster status on node %d: exit %d: %s%s", id, r.code, r.stdout, r.stderr)
		}
		return st
	}

	for i := range 3 {
		create(2, fmt.Sprintf("a%d", i))
	}
	create(3, "a3")
	seesAll(1, 2, 3)

	// Offsets: group -> "topic:partition" -> last acknowledged offset.
	ackedOffsets := map[string]map[string]int64{}
	commit := func(id uint64, group string, round int64, topics ...string) {
		t.Helper()
		args := []string{"group", "commit", group}
		if ackedOffsets[group] == nil {
			ackedOffsets[group] = map[string]int64{}
		}
		batch := map[string]int64{}
		for _, topic := range topics {
			for p := range 2 {
				tp := fmt.Sprintf("%s:%d", topic, p)
				batch[tp] = round*100 + int64(p)
				args = append(args, "--offset", fmt.Sprintf("%s=%d", tp, batch[tp]))
			}
		}
		if r := cli(id, args...); r.code != 0 {
			t.Fatalf("commit %s round %d through node %d: exit %d: %s", group, round, id, r.code, r.stderr)
		}
		for tp, off := range batch {
			ackedOffsets[group][tp] = off
		}
	}
	offsetsAgree := func(ids ...uint64) {
		t.Helper()
		for _, id := range ids {
			var list groupListJSON
			if r := cli(id, "group", "list", "-o", "json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list.Groups) != len(ackedOffsets) {
				t.Fatalf("node %d: group list: exit %d %s%s; want %d groups", id, r.code, r.stdout, r.stderr, len(ackedOffsets))
			}
			for group, want := range ackedOffsets {
				var g groupOffsetsJSON
				if r := cli(id, "group", "describe", group, "-o", "json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &g) != nil {
					t.Fatalf("node %d: describe %s: exit %d %s", id, group, r.code, r.stderr)
				}
				got := map[string]int64{}
				for _, o := range g.Offsets {
					tp := fmt.Sprintf("%s:%d", o.Topic, o.Partition)
					if _, dup := got[tp]; dup {
						t.Fatalf("node %d: group %s lists %s twice", id, group, tp)
					}
					got[tp] = o.Offset
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("node %d: group %s offsets %v, want the acknowledged %v", id, group, got, want)
				}
			}
		}
	}
	commit(1, "g1", 1, "a0", "a1")
	commit(2, "g2", 2, "a0", "a2", "a3")
	commit(3, "g1", 3, "a1", "a3")
	offsetsAgree(1, 2, 3)
	if r := cli(1, "topic", "create", "a0"); r.code != 1 || !strings.Contains(r.stderr, "topic already exists") {
		t.Errorf("create through node 1 of a topic node 2 created: exit %d, %s", r.code, r.stderr)
	}

	// The table names every shard and member.
	r := cli(1, "cluster", "status")
	mustMatch(t, r.stdout, `(?m)^Ready:\s+yes$`, `(?m)^SHARD\s+LEADER\s+TERM\s+MEMBERS\s+APPLIED\s+LAG$`,
		`(?m)^topics\s+[123]\s+\d+\s+1,2,3\s+\d+\s+\d+$`, `(?m)^NODE\s+RAFT ADDRESS\s+ALIVE`)
	var leader, groupsLeader uint64
	for _, s := range status(1).Shards {
		switch s.ShardID {
		case meta.ShardTopics:
			leader = s.LeaderID
		case meta.ShardGroups:
			groupsLeader = s.LeaderID
		}
	}
	if leader == 0 {
		t.Fatal("no topics leader")
	}

	// SIGKILL the topics leader; creates continue through the others.
	if err := procs[leader].srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-procs[leader].srv.exited
	var survivors []uint64
	for id := uint64(1); id <= 3; id++ {
		if id != leader {
			survivors = append(survivors, id)
		}
	}
	began := time.Now()
	create(survivors[0], "b0")
	t.Logf("killed node %d (topics leader); the next create through node %d took %v", leader, survivors[0], time.Since(began))
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("a create after the leader was killed took %v", d)
	}
	create(survivors[1], "b1")
	seesAll(survivors...)
	began = time.Now()
	commit(survivors[1], "g3", 4, "a0", "b0")
	t.Logf("the groups leader was node %d; the next commit through node %d took %v", groupsLeader, survivors[1], time.Since(began))
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("a commit after the leader was killed took %v", d)
	}
	for round := int64(5); round < 9; round++ {
		commit(survivors[round%2], fmt.Sprintf("g%d", round%3+1), round, "a2", "b1")
	}
	offsetsAgree(survivors...)

	// The killed node restarts and catches up.
	start(leader)
	if err := procs[leader].srv.waitReady(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	seesAll(1, 2, 3)
	st := status(leader)
	if !st.Ready || len(st.Shards) == 0 {
		t.Fatalf("restarted node's status: %+v", st)
	}
	offsetsAgree(1, 2, 3)
	commit(leader, "g2", 9, "a0", "b1")
	offsetsAgree(1, 2, 3)

	// Two nodes stop: the last one is not ready and refuses changes.
	last := survivors[0]
	for id := uint64(1); id <= 3; id++ {
		if id != last {
			procs[id].srv.stop(t)
		}
	}
	if code, body := httpGet(t, procs[last].srv.url+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no meta quorum") {
		t.Errorf("readyz without quorum: %d %q", code, body)
	}
	r = cli(last, "topic", "create", "minority")
	if r.code != 1 || !strings.Contains(r.stderr, "no quorum") {
		t.Errorf("create without quorum: exit %d, stderr %q", r.code, r.stderr)
	}
	procs[last].srv.stop(t)
}

// TestClusterCLISingleNode: `strata cluster` against a single node: the
// status table and JSON, and the errors an operator sees.
func TestClusterCLISingleNode(t *testing.T) {
	srv := startServer(t, t.TempDir())
	defer srv.stop(t)
	cli := func(args ...string) cliResult {
		return runStrata(t, t.TempDir(), cleanEnv("STRATA_SERVER="+srv.url), args...)
	}
	// Every shard elects its leader right after start; wait for all of them.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := cli("cluster", "status", "-o", "json")
		var st clusterJSON
		if r.code == 0 && json.Unmarshal([]byte(r.stdout), &st) == nil && st.Ready && st.HasLeader && len(st.Nodes) == 1 {
			if st.NodeID != 1 || st.Nodes[0].Addrs["http"] != strings.TrimPrefix(srv.url, "http://") || !st.Nodes[0].Alive {
				t.Fatalf("status: %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster status never settled: exit %d %s %s", r.code, r.stdout, r.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := cli("cluster", "status")
	mustMatch(t, r.stdout, `(?m)^Node:\s+1 \(127\.0\.0\.1:\d+\)$`, `(?m)^Ready:\s+yes$`,
		`(?m)^cluster\s+1\s+\d+\s+1\s+\d+\s+0$`, `(?m)^topics\s+1\s+\d+\s+1\s+\d+\s+0$`,
		`(?m)^1\s+127\.0\.0\.1:\d+\s+yes\s+\S+\s+http=127\.0\.0\.1:\d+$`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "add-node", "0", "127.0.0.1:7200"}, `node ID "0": want an integer from 1`},
		{[]string{"cluster", "add-node", "2", "nowhere"}, `raft_addr "nowhere" is not host:port`},
		{[]string{"cluster", "remove-node", "x"}, `node ID "x": want an integer from 1`},
		{[]string{"cluster", "add-node", "2"}, "accepts 2 arg(s), received 1"},
		{[]string{"cluster", "status", "-o", "yaml"}, `-o "yaml": want table or json`},
	} {
		if r := cli(tc.args...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("strata %s: exit %d, stderr %q; want %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	// Removing a node that is not a member is a no-op that succeeds.
	if r := cli("cluster", "remove-node", "9"); r.code != 0 || r.stdout != "removed node 9\n" {
		t.Errorf("remove-node 9: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if code, body := httpGet(t, srv.url+"/readyz"); code != http.StatusOK {
		t.Errorf("readyz after the no-op removal: %d %s", code, body)
	}
}

// TestServeImportsFileCatalog: a data directory written before meta (the
// store's catalog.json) is served with its topics and records after the
// upgrade; the file is imported once and renamed.
func TestServeImportsFileCatalog(t *testing.T) {
	data := t.TempDir()
	st, err := logstore.OpenStore(logstore.StoreOptions{Dir: data, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	before, err := st.CreateTopic("old", 2, map[string]string{logstore.KeyRetentionMs: "86400000"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateTopic("old-lite", 1, map[string]string{logstore.KeyStorageEngine: logstore.EngineLite}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"old", "old-lite"} {
		l, err := st.Partition(name, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := logstore.EncodeBatch([]logstore.Record{{Timestamp: 1_700_000_000_000, Value: []byte("v")}}, logstore.CompressionNone)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	srv := startServer(t, data)
	if !strings.Contains(srv.log(), "imported the file catalogue into meta") {
		t.Errorf("no import in the log:\n%s", srv.log())
	}
	check := func() {
		t.Helper()
		code, body := httpGet(t, srv.url+"/api/v1/topics")
		var list topicListJSON
		if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Topics) != 2 {
			t.Fatalf("topics after the import: %d %s", code, body)
		}
		old := list.Topics[0]
		if old.Name != "old" || old.ID != before.IDString() || old.Partitions != 2 || old.Overrides[logstore.KeyRetentionMs] != "86400000" ||
			old.PartitionStats[0].HighWatermark != 1 {
			t.Errorf("old after the import: %+v", old)
		}
		if lite := list.Topics[1]; lite.Name != "old-lite" || lite.PartitionStats[0].HighWatermark != 1 {
			t.Errorf("old-lite after the import: %+v", lite)
		}
	}
	check()
	if _, err := os.Stat(filepath.Join(data, logstore.CatalogFileName)); err == nil {
		t.Error("catalog.json is still there")
	}
	if _, err := os.Stat(filepath.Join(data, logstore.CatalogFileName+meta.ImportedSuffix)); err != nil {
		t.Error(err)
	}
	// A new topic does not reuse the lite topic's seq (the lite keys are
	// prefixed by it): the new one starts empty.
	r := runStrata(t, t.TempDir(), cleanEnv("STRATA_SERVER="+srv.url), "topic", "create", "new-lite", "-c", "storage.engine=lite", "-o", "json")
	var nl topicJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &nl) != nil || nl.PartitionStats[0].HighWatermark != 0 {
		t.Fatalf("new lite topic: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	srv.stop(t)

	// The restart imports nothing and keeps everything.
	srv = startServer(t, data)
	if strings.Contains(srv.log(), "imported the file catalogue") {
		t.Error("imported again after a restart")
	}
	srv.stop(t)
}

// TestServeStartingWithoutQuorum: node 1 of a three-node cluster whose
// peers are not up yet answers /healthz, says why it is not ready, refuses
// the admin API with a JSON 503, and still stops cleanly on SIGTERM.
func TestServeStartingWithoutQuorum(t *testing.T) {
	data := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	peers := fmt.Sprintf("1=%s,2=127.0.0.1:%d,3=127.0.0.1:%d", raftAddrFor(t, data), freePort(t), freePort(t))
	srv, err := spawnServer(t, data, httpAddr, "--node-id", "1", "--raft-addr", raftAddrFor(t, data), "--peers", peers)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(srv.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never answered 200 while waiting for a quorum: %v\n%s", err, srv.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := httpGet(t, srv.url+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "waiting for a meta quorum") {
		t.Fatalf("/readyz without a quorum: %d %q", code, body)
	}
	code, body := httpGet(t, srv.url+"/api/v1/topics")
	var e struct{ Error, Code string }
	if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &e) != nil || e.Code != "unavailable" {
		t.Fatalf("/api/v1/topics without a quorum: %d %q", code, body)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.exited:
		if srv.waitErr != nil {
			t.Fatalf("exit after SIGTERM while waiting for a quorum: %v\n%s", srv.waitErr, srv.log())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit within 10s of SIGTERM while waiting for a quorum\n%s", srv.log())
	}
}
