package kafka

// The request-level ACL checks, as Kafka's KafkaApis makes them, for the
// parts of requests that the handlers do not check themselves:
//
//	Metadata            Topic DESCRIBE (unlisted when all topics are asked for; TOPIC_AUTHORIZATION_FAILED when named),
//	                    auto-creation needs Cluster or Topic CREATE
//	Produce             TransactionalId WRITE for transactional produce (Topic WRITE: the handler)
//	OffsetCommit        Group READ, Topic READ
//	OffsetFetch         Group DESCRIBE, Topic DESCRIBE (unlisted when all are asked for)
//	FindCoordinator     Group DESCRIBE or TransactionalId DESCRIBE per key
//	JoinGroup, SyncGroup, Heartbeat, LeaveGroup, ConsumerGroupHeartbeat   Group READ (and Topic DESCRIBE of the subscription)
//	DescribeGroups, ConsumerGroupDescribe   Group DESCRIBE per group
//	ListGroups          Cluster DESCRIBE, else only groups with Group DESCRIBE
//	DeleteGroups        Group DELETE per group
//	OffsetDelete        Group DELETE, Topic READ
//	InitProducerId      TransactionalId WRITE, or for an idempotent producer Cluster IDEMPOTENT_WRITE or WRITE on some topic (KIP-679)
//	AddPartitionsToTxn  TransactionalId WRITE, Topic WRITE (v4+ is broker-to-broker: Cluster CLUSTER_ACTION)
//	AddOffsetsToTxn     TransactionalId WRITE, Group READ
//	EndTxn              TransactionalId WRITE
//	TxnOffsetCommit     TransactionalId WRITE, Group READ, Topic READ
//	WriteTxnMarkers     Cluster CLUSTER_ACTION
//	DescribeTransactions  TransactionalId DESCRIBE per id; topics of a transaction without Topic DESCRIBE are left out
//	ListTransactions    only the transactional ids with TransactionalId DESCRIBE
//	DescribeConfigs     Cluster DESCRIBE_CONFIGS for broker resources (topics: the handler)
//	DescribeCluster     Cluster DESCRIBE
//
// The handlers check the rest: Produce Topic WRITE, Fetch Topic READ,
// ListOffsets and OffsetForLeaderEpoch Topic DESCRIBE, CreateTopics
// Cluster/Topic CREATE, DeleteTopics and DeleteRecords Topic DELETE,
// CreatePartitions Topic ALTER, (Incremental)AlterConfigs Topic
// ALTER_CONFIGS, DescribeConfigs Topic DESCRIBE_CONFIGS, DescribeLogDirs
// Cluster DESCRIBE, DescribeProducers Topic READ, the ACL and SCRAM admin
// APIs Cluster DESCRIBE/ALTER.
//
// A denied part is answered with its error and never reaches the
// handler; the handler serves the allowed rest, and the two are merged.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
	"strata/meta"
)

// authorizedHandler returns hd itself when no ACL can deny this
// connection anything (no ACLs, or a super user), else hd with its serve
// wrapped in authorizeRequest; either way, the responses that can carry
// authorized operations get them filled in (authz_ops.go) when asked for.
// conn.dispatch calls it.
func (rc *reqCtx) authorizedHandler(hd *handler) *handler {
	open := rc.authzOpen()
	if open && !reportsAuthorizedOps(hd.key) {
		return hd
	}
	w := *hd
	w.serve = func(rc *reqCtx, req kmsg.Request) (kmsg.Response, error) {
		var resp kmsg.Response
		var err error
		if open {
			resp, err = hd.serve(rc, req)
		} else {
			resp, err = authorizeRequest(rc, req, hd.serve)
		}
		if err == nil && resp != nil {
			rc.fillAuthorizedOps(req, resp)
		}
		return resp, err
	}
	return &w
}

type serveFunc func(*reqCtx, kmsg.Request) (kmsg.Response, error)

var (
	codeTopicAuthz   = kerr.TopicAuthorizationFailed.Code
	codeGroupAuthz   = kerr.GroupAuthorizationFailed.Code
	codeClusterAuthz = kerr.ClusterAuthorizationFailed.Code
	codeTxnAuthz     = kerr.TransactionalIDAuthorizationFailed.Code
)

func (rc *reqCtx) group(name string, op aclOp) bool {
	return rc.authorize(meta.ResourceGroup, name, op)
}
func (rc *reqCtx) txnID(name string, op aclOp) bool {
	return rc.authorize(meta.ResourceTransactionalID, name, op)
}
func (rc *reqCtx) topic(name string, op aclOp) bool {
	return rc.authorize(meta.ResourceTopic, name, op)
}

