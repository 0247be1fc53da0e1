package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"

	"strata/logstore"
)

func newTestAPI(t testing.TB) (*httptest.Server, *atomic.Bool) {
	t.Helper()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	store, err := logstore.OpenStore(logstore.StoreOptions{Dir: "/data", FS: vfs.NewMem(), Logger: log, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	ready.Store(true)
	ts := httptest.NewServer((&httpAPI{store: store, gatherer: reg, log: log, ready: &ready}).handler())
	t.Cleanup(func() {
		ts.Close()
		store.Close()
	})
	return ts, &ready
}

// TestAdminAPIStatus pins the status and error code of every route's
// success and failure cases.
func TestAdminAPIStatus(t *testing.T) {
	ts, _ := newTestAPI(t)
	checkAPICases(t, ts.URL, []apiCase{
		{"GET", "/api/v1/topics", "", 200, "", `"topics": []`},
		{"POST", "/api/v1/topics", `{"name":"orders","partitions":2,"configs":{"retention.ms":"1000"}}`, 201, "", `"retention.ms": "1000"`},
		{"POST", "/api/v1/topics", `{"name":"one"}`, 201, "", `"partitions": 1`},
		{"POST", "/api/v1/topics", `{"name":"orders"}`, 409, codeTopicExists, `orders`},
		{"POST", "/api/v1/topics", `{"name":"a/b"}`, 400, codeInvalidTopic, `'/'`},
		{"POST", "/api/v1/topics", `{"name":""}`, 400, codeInvalidTopic, `name is empty`},
		{"POST", "/api/v1/topics", `{"name":"x","partitions":-1}`, 400, codeInvalidPartitions, `-1`},
		{"POST", "/api/v1/topics", `{"name":"x","partitions":0}`, 400, codeInvalidPartitions, `0, want 1`},
		{"POST", "/api/v1/topics", `{"name":"x","configs":{"flush.ms":"-3"}}`, 400, codeInvalidConfig, `flush.ms`},
		{"POST", "/api/v1/topics", `{"name":"x","partiton":3}`, 400, codeBadRequest, `partiton`},
		{"POST", "/api/v1/topics", `{"name":`, 400, codeBadRequest, `bad request body`},
		{"POST", "/api/v1/topics", `{"name":"` + strings.Repeat("x", maxRequestBody) + `"}`, 413, codeBadRequest, `over`},
		{"GET", "/api/v1/topics/orders", "", 200, "", `"partition_stats"`},
		{"GET", "/api/v1/topics/missing", "", 404, codeUnknownTopic, `missing`},
		{"GET", "/api/v1/cluster", "", 503, codeUnavailable, `no meta node`},
		{"POST", "/api/v1/cluster/nodes", `{"id":2,"raft_addr":"127.0.0.1:7102"}`, 503, codeUnavailable, `no meta node`},
		{"GET", "/api/v1/groups", "", 503, codeUnavailable, `no meta node`},
		{"POST", "/api/v1/groups/g/offsets", `{"offsets":[{"topic":"orders","partition":0,"offset":1}]}`, 503, codeUnavailable, `no meta node`},
		{"PATCH", "/api/v1/topics/orders", `{"set":{"retention.ms":"5"},"delete":["segment.ms"]}`, 200, "", `"retention.ms": "5"`},
		{"PATCH", "/api/v1/topics/orders", `{}`, 400, codeBadRequest, `nothing to alter`},
		{"PATCH", "/api/v1/topics/orders", `{"set":{"storage.engine":"lite"}}`, 400, codeInvalidConfig, `storage.engine cannot change`},
		{"PATCH", "/api/v1/topics/missing", `{"set":{"retention.ms":"5"}}`, 404, codeUnknownTopic, `missing`},
		{"POST", "/api/v1/topics/orders/partitions", `{"count":5}`, 200, "", `"partitions": 5`},
		{"POST", "/api/v1/topics/orders/partitions", `{"count":5}`, 400, codeInvalidPartitions, `only grow`},
		{"POST", "/api/v1/topics/missing/partitions", `{"count":5}`, 404, codeUnknownTopic, `missing`},
		{"DELETE", "/api/v1/topics/one", "", 204, "", ``},
		{"DELETE", "/api/v1/topics/one", "", 404, codeUnknownTopic, `one`},
		{"GET", "/api/v1/nothing", "", 404, codeNotFound, `GET /api/v1/nothing`},
		{"GET", "/healthz", "", 200, "", "ok"},
		{"GET", "/readyz", "", 200, "", "ready"},
	})
}

func TestReadyzFollowsReadiness(t *testing.T) {
	ts, ready := newTestAPI(t)
	ready.Store(false)
	if code, body := httpGet(t, ts.URL+"/readyz"); code != http.StatusServiceUnavailable || body != "not ready\n" {
		t.Fatalf("/readyz while not ready = %d %q", code, body)
	}
	// Liveness does not depend on readiness.
	if code, _ := httpGet(t, ts.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz while not ready = %d", code)
	}
	ready.Store(true)
	if code, _ := httpGet(t, ts.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz when ready = %d", code)
	}
}

func TestParseKeyValues(t *testing.T) {
	got, err := parseKeyValues([]string{"a=1", " b =x=y", "c="})
	if err != nil || len(got) != 3 || got["a"] != "1" || got["b"] != "x=y" || got["c"] != "" {
		t.Fatalf("parseKeyValues = %v, %v", got, err)
	}
	for _, bad := range [][]string{{"a"}, {"=1"}, {"a=1", "a=2"}} {
		if _, err := parseKeyValues(bad); err == nil {
			t.Errorf("parseKeyValues(%q) accepted", bad)
		}
	}
}

// apiCase is one admin API request and what a client must see back.
type apiCase struct {
	method, path, body string
	status             int
	code               string // error code, for error responses
	contains           string
}

// checkAPICases sends each request to base and checks its status, body and,
// for errors, the JSON error code and content type.
func checkAPICases(t *testing.T, base string, cases []apiCase) {
	t.Helper()
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.contains) {
			t.Errorf("%s %.50s %.60s: %d %s; want %d containing %q", tc.method, tc.path, tc.body, resp.StatusCode, body, tc.status, tc.contains)
			continue
		}
		if tc.code != "" {
			var e errorJSON
			if err := json.Unmarshal(body, &e); err != nil || e.Code != tc.code || e.Error == "" {
				t.Errorf("%s %.50s: error body %s; want code %q", tc.method, tc.path, body, tc.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s %.50s: Content-Type %q", tc.method, tc.path, ct)
			}
		}
	}
}
