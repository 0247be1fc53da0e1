package kafka

// Authorization: whether a principal may do an operation on a resource,
// decided against the ACLs in meta's security shard.
//
// The rule (decide):
//  1. A super user (SecurityOptions.SuperUsers) may do everything.
//  2. While no Kafka ACL exists at all (mqtt_topic ACLs do not count),
//     every principal that got in may do everything: authorization is off
//     until the first ACL is created. This is the embedded default, and
//     it is why a fresh broker needs no setup.
//  3. Otherwise Kafka's AclAuthorizer rules (meta.Authorize): a matching
//     DENY wins, then a matching ALLOW (READ, WRITE, DELETE and ALTER
//     imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS); a resource
//     no ACL names is allowed only with
//     SecurityOptions.AllowEveryoneIfNoACLFound (Kafka's
//     allow.everyone.if.no.acl.found, false by default, as Kafka's).
//
// The ACLs are a snapshot cached for SecurityOptions.ACLCacheTTL; the
// request that finds it stale refreshes it (one at a time; others use the
// old one meanwhile). CreateAcls and DeleteAcls through this broker
// refresh it at once.
//
// Every request passes authorizeRequest (from conn.handle) before its
// handler: it applies the checks that the handlers do not make
// themselves (group, transactional id and cluster checks, Metadata's
// topic filtering) by answering the unauthorized part of the request
// with the right error and letting the handler serve the rest. Handlers
// check topics themselves through Server.authorize (Produce WRITE, Fetch
// READ, ...), or any resource through reqCtx.authorize.

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"strata/meta"
)

// aclOp names what a request does to a resource, for Server.authorize.
type aclOp int8

const (
	aclRead aclOp = iota
	aclWrite
	aclCreate
	aclDelete
	aclAlter
	aclDescribe
	aclDescribeConfigs
	aclAlterConfigs
	aclClusterAction
	aclIdempotentWrite
)

// aclOpNames are the operations as meta spells them.
var aclOpNames = [...]string{
	aclRead: "read", aclWrite: "write", aclCreate: "create", aclDelete: "delete", aclAlter: "alter",
	aclDescribe: "describe", aclDescribeConfigs: "describe_configs", aclAlterConfigs: "alter_configs",
	aclClusterAction: "cluster_action", aclIdempotentWrite: "idempotent_write",
}

func (o aclOp) String() string { return aclOpNames[o] }

// clusterResource is the one cluster resource's name (Kafka's).
const clusterResource = "kafka-cluster"

// authorize is the seam the handlers call: whether the connection's
// principal may do op on topic, or on the cluster when topic is "".
// CREATE on a topic is allowed by CREATE on the cluster too (Kafka's
// CreateTopics and auto-creation rule).
func (s *Server) authorize(rc *reqCtx, op aclOp, topic string) bool {
	if topic == "" {
		return rc.authorize(meta.ResourceCluster, clusterResource, op)
	}
	if op == aclCreate && rc.authorize(meta.ResourceCluster, clusterResource, aclCreate) {
		return true
	}
	return rc.authorize(meta.ResourceTopic, topic, op)
}

// authorize reports whether the connection's principal may do op on the
// resource (resType one of meta.ResourceTopic, ResourceGroup,
// ResourceCluster, ResourceTransactionalID; name the resource's name).
func (rc *reqCtx) authorize(resType, name string, op aclOp) bool {
	return rc.srv.sec.acls.decide(rc, resType, name, op.String())
}

// authzOpen reports whether every check would pass for this connection
// (super user, or no ACLs): the request layer then has nothing to do.
func (rc *reqCtx) authzOpen() bool {
	return rc.srv.sec.acls.open(rc)
}

// aclSnapshot is the Kafka ACLs at one time, also by resource type (a
// check scans only its type's bindings).
type aclSnapshot struct {
	acls   []meta.ACLBinding
	byType map[string][]meta.ACLBinding
	at     time.Time
}

func newACLSnapshot(acls []meta.ACLBinding, at time.Time) *aclSnapshot {
	s := &aclSnapshot{acls: acls, byType: map[string][]meta.ACLBinding{}, at: at}
	for _, a := range acls {
		s.byType[a.ResourceType] = append(s.byType[a.ResourceType], a)
	}
	return s
}

// aclCache holds the ACL snapshot.
type aclCache struct {
	srv  *Server
	ttl  time.Duration
	snap atomic.Pointer[aclSnapshot]
	// refresh is held by the one request that refreshes the snapshot.
	refresh sync.Mutex
}