// topicRef checks a topic named by name, or (the versions that use ids)
// by id. An id this broker does not know passes: the handler answers it
// with UNKNOWN_TOPIC_ID.
func (rc *reqCtx) topicRef(name string, id [16]byte, op aclOp) bool {
	if name == "" && id != ([16]byte{}) {
		n, ok := rc.srv.topicIDs.name(id)
		if !ok {
			return true
		}
		name = n
	}
	return rc.topic(name, op)
}
func (rc *reqCtx) cluster(op aclOp) bool {
	return rc.authorize(meta.ResourceCluster, clusterResource, op)
}

// authorizeRequest applies the checks in this file's table, then serves
// what is allowed.
func authorizeRequest(rc *reqCtx, req kmsg.Request, serve serveFunc) (kmsg.Response, error) {
	switch r := req.(type) {
	case *kmsg.MetadataRequest:
		return authzMetadata(rc, r, serve)
	case *kmsg.ProduceRequest:
		if r.TransactionID != nil && !rc.txnID(*r.TransactionID, aclWrite) {
			if r.Acks == 0 {
				return nil, nil
			}
			resp := r.ResponseKind().(*kmsg.ProduceResponse)
			for _, t := range r.Topics {
				rt := kmsg.NewProduceResponseTopic()
				rt.Topic, rt.TopicID = t.Topic, t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewProduceResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p.Partition, codeTxnAuthz
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp, nil
		}
	case *kmsg.OffsetCommitRequest:
		return authzOffsetCommit(rc, r, serve)
	case *kmsg.OffsetFetchRequest:
		return authzOffsetFetch(rc, r, serve)
	case *kmsg.FindCoordinatorRequest:
		return authzFindCoordinator(rc, r, serve)
	case *kmsg.JoinGroupRequest:
		if !rc.group(r.Group, aclRead) {
			resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
			resp.ErrorCode, resp.Generation = codeGroupAuthz, -1
			return resp, nil
		}
	case *kmsg.SyncGroupRequest:
		if !rc.group(r.Group, aclRead) {
			resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
			resp.ErrorCode = codeGroupAuthz
			return resp, nil
		}
	case *kmsg.HeartbeatRequest:
		if !rc.group(r.Group, aclRead) {
			resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
			resp.ErrorCode = codeGroupAuthz
			return resp, nil
		}
	case *kmsg.LeaveGroupRequest:
		if !rc.group(r.Group, aclRead) {
			resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
			resp.ErrorCode = codeGroupAuthz
			return resp, nil
		}
	case *kmsg.ConsumerGroupHeartbeatRequest:
		code := int16(0)
		if !rc.group(r.Group, aclRead) {
			code = codeGroupAuthz
		} else {
			for _, t := range r.SubscribedTopicNames {
				if !rc.topic(t, aclDescribe) {
					code = codeTopicAuthz
					break
				}
			}
		}
		if code != 0 {
			resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
			resp.ErrorCode = code
			return resp, nil
		}
	case *kmsg.DescribeGroupsRequest:
		return authzGroupList(rc, r, &r.Groups, serve, func(resp kmsg.Response, name string) {
			g := kmsg.NewDescribeGroupsResponseGroup()
			g.Group, g.ErrorCode = name, codeGroupAuthz
			g.AuthorizedOperations = authorizedOpsUnknown
			resp.(*kmsg.DescribeGroupsResponse).Groups = append(resp.(*kmsg.DescribeGroupsResponse).Groups, g)
		}, aclDescribe)
	case *kmsg.ConsumerGroupDescribeRequest:
		return authzGroupList(rc, r, &r.Groups, serve, func(resp kmsg.Response, name string) {
			g := kmsg.NewConsumerGroupDescribeResponseGroup()
			g.Group, g.ErrorCode = name, codeGroupAuthz
			g.AuthorizedOperations = authorizedOpsUnknown
			resp.(*kmsg.ConsumerGroupDescribeResponse).Groups = append(resp.(*kmsg.ConsumerGroupDescribeResponse).Groups, g)
		}, aclDescribe)
	case *kmsg.DeleteGroupsRequest:
		return authzGroupList(rc, r, &r.Groups, serve, func(resp kmsg.Response, name string) {
			g := kmsg.NewDeleteGroupsResponseGroup()
			g.Group, g.ErrorCode = name, codeGroupAuthz
			resp.(*kmsg.DeleteGroupsResponse).Groups = append(resp.(*kmsg.DeleteGroupsResponse).Groups, g)
		}, aclDelete)
	case *kmsg.ListGroupsRequest:
		resp, err := serve(rc, r)
		if err != nil || resp == nil || rc.cluster(aclDescribe) {
			return resp, err
		}
		lr := resp.(*kmsg.ListGroupsResponse)
		kept := lr.Groups[:0]
		for _, g := range lr.Groups {
			if rc.group(g.Group, aclDescribe) {
				kept = append(kept, g)
			}
		}
		lr.Groups = kept
		return lr, nil
	case *kmsg.OffsetDeleteRequest:
		if !rc.group(r.Group, aclDelete) {
			resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
			resp.ErrorCode = codeGroupAuthz
			return resp, nil
		}
		var denied []kmsg.OffsetDeleteRequestTopic
		kept := r.Topics[:0:0]
		for _, t := range r.Topics {
			if rc.topic(t.Topic, aclRead) {
				kept = append(kept, t)
			} else {
				denied = append(denied, t)
			}
		}
		r.Topics = kept
		resp, err := serve(rc, r)
		if err != nil || resp == nil {
			return resp, err
		}
		or := resp.(*kmsg.OffsetDeleteResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codeTopicAuthz
				rt.Partitions = append(rt.Partitions, rp)
			}
			or.Topics = append(or.Topics, rt)
		}
		return or, nil
	case *kmsg.InitProducerIDRequest:
		code := int16(0)
		if r.TransactionalID != nil && *r.TransactionalID != "" {
			if !rc.txnID(*r.TransactionalID, aclWrite) {
				code = codeTxnAuthz
			}
		} else if !rc.cluster(aclIdempotentWrite) && !rc.anyTopicWrite() {
			code = codeClusterAuthz
		}
		if code != 0 {
			resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
			resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
			return resp, nil
		}
	case *kmsg.AddPartitionsToTxnRequest:
		return authzAddPartitionsToTxn(rc, r, serve)
	case *kmsg.AddOffsetsToTxnRequest:
		code := int16(0)
		switch {
		case !rc.txnID(r.TransactionalID, aclWrite):
			code = codeTxnAuthz
		case !rc.group(r.Group, aclRead):
			code = codeGroupAuthz
		}
		if code != 0 {
			resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
			resp.ErrorCode = code
			return resp, nil
		}
	case *kmsg.EndTxnRequest:
		if !rc.txnID(r.TransactionalID, aclWrite) {
			resp := r.ResponseKind().(*kmsg.EndTxnResponse)
			resp.ErrorCode = codeTxnAuthz
			return resp, nil
		}
	case *kmsg.TxnOffsetCommitRequest:
		return authzTxnOffsetCommit(rc, r, serve)
	case *kmsg.WriteTxnMarkersRequest:
		if !rc.cluster(aclClusterAction) {
			resp := r.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
			for _, m := range r.Markers {
				rm := kmsg.NewWriteTxnMarkersResponseMarker()
				rm.ProducerID = m.ProducerID
				for _, t := range m.Topics {
					rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
					rt.Topic = t.Topic
					for _, p := range t.Partitions {
						rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
						rp.Partition, rp.ErrorCode = p, codeClusterAuthz
						rt.Partitions = append(rt.Partitions, rp)
					}
					rm.Topics = append(rm.Topics, rt)
				}
				resp.Markers = append(resp.Markers, rm)
			}
			return resp, nil
		}
	case *kmsg.DescribeTransactionsRequest:
		return authzDescribeTransactions(rc, r, serve)
	case *kmsg.ListTransactionsRequest:
		resp, err := serve(rc, r)
		if err != nil || resp == nil {
			return resp, err
		}
		lr := resp.(*kmsg.ListTransactionsResponse)
		kept := lr.TransactionStates[:0]
		for _, ts := range lr.TransactionStates {
			if rc.txnID(ts.TransactionalID, aclDescribe) {
				kept = append(kept, ts)
			}
		}
		lr.TransactionStates = kept
		return lr, nil
	case *kmsg.DescribeConfigsRequest:
		resp, err := serve(rc, r)
		if err != nil || resp == nil || rc.cluster(aclDescribeConfigs) {
			return resp, err
		}
		for i := range resp.(*kmsg.DescribeConfigsResponse).Resources {
			res := &resp.(*kmsg.DescribeConfigsResponse).Resources[i]
			if res.ResourceType == kmsg.ConfigResourceTypeBroker || res.ResourceType == kmsg.ConfigResourceTypeBrokerLogger {
				res.ErrorCode, res.ErrorMessage, res.Configs = codeClusterAuthz, nil, nil
			}
		}
		return resp, nil
	case *kmsg.DescribeClusterRequest:
		if !rc.cluster(aclDescribe) {
			resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
			resp.ErrorCode = codeClusterAuthz
			return resp, nil
		}
	}
	return serve(rc, req)
}

