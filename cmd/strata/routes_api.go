package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"strata/meta"
)

// The routing rules of the unified pipeline (MQTT in / Kafka out), over
// meta's routes shard. The MQTT frontend's router reads them with a short
// TTL (frontends/mqtt/route.go: a change applies within a second).
//
//	GET    /api/v1/routes        {"routes": [rule...]} sorted by id
//	POST   /api/v1/routes        {id?, filter, topic, key_mode?, direction?} -> 201 rule
//	                             (id defaults to a new time-ordered "r-..." one; key_mode to
//	                             mqtt-topic, direction to in); 200 when the same
//	                             rule is there under that id; 400 invalid_route,
//	                             409 route_exists
//	GET    /api/v1/routes/{id}   rule; 404 unknown_route
//	DELETE /api/v1/routes/{id}   204; 404 unknown_route
//
// A rule is {id, filter, topic, key_mode, direction, created_ms}.

// routesTimeout bounds one routes request.
const routesTimeout = 10 * time.Second

// Error codes of the routes API.
const (
	codeUnknownRoute = "unknown_route"
	codeRouteExists  = "route_exists"
	codeInvalidRoute = "invalid_route"
)

// routeListJSON is GET /api/v1/routes.
type routeListJSON struct {
	Routes []meta.RouteRule `json:"routes"`
}

// addRouteRequest is POST /api/v1/routes.
type addRouteRequest struct {
	ID        string `json:"id,omitempty"`
	Filter    string `json:"filter"`
	Topic     string `json:"topic"`
	KeyMode   string `json:"key_mode,omitempty"`
	Direction string `json:"direction,omitempty"`
}

// routeRoutes adds the routes routes to mux.
func (a *httpAPI) routeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/routes", a.listRoutes)
	mux.HandleFunc("POST /api/v1/routes", a.addRoute)
	mux.HandleFunc("GET /api/v1/routes/{id}", a.getRoute)
	mux.HandleFunc("DELETE /api/v1/routes/{id}", a.removeRoute)
}

func (a *httpAPI) routesContext(w http.ResponseWriter, r *http.Request) (*meta.Routes, context.Context, context.CancelFunc, bool) {
	if !a.haveMeta(w) {
		return nil, nil, nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), routesTimeout)
	return meta.NewRoutes(a.node), ctx, cancel, true
}

func (a *httpAPI) listRoutes(w http.ResponseWriter, r *http.Request) {
	routes, ctx, cancel, ok := a.routesContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	rules, err := routes.List(ctx)
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, routeListJSON{Routes: rules})
}

// newRouteID is a fresh rule id: "r-", the time in base-36 milliseconds
// and 4 random characters, so that ids (the order rules are listed and
// tried in) follow the order rules were added.
func newRouteID() string {
	return "r-" + strconv.FormatInt(time.Now().UnixMilli(), 36) + "-" + strings.ToLower(rand.Text()[:4])
}

func (a *httpAPI) addRoute(w http.ResponseWriter, r *http.Request) {
	var req addRouteRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Filter == "" || req.Topic == "" {
		writeError(w, http.StatusBadRequest, codeInvalidRoute, "filter and topic are required")
		return
	}
	routes, ctx, cancel, ok := a.routesContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	rule := meta.RouteRule{ID: req.ID, Filter: req.Filter, Topic: req.Topic, KeyMode: req.KeyMode, Direction: req.Direction,
		CreatedMs: time.Now().UnixMilli()}
	if rule.ID == "" {
		rule.ID = newRouteID()
	} else if old, found, gerr := routes.Get(ctx, rule.ID); gerr == nil && found && sameRoute(old, rule) {
		// The same rule again: 200 as stored. Checked before Add, because
		// an add within the same millisecond is, to meta, the identical
		// proposal applied twice and succeeds like a creation.
		writeJSON(w, http.StatusOK, old)
		return
	}
	out, err := routes.Add(ctx, rule)
	switch {
	case meta.RejectedWith(err, meta.RejectInvalid):
		writeError(w, http.StatusBadRequest, codeInvalidRoute, err.Error())
	case meta.RejectedWith(err, meta.RejectExists):
		// A retried add of the same rule under the same id succeeds.
		if old, found, gerr := routes.Get(ctx, rule.ID); gerr == nil && found && sameRoute(old, rule) {
			writeJSON(w, http.StatusOK, old)
			return
		}
		writeError(w, http.StatusConflict, codeRouteExists, err.Error())
	case err != nil:
		a.writeStoreError(w, r, err)
	default:
		a.log.Info("route added", "id", out.ID, "filter", out.Filter, "topic", out.Topic, "key_mode", out.KeyMode, "direction", out.Direction)
		writeJSON(w, http.StatusCreated, out)
	}
}

// sameRoute reports whether stored is the rule asked for (creation time
// aside; empty key mode and direction are their defaults).
func sameRoute(stored, asked meta.RouteRule) bool {
	if asked.KeyMode == "" {
		asked.KeyMode = meta.RouteKeyMQTTTopic
	}
	if asked.Direction == "" {
		asked.Direction = meta.RouteIn
	}
	asked.CreatedMs = stored.CreatedMs
	return stored == asked
}

func (a *httpAPI) getRoute(w http.ResponseWriter, r *http.Request) {
	routes, ctx, cancel, ok := a.routesContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	id := r.PathValue("id")
	rule, found, err := routes.Get(ctx, id)
	switch {
	case err != nil:
		a.writeStoreError(w, r, err)
	case !found:
		writeError(w, http.StatusNotFound, codeUnknownRoute, fmt.Sprintf("unknown route: %q", id))
	default:
		writeJSON(w, http.StatusOK, rule)
	}
}

func (a *httpAPI) removeRoute(w http.ResponseWriter, r *http.Request) {
	routes, ctx, cancel, ok := a.routesContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	id := r.PathValue("id")
	err := routes.Remove(ctx, id)
	switch {
	case meta.RejectedWith(err, meta.RejectNotFound):
		writeError(w, http.StatusNotFound, codeUnknownRoute, fmt.Sprintf("unknown route: %q", id))
	case err != nil:
		a.writeStoreError(w, r, err)
	default:
		a.log.Info("route removed", "id", id)
		w.WriteHeader(http.StatusNoContent)
	}
}