func newACLCache(s *Server) *aclCache {
	ttl := s.opts.Security.ACLCacheTTL
	if ttl == 0 {
		ttl = DefaultACLCacheTTL
	}
	return &aclCache{srv: s, ttl: ttl}
}

// current returns a snapshot no older than the TTL if it can: the first
// call loads it; a stale one is refreshed by the caller that gets the
// lock, while others go on with the stale one.
func (c *aclCache) current(ctx context.Context) *aclSnapshot {
	snap := c.snap.Load()
	if snap != nil && time.Since(snap.at) < c.ttl {
		return snap
	}
	if snap == nil {
		c.refresh.Lock()
	} else if !c.refresh.TryLock() {
		return snap
	}
	defer c.refresh.Unlock()
	if s2 := c.snap.Load(); s2 != nil && time.Since(s2.at) < c.ttl {
		return s2
	}
	return c.load(ctx, snap)
}

// load reads the ACLs from meta. On failure the old snapshot stays (or,
// on the first load, an empty one that expires at once) and the failure
// is logged.
func (c *aclCache) load(ctx context.Context, old *aclSnapshot) *aclSnapshot {
	sec := c.srv.users()
	if sec == nil {
		snap := &aclSnapshot{at: time.Now().Add(24 * time.Hour)}
		c.snap.Store(snap)
		return snap
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	all, err := sec.DescribeACLs(ctx, meta.ACLFilter{})
	if err != nil {
		c.srv.log.Warn("kafka: reading ACLs from meta failed; using the last snapshot", "err", err)
		if old == nil {
			// Fail closed for a broker that has never seen its ACLs:
			// deny to everyone but super users until meta answers
			// (the next request tries again).
			return &aclSnapshot{acls: []meta.ACLBinding{denyAll}}
		}
		// Keep the old ACLs for another TTL before trying again, so
		// that an unreachable meta does not stall a request per TTL
		// for the whole read timeout.
		snap := newACLSnapshot(old.acls, time.Now())
		c.snap.Store(snap)
		return snap
	}
	kafkaACLs := all[:0]
	for _, a := range all {
		if a.ResourceType != meta.ResourceMQTTTopic {
			kafkaACLs = append(kafkaACLs, a)
		}
	}
	snap := newACLSnapshot(kafkaACLs, time.Now())
	c.snap.Store(snap)
	return snap
}

// denyAll stands in for the ACLs while meta cannot be read on a broker
// that has not loaded them yet.
var denyAll = meta.ACLBinding{ResourceType: "*", ResourceName: "*", PatternType: meta.PatternLiteral,
	Principal: "User:*", Host: "*", Operation: "all", Permission: meta.PermissionDeny}

// invalidate makes the next check reload the ACLs (after CreateAcls or
// DeleteAcls through this broker).
func (c *aclCache) invalidate(ctx context.Context) {
	c.refresh.Lock()
	defer c.refresh.Unlock()
	c.load(ctx, c.snap.Load())
}

func (c *aclCache) superUser(principal string) bool {
	for _, p := range c.srv.opts.Security.SuperUsers {
		if p == principal {
			return true
		}
	}
	return false
}

// open: super user, or no Kafka ACLs.
func (c *aclCache) open(rc *reqCtx) bool {
	if c.superUser(rc.conn.principal) {
		return true
	}
	return len(c.current(rc.ctx).acls) == 0
}

// decide applies the rule in this file's comment.
func (c *aclCache) decide(rc *reqCtx, resType, name, op string) bool {
	if c.superUser(rc.conn.principal) {
		return true
	}
	snap := c.current(rc.ctx)
	if len(snap.acls) == 0 {
		return true
	}
	if len(snap.acls) == 1 && snap.acls[0] == denyAll {
		c.srv.metrics.sec.denied.WithLabelValues(resType).Inc()
		return false
	}
	allowed, anyMatch := meta.Authorize(snap.byType[resType], meta.AuthzRequest{
		Principal: rc.conn.principal, Host: rc.conn.host(),
		ResourceType: resType, ResourceName: name, Operation: op,
	})
	if allowed || (!anyMatch && c.srv.opts.Security.AllowEveryoneIfNoACLFound) {
		return true
	}
	c.srv.metrics.sec.denied.WithLabelValues(resType).Inc()
	return false
}

// host is the client's IP, as ACL hosts name it.
func (c *connInfo) host() string {
	h := c.remoteAddr
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == ':' {
			h = h[:i]
			break
		}
	}
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return h
}