// anyTopicWrite: the principal may WRITE some topic (KIP-679's
// alternative to IDEMPOTENT_WRITE): an ALLOW binding for WRITE or ALL on
// a topic names it or everyone.
func (rc *reqCtx) anyTopicWrite() bool {
	snap := rc.srv.sec.acls.current(rc.ctx)
	for _, a := range snap.acls {
		if a.ResourceType == meta.ResourceTopic && a.Permission == meta.PermissionAllow &&
			(a.Operation == "write" || a.Operation == "all") &&
			(a.Principal == rc.conn.principal || a.Principal == "User:*") &&
			rc.topic(a.ResourceName, aclWrite) {
			return true
		}
	}
	return false
}

// authzMetadata filters topics by DESCRIBE and keeps auto-creation to
// principals that may CREATE.
func authzMetadata(rc *reqCtx, r *kmsg.MetadataRequest, serve serveFunc) (kmsg.Response, error) {
	s := rc.srv
	all := r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0)
	if all {
		resp, err := serve(rc, r)
		if err != nil || resp == nil {
			return resp, err
		}
		mr := resp.(*kmsg.MetadataResponse)
		kept := mr.Topics[:0]
		for _, t := range mr.Topics {
			if t.Topic != nil && rc.topic(*t.Topic, aclDescribe) {
				kept = append(kept, t)
			}
		}
		mr.Topics = kept
		return mr, nil
	}
	autoCreate := *s.opts.AutoCreateTopics && (r.Version < 4 || r.AllowAutoTopicCreation)
	var denied []kmsg.MetadataResponseTopic
	kept := make([]kmsg.MetadataRequestTopic, 0, len(r.Topics))
	for _, rt := range r.Topics {
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		} else if n, ok := s.topicIDs.name(rt.TopicID); ok {
			name = n
		}
		if name == "" { // the handler answers unknown ids and bad requests
			kept = append(kept, rt)
			continue
		}
		code := int16(0)
		if !rc.topic(name, aclDescribe) {
			code = codeTopicAuthz
		} else if autoCreate {
			if _, err := s.store.Topic(name); errors.Is(err, logstore.ErrUnknownTopic) {
				if !s.authorize(rc, aclCreate, name) {
					code = codeTopicAuthz
				}
			}
		}
		if code == 0 {
			kept = append(kept, rt)
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID, mt.ErrorCode = rt.Topic, rt.TopicID, code
		mt.AuthorizedOperations = authorizedOpsUnknown
		denied = append(denied, mt)
	}
	r.Topics = kept
	resp, err := serve(rc, r)
	if err != nil || resp == nil {
		return resp, err
	}
	mr := resp.(*kmsg.MetadataResponse)
	if r.Version == 0 && len(kept) == 0 {
		mr.Topics = nil // v0's empty list means every topic: none were asked for here
	}
	mr.Topics = append(mr.Topics, denied...)
	return mr, nil
}

