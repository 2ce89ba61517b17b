package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// kev is one Kubernetes audit event before serialisation.
type kev struct {
	t      time.Time
	dur    time.Duration
	level  string
	verb   string
	uri    string
	user   O
	ips    []string
	ua     string
	ref    O
	code   int
	reqObj any
	reason string
	psa    bool // pod security admission annotation (pod creates)
}

func (k kev) event(g *gen) O {
	level := k.level
	if level == "" {
		level = "Metadata"
	}
	ips := A{}
	for _, ip := range k.ips {
		ips = append(ips, ip)
	}
	o := O{
		{"kind", "Event"}, {"apiVersion", "audit.k8s.io/v1"}, {"level", level},
		{"auditID", g.uuid()}, {"stage", "ResponseComplete"},
		{"requestURI", k.uri}, {"verb", k.verb}, {"user", k.user},
		{"sourceIPs", ips}, {"userAgent", k.ua},
	}
	if k.ref != nil {
		o = append(o, F{"objectRef", k.ref})
	}
	o = append(o, F{"responseStatus", O{{"metadata", O{}}, {"code", k.code}}})
	if k.reqObj != nil && level != "Metadata" {
		o = append(o, F{"requestObject", k.reqObj})
	}
	dur := k.dur
	if dur == 0 {
		dur = time.Duration(g.between(800, 24000)) * time.Microsecond
	}
	ann := O{{"authorization.k8s.io/decision", "allow"}, {"authorization.k8s.io/reason", k.reason}}
	if k.psa {
		ann = append(ann, F{"pod-security.kubernetes.io/enforce-policy", "privileged:latest"})
	}
	o = append(o,
		F{"requestReceivedTimestamp", k.t.UTC().Format("2006-01-02T15:04:05.000000Z")},
		F{"stageTimestamp", k.t.Add(dur).UTC().Format("2006-01-02T15:04:05.000000Z")},
		F{"annotations", ann},
	)
	return o
}

func ref(resource, ns, name, group, version, sub string) O {
	o := O{{"resource", resource}}
	if ns != "" {
		o = append(o, F{"namespace", ns})
	}
	if name != "" {
		o = append(o, F{"name", name})
	}
	if group != "" {
		o = append(o, F{"apiGroup", group})
	}
	o = append(o, F{"apiVersion", version})
	if sub != "" {
		o = append(o, F{"subresource", sub})
	}
	return o
}

const (
	k8sVersion  = "v1.31.4-eks-2d5f260"
	uaKubeletK8 = "kubelet/" + k8sVersion + " (linux/amd64) kubernetes/8dd7a5a"
	uaKubectl   = "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46"
	uaKCM       = "kube-controller-manager/" + k8sVersion + " (linux/amd64) kubernetes/8dd7a5a"
	cpIP        = "172.16.61.4" // EKS control plane components
)

func nodeName(ip string) string { return "ip-" + dashIP(ip) + "." + region + ".compute.internal" }

func kubeletUser(n iface) O {
	return O{
		{"username", "system:node:" + nodeName(n.ip)},
		{"uid", "aws-iam-authenticator:" + account + ":AROAQX4MCTRNNODE00001"},
		{"groups", A{"system:nodes", "system:authenticated"}},
		{"extra", O{
			{"accessKeyId", A{"ASIAQX4MCTRN" + strings.ToUpper(n.instance[2:10])}},
			{"arn", A{"arn:aws:sts::" + account + ":assumed-role/acme-prod-eks-node/" + n.instance}},
			{"canonicalArn", A{"arn:aws:iam::" + account + ":role/acme-prod-eks-node"}},
			{"principalId", A{"AROAQX4MCTRNNODE00001"}},
			{"sessionName", A{n.instance}},
			{"sigs.k8s.io/aws-iam-authenticator/principalId", A{"AROAQX4MCTRNNODE00001"}},
		}},
	}
}

func componentUser(name string) O {
	return O{{"username", name}, {"groups", A{"system:authenticated"}}}
}

