// Package k8s_test replays the Kubernetes audit records of the external
// corpus through the built-in Kubernetes rules: the Falco audit traces
// (including the malformed {"kind":0} record, which the decoder must report
// and no rule may see) and the labelled EKS cases of panther-analysis,
// whose verdicts are compared with those of the vigil rule covering the same
// behaviour.
package k8s_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/corpus"
	"github.com/vigilsec/vigil/ingest/k8saudit"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/rules/builtin"
)

// loadRules loads the built-in Kubernetes rules with the shared lists.
func loadRules(t *testing.T) *rules.Set {
	t.Helper()
	set, err := rules.Load(builtin.FS, "lists", "k8s")
	if err != nil {
		t.Fatalf("load built-in k8s rules: %v", err)
	}
	return set
}

// decode runs the k8saudit decoder over data and returns the events and
// the malformed records it reported.
func decode(t *testing.T, data []byte, src string) ([]*ingest.Event, []*ingest.DecodeError) {
	t.Helper()
	d, err := k8saudit.New(k8saudit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*ingest.Event
	var bad []*ingest.DecodeError
	err = d.Decode(context.Background(), bytes.NewReader(data), src, ingest.Handler{
		Event: func(e *ingest.Event) error { evs = append(evs, e); return nil },
		Bad:   func(e *ingest.DecodeError) { bad = append(bad, e) },
	})
	if err != nil {
		t.Fatalf("%s: decode: %v", src, err)
	}
	return evs, bad
}

// fired returns the IDs of the rules of set that match ev, failing the test
// on an evaluation error: the rules must cope with every shape the corpus
// holds.
func fired(t *testing.T, set *rules.Set, ev *ingest.Event) []string {
	t.Helper()
	var ids []string
	for _, r := range set.Rules {
		if !slices.Contains(r.LogTypes, ingest.TypeK8sAudit) {
			continue
		}
		ok, err := r.Eval(ev.Fields)
		if err != nil {
			t.Errorf("%s: %v", ev.Source, err)
		}
		if ok {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// falcoFires lists, per Falco trace file, the vigil rules expected to fire
// on it; every other trace must fire none.
var falcoFires = map[string][]string{
	"anonymous_creates_namespace_foo.json":                                   {"k8s-anonymous-request-allowed"},
	"attach_cluster_admin_role.json":                                         {"k8s-cluster-admin-binding"},
	"attach_pod.json":                                                        {"k8s-pod-exec-attach"},
	"exec_pod.json":                                                          {"k8s-pod-exec-attach"},
	"create_nginx_pod_hostnetwork.json":                                      {"k8s-pod-host-network"},
	"create_nginx_pod_privileged.json":                                       {"k8s-privileged-container"},
	"create_nginx_pod_privileged_2nd_container.json":                         {"k8s-privileged-container"},
	"create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json": {"k8s-privileged-container"},
	"create_nginx_pod_sensitive_mount.json":                                  {"k8s-pod-sensitive-host-mount"},
	"create_nginx_pod_sensitive_mount_2nd_container.json":                    {"k8s-pod-sensitive-host-mount"},
	"create_cluster_role_pod_exec.json":                                      {"k8s-role-with-escalation-rights"},
	"create_cluster_role_wildcard_resources.json":                            {"k8s-role-with-escalation-rights"},
	"create_cluster_role_wildcard_verbs.json":                                {"k8s-role-with-escalation-rights"},
}

func TestFalcoTraces(t *testing.T) {
	dir := corpus.Path(t, "falco-k8s-audit", "test", "trace_files", "k8s_audit")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("found %d Falco trace files in %s, want at least 40", len(files), dir)
	}
	set := loadRules(t)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			evs, bad := decode(t, data, name)
			if name == "fal_01_003.json" {
				if len(evs) != 0 || len(bad) != 1 {
					t.Fatalf("malformed trace: %d events, %d bad records; want 0 and 1", len(evs), len(bad))
				}
				return
			}
			if len(bad) > 0 {
				t.Fatalf("bad records: %v", bad)
			}
			var got []string
			for _, ev := range evs {
				for _, id := range fired(t, set, ev) {
					if !slices.Contains(got, id) {
						got = append(got, id)
					}
				}
			}
			slices.Sort(got)
			want := slices.Clone(falcoFires[name])
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("fired %v, want %v", got, want)
			}
		})
	}
}

// pantherPair maps an upstream panther-analysis rule to the vigil rule
// covering the same behaviour. disagree lists the upstream cases where
// vigil deliberately gives the other verdict, with the reason.
type pantherPair struct {
	upstream string
	vigil    string
	disagree map[string]string
}