// authzOffsetCommit: Group READ, then Topic READ per topic.
func authzOffsetCommit(rc *reqCtx, r *kmsg.OffsetCommitRequest, serve serveFunc) (kmsg.Response, error) {
	groupOK := rc.group(r.Group, aclRead)
	var denied []kmsg.OffsetCommitResponseTopic
	kept := r.Topics[:0:0]
	for _, t := range r.Topics {
		code := int16(0)
		switch {
		case !groupOK:
			code = codeGroupAuthz
		case !rc.topicRef(t.Topic, t.TopicID, aclRead):
			code = codeTopicAuthz
		}
		if code == 0 {
			kept = append(kept, t)
			continue
		}
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		denied = append(denied, rt)
	}
	if len(kept) == 0 {
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		resp.Topics = denied
		return resp, nil
	}
	r.Topics = kept
	resp, err := serve(rc, r)
	if err != nil || resp == nil {
		return resp, err
	}
	or := resp.(*kmsg.OffsetCommitResponse)
	or.Topics = append(or.Topics, denied...)
	return or, nil
}

// authzOffsetFetch: Group DESCRIBE (denied groups never reach the
// handler), then Topic DESCRIBE on the answer: an unauthorized topic is
// dropped when all were asked for, else its partitions carry
// TOPIC_AUTHORIZATION_FAILED.
func authzOffsetFetch(rc *reqCtx, r *kmsg.OffsetFetchRequest, serve serveFunc) (kmsg.Response, error) {
	if r.Version < 8 {
		if !rc.group(r.Group, aclDescribe) {
			resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.ErrorCode = codeGroupAuthz
			for _, t := range r.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.Offset, rp.ErrorCode = p, -1, codeGroupAuthz
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp, nil
		}
		all := r.Topics == nil
		resp, err := serve(rc, r)
		if err != nil || resp == nil {
			return resp, err
		}
		or := resp.(*kmsg.OffsetFetchResponse)
		kept := or.Topics[:0]
		for _, t := range or.Topics {
			if rc.topic(t.Topic, aclDescribe) {
				kept = append(kept, t)
				continue
			}
			if all {
				continue
			}
			for i := range t.Partitions {
				t.Partitions[i].ErrorCode, t.Partitions[i].Offset, t.Partitions[i].Metadata = codeTopicAuthz, -1, nil
			}
			kept = append(kept, t)
		}
		or.Topics = kept
		return or, nil
	}
	var denied []kmsg.OffsetFetchResponseGroup
	allTopics := map[string]bool{}
	kept := r.Groups[:0:0]
	for _, g := range r.Groups {
		if rc.group(g.Group, aclDescribe) {
			kept = append(kept, g)
			allTopics[g.Group] = g.Topics == nil
			continue
		}
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group, rg.ErrorCode = g.Group, codeGroupAuthz
		denied = append(denied, rg)
	}
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	if len(kept) > 0 {
		r.Groups = kept
		out, err := serve(rc, r)
		if err != nil || out == nil {
			return out, err
		}
		resp = out.(*kmsg.OffsetFetchResponse)
	}
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		topics := g.Topics[:0]
		for _, t := range g.Topics {
			if rc.topicRef(t.Topic, t.TopicID, aclDescribe) {
				topics = append(topics, t)
				continue
			}
			if allTopics[g.Group] {
				continue
			}
			for i := range t.Partitions {
				t.Partitions[i].ErrorCode, t.Partitions[i].Offset, t.Partitions[i].Metadata = codeTopicAuthz, -1, nil
			}
			topics = append(topics, t)
		}
		g.Topics = topics
	}
	resp.Groups = append(resp.Groups, denied...)
	return resp, nil
}