func saUser(g *gen, ns, name string, pod, node string) O {
	u := O{
		{"username", "system:serviceaccount:" + ns + ":" + name},
		{"uid", g.uuidFor("sa/" + ns + "/" + name)},
		{"groups", A{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}},
	}
	extra := O{{"authentication.kubernetes.io/credential-id", A{"JTI=" + g.uuidFor("jti/"+ns+"/"+name+"/"+pod)}}}
	if pod != "" {
		extra = append(extra,
			F{"authentication.kubernetes.io/node-name", A{node}},
			F{"authentication.kubernetes.io/node-uid", A{g.uuidFor("node/" + node)}},
			F{"authentication.kubernetes.io/pod-name", A{pod}},
			F{"authentication.kubernetes.io/pod-uid", A{g.uuidFor("pod/" + ns + "/" + pod)}})
	}
	return append(u, F{"extra", extra})
}

func rbacReason(kind, binding, role, subjKind, subj string) string {
	return fmt.Sprintf("RBAC: allowed by %s %q of ClusterRole %q to %s %q", kind, binding, role, subjKind, subj)
}

func eksPolicyReason(principal, policy, subject string) string {
	p := "arn:aws:eks::aws:cluster-access-policy/" + policy
	return fmt.Sprintf("EKS Access Policy: allowed by ClusterRoleBinding %q of ClusterRole %q to User %q", principal+"+"+p, p, subject)
}

// writeK8s adds the EKS audit log streams to files.
func writeK8s(g *gen, files map[string][]byte) error {
	var evs []kev
	evs = append(evs, k8sBackground(g)...)
	evs = append(evs, k8sAttack(g)...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].t.Before(evs[j].t) })
	// Two API server instances, two log streams.
	streams := []string{
		"k8s/kube-apiserver-audit-5c1b6e0f0a1c4d2e8f3a9b7c6d5e4f30.ndjson",
		"k8s/kube-apiserver-audit-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c41.ndjson",
	}
	var bufs [2]strings.Builder
	for _, e := range evs {
		line, err := marshal(e.event(g))
		if err != nil {
			return err
		}
		b := &bufs[g.intn(2)]
		b.Write(line)
		b.WriteByte('\n')
	}
	for i, s := range streams {
		files[s] = []byte(bufs[i].String())
	}
	return nil
}

// pod returns a Pod object as a controller or kubectl would send it.
func podObject(name, ns, sa, image string, labels O, owner O) O {
	meta := O{{"name", name}, {"namespace", ns}, {"creationTimestamp", nil}, {"labels", labels}}
	if owner != nil {
		meta = append(meta, F{"ownerReferences", A{owner}})
	}
	return O{
		{"kind", "Pod"}, {"apiVersion", "v1"}, {"metadata", meta},
		{"spec", O{
			{"containers", A{O{
				{"name", "api"}, {"image", image},
				{"ports", A{O{{"name", "http"}, {"containerPort", 8443}, {"protocol", "TCP"}}}},
				{"resources", O{{"limits", O{{"memory", "512Mi"}}}, {"requests", O{{"cpu", "250m"}, {"memory", "512Mi"}}}}},
				{"terminationMessagePath", "/dev/termination-log"},
				{"terminationMessagePolicy", "File"},
				{"imagePullPolicy", "IfNotPresent"},
				{"securityContext", O{{"allowPrivilegeEscalation", false}, {"readOnlyRootFilesystem", true},
					{"runAsNonRoot", true}, {"capabilities", O{{"drop", A{"ALL"}}}}}},
			}}},
			{"restartPolicy", "Always"}, {"terminationGracePeriodSeconds", 30}, {"dnsPolicy", "ClusterFirst"},
			{"serviceAccountName", sa}, {"serviceAccount", sa},
			{"securityContext", O{{"runAsUser", 10001}, {"fsGroup", 10001}, {"seccompProfile", O{{"type", "RuntimeDefault"}}}}},
			{"schedulerName", "default-scheduler"}, {"enableServiceLinks", true},
		}},
		{"status", O{}},
	}
}

