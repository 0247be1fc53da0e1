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

	"strata/meta"
)

// TestAdminAPIRoutes drives the routes routes in process over a real
// single-node meta: status codes and error codes of every route.
func TestAdminAPIRoutes(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	node, err := meta.OpenNode(meta.NodeOptions{NodeID: 1, RaftAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), Dir: filepath.Join(dir, "meta"),
		RTT: 20 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	var ready atomic.Bool
	ready.Store(true)
	ts := httptest.NewServer((&httpAPI{node: node, gatherer: prometheus.NewRegistry(), log: log, ready: &ready}).handler())
	defer ts.Close()
	checkAPICases(t, ts.URL, []apiCase{
		{"GET", "/api/v1/routes", "", 200, "", `"routes": []`},
		{"POST", "/api/v1/routes", `{"id":"r1","filter":"factory/+/temp","topic":"factory-temp"}`, 201, "", `"direction": "in"`},
		{"POST", "/api/v1/routes", `{"id":"r1","filter":"factory/+/temp","topic":"factory-temp"}`, 200, "", `"key_mode": "mqtt-topic"`}, // the same rule again: 200, as stored
		{"POST", "/api/v1/routes", `{"filter":"agents/+/inbox","topic":"agent-{1}","key_mode":"client-id","direction":"both"}`, 201, "", `"id": "r-`},
		{"POST", "/api/v1/routes", `{"filter":"factory/+/temp","topic":"factory-temp"}`, 409, codeRouteExists, `already maps`},
		{"POST", "/api/v1/routes", `{"id":"r1","filter":"other","topic":"t"}`, 409, codeRouteExists, `exists`},
		{"POST", "/api/v1/routes", `{"filter":"a/+","topic":"t-{2}"}`, 400, codeInvalidRoute, `{1}..{1}`},
		{"POST", "/api/v1/routes", `{"filter":"a/#/b","topic":"t"}`, 400, codeInvalidRoute, `last level`},
		{"POST", "/api/v1/routes", `{"filter":"a","topic":"t","direction":"up"}`, 400, codeInvalidRoute, `direction \"up\"`},
		{"POST", "/api/v1/routes", `{"filter":"a","topic":"t","key_mode":"payload"}`, 400, codeInvalidRoute, `key mode \"payload\"`},
		{"POST", "/api/v1/routes", `{"filter":"a"}`, 400, codeInvalidRoute, `required`},
		{"POST", "/api/v1/routes", `{"filter":"a","topic":"t","key":"x"}`, 400, codeBadRequest, `unknown field`},
		{"GET", "/api/v1/routes", "", 200, "", `"topic": "agent-{1}"`},
		{"GET", "/api/v1/routes/r1", "", 200, "", `"filter": "factory/+/temp"`},
		{"GET", "/api/v1/routes/nope", "", 404, codeUnknownRoute, `nope`},
		{"DELETE", "/api/v1/routes/r1", "", 204, "", ``},
		{"DELETE", "/api/v1/routes/r1", "", 404, codeUnknownRoute, `r1`},
	})

	// Without a meta node the routes answer 503.
	noMeta := httptest.NewServer((&httpAPI{gatherer: prometheus.NewRegistry(), log: log, ready: &ready}).handler())
	defer noMeta.Close()
	checkAPICases(t, noMeta.URL, []apiCase{
		{"GET", "/api/v1/routes", "", 503, codeUnavailable, `no meta node`},
		{"POST", "/api/v1/routes", `{"filter":"a","topic":"t"}`, 503, codeUnavailable, `no meta node`},
	})
}