// authzFindCoordinator: DESCRIBE on the group or transactional id of
// each key.
func authzFindCoordinator(rc *reqCtx, r *kmsg.FindCoordinatorRequest, serve serveFunc) (kmsg.Response, error) {
	allowed := func(key string) (bool, int16) {
		switch r.CoordinatorType {
		case 0:
			return rc.group(key, aclDescribe), codeGroupAuthz
		case 1:
			return rc.txnID(key, aclDescribe), codeTxnAuthz
		}
		return true, 0
	}
	if r.Version < 4 {
		if ok, code := allowed(r.CoordinatorKey); !ok {
			resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
			resp.ErrorCode, resp.NodeID, resp.Port = code, -1, -1
			return resp, nil
		}
		return serve(rc, r)
	}
	var denied []kmsg.FindCoordinatorResponseCoordinator
	kept := r.CoordinatorKeys[:0:0]
	for _, k := range r.CoordinatorKeys {
		if ok, code := allowed(k); !ok {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.ErrorCode, c.NodeID, c.Port = k, code, -1, -1
			denied = append(denied, c)
			continue
		}
		kept = append(kept, k)
	}
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if len(kept) > 0 {
		r.CoordinatorKeys = kept
		out, err := serve(rc, r)
		if err != nil || out == nil {
			return out, err
		}
		resp = out.(*kmsg.FindCoordinatorResponse)
	}
	resp.Coordinators = append(resp.Coordinators, denied...)
	return resp, nil
}

