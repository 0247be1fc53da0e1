package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"strata/frontends/dataset"
	"strata/meta"
	"strata/tier"
)

// The dataset routes (/api/v1/datasets) over frontends/dataset's Service.
// Registration runs in the server, which holds the object stores'
// credentials and the topics; a client that asks for application/x-ndjson
// gets its progress as it goes.
//
//	GET    /api/v1/datasets                 {"datasets": [{name, source, format, shards, rows, bytes, created_ms}]}
//	POST   /api/v1/datasets                 {name, source, format, replace?, strict?} -> 201 {dataset, created,
//	                                         errors?: [{key, error}], took}; Accept: application/x-ndjson ->
//	                                         200, lines {"progress": {done, total}} ... then {"result": ...} or {"error": ...}
//	GET    /api/v1/datasets/{name}[?shards=true]  {name, ..., schema: ["field: type"], errors?, shard_list?}
//	DELETE /api/v1/datasets/{name}          204 (its cursors go too; the data is not touched)
//	GET    /api/v1/datasets/{name}/stream?epoch&seed&rank&world_size&batch_rows&cursor&columns=a,b
//	                                        application/vnd.apache.arrow.stream
//
// Errors: 400 invalid_dataset (the message names the field), 404
// unknown_dataset, 409 dataset_exists, 422 dataset_corrupt (no usable
// object, or strict and some are bad), 503 unavailable.

// datasetsTimeout bounds the quick dataset requests (one meta read or
// proposal); a registration is bounded by datasetCreateTimeout.
const (
	datasetsTimeout      = 30 * time.Second
	datasetCreateTimeout = 30 * time.Minute
	// datasetProgressEvery is how often registration progress is streamed.
	datasetProgressEvery = 100 * time.Millisecond
	ndjsonType           = "application/x-ndjson"
	arrowStreamType      = "application/vnd.apache.arrow.stream"
)

// Error codes of the dataset routes.
const (
	codeUnknownDataset = "unknown_dataset"
	codeDatasetExists  = "dataset_exists"
	codeInvalidDataset = "invalid_dataset"
	codeDatasetCorrupt = "dataset_corrupt"
)

// datasetListJSON is GET /api/v1/datasets.
type datasetListJSON struct {
	Datasets []meta.DatasetInfo `json:"datasets"`
}

// datasetEventJSON is one line of a registration's ndjson response: a
// progress report, then the result or an error.
type datasetEventJSON struct {
	Progress *dataset.Progress     `json:"progress,omitempty"`
	Result   *dataset.CreateResult `json:"result,omitempty"`
	Error    *errorJSON            `json:"error,omitempty"`
}

func (a *httpAPI) datasetRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/datasets", a.listDatasets)
	mux.HandleFunc("POST /api/v1/datasets", a.createDataset)
	mux.HandleFunc("GET /api/v1/datasets/{name}", a.describeDataset)
	mux.HandleFunc("DELETE /api/v1/datasets/{name}", a.deleteDataset)
	mux.HandleFunc("GET /api/v1/datasets/{name}/stream", a.streamDataset)
}

func datasetErrorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, dataset.ErrInvalid), meta.RejectedWith(err, meta.RejectInvalid):
		return http.StatusBadRequest, codeInvalidDataset
	case errors.Is(err, dataset.ErrNotFound), meta.RejectedWith(err, meta.RejectNotFound):
		return http.StatusNotFound, codeUnknownDataset
	case errors.Is(err, dataset.ErrExists), meta.RejectedWith(err, meta.RejectExists):
		return http.StatusConflict, codeDatasetExists
	case errors.Is(err, dataset.ErrCorrupt), errors.Is(err, tier.ErrCorrupt):
		return http.StatusUnprocessableEntity, codeDatasetCorrupt
	case errors.Is(err, tier.ErrUnavailable):
		return http.StatusServiceUnavailable, codeUnavailable
	}
	return errorStatus(err)
}

