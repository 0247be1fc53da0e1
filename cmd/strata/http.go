package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"strata/frontends/dataset"
	"strata/logstore"
	"strata/meta"
)

// maxRequestBody caps an admin request body: they are small JSON objects.
const maxRequestBody = 1 << 20

// httpAPI serves /healthz, /readyz, /metrics and the admin API over a
// Store and this node's meta Node.
type httpAPI struct {
	store    *logstore.Store
	node     *meta.Node
	gatherer prometheus.Gatherer
	log      *slog.Logger
	// ready is true once the store is open and until shutdown begins.
	ready *atomic.Bool
	// datasets serves /api/v1/datasets (nil: those routes answer 503).
	datasets *dataset.Service
}

// handler returns the routes (net/http ServeMux patterns with methods).
func (a *httpAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelError)}))
	mux.HandleFunc("GET /api/v1/topics", a.listTopics)
	mux.HandleFunc("POST /api/v1/topics", a.createTopic)
	mux.HandleFunc("GET /api/v1/topics/{name}", a.getTopic)
	mux.HandleFunc("PATCH /api/v1/topics/{name}", a.alterTopic)
	mux.HandleFunc("DELETE /api/v1/topics/{name}", a.deleteTopic)
	mux.HandleFunc("POST /api/v1/topics/{name}/partitions", a.createPartitions)
	mux.HandleFunc("GET /api/v1/cluster", a.clusterStatus)
	mux.HandleFunc("POST /api/v1/cluster/nodes", a.addNode)
	mux.HandleFunc("DELETE /api/v1/cluster/nodes/{id}", a.removeNode)
	mux.HandleFunc("GET /api/v1/groups", a.listGroups)
	mux.HandleFunc("GET /api/v1/groups/{group}/offsets", a.groupOffsets)
	mux.HandleFunc("POST /api/v1/groups/{group}/offsets", a.commitOffsets)
	mux.HandleFunc("DELETE /api/v1/groups/{group}", a.deleteGroup)
	a.securityRoutes(mux) // users and ACLs (security_api.go)
	a.routeRoutes(mux)    // MQTT <-> topic routing rules (routes_api.go)
	a.datasetRoutes(mux)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("no API route %s %s", r.Method, r.URL.Path))
	})
	return a.logRequests(mux)
}

func (a *httpAPI) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// readyzTimeout bounds the quorum check of /readyz.
const readyzTimeout = 2 * time.Second

// readyz is 200 while the server runs and this node's meta has a quorum
// (a linearizable read succeeds), 503 otherwise.
func (a *httpAPI) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !a.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "not ready\n")
		return
	}
	if a.node != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyzTimeout)
		defer cancel()
		if !a.node.Ready(ctx) {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "not ready: no meta quorum\n")
			return
		}
	}
	io.WriteString(w, "ready\n")
}

// clusterStatus is GET /api/v1/cluster: this node's view of the meta
// cluster, and whether it has a quorum now.
func (a *httpAPI) clusterStatus(w http.ResponseWriter, r *http.Request) {
	if !a.haveMeta(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyzTimeout)
	defer cancel()
	ready := a.node.Ready(ctx)
	writeJSON(w, http.StatusOK, clusterJSON{ClusterStatus: a.node.Status(), Ready: ready})
}

// membershipTimeout bounds a membership change: one raft config change
// per shard.
const membershipTimeout = 30 * time.Second

// haveMeta writes a 503 when the API runs without a meta node (tests of
// the topic routes over a Store alone).
func (a *httpAPI) haveMeta(w http.ResponseWriter) bool {
	if a.node == nil {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "this server runs no meta node")
		return false
	}
	return true
}

func (a *httpAPI) addNode(w http.ResponseWriter, r *http.Request) {
	if !a.haveMeta(w) {
		return
	}
	var req addNodeRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.ID == 0 {
		writeError(w, http.StatusBadRequest, codeBadRequest, "id: node IDs start at 1")
		return
	}
	if _, _, err := net.SplitHostPort(req.RaftAddr); err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("raft_addr %q is not host:port", req.RaftAddr))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), membershipTimeout)
	defer cancel()
	if err := a.node.AddNode(ctx, req.ID, req.RaftAddr); err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, req)
}

func (a *httpAPI) removeNode(w http.ResponseWriter, r *http.Request) {
	if !a.haveMeta(w) {
		return
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		writeError(w, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("node id %q: want an integer from 1", r.PathValue("id")))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), membershipTimeout)
	defer cancel()
	if err := a.node.RemoveNode(ctx, id); err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *httpAPI) listTopics(w http.ResponseWriter, _ *http.Request) {
	out := topicListJSON{Topics: []topicJSON{}}
	for _, t := range a.store.Topics() {
		out.Topics = append(out.Topics, toTopicJSON(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *httpAPI) createTopic(w http.ResponseWriter, r *http.Request) {
	var req createTopicRequest
	if !readJSON(w, r, &req) {
		return
	}
	partitions := int32(1)
	if req.Partitions != nil {
		partitions = *req.Partitions
	}
	t, err := a.store.CreateTopic(req.Name, partitions, req.Configs)
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toTopicJSON(t))
}

func (a *httpAPI) getTopic(w http.ResponseWriter, r *http.Request) {
	t, err := a.store.Topic(r.PathValue("name"))
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toTopicJSON(t))
}

func (a *httpAPI) alterTopic(w http.ResponseWriter, r *http.Request) {
	var req alterTopicRequest
	if !readJSON(w, r, &req) {
		return
	}
	if len(req.Set) == 0 && len(req.Delete) == 0 {
		writeError(w, http.StatusBadRequest, codeBadRequest, "nothing to alter: give keys to set or to delete")
		return
	}
	t, err := a.store.AlterTopicConfig(r.PathValue("name"), req.Set, req.Delete)
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toTopicJSON(t))
}

func (a *httpAPI) deleteTopic(w http.ResponseWriter, r *http.Request) {
	if err := a.store.DeleteTopic(r.PathValue("name")); err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *httpAPI) createPartitions(w http.ResponseWriter, r *http.Request) {
	var req createPartitionsRequest
	if !readJSON(w, r, &req) {
		return
	}
	t, err := a.store.CreatePartitions(r.PathValue("name"), req.Count)
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toTopicJSON(t))
}

// writeStoreError maps a logstore error to its status; a server-side
// failure is logged, since only the operator can act on it.
func (a *httpAPI) writeStoreError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := errorStatus(err)
	if status >= 500 {
		a.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, status, code, err.Error())
}

// readJSON decodes a request body strictly (unknown fields are an error,
// so a misspelt field is not silently dropped), writing a 400 on failure.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, codeBadRequest, fmt.Sprintf("request body is over %d bytes", maxRequestBody))
			return false
		}
		writeError(w, http.StatusBadRequest, codeBadRequest, "bad request body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorJSON{Error: msg, Code: code})
}

// statusRecorder remembers the status a handler wrote, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests logs every request at debug level, and admin changes at info.
func (a *httpAPI) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		level := slog.LevelDebug
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			level = slog.LevelInfo
		}
		a.log.Log(r.Context(), level, "http request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"remote", r.RemoteAddr, "duration", time.Since(start))
	})
}
