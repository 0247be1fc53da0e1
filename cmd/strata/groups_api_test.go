package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strata/logstore"
	"strata/meta"
)

// TestAdminAPIGroups drives the group routes in process over a real
// single-node meta (so that -race sees the handlers): status codes and
// error codes of every route, a batched commit, and a group with members
// that cannot be deleted.
func TestAdminAPIGroups(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	node, err := meta.OpenNode(meta.NodeOptions{NodeID: 1, RaftAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), Dir: filepath.Join(dir, "meta"),
		RTT: 20 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	catalog, err := meta.NewCatalog(node, meta.CatalogOptions{DropOnDelete: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	store, err := logstore.OpenStore(logstore.StoreOptions{Dir: dir, Catalog: catalog, Logger: log, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.CreateTopic("orders", 3, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := meta.NewGroups(node).PutGroup(ctx, meta.GroupMetadata{Group: "live", Generation: 1, State: "Stable",
		Members: []meta.GroupMember{{MemberID: "m1"}}}, nil); err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	ready.Store(true)
	ts := httptest.NewServer((&httpAPI{store: store, node: node, gatherer: reg, log: log, ready: &ready}).handler())
	defer ts.Close()

	var batch []string
	for p := range 3 {
		batch = append(batch, fmt.Sprintf(`{"topic":"orders","partition":%d,"offset":%d,"metadata":"x"}`, p, 10+p))
	}
	checkAPICases(t, ts.URL, []apiCase{
		{"GET", "/api/v1/groups", "", 200, "", `"group": "live"`},
		{"POST", "/api/v1/groups/billing/offsets", `{"offsets":[` + strings.Join(batch, ",") + `]}`, 200, "", `"committed": 3`},
		{"POST", "/api/v1/groups/billing/offsets", `{"offsets":[{"topic":"orders","partition":1,"offset":42}]}`, 200, "", `"committed": 1`},
		{"GET", "/api/v1/groups/billing/offsets", "", 200, "", `"offset": 42`},
		{"GET", "/api/v1/groups/live/offsets", "", 200, "", `"state": "Stable"`},
		{"GET", "/api/v1/groups/ghost/offsets", "", 404, codeUnknownGroup, `ghost`},
		{"POST", "/api/v1/groups/billing/offsets", `{"offsets":[{"topic":"nope","partition":0,"offset":1}]}`, 404, codeUnknownTopic, `nope`},
		{"POST", "/api/v1/groups/billing/offsets", `{"offsets":[{"topic":"orders","partition":3,"offset":1}]}`, 400, codeInvalidPartitions, `0..2, not 3`},
		// All or nothing: a bad partition refuses the whole batch.
		{"POST", "/api/v1/groups/billing/offsets", `{"offsets":[{"topic":"orders","partition":0,"offset":99},{"topic":"orders","partition":5,"offset":1}]}`, 400, codeInvalidPartitions, `not 5`},
		{"GET", "/api/v1/groups/billing/offsets", "", 200, "", `"offset": 10,`},
		{"POST", "/api/v1/groups/billing/offsets", `{"offsets":[{"topic":"orders","partition":0,"offset":-2}]}`, 400, codeBadRequest, `negative offset`},
		{"POST", "/api/v1/groups/billing/offsets", `{"offsets":[{"topic":"orders","partition":0,"offset":1,"metadata":"` + strings.Repeat("m", meta.MaxOffsetMetadata+1) + `"}]}`, 400, codeBadRequest, `metadata of`},
		{"POST", "/api/v1/groups/billing/offsets", `{"offsets":[]}`, 400, codeBadRequest, `at least one`},
		{"POST", "/api/v1/groups/billing/offsets", `{"offset":[]}`, 400, codeBadRequest, `unknown field`},
		{"POST", "/api/v1/groups/" + strings.Repeat("g", 256) + "/offsets", `{"offsets":[{"topic":"orders","partition":0,"offset":1}]}`, 400, codeBadRequest, `bad group id`},
		{"DELETE", "/api/v1/groups/live", "", 409, codeGroupNotEmpty, `not empty`},
		{"DELETE", "/api/v1/groups/billing", "", 204, "", ``},
		{"DELETE", "/api/v1/groups/billing", "", 404, codeUnknownGroup, `billing`},
	})
}