func (a *httpAPI) writeDatasetError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := datasetErrorStatus(err)
	if status >= 500 {
		a.log.Error("dataset request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, status, code, err.Error())
}

func (a *httpAPI) haveDatasets(w http.ResponseWriter) bool {
	if a.datasets == nil {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "this server serves no datasets")
		return false
	}
	return true
}

func (a *httpAPI) listDatasets(w http.ResponseWriter, r *http.Request) {
	if !a.haveDatasets(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), datasetsTimeout)
	defer cancel()
	infos, err := a.datasets.List(ctx)
	if err != nil {
		a.writeDatasetError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, datasetListJSON{Datasets: infos})
}

func (a *httpAPI) describeDataset(w http.ResponseWriter, r *http.Request) {
	if !a.haveDatasets(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), datasetsTimeout)
	defer cancel()
	d, err := a.datasets.Describe(ctx, r.PathValue("name"), r.URL.Query().Get("shards") == "true")
	if err != nil {
		a.writeDatasetError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *httpAPI) deleteDataset(w http.ResponseWriter, r *http.Request) {
	if !a.haveDatasets(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), datasetsTimeout)
	defer cancel()
	if err := a.datasets.Delete(ctx, r.PathValue("name")); err != nil {
		a.writeDatasetError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// createDataset is POST /api/v1/datasets: 201 with the CreateResult (200
// when an identical dataset existed), or with Accept: application/x-ndjson
// a 200 stream of datasetEventJSON lines.
func (a *httpAPI) createDataset(w http.ResponseWriter, r *http.Request) {
	if !a.haveDatasets(w) {
		return
	}
	var req dataset.CreateRequest
	if !readJSON(w, r, &req) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), datasetCreateTimeout)
	defer cancel()
	if r.Header.Get("Accept") != ndjsonType {
		res, err := a.datasets.Create(ctx, req, nil)
		if err != nil {
			a.writeDatasetError(w, r, err)
			return
		}
		status := http.StatusCreated
		if !res.Created {
			status = http.StatusOK
		}
		writeJSON(w, status, res)
		return
	}
	w.Header().Set("Content-Type", ndjsonType)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	var mu sync.Mutex // progress comes from the scanning goroutines
	enc := json.NewEncoder(w)
	send := func(ev datasetEventJSON) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(ev)
		_ = rc.Flush()
	}
	var last time.Time
	res, err := a.datasets.Create(ctx, req, func(p dataset.Progress) {
		if now := time.Now(); p.Done == p.Total || now.Sub(last) >= datasetProgressEvery {
			last = now
			send(datasetEventJSON{Progress: &p})
		}
	})
	if err != nil {
		_, code := datasetErrorStatus(err)
		send(datasetEventJSON{Error: &errorJSON{Error: err.Error(), Code: code}})
		return
	}
	send(datasetEventJSON{Result: &res})
}

// streamDataset is GET /api/v1/datasets/{name}/stream?epoch&seed&rank&
// world_size&batch_rows&cursor&columns: one rank's read as an Arrow IPC
// stream. An error after the stream began ends it without its
// end-of-stream marker, which readers report as a truncated stream.
func (a *httpAPI) streamDataset(w http.ResponseWriter, r *http.Request) {
	if !a.haveDatasets(w) {
		return
	}
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	req, err := dataset.ParseQuery(r.PathValue("name"), q.Get, keys)
	if err != nil {
		a.writeDatasetError(w, r, err)
		return
	}
	began := false
	err = a.datasets.WriteStream(r.Context(), w, req, func() {
		began = true
		w.Header().Set("Content-Type", arrowStreamType)
		w.WriteHeader(http.StatusOK)
	})
	if err != nil {
		if !began {
			a.writeDatasetError(w, r, err)
			return
		}
		a.log.Warn("dataset stream ended early", "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler) // cut the response so the reader cannot take it as complete
	}
}
