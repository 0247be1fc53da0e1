package kafka

// Authorized operations (KIP-430): Metadata (topics; the cluster up to
// v10), DescribeCluster, DescribeGroups and ConsumerGroupDescribe report,
// when the request asks, a bit field of the operations the principal may
// do on each resource (bit n = the ACL operation with code n, as
// kmsg.ACLOperation numbers them). Without the flag the handlers'
// "unknown" (-2^31) stays.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

// The operations each resource type reports (Kafka's supported
// operations per resource type).
var (
	topicACLOps   = []aclOp{aclRead, aclWrite, aclCreate, aclDelete, aclAlter, aclDescribe, aclDescribeConfigs, aclAlterConfigs}
	groupACLOps   = []aclOp{aclRead, aclDescribe, aclDelete}
	clusterACLOps = []aclOp{aclCreate, aclAlter, aclDescribe, aclClusterAction, aclDescribeConfigs, aclAlterConfigs, aclIdempotentWrite}
)

// aclOpCodes are the kmsg codes of aclOp.
var aclOpCodes = [...]kmsg.ACLOperation{
	aclRead: kmsg.ACLOperationRead, aclWrite: kmsg.ACLOperationWrite, aclCreate: kmsg.ACLOperationCreate,
	aclDelete: kmsg.ACLOperationDelete, aclAlter: kmsg.ACLOperationAlter, aclDescribe: kmsg.ACLOperationDescribe,
	aclDescribeConfigs: kmsg.ACLOperationDescribeConfigs, aclAlterConfigs: kmsg.ACLOperationAlterConfigs,
	aclClusterAction: kmsg.ACLOperationClusterAction, aclIdempotentWrite: kmsg.ACLOperationIdempotentWrite,
}

// reportsAuthorizedOps: the keys whose responses can carry authorized
// operations.
func reportsAuthorizedOps(key int16) bool {
	switch key {
	case 3, 15, 60, 69:
		return true
	}
	return false
}

// authorizedOps is the bit field of ops the principal may do on a resource.
func (rc *reqCtx) authorizedOps(resType, name string, ops []aclOp) int32 {
	var bits int32
	for _, op := range ops {
		if rc.authorize(resType, name, op) {
			bits |= 1 << aclOpCodes[op]
		}
	}
	return bits
}

// fillAuthorizedOps sets the authorized operations a request asked for.
func (rc *reqCtx) fillAuthorizedOps(req kmsg.Request, resp kmsg.Response) {
	switch r := req.(type) {
	case *kmsg.MetadataRequest:
		mr, ok := resp.(*kmsg.MetadataResponse)
		if !ok {
			return
		}
		if r.IncludeClusterAuthorizedOperations && r.Version >= 8 && r.Version <= 10 {
			mr.AuthorizedOperations = rc.authorizedOps(meta.ResourceCluster, clusterResource, clusterACLOps)
		}
		if r.IncludeTopicAuthorizedOperations && r.Version >= 8 {
			for i := range mr.Topics {
				if t := &mr.Topics[i]; t.ErrorCode == 0 && t.Topic != nil {
					t.AuthorizedOperations = rc.authorizedOps(meta.ResourceTopic, *t.Topic, topicACLOps)
				}
			}
		}
	case *kmsg.DescribeClusterRequest:
		if dr, ok := resp.(*kmsg.DescribeClusterResponse); ok && r.IncludeClusterAuthorizedOperations && dr.ErrorCode == 0 {
			dr.ClusterAuthorizedOperations = rc.authorizedOps(meta.ResourceCluster, clusterResource, clusterACLOps)
		}
	case *kmsg.DescribeGroupsRequest:
		if dr, ok := resp.(*kmsg.DescribeGroupsResponse); ok && r.IncludeAuthorizedOperations && r.Version >= 3 {
			for i := range dr.Groups {
				if g := &dr.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = rc.authorizedOps(meta.ResourceGroup, g.Group, groupACLOps)
				}
			}
		}
	case *kmsg.ConsumerGroupDescribeRequest:
		if dr, ok := resp.(*kmsg.ConsumerGroupDescribeResponse); ok && r.IncludeAuthorizedOperations {
			for i := range dr.Groups {
				if g := &dr.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = rc.authorizedOps(meta.ResourceGroup, g.Group, groupACLOps)
				}
			}
		}
	}
}