// k8sBackground returns the cluster's ordinary control-plane and user traffic.
func k8sBackground(g *gen) []kev {
	var out []kev
	start, end := at(9, 0, 0, 0), at(11, 0, 0, 0)
	for _, n := range nodeIfs {
		nn := nodeName(n.ip)
		u := kubeletUser(n)
		for t := start.Add(time.Duration(g.between(1, 90)) * time.Second); t.Before(end); t = t.Add(time.Duration(g.between(200, 280)) * time.Second) {
			out = append(out, kev{t: g.jitter(t, 999), verb: "update", user: u, ips: []string{n.ip}, ua: uaKubeletK8, code: 200,
				uri: "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + nn + "?timeout=10s",
				ref: ref("leases", "kube-node-lease", nn, "coordination.k8s.io", "v1", "")})
		}
		for t := start.Add(time.Duration(g.between(60, 400)) * time.Second); t.Before(end); t = t.Add(time.Duration(g.between(420, 560)) * time.Second) {
			rv := g.between(48100000, 48999999)
			out = append(out, kev{t: g.jitter(t, 999), dur: time.Duration(g.between(300, 540)) * time.Second, verb: "watch", user: u, ips: []string{n.ip}, ua: uaKubeletK8, code: 200,
				uri: fmt.Sprintf("/api/v1/pods?allowWatchBookmarks=true&fieldSelector=spec.nodeName%%3D%s&resourceVersion=%d&timeoutSeconds=%d&watch=true", nn, rv, g.between(300, 540)),
				ref: ref("pods", "", "", "", "v1", "")})
			out = append(out, kev{t: g.jitter(t.Add(17*time.Second), 999), verb: "get", user: u, ips: []string{n.ip}, ua: uaKubeletK8, code: 200,
				uri: "/api/v1/nodes/" + nn + "?resourceVersion=0&timeout=10s", ref: ref("nodes", "", nn, "", "v1", "")})
		}
	}
	// Leader election of the control plane components.
	for t := start.Add(4 * time.Second); t.Before(end); t = t.Add(time.Duration(g.between(280, 320)) * time.Second) {
		out = append(out, kev{t: g.jitter(t, 999), verb: "update", user: componentUser("system:kube-controller-manager"), ips: []string{cpIP},
			ua: uaKCM + "/leader-election", code: 200,
			uri:    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager?timeout=5s",
			ref:    ref("leases", "kube-system", "kube-controller-manager", "coordination.k8s.io", "v1", ""),
			reason: rbacReason("ClusterRoleBinding", "system:kube-controller-manager", "system:kube-controller-manager", "User", "system:kube-controller-manager")})
		out = append(out, kev{t: g.jitter(t.Add(2*time.Second), 999), verb: "update", user: componentUser("system:kube-scheduler"), ips: []string{cpIP},
			ua: "kube-scheduler/" + k8sVersion + " (linux/amd64) kubernetes/8dd7a5a/leader-election", code: 200,
			uri:    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler?timeout=5s",
			ref:    ref("leases", "kube-system", "kube-scheduler", "coordination.k8s.io", "v1", ""),
			reason: rbacReason("ClusterRoleBinding", "system:kube-scheduler", "system:kube-scheduler", "User", "system:kube-scheduler")})
	}
	// CoreDNS and the VPC CNI watch the API.
	for t := start.Add(33 * time.Second); t.Before(end); t = t.Add(time.Duration(g.between(480, 600)) * time.Second) {
		out = append(out, kev{t: g.jitter(t, 999), dur: time.Duration(g.between(400, 590)) * time.Second, verb: "watch",
			user: saUser(g, "kube-system", "coredns", "coredns-6d78c58c9f-8gk2m", nodeName(ifNode1.ip)), ips: []string{corednsIP[0]},
			ua: "coredns/v1.11.3-eksbuild.1 (linux/amd64) kubernetes/", code: 200,
			uri:    fmt.Sprintf("/apis/discovery.k8s.io/v1/endpointslices?allowWatchBookmarks=true&resourceVersion=%d&timeout=9m2s&timeoutSeconds=542&watch=true", g.between(48100000, 48999999)),
			ref:    ref("endpointslices", "", "", "discovery.k8s.io", "v1", ""),
			reason: rbacReason("ClusterRoleBinding", "system:coredns", "system:coredns", "ServiceAccount", "coredns/kube-system")})
		n := pick(g, nodeIfs)
		out = append(out, kev{t: g.jitter(t.Add(40*time.Second), 999), verb: "get",
			user: saUser(g, "kube-system", "aws-node", "aws-node-"+map[string]string{ifNode1.ip: "7kq2x", ifNode2.ip: "m4zbt", ifNode3.ip: "w9c6r"}[n.ip], nodeName(n.ip)), ips: []string{n.ip},
			ua: "aws-vpc-cni/v1.18.3 (linux/amd64) kubernetes/$Format", code: 200,
			uri: "/api/v1/nodes/" + nodeName(n.ip), ref: ref("nodes", "", nodeName(n.ip), "", "v1", ""),
			reason: rbacReason("ClusterRoleBinding", "aws-node", "aws-node", "ServiceAccount", "aws-node/kube-system")})
	}
	// CI rollouts of payments-api: patch by the deployer service account,
	// then the controllers, scheduler and kubelets do their part.
	for _, t := range []time.Time{at(9, 10, 2, 0), at(9, 29, 31, 0), at(9, 54, 0, 0), at(10, 20, 22, 0), at(10, 42, 55, 0)} {
		out = append(out, rollout(g, t)...)
	}
	// An engineer looks at the rollout with a read-only access policy.
	jane := O{
		{"username", "arn:aws:sts::" + account + ":assumed-role/AWSReservedSSO_DeveloperReadOnly_3f2a1b9c8d7e6f50/jane.doe@acme.example"},
		{"uid", "aws-iam-authenticator:" + account + ":AROAQX4MCTRNJANE0001"},
		{"groups", A{"system:authenticated"}},
		{"extra", O{
			{"accessKeyId", A{"ASIAQX4MCTRNJD7K2M4P"}},
			{"arn", A{"arn:aws:sts::" + account + ":assumed-role/AWSReservedSSO_DeveloperReadOnly_3f2a1b9c8d7e6f50/jane.doe@acme.example"}},
			{"canonicalArn", A{"arn:aws:iam::" + account + ":role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_DeveloperReadOnly_3f2a1b9c8d7e6f50"}},
			{"principalId", A{"AROAQX4MCTRNJANE0001"}},
			{"sessionName", A{"jane.doe@acme.example"}},
		}},
	}
	janeReason := eksPolicyReason("arn:aws:iam::"+account+":role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_DeveloperReadOnly_3f2a1b9c8d7e6f50", "AmazonEKSViewPolicy", "jane.doe@acme.example")
	janeReqs := []struct {
		uri, verb string
		r         O
	}{
		{"/api/v1/namespaces/payments/pods?limit=500", "list", ref("pods", "payments", "", "", "v1", "")},
		{"/apis/apps/v1/namespaces/payments/deployments?limit=500", "list", ref("deployments", "payments", "", "apps", "v1", "")},
		{"/apis/apps/v1/namespaces/payments/deployments/payments-api", "get", ref("deployments", "payments", "payments-api", "apps", "v1", "")},
		{"/apis/apps/v1/namespaces/payments/replicasets?labelSelector=app%3Dpayments-api&limit=500", "list", ref("replicasets", "payments", "", "apps", "v1", "")},
		{"/api/v1/namespaces/payments/events?fieldSelector=involvedObject.name%3Dpayments-api&limit=500", "list", ref("events", "payments", "", "", "v1", "")},
		{"/api/v1/namespaces/payments/services/payments-api", "get", ref("services", "payments", "payments-api", "", "v1", "")},
	}
	t := at(9, 31, 12, 0)
	for range 16 {
		q := pick(g, janeReqs)
		out = append(out, kev{t: t, verb: q.verb, uri: q.uri, ref: q.r, user: jane, ips: []string{officeIP1}, ua: uaKubectl, code: 200, reason: janeReason})
		t = t.Add(time.Duration(g.between(8, 200)) * time.Second)
	}
	return out
}

