package kafka

// ACL bindings between Kafka's wire enums (kmsg) and meta's spelling
// (lower-case strings). meta also stores mqtt_topic ACLs for the MQTT
// frontend; the Kafka APIs neither show nor delete them.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

var (
	aclResourceToMeta = map[kmsg.ACLResourceType]string{
		kmsg.ACLResourceTypeAny: meta.ACLAny, kmsg.ACLResourceTypeTopic: meta.ResourceTopic,
		kmsg.ACLResourceTypeGroup: meta.ResourceGroup, kmsg.ACLResourceTypeCluster: meta.ResourceCluster,
		kmsg.ACLResourceTypeTransactionalId: meta.ResourceTransactionalID,
		kmsg.ACLResourceTypeDelegationToken: meta.ResourceDelegationToken, kmsg.ACLResourceTypeUser: meta.ResourceUser,
	}
	aclPatternToMeta = map[kmsg.ACLResourcePatternType]string{
		kmsg.ACLResourcePatternTypeAny: meta.ACLAny, kmsg.ACLResourcePatternTypeMatch: meta.PatternMatch,
		kmsg.ACLResourcePatternTypeLiteral: meta.PatternLiteral, kmsg.ACLResourcePatternTypePrefixed: meta.PatternPrefixed,
	}
	aclOperationToMeta = map[kmsg.ACLOperation]string{
		kmsg.ACLOperationAny: meta.ACLAny, kmsg.ACLOperationAll: "all", kmsg.ACLOperationRead: "read",
		kmsg.ACLOperationWrite: "write", kmsg.ACLOperationCreate: "create", kmsg.ACLOperationDelete: "delete",
		kmsg.ACLOperationAlter: "alter", kmsg.ACLOperationDescribe: "describe",
		kmsg.ACLOperationClusterAction: "cluster_action", kmsg.ACLOperationDescribeConfigs: "describe_configs",
		kmsg.ACLOperationAlterConfigs: "alter_configs", kmsg.ACLOperationIdempotentWrite: "idempotent_write",
		kmsg.ACLOperationCreateTokens: "create_tokens", kmsg.ACLOperationDescribeTokens: "describe_tokens",
	}
	aclPermissionToMeta = map[kmsg.ACLPermissionType]string{
		kmsg.ACLPermissionTypeAny: meta.ACLAny, kmsg.ACLPermissionTypeDeny: meta.PermissionDeny,
		kmsg.ACLPermissionTypeAllow: meta.PermissionAllow,
	}
)

// kafkaResourceTypes are the resource types the Kafka APIs manage.
var kafkaResourceTypes = []string{meta.ResourceTopic, meta.ResourceGroup, meta.ResourceCluster,
	meta.ResourceTransactionalID, meta.ResourceDelegationToken, meta.ResourceUser}

func reverse[K comparable, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

var (
	aclResourceFromMeta   = reverse(aclResourceToMeta)
	aclPatternFromMeta    = reverse(aclPatternToMeta)
	aclOperationFromMeta  = reverse(aclOperationToMeta)
	aclPermissionFromMeta = reverse(aclPermissionToMeta)
)

// errACLInvalid is a binding or filter the request cannot mean.
var errACLInvalid = errors.New("kafka: invalid ACL")

// aclFilterToMeta converts a DescribeAcls or DeleteAcls filter.
func aclFilterToMeta(rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType, principal, host *string,
	op kmsg.ACLOperation, perm kmsg.ACLPermissionType) (meta.ACLFilter, error) {
	var f meta.ACLFilter
	var ok bool
	if f.ResourceType, ok = aclResourceToMeta[rt]; !ok {
		return f, fmt.Errorf("%w: resource type %v", errACLInvalid, rt)
	}
	if f.PatternType, ok = aclPatternToMeta[pt]; !ok {
		return f, fmt.Errorf("%w: pattern type %v", errACLInvalid, pt)
	}
	if f.Operation, ok = aclOperationToMeta[op]; !ok {
		return f, fmt.Errorf("%w: operation %v", errACLInvalid, op)
	}
	if f.Permission, ok = aclPermissionToMeta[perm]; !ok {
		return f, fmt.Errorf("%w: permission %v", errACLInvalid, perm)
	}
	if name != nil {
		f.ResourceName = *name
	}
	if principal != nil {
		f.Principal = *principal
	}
	if host != nil {
		f.Host = *host
	}
	return f, nil
}

// kafkaFilters splits a filter of any resource type into one per Kafka
// resource type, so that it never selects an mqtt_topic binding.
func kafkaFilters(f meta.ACLFilter) []meta.ACLFilter {
	if f.ResourceType != meta.ACLAny && f.ResourceType != "" {
		return []meta.ACLFilter{f}
	}
	out := make([]meta.ACLFilter, len(kafkaResourceTypes))
	for i, rt := range kafkaResourceTypes {
		out[i] = f
		out[i].ResourceType = rt
	}
	return out
}

// aclBindingToMeta converts a CreateAcls creation; it must name one
// resource (no ANY or MATCH) and one operation and permission.
func aclBindingToMeta(c kmsg.CreateACLsRequestCreation) (meta.ACLBinding, error) {
	f, err := aclFilterToMeta(c.ResourceType, &c.ResourceName, c.ResourcePatternType, &c.Principal, &c.Host, c.Operation, c.PermissionType)
	if err != nil {
		return meta.ACLBinding{}, err
	}
	switch {
	case f.ResourceType == meta.ACLAny, f.PatternType == meta.ACLAny, f.PatternType == meta.PatternMatch,
		f.Operation == meta.ACLAny, f.Permission == meta.ACLAny:
		return meta.ACLBinding{}, fmt.Errorf("%w: a binding cannot be ANY or MATCH", errACLInvalid)
	case f.ResourceType == meta.ResourceCluster && f.ResourceName != clusterResource:
		return meta.ACLBinding{}, fmt.Errorf("%w: the cluster resource is named %s", errACLInvalid, clusterResource)
	case !strings.Contains(f.Principal, ":"):
		return meta.ACLBinding{}, fmt.Errorf("%w: principal %q is not Type:name", errACLInvalid, f.Principal)
	}
	return meta.ACLBinding(f), nil
}

// aclWire is a binding in kmsg's enums.
type aclWire struct {
	rt   kmsg.ACLResourceType
	pt   kmsg.ACLResourcePatternType
	op   kmsg.ACLOperation
	perm kmsg.ACLPermissionType
}

func aclToWire(b meta.ACLBinding) (aclWire, bool) {
	rt, ok1 := aclResourceFromMeta[b.ResourceType]
	pt, ok2 := aclPatternFromMeta[b.PatternType]
	op, ok3 := aclOperationFromMeta[b.Operation]
	perm, ok4 := aclPermissionFromMeta[b.Permission]
	return aclWire{rt, pt, op, perm}, ok1 && ok2 && ok3 && ok4
}

// securityContext bounds one meta call of the security APIs.
func securityContext(rc *reqCtx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(rc.ctx, 10*time.Second)
}

// securityError maps a meta error to a Kafka code and message.
func securityError(err error) (int16, *string) {
	msg := err.Error()
	switch {
	case errors.Is(err, errACLInvalid), meta.RejectedWith(err, meta.RejectInvalid):
		return kerr.InvalidRequest.Code, &msg
	case meta.RejectedWith(err, meta.RejectNotFound):
		return kerr.ResourceNotFound.Code, &msg
	}
	return kerr.UnknownServerError.Code, &msg
}