// authzGroupList serves the groups of *groups that op is allowed on and
// adds a denied entry (addDenied) for each of the others.
func authzGroupList(rc *reqCtx, req kmsg.Request, groups *[]string, serve serveFunc, addDenied func(kmsg.Response, string), op aclOp) (kmsg.Response, error) {
	var denied []string
	kept := (*groups)[:0:0]
	for _, g := range *groups {
		if rc.group(g, op) {
			kept = append(kept, g)
		} else {
			denied = append(denied, g)
		}
	}
	if len(denied) == 0 {
		return serve(rc, req)
	}
	resp := req.ResponseKind()
	if len(kept) > 0 {
		*groups = kept
		out, err := serve(rc, req)
		if err != nil || out == nil {
			return out, err
		}
		resp = out
	}
	for _, g := range denied {
		addDenied(resp, g)
	}
	return resp, nil
}

// authzAddPartitionsToTxn: v0-3 TransactionalId WRITE, then Topic WRITE
// for every topic: if one is denied, nothing is added (denied topics
// TOPIC_AUTHORIZATION_FAILED, the others OPERATION_NOT_ATTEMPTED), as
// Kafka does. v4+ (batched, broker to broker) needs CLUSTER_ACTION.
func authzAddPartitionsToTxn(rc *reqCtx, r *kmsg.AddPartitionsToTxnRequest, serve serveFunc) (kmsg.Response, error) {
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if r.Version >= 4 {
		if !rc.cluster(aclClusterAction) {
			resp.ErrorCode = codeClusterAuthz
			return resp, nil
		}
		return serve(rc, r)
	}
	txnOK := rc.txnID(r.TransactionalID, aclWrite)
	anyDenied := !txnOK
	codes := make([]int16, len(r.Topics))
	for i, t := range r.Topics {
		if txnOK && !rc.topic(t.Topic, aclWrite) {
			codes[i], anyDenied = codeTopicAuthz, true
		}
	}
	if !anyDenied {
		return serve(rc, r)
	}
	for i, t := range r.Topics {
		code := codes[i]
		switch {
		case !txnOK:
			code = codeTxnAuthz
		case code == 0:
			code = kerr.OperationNotAttempted.Code
		}
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// authzTxnOffsetCommit: TransactionalId WRITE, Group READ, Topic READ.
func authzTxnOffsetCommit(rc *reqCtx, r *kmsg.TxnOffsetCommitRequest, serve serveFunc) (kmsg.Response, error) {
	whole := int16(0)
	switch {
	case !rc.txnID(r.TransactionalID, aclWrite):
		whole = codeTxnAuthz
	case !rc.group(r.Group, aclRead):
		whole = codeGroupAuthz
	}
	var denied []kmsg.TxnOffsetCommitResponseTopic
	kept := r.Topics[:0:0]
	for _, t := range r.Topics {
		code := whole
		if code == 0 && !rc.topicRef(t.Topic, t.TopicID, aclRead) {
			code = codeTopicAuthz
		}
		if code == 0 {
			kept = append(kept, t)
			continue
		}
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		denied = append(denied, rt)
	}
	if len(kept) == 0 {
		resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		resp.Topics = denied
		return resp, nil
	}
	r.Topics = kept
	resp, err := serve(rc, r)
	if err != nil || resp == nil {
		return resp, err
	}
	tr := resp.(*kmsg.TxnOffsetCommitResponse)
	tr.Topics = append(tr.Topics, denied...)
	return tr, nil
}

// authzDescribeTransactions: TransactionalId DESCRIBE per id (denied ids
// get TRANSACTIONAL_ID_AUTHORIZATION_FAILED without reaching the
// handler); a described transaction lists only topics with DESCRIBE, as
// Kafka's does.
func authzDescribeTransactions(rc *reqCtx, r *kmsg.DescribeTransactionsRequest, serve serveFunc) (kmsg.Response, error) {
	var denied []string
	kept := r.TransactionalIDs[:0:0]
	for _, id := range r.TransactionalIDs {
		if rc.txnID(id, aclDescribe) {
			kept = append(kept, id)
		} else {
			denied = append(denied, id)
		}
	}
	resp := r.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	if len(kept) > 0 {
		r.TransactionalIDs = kept
		out, err := serve(rc, r)
		if err != nil || out == nil {
			return out, err
		}
		resp = out.(*kmsg.DescribeTransactionsResponse)
	}
	for i := range resp.TransactionStates {
		ts := &resp.TransactionStates[i]
		topics := ts.Topics[:0]
		for _, t := range ts.Topics {
			if rc.topic(t.Topic, aclDescribe) {
				topics = append(topics, t)
			}
		}
		ts.Topics = topics
	}
	for _, id := range denied {
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ErrorCode = id, codeTxnAuthz
		ts.ProducerID, ts.ProducerEpoch = -1, -1
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp, nil
}