// rollout returns the audit trail of one CI deployment.
func rollout(g *gen, t time.Time) []kev {
	var out []kev
	tag := g.hex(8)
	image := account + ".dkr.ecr." + region + ".amazonaws.com/payments-api:" + tag
	ci := saUser(g, "ci", "gitlab-deployer", "runner-"+g.alnum(8, "bcdfghjklmnpqrstvwxz2456789")+"-project-42-concurrent-0", nodeName(ifNode2.ip))
	ciReason := "RBAC: allowed by RoleBinding \"gitlab-deployer/payments\" of Role \"deployer\" to ServiceAccount \"gitlab-deployer/ci\""
	out = append(out, kev{t: t, level: "Request", verb: "patch", user: ci, ips: []string{"10.0.22.204"}, ua: uaKubectl, code: 200,
		uri: "/apis/apps/v1/namespaces/payments/deployments/payments-api?fieldManager=kubectl-set",
		ref: ref("deployments", "payments", "payments-api", "apps", "v1", ""), reason: ciReason,
		reqObj: O{{"spec", O{{"template", O{{"spec", O{{"containers", A{O{{"image", image}, {"name", "api"}}}}}}}}}}}})
	out = append(out, kev{t: t.Add(5 * time.Second), verb: "get", user: ci, ips: []string{"10.0.22.204"}, ua: uaKubectl, code: 200,
		uri: "/apis/apps/v1/namespaces/payments/deployments/payments-api", ref: ref("deployments", "payments", "payments-api", "apps", "v1", ""), reason: ciReason})

	rsHash := g.alnum(9, "bcdfghjklmnpqrstvwxz2456789")
	rs := "payments-api-" + rsHash
	labels := O{{"app", "payments-api"}, {"pod-template-hash", rsHash}}
	out = append(out, kev{t: t.Add(180 * time.Millisecond), level: "Request", verb: "create",
		user: saUser(g, "kube-system", "deployment-controller", "", ""), ips: []string{cpIP}, ua: uaKCM + "/system:serviceaccount:kube-system:deployment-controller", code: 201,
		uri: "/apis/apps/v1/namespaces/payments/replicasets", ref: ref("replicasets", "payments", rs, "apps", "v1", ""),
		reason: rbacReason("ClusterRoleBinding", "system:controller:deployment-controller", "system:controller:deployment-controller", "ServiceAccount", "deployment-controller/kube-system"),
		reqObj: O{{"kind", "ReplicaSet"}, {"apiVersion", "apps/v1"},
			{"metadata", O{{"name", rs}, {"namespace", "payments"}, {"creationTimestamp", nil}, {"labels", labels},
				{"ownerReferences", A{O{{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "payments-api"}, {"uid", g.uuid()}, {"controller", true}, {"blockOwnerDeletion", true}}}}}},
			{"spec", O{{"replicas", 2}, {"selector", O{{"matchLabels", labels}}}}}, {"status", O{{"replicas", 0}}}}})
	for i := range 2 {
		pod := rs + "-" + g.alnum(5, "bcdfghjklmnpqrstvwxz2456789")
		pt := t.Add(time.Duration(400+i*90) * time.Millisecond)
		n := nodeIfs[(i+g.intn(3))%3]
		owner := O{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", rs}, {"uid", g.uuid()}, {"controller", true}, {"blockOwnerDeletion", true}}
		out = append(out, kev{t: pt, level: "Request", verb: "create",
			user: saUser(g, "kube-system", "replicaset-controller", "", ""), ips: []string{cpIP}, ua: uaKCM + "/system:serviceaccount:kube-system:replicaset-controller", code: 201,
			uri: "/api/v1/namespaces/payments/pods", ref: ref("pods", "payments", pod, "", "v1", ""), psa: true,
			reason: rbacReason("ClusterRoleBinding", "system:controller:replicaset-controller", "system:controller:replicaset-controller", "ServiceAccount", "replicaset-controller/kube-system"),
			reqObj: podObject(pod, "payments", "payments-api", image, labels, owner)})
		out = append(out, kev{t: pt.Add(30 * time.Millisecond), level: "Request", verb: "create", user: componentUser("system:kube-scheduler"), ips: []string{cpIP},
			ua: "kube-scheduler/" + k8sVersion + " (linux/amd64) kubernetes/8dd7a5a/scheduler", code: 201,
			uri: "/api/v1/namespaces/payments/pods/" + pod + "/binding", ref: ref("pods", "payments", pod, "", "v1", "binding"),
			reason: rbacReason("ClusterRoleBinding", "system:kube-scheduler", "system:kube-scheduler", "User", "system:kube-scheduler"),
			reqObj: O{{"kind", "Binding"}, {"apiVersion", "v1"}, {"metadata", O{{"name", pod}, {"namespace", "payments"}, {"uid", g.uuid()}, {"creationTimestamp", nil}}},
				{"target", O{{"kind", "Node"}, {"name", nodeName(n.ip)}}}}})
		out = append(out, kev{t: pt.Add(2 * time.Second), level: "Request", verb: "patch", user: kubeletUser(n), ips: []string{n.ip}, ua: uaKubeletK8, code: 200,
			uri: "/api/v1/namespaces/payments/pods/" + pod + "/status", ref: ref("pods", "payments", pod, "", "v1", "status"),
			reqObj: O{{"status", O{{"conditions", A{O{{"type", "Ready"}, {"status", "True"}}}}}}}})
		old := "payments-api-" + g.alnum(9, "bcdfghjklmnpqrstvwxz2456789") + "-" + g.alnum(5, "bcdfghjklmnpqrstvwxz2456789")
		out = append(out, kev{t: pt.Add(25 * time.Second), level: "Request", verb: "delete",
			user: saUser(g, "kube-system", "replicaset-controller", "", ""), ips: []string{cpIP}, ua: uaKCM + "/system:serviceaccount:kube-system:replicaset-controller", code: 200,
			uri: "/api/v1/namespaces/payments/pods/" + old, ref: ref("pods", "payments", old, "", "v1", ""),
			reason: rbacReason("ClusterRoleBinding", "system:controller:replicaset-controller", "system:controller:replicaset-controller", "ServiceAccount", "replicaset-controller/kube-system"),
			reqObj: O{{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"preconditions", O{{"uid", g.uuid()}}}, {"propagationPolicy", "Background"}}})
	}
	return out
}

// Names used by step g.
const (
	execPod  = "payments-api-6f9c7d8b5d-q2w7x"
	newSA    = "metrics-collector" // in namespace monitoring
	saNS     = "monitoring"
	debugPod = "node-debugger-x7k2p"
	crbName  = "metrics-collector-admin"
)

// k8sAttack returns step g: exec, privileged pod, cluster-admin binding and
// secrets listed by the new service account.
func k8sAttack(g *gen) []kev {
	principal := "arn:aws:iam::" + account + ":user/backup-svc"
	user := O{
		{"username", principal},
		{"uid", "aws-iam-authenticator:" + account + ":" + backupID},
		{"groups", A{"system:authenticated"}},
		{"extra", O{
			{"accessKeyId", A{backupKey}}, {"arn", A{principal}}, {"canonicalArn", A{principal}},
			{"principalId", A{backupID}}, {"sessionName", A{""}},
		}},
	}
	reason := eksPolicyReason(principal, "AmazonEKSClusterAdminPolicy", principal)
	ips := []string{attackIP}
	var out []kev
	add := func(k kev) {
		if k.user == nil {
			k.user = user
			if k.reason == "" {
				k.reason = reason
			}
		}
		if k.ips == nil {
			k.ips = ips
		}
		if k.ua == "" {
			k.ua = uaKubectl
		}
		out = append(out, k)
	}
	add(kev{t: at(10, 4, 10, 214), verb: "list", code: 200, uri: "/api/v1/pods?limit=500", ref: ref("pods", "", "", "", "v1", "")})
	add(kev{t: at(10, 4, 48, 530), verb: "list", code: 200, uri: "/api/v1/namespaces?limit=500", ref: ref("namespaces", "", "", "", "v1", "")})
	add(kev{t: at(10, 5, 2, 91), verb: "get", code: 200, uri: "/api/v1/namespaces/payments/pods/" + execPod, ref: ref("pods", "payments", execPod, "", "v1", "")})
	add(kev{t: at(10, 5, 30, 377), dur: 154 * time.Second, verb: "create", code: 101,
		uri: "/api/v1/namespaces/payments/pods/" + execPod + "/exec?command=sh&container=api&stdin=true&stdout=true&tty=true",
		ref: ref("pods", "payments", execPod, "", "v1", "exec")})
	add(kev{t: at(10, 8, 1, 640), level: "Request", verb: "create", code: 201,
		uri:    "/api/v1/namespaces/" + saNS + "/serviceaccounts?fieldManager=kubectl-create&fieldValidation=Strict",
		ref:    ref("serviceaccounts", saNS, newSA, "", "v1", ""),
		reqObj: O{{"kind", "ServiceAccount"}, {"apiVersion", "v1"}, {"metadata", O{{"name", newSA}, {"namespace", saNS}, {"creationTimestamp", nil}}}}})
	add(kev{t: at(10, 8, 40, 112), level: "Request", verb: "create", code: 201,
		uri: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?fieldManager=kubectl-create&fieldValidation=Strict",
		ref: ref("clusterrolebindings", "", crbName, "rbac.authorization.k8s.io", "v1", ""),
		reqObj: O{{"kind", "ClusterRoleBinding"}, {"apiVersion", "rbac.authorization.k8s.io/v1"},
			{"metadata", O{{"name", crbName}, {"creationTimestamp", nil}}},
			{"subjects", A{O{{"kind", "ServiceAccount"}, {"name", newSA}, {"namespace", saNS}}}},
			{"roleRef", O{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "cluster-admin"}}}}})
	add(kev{t: at(10, 9, 15, 803), level: "Request", verb: "create", code: 201,
		uri: "/api/v1/namespaces/" + saNS + "/serviceaccounts/" + newSA + "/token",
		ref: ref("serviceaccounts", saNS, newSA, "", "v1", "token"),
		reqObj: O{{"kind", "TokenRequest"}, {"apiVersion", "authentication.k8s.io/v1"}, {"metadata", O{{"creationTimestamp", nil}}},
			{"spec", O{{"audiences", nil}, {"expirationSeconds", 31536000}, {"boundObjectRef", nil}}}, {"status", O{{"token", ""}, {"expirationTimestamp", nil}}}}})
	add(kev{t: at(10, 10, 2, 455), level: "Request", verb: "create", code: 201, psa: true,
		uri: "/api/v1/namespaces/kube-system/pods?fieldManager=kubectl-create&fieldValidation=Strict",
		ref: ref("pods", "kube-system", debugPod, "", "v1", ""),
		reqObj: O{{"kind", "Pod"}, {"apiVersion", "v1"},
			{"metadata", O{{"name", debugPod}, {"namespace", "kube-system"}, {"creationTimestamp", nil}, {"labels", O{{"app", "node-debugger"}}}}},
			{"spec", O{
				{"volumes", A{O{{"name", "host"}, {"hostPath", O{{"path", "/"}, {"type", ""}}}}}},
				{"containers", A{O{
					{"name", "debug"}, {"image", "docker.io/library/alpine:3.19"},
					{"command", A{"nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--", "sh", "-c", "sleep 1000000"}},
					{"resources", O{}},
					{"volumeMounts", A{O{{"name", "host"}, {"mountPath", "/host"}}}},
					{"imagePullPolicy", "IfNotPresent"},
					{"securityContext", O{{"privileged", true}}},
				}}},
				{"restartPolicy", "Never"},
				{"hostNetwork", true},
				{"hostPID", true},
				{"tolerations", A{O{{"operator", "Exists"}}}},
			}},
			{"status", O{}}}})
	n := ifNode3
	add(kev{t: at(10, 10, 2, 490), level: "Request", verb: "create", user: componentUser("system:kube-scheduler"), ips: []string{cpIP},
		ua: "kube-scheduler/" + k8sVersion + " (linux/amd64) kubernetes/8dd7a5a/scheduler", code: 201,
		uri: "/api/v1/namespaces/kube-system/pods/" + debugPod + "/binding", ref: ref("pods", "kube-system", debugPod, "", "v1", "binding"),
		reason: rbacReason("ClusterRoleBinding", "system:kube-scheduler", "system:kube-scheduler", "User", "system:kube-scheduler"),
		reqObj: O{{"kind", "Binding"}, {"apiVersion", "v1"}, {"metadata", O{{"name", debugPod}, {"namespace", "kube-system"}, {"uid", g.uuid()}, {"creationTimestamp", nil}}},
			{"target", O{{"kind", "Node"}, {"name", nodeName(n.ip)}}}}})
	add(kev{t: at(10, 10, 6, 12), level: "Request", verb: "patch", user: kubeletUser(n), ips: []string{n.ip}, ua: uaKubeletK8, code: 200,
		uri: "/api/v1/namespaces/kube-system/pods/" + debugPod + "/status", ref: ref("pods", "kube-system", debugPod, "", "v1", "status"),
		reqObj: O{{"status", O{{"conditions", A{O{{"type", "Ready"}, {"status", "True"}}}}}}}})
	// The new service account's token, used from the attacker's machine.
	sa := saUser(g, saNS, newSA, "", "")
	saReason := rbacReason("ClusterRoleBinding", crbName, "cluster-admin", "ServiceAccount", newSA+"/"+saNS)
	add(kev{t: at(10, 12, 4, 338), verb: "list", user: sa, code: 200, reason: saReason,
		uri: "/api/v1/secrets?limit=500", ref: ref("secrets", "", "", "", "v1", "")})
	add(kev{t: at(10, 12, 31, 907), verb: "get", user: sa, code: 200, reason: saReason,
		uri: "/api/v1/namespaces/payments/secrets/payments-db-credentials", ref: ref("secrets", "payments", "payments-db-credentials", "", "v1", "")})
	add(kev{t: at(10, 12, 58, 70), verb: "get", user: sa, code: 200, reason: saReason,
		uri: "/api/v1/namespaces/kube-system/secrets/aws-load-balancer-webhook-tls", ref: ref("secrets", "kube-system", "aws-load-balancer-webhook-tls", "", "v1", "")})
	return out
}
