package rules

import (
	"strings"

	"github.com/vigilsec/vigil/ingest"
)

// catalogue describes the field names of one log type. A path ending in
// "*" is free-form below it: nothing under it is checked.
var catalogue = map[string][]string{
	ingest.TypeCloudTrail: {
		"eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
		"userAgent", "errorCode", "errorMessage", "requestID", "eventID", "eventType", "apiVersion",
		"managementEvent", "readOnly", "recipientAccountId", "sharedEventID", "vpcEndpointId",
		"vpcEndpointAccountId", "eventCategory", "sessionCredentialFromConsole", "@timestamp",
		"requestParameters*", "responseElements*", "additionalEventData*", "serviceEventDetails*",
		"edgeDeviceDetails*", "insightDetails*", "addendum*",
		"resources", "resources.ARN", "resources.accountId", "resources.type",
		"tlsDetails.tlsVersion", "tlsDetails.cipherSuite", "tlsDetails.clientProvidedHostHeader",
		"userIdentity.type", "userIdentity.principalId", "userIdentity.arn", "userIdentity.accountId",
		"userIdentity.accessKeyId", "userIdentity.userName", "userIdentity.invokedBy",
		"userIdentity.identityProvider", "userIdentity.credentialId",
		"userIdentity.onBehalfOf.userId", "userIdentity.onBehalfOf.identityStoreArn",
		"userIdentity.inScopeOf.issuerType", "userIdentity.inScopeOf.credentialsIssuedTo",
		"userIdentity.inScopeOf.issuerAccountId", "userIdentity.inScopeOf.issuerSourceArn",
		"userIdentity.sessionContext.sourceIdentity", "userIdentity.sessionContext.ec2RoleDelivery",
		"userIdentity.sessionContext.assumedRoot",
		"userIdentity.sessionContext.attributes.creationDate",
		"userIdentity.sessionContext.attributes.mfaAuthenticated",
		"userIdentity.sessionContext.sessionIssuer.type", "userIdentity.sessionContext.sessionIssuer.principalId",
		"userIdentity.sessionContext.sessionIssuer.arn", "userIdentity.sessionContext.sessionIssuer.accountId",
		"userIdentity.sessionContext.sessionIssuer.userName",
		"userIdentity.sessionContext.webIdFederationData.federatedProvider",
		"userIdentity.sessionContext.webIdFederationData.attributes*",
	},
	ingest.TypeK8sAudit: {
		"kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "sourceIPs", "userAgent",
		"requestReceivedTimestamp", "stageTimestamp",
		"user.username", "user.uid", "user.groups", "user.extra*",
		"impersonatedUser.username", "impersonatedUser.uid", "impersonatedUser.groups", "impersonatedUser.extra*",
		"objectRef.resource", "objectRef.namespace", "objectRef.name", "objectRef.uid", "objectRef.apiGroup",
		"objectRef.apiVersion", "objectRef.resourceVersion", "objectRef.subresource",
		"responseStatus.metadata*", "responseStatus.status", "responseStatus.message", "responseStatus.reason",
		"responseStatus.details*", "responseStatus.code",
		"requestObject*", "responseObject*", "annotations*", "metadata*",
	},
	ingest.TypeVPCFlow: {
		"version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
		"protocol_name", "packets", "bytes", "start", "end", "action", "log_status", "vpc_id", "subnet_id",
		"instance_id", "tcp_flags", "type", "pkt_srcaddr", "pkt_dstaddr", "region", "az_id",
		"sublocation_type", "sublocation_id", "pkt_src_aws_service", "pkt_dst_aws_service",
		"flow_direction", "traffic_path", "ecs_cluster_arn", "ecs_cluster_name", "ecs_container_instance_arn",
		"ecs_container_instance_id", "ecs_container_id", "ecs_second_container_id", "ecs_service_name",
		"ecs_task_definition_arn", "ecs_task_arn", "ecs_task_id", "reject_reason", "resource_id",
	},
	ingest.TypeAuditd: {
		"type", "types", "records*", "sockaddr*", "argc", "argv", "cmdline", "proctitle", "cwd", "paths", "node", "sequence",
		"syscall", "arch", "success", "exit", "a0", "a1", "a2", "a3", "items", "ppid", "pid", "auid", "uid",
		"gid", "euid", "suid", "fsuid", "egid", "sgid", "fsgid", "tty", "ses", "comm", "exe", "subj", "key",
		"msg", "op", "acct", "res", "hostname", "addr", "terminal", "name", "inode", "dev", "mode", "ouid",
		"ogid", "rdev", "nametype", "cap_fp", "cap_fi", "cap_fe", "cap_fver", "cap_frootid", "saddr",
		"old_auid", "new_auid", "old_ses", "new_ses", "audit_enabled", "old", "new", "list", "family",
		"table", "entries", "feature", "old_val", "new_val", "grantors", "unit", "id", "exe_path",
		"kernel", "format", "ver", "old_pid", "new_pid", "old_prom", "prom", "dst", "src", "laddr", "lport",
		"rport", "spid", "obj", "data", "code", "sig", "reason",
	},
}

// fieldTree is the catalogue of one log type as a tree.
type fieldTree struct {
	children map[string]*fieldTree
	free     bool // anything below is accepted
}

var catalogueTrees = buildCatalogue()

func buildCatalogue() map[string]*fieldTree {
	out := map[string]*fieldTree{}
	for typ, paths := range catalogue {
		root := &fieldTree{children: map[string]*fieldTree{}}
		for _, p := range paths {
			p, free := strings.CutSuffix(p, "*")
			n := root
			for seg := range strings.SplitSeq(p, ".") {
				c := n.children[seg]
				if c == nil {
					c = &fieldTree{children: map[string]*fieldTree{}}
					n.children[seg] = c
				}
				n = c
			}
			n.free = n.free || free
		}
		out[typ] = root
	}
	return out
}

// knownDepth returns how many leading segments of path the catalogue of
// typ knows; len(path) when all of them (or a free-form ancestor).
func knownDepth(typ string, path []string) int {
	n := catalogueTrees[typ]
	if n == nil {
		return len(path)
	}
	for i, seg := range path {
		if n.free {
			return len(path)
		}
		c := n.children[seg]
		if c == nil {
			return i
		}
		n = c
	}
	return len(path)
}

// KnownField reports whether a dotted field path exists for a log type,
// according to vigil's catalogue of the fields of each log type.
func KnownField(logType, path string) bool {
	p := strings.Split(path, ".")
	return knownDepth(logType, p) == len(p)
}
