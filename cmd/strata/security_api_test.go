package main

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strata/logstore"
	"strata/meta"
)

// TestAdminAPISecurity drives the users and ACL routes in process over a
// real single-node meta: status and error codes, defaults (host *,
// literal), the empty-filter guard, and that no credential comes back.
func TestAdminAPISecurity(t *testing.T) {
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
	var ready atomic.Bool
	ready.Store(true)
	ts := httptest.NewServer((&httpAPI{store: store, node: node, gatherer: reg, log: log, ready: &ready}).handler())
	defer ts.Close()

	alice := `{"resource_type":"topic","resource_name":"orders","principal":"User:alice","operation":"read","permission":"allow"}`
	checkAPICases(t, ts.URL, []apiCase{
		{"GET", "/api/v1/users", "", 200, "", `"users": []`},
		{"POST", "/api/v1/users", `{"name":"alice","password":"pw-1"}`, 201, "", `"created": true`},
		{"POST", "/api/v1/users", `{"name":"alice","password":"pw-2","mechanisms":["scram-sha-512"]}`, 200, "", `"SCRAM-SHA-512"`},
		{"GET", "/api/v1/users", "", 200, "", `"iterations": 8192`},
		{"POST", "/api/v1/users", `{"name":"bob","password":""}`, 400, codeBadRequest, `password`},
		{"POST", "/api/v1/users", `{"name":"bob","password":"x","mechanisms":["MD5"]}`, 400, codeBadRequest, `want SCRAM-SHA-256 or SCRAM-SHA-512`},
		{"POST", "/api/v1/users", `{"name":"","password":"x"}`, 400, codeBadRequest, `user name`},
		{"POST", "/api/v1/users", `{"name":"bob","pass":"x"}`, 400, codeBadRequest, `unknown field`},
		{"DELETE", "/api/v1/users/nobody", "", 404, codeUnknownUser, `nobody`},
		{"GET", "/api/v1/acls", "", 200, "", `"acls": []`},
		{"POST", "/api/v1/acls", `{"acls":[` + alice + `]}`, 201, "", `"created": 1`},
		{"POST", "/api/v1/acls", `{"acls":[` + alice + `]}`, 201, "", `"created": 0`},
		{"POST", "/api/v1/acls", `{"acls":[{"resource_type":"topic","resource_name":"x","principal":"alice","operation":"read","permission":"allow"}]}`, 400, codeBadRequest, `not Type:name`},
		{"POST", "/api/v1/acls", `{"acls":[]}`, 400, codeBadRequest, `at least one`},
		{"GET", "/api/v1/acls?resource_type=topic&resource_name=orders&pattern_type=match", "", 200, "", `"host": "*"`},
		{"GET", "/api/v1/acls?principal=User:bob", "", 200, "", `"acls": []`},
		{"DELETE", "/api/v1/acls", "", 400, codeBadRequest, `all=true`},
		{"DELETE", "/api/v1/acls?principal=User:alice", "", 200, "", `"pattern_type": "literal"`},
		{"GET", "/api/v1/acls", "", 200, "", `"acls": []`},
		{"DELETE", "/api/v1/users/alice", "", 204, "", ``},
		{"GET", "/api/v1/users", "", 200, "", `"users": []`},
	})
}
