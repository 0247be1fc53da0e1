package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzAdminAPI sends arbitrary bodies to the admin API's write routes. The
// server must answer every request with a JSON body and a 2xx or 4xx status
// (never a 5xx, a panic or a hang), since the body is the client's bytes.
func FuzzAdminAPI(f *testing.F) {
	f.Add("POST", "/api/v1/topics", `{"name":"orders","partitions":2,"configs":{"retention.ms":"1000"}}`)
	f.Add("PATCH", "/api/v1/topics/orders", `{"set":{"retention.bytes":"10"},"delete":["retention.ms"]}`)
	f.Add("POST", "/api/v1/topics/orders/partitions", `{"count":3}`)
	f.Add("POST", "/api/v1/topics", `{"name":"x","partitions":1e99}`)
	f.Add("POST", "/api/v1/topics", `{"name":"x","configs":{"storage.mode":"memory","retention.bytes":"-5"}}`)
	ts, _ := newTestAPI(f)
	client := ts.Client()
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if len(body) > 4096 || asksManyPartitions(body) {
			return // valid but slow: thousands of partitions per input would stall the fuzzer
		}
		switch method {
		case "POST", "PATCH", "DELETE", "GET":
		default:
			return
		}
		if !strings.HasPrefix(path, "/api/v1/") || strings.ContainsAny(path, " \r\n#?%") {
			return
		}
		req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		if err != nil {
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: status %d: %s", method, path, body, resp.StatusCode, b)
		}
		if resp.StatusCode != http.StatusNoContent && !json.Valid(b) {
			t.Fatalf("%s %s %q: status %d with a non-JSON body %q", method, path, body, resp.StatusCode, b)
		}
	})
}

// asksManyPartitions reports whether body is JSON asking for more than 64
// partitions.
func asksManyPartitions(body string) bool {
	var m map[string]any
	if json.Unmarshal([]byte(body), &m) != nil {
		return false
	}
	for _, k := range []string{"partitions", "count"} {
		if n, ok := m[k].(float64); ok && n > 64 {
			return true
		}
	}
	return false
}