var pantherPairs = []pantherPair{
	{upstream: "Kubernetes.Pod.Exec", vigil: "k8s-pod-exec-attach"},
	{upstream: "Kubernetes.Pod.Host.IPC", vigil: "k8s-pod-host-namespaces"},
	{upstream: "Kubernetes.Pod.Host.PID", vigil: "k8s-pod-host-namespaces"},
	{upstream: "Kubernetes.Pod.Host.Network", vigil: "k8s-pod-host-network"},
	{upstream: "Kubernetes.Pod.HostPath.Volume", vigil: "k8s-pod-sensitive-host-mount"},
	{upstream: "Kubernetes.Pod.Dangerous.Capabilities", vigil: "k8s-privileged-container"},
	{upstream: "Kubernetes.Pod.Privileged.Created", vigil: "k8s-privileged-container", disagree: map[string]string{
		"Run-As-Root Pod Created":     "running as root is not privileged mode; vigil flags privileged and SYS_ADMIN/ALL capabilities only",
		"Pod with runAsUser=0 (root)": "running as root is not privileged mode; vigil flags privileged and SYS_ADMIN/ALL capabilities only",
	}},
	{upstream: "Kubernetes.ClusterRoleBinding.Privileged", vigil: "k8s-cluster-admin-binding", disagree: map[string]string{
		"EKS ClusterRoleBinding to controller-manager role": "vigil's rule is about cluster-admin grants only",
		"RoleBinding (not ClusterRoleBinding)":              "a RoleBinding to cluster-admin grants full control of its namespace: vigil alerts",
	}},
	{upstream: "Kubernetes.ServiceAccount.TokenCreated", vigil: "k8s-serviceaccount-token-created", disagree: map[string]string{
		"System principal in user namespace (alert)": "control-plane principals mint tokens for pods in every namespace all the time",
	}},
	{upstream: "Kubernetes.Secrets.DumpAllNamespaces", vigil: "k8s-secrets-listed-cluster-wide"},
	{upstream: "Kubernetes.BulkSecretAccess", vigil: "k8s-secret-read-by-user", disagree: map[string]string{
		"User Gets Secret - Access Denied": "vigil's rule is about secrets actually read; refused reads are not",
	}},
	{upstream: "Kubernetes.API.AnonymousAccess", vigil: "k8s-anonymous-request-allowed"},
	{upstream: "Amazon.EKS.AnonymousAPIAccess", vigil: "k8s-anonymous-request-allowed", disagree: map[string]string{
		"Anonymous API Access Web Scanner Allowed": "/version is public by design (system:public-info-viewer)",
		"ELB Health Check from Public IP":          "health endpoints are public by design; exposure of the endpoint is a network question",
		"Anonymous API Access Web Scanner Denied":  "vigil alerts on anonymous requests that were allowed, not on refused probes",
	}},
	{upstream: "Kubernetes.AdmissionController.Created", vigil: "k8s-admission-webhook-changed", disagree: map[string]string{
		"Webhook Update (Not Create)": "changing a webhook's target or rules is as dangerous as creating one",
	}},
	{upstream: "Kubernetes.Role.Wildcard", vigil: "k8s-role-with-escalation-rights", disagree: map[string]string{
		"Updating existing role (not creating)": "widening an existing role escalates as much as creating one",
	}},
	{upstream: "Kubernetes.Role.PodExec", vigil: "k8s-role-with-escalation-rights", disagree: map[string]string{
		"Updating existing role (not creating)": "widening an existing role escalates as much as creating one",
	}},
	{upstream: "Kubernetes.Pod.SystemNamespace", vigil: "k8s-workload-in-system-namespace-by-user", disagree: map[string]string{
		"Deployment creating pod (not direct pod creation)": "vigil covers workloads (Deployments, DaemonSets, ...) created in system namespaces, not only bare pods",
	}},
}

// pantherCase is one labelled upstream test case.
type pantherCase struct {
	RuleID   string          `json:"rule_id"`
	TestName string          `json:"test_name"`
	Expected bool            `json:"expected"`
	Log      json.RawMessage `json:"log"`
}

func TestPantherEKSCases(t *testing.T) {
	f, err := os.Open(corpus.Path(t, "panther-analysis", "tests_k8s_audit_eks.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byRule := map[string][]pantherCase{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c pantherCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("corpus line: %v", err)
		}
		byRule[c.RuleID] = append(byRule[c.RuleID], c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	set := loadRules(t)
	for _, p := range pantherPairs {
		t.Run(p.upstream, func(t *testing.T) {
			cases := byRule[p.upstream]
			if len(cases) == 0 {
				t.Fatalf("no upstream cases for %s", p.upstream)
			}
			seen := map[string]bool{}
			for _, c := range cases {
				evs, bad := decode(t, c.Log, c.TestName)
				if len(evs) != 1 || len(bad) != 0 {
					t.Errorf("%q: decoded %d events, %d bad records (%v)", c.TestName, len(evs), len(bad), bad)
					continue
				}
				got := slices.Contains(fired(t, set, evs[0]), p.vigil)
				reason, documented := p.disagree[c.TestName]
				seen[c.TestName] = true
				switch {
				case got != c.Expected && !documented:
					t.Errorf("%q: %s fired=%v, upstream expects %v", c.TestName, p.vigil, got, c.Expected)
				case got == c.Expected && documented:
					t.Errorf("%q: documented disagreement (%s) now agrees; remove it", c.TestName, reason)
				}
			}
			for name := range p.disagree {
				if !seen[name] {
					t.Errorf("documented disagreement %q matches no upstream case", name)
				}
			}
		})
	}
}

// TestPantherEKSCasesEvaluateCleanly evaluates every upstream EKS case,
// whatever its rule, with every built-in Kubernetes rule: none may fail with
// an evaluation error on these shapes.
func TestPantherEKSCasesEvaluateCleanly(t *testing.T) {
	data, err := os.ReadFile(corpus.Path(t, "panther-analysis", "tests_k8s_audit_eks.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	set := loadRules(t)
	n := 0
	for line := range strings.Lines(string(data)) {
		var c pantherCase
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		evs, _ := decode(t, c.Log, c.RuleID+"/"+c.TestName)
		for _, ev := range evs {
			fired(t, set, ev)
			n++
		}
	}
	if n < 150 {
		t.Fatalf("evaluated %d upstream records, want at least 150", n)
	}
}
