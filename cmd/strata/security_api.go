package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"strata/meta"
)

// The users and ACL routes of the admin API, over meta's security shard.
// Users are SCRAM credentials (salted, PBKDF2-derived keys; the password
// itself is never stored, logged or returned); ACLs are Kafka's bindings
// plus the mqtt_topic ones of the MQTT frontend.
//
//	GET    /api/v1/users              {"users": [{name, mechanisms: [{mechanism, iterations}]}]}
//	POST   /api/v1/users              {name, password, mechanisms?} -> 201 (new) or 200 (replaced)
//	DELETE /api/v1/users/{name}       204, 404 unknown_user
//	GET    /api/v1/acls?FILTER        {"acls": [binding...]}
//	POST   /api/v1/acls               {"acls": [binding...]} -> 201 {"created": n}
//	DELETE /api/v1/acls?FILTER        {"deleted": [binding...]}; an empty filter needs all=true
//
// FILTER: resource_type, resource_name, pattern_type (literal, prefixed,
// match, any), principal, host, operation, permission; absent = any.

// securityTimeout bounds one users or ACL request.
const securityTimeout = 10 * time.Second

// codeUnknownUser is the error code of a user that does not exist.
const codeUnknownUser = "unknown_user"

// userListJSON is GET /api/v1/users.
type userListJSON struct {
	Users []meta.UserInfo `json:"users"`
}

// putUserRequest is POST /api/v1/users. Mechanisms default to both SCRAM
// mechanisms.
type putUserRequest struct {
	Name       string   `json:"name"`
	Password   string   `json:"password"`
	Mechanisms []string `json:"mechanisms,omitempty"`
}

// putUserJSON is its response (no secret in it).
type putUserJSON struct {
	Name       string   `json:"name"`
	Mechanisms []string `json:"mechanisms"`
	Created    bool     `json:"created"`
}

// aclListJSON is GET /api/v1/acls and the body of POST.
type aclListJSON struct {
	ACLs []meta.ACLBinding `json:"acls"`
}

// aclCreatedJSON is POST /api/v1/acls's response.
type aclCreatedJSON struct {
	Created int `json:"created"`
}

// aclDeletedJSON is DELETE /api/v1/acls's response.
type aclDeletedJSON struct {
	Deleted []meta.ACLBinding `json:"deleted"`
}

// securityRoutes adds the users and ACL routes to mux.
func (a *httpAPI) securityRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/users", a.listUsers)
	mux.HandleFunc("POST /api/v1/users", a.putUser)
	mux.HandleFunc("DELETE /api/v1/users/{name}", a.deleteUser)
	mux.HandleFunc("GET /api/v1/acls", a.listACLs)
	mux.HandleFunc("POST /api/v1/acls", a.createACLs)
	mux.HandleFunc("DELETE /api/v1/acls", a.deleteACLs)
	a.mqttACLRoutes(mux) // MQTT ACL rules (mqtt_acl.go)
}

func (a *httpAPI) securityContext(w http.ResponseWriter, r *http.Request) (*meta.Security, context.Context, context.CancelFunc, bool) {
	if !a.haveMeta(w) {
		return nil, nil, nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), securityTimeout)
	return meta.NewSecurity(a.node), ctx, cancel, true
}

func (a *httpAPI) listUsers(w http.ResponseWriter, r *http.Request) {
	sec, ctx, cancel, ok := a.securityContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	users, err := sec.ListUsers(ctx)
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userListJSON{Users: users})
}

func (a *httpAPI) putUser(w http.ResponseWriter, r *http.Request) {
	var req putUserRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Password == "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "password: empty")
		return
	}
	mechs := req.Mechanisms
	if len(mechs) == 0 {
		mechs = slices.Clone(meta.ScramMechanisms)
	}
	for i, m := range mechs {
		mechs[i] = strings.ToUpper(strings.TrimSpace(m))
		if !slices.Contains(meta.ScramMechanisms, mechs[i]) {
			writeError(w, http.StatusBadRequest, codeBadRequest,
				fmt.Sprintf("mechanism %q: want %s", m, strings.Join(meta.ScramMechanisms, " or ")))
			return
		}
	}
	sec, ctx, cancel, ok := a.securityContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	created, err := sec.SetPassword(ctx, req.Name, req.Password, mechs, time.Now().UnixMilli())
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	a.log.Info("user set", "user", req.Name, "mechanisms", mechs, "created", created)
	writeJSON(w, status, putUserJSON{Name: req.Name, Mechanisms: mechs, Created: created})
}

func (a *httpAPI) deleteUser(w http.ResponseWriter, r *http.Request) {
	sec, ctx, cancel, ok := a.securityContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	name := r.PathValue("name")
	switch err := sec.DeleteUser(ctx, name); {
	case meta.RejectedWith(err, meta.RejectNotFound):
		writeError(w, http.StatusNotFound, codeUnknownUser, fmt.Sprintf("unknown user: %q", name))
	case err != nil:
		a.writeStoreError(w, r, err)
	default:
		a.log.Info("user removed", "user", name)
		w.WriteHeader(http.StatusNoContent)
	}
}

// aclFilterFromQuery reads a filter from the query string.
func aclFilterFromQuery(r *http.Request) meta.ACLFilter {
	q := r.URL.Query()
	return meta.ACLFilter{
		ResourceType: q.Get("resource_type"), ResourceName: q.Get("resource_name"), PatternType: q.Get("pattern_type"),
		Principal: q.Get("principal"), Host: q.Get("host"), Operation: q.Get("operation"), Permission: q.Get("permission"),
	}
}

func (a *httpAPI) listACLs(w http.ResponseWriter, r *http.Request) {
	sec, ctx, cancel, ok := a.securityContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	acls, err := sec.DescribeACLs(ctx, aclFilterFromQuery(r))
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, aclListJSON{ACLs: acls})
}

func (a *httpAPI) createACLs(w http.ResponseWriter, r *http.Request) {
	var req aclListJSON
	if !readJSON(w, r, &req) {
		return
	}
	if len(req.ACLs) == 0 {
		writeError(w, http.StatusBadRequest, codeBadRequest, "acls: give at least one binding")
		return
	}
	for i := range req.ACLs {
		if req.ACLs[i].Host == "" {
			req.ACLs[i].Host = "*"
		}
		if req.ACLs[i].PatternType == "" {
			req.ACLs[i].PatternType = meta.PatternLiteral
		}
	}
	sec, ctx, cancel, ok := a.securityContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	n, err := sec.CreateACLs(ctx, req.ACLs)
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	a.log.Info("ACLs created", "count", n)
	writeJSON(w, http.StatusCreated, aclCreatedJSON{Created: n})
}

func (a *httpAPI) deleteACLs(w http.ResponseWriter, r *http.Request) {
	f := aclFilterFromQuery(r)
	if f == (meta.ACLFilter{}) && r.URL.Query().Get("all") != "true" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "an empty filter deletes every ACL: say all=true to mean it")
		return
	}
	sec, ctx, cancel, ok := a.securityContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	deleted, err := sec.DeleteACLs(ctx, []meta.ACLFilter{f})
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	out := aclDeletedJSON{Deleted: []meta.ACLBinding{}}
	if len(deleted) == 1 {
		out.Deleted = deleted[0]
	}
	a.log.Info("ACLs deleted", "count", len(out.Deleted))
	writeJSON(w, http.StatusOK, out)
}
