package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vigilsec/vigil/cmd/vigil/config"
)

// TestConfigs checks that the example configurations are valid.
func TestConfigs(t *testing.T) {
	for _, path := range []string{"vigil.yaml", "k8s/vigil.yaml"} {
		c, err := config.Load(path)
		if err == nil {
			c.Defaults()
			err = c.Validate()
		}
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// TestDockerfile checks the image's shape: a build stage with cgo (DuckDB),
// a glibc distroless runtime, a non-root user and a data volume.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms, users, volumes []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			users = append(users, f[1])
		case "VOLUME":
			volumes = append(volumes, strings.Join(f[1:], " "))
		}
	}
	if len(froms) < 2 {
		t.Errorf("want a multi-stage build, got FROM %v", froms)
	} else if last := froms[len(froms)-1]; !strings.HasPrefix(last, "gcr.io/distroless/cc-debian12") {
		t.Errorf("runtime image %s: want gcr.io/distroless/cc-debian12 (glibc and libstdc++ for DuckDB)", last)
	}
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1], "0") || strings.HasPrefix(users[len(users)-1], "root") {
		t.Errorf("USER %v: want a non-root user last", users)
	}
	if !slices.ContainsFunc(volumes, func(v string) bool { return strings.Contains(v, "/data") }) {
		t.Errorf("VOLUME %v: want /data", volumes)
	}
	if !bytes.Contains(raw, []byte("CGO_ENABLED=1")) {
		t.Error("the build must enable cgo (DuckDB)")
	}
}

// composeFile is the part of docker-compose.yml the test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		ReadOnly    bool              `yaml:"read_only"`
		User        string            `yaml:"user"`
		CapDrop     []string          `yaml:"cap_drop"`
		Profiles    []string          `yaml:"profiles"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
}

// TestCompose checks docker-compose.yml: Kafka in KRaft mode, ClickHouse,
// the migration as a one-shot that every role waits for, and the roles
// locked down; then, when Debian's docker-compose is installed, that it
// accepts the file.
func TestCompose(t *testing.T) {
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	kafka, ok := c.Services["kafka"]
	if !ok || !strings.Contains(kafka.Environment["KAFKA_PROCESS_ROLES"], "controller") {
		t.Errorf("kafka: want a KRaft broker that is its own controller, got %+v", kafka.Environment)
	}
	for name := range c.Services {
		if strings.Contains(name, "zookeeper") {
			t.Errorf("service %s: KRaft needs no ZooKeeper", name)
		}
	}
	if _, ok := c.Services["clickhouse"]; !ok {
		t.Error("no clickhouse service")
	}
	if m := c.Services["migrate"]; len(m.Command) == 0 || m.Command[0] != "migrate" {
		t.Errorf("migrate: command %v", m.Command)
	}
	for _, role := range []string{"migrate", "ingest", "detect", "store", "notify"} {
		s := c.Services[role]
		checkArgs(t, "service "+role, s.Command)
		if !slices.Contains(s.Volumes, "./vigil.yaml:"+configPath+":ro") {
			t.Errorf("%s: volumes %v; want ./vigil.yaml mounted read-only at %s", role, s.Volumes, configPath)
		}
	}
	for _, role := range []string{"ingest", "detect", "store", "notify"} {
		s, ok := c.Services[role]
		if !ok {
			t.Errorf("no %s service", role)
			continue
		}
		if len(s.Command) == 0 || s.Command[0] != role {
			t.Errorf("%s: command %v", role, s.Command)
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || s.User == "" || strings.HasPrefix(s.User, "0") {
			t.Errorf("%s: read_only %v, cap_drop %v, user %q: want a read-only, capability-less, non-root container", role, s.ReadOnly, s.CapDrop, s.User)
		}
		if s.DependsOn["migrate"].Condition != "service_completed_successfully" {
			t.Errorf("%s does not wait for the migration", role)
		}
	}
	composeConfig(t)
}

// configPath is where the deployments mount the configuration.
const configPath = "/etc/vigil/vigil.yaml"

// checkArgs checks that a vigil command line reads the mounted
// configuration and carries no secret: no password in a URL, no
// interpolated password variable.
func checkArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if i := slices.Index(args, "--config"); i < 0 || i+1 >= len(args) || args[i+1] != configPath {
		t.Errorf("%s: args %q; want --config %s", where, args, configPath)
	}
	for _, a := range args {
		if strings.Contains(strings.ToUpper(a), "PASSWORD") || strings.Contains(a, "$(") || strings.Contains(a, "${") {
			t.Errorf("%s: argument %q carries a secret; secrets come from the environment", where, a)
		}
		if u, err := url.Parse(a); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				t.Errorf("%s: argument %q holds a password", where, a)
			}
		}
	}
}

// composeConfig validates the file with `docker-compose config`. Without
// the command it skips, unless CI=true and the package can be installed.
func composeConfig(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		msg := "docker-compose is not installed (apt-get install -y docker-compose); the file was only parsed"
		if os.Getenv("CI") == "true" && aptCandidate("docker-compose") {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(bin, "-f", "docker-compose.yml", "config", "-q")
	cmd.Env = append(os.Environ(), "VIGIL_CLICKHOUSE_PASSWORD=test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	cmd = exec.Command(bin, "-f", "docker-compose.yml", "config", "-q")
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "VIGIL_CLICKHOUSE_PASSWORD=") })
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "VIGIL_CLICKHOUSE_PASSWORD") {
		t.Errorf("docker-compose config without the password: %v\n%s", err, out)
	}
}

// aptCandidate reports whether apt knows an installable version of pkg.
func aptCandidate(pkg string) bool {
	out, err := exec.Command("apt-cache", "policy", pkg).Output()
	return err == nil && bytes.Contains(out, []byte("Candidate:")) && !bytes.Contains(out, []byte("Candidate: (none)"))
}

// Kubernetes object subsets: only the fields the checks read.
type (
	object struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Replicas *int `yaml:"replicas"`
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template       podTemplate `yaml:"template"`
			MinAvailable   *int        `yaml:"minAvailable"`
			MaxUnavailable *int        `yaml:"maxUnavailable"`
			ScaleTargetRef struct {
				Kind string `yaml:"kind"`
				Name string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
			MaxReplicas int `yaml:"maxReplicas"`
		} `yaml:"spec"`
	}
	podTemplate struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
			SecurityContext              struct {
				RunAsNonRoot *bool `yaml:"runAsNonRoot"`
			} `yaml:"securityContext"`
			Containers []container `yaml:"containers"`
			Volumes    []struct {
				Name      string `yaml:"name"`
				ConfigMap *struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	}
	container struct {
		Name         string   `yaml:"name"`
		Args         []string `yaml:"args"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		SecurityContext struct {
			RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
				Add  []string `yaml:"add"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
	}
	probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"`
		} `yaml:"httpGet"`
	}
	kustomization struct {
		Resources          []string `yaml:"resources"`
		ConfigMapGenerator []struct {
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
	}
)

// readObjects decodes every document of the kustomization's resources.
func readObjects(t *testing.T, dir string) []object {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	for _, g := range k.ConfigMapGenerator {
		for _, f := range g.Files {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Error(err)
			}
		}
	}
	var objs []object
	for _, r := range k.Resources {
		f, err := os.Open(filepath.Join(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			if o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: a document without kind or name", r)
			}
			objs = append(objs, o)
		}
		f.Close()
	}
	return objs
}

// TestKubernetes checks the manifests: every pod runs as non-root with a
// read-only root filesystem, no privilege escalation, all capabilities
// dropped and resource requests; every Deployment probes /healthz and
// /readyz; every Deployment with more than one replica has a
// PodDisruptionBudget; autoscalers target existing Deployments.
func TestKubernetes(t *testing.T) {
	objs := readObjects(t, "k8s")
	deployments := map[string]object{}
	for _, o := range objs {
		if o.Kind == "Deployment" {
			deployments[o.Metadata.Name] = o
		}
	}
	for _, role := range []string{"ingest", "detect", "store", "notify"} {
		if _, ok := deployments["vigil-"+role]; !ok {
			t.Errorf("no Deployment vigil-%s", role)
		}
	}
	pdbs := map[string]bool{}
	for _, o := range objs {
		switch o.Kind {
		case "Deployment", "Job":
			checkPod(t, o)
		case "PodDisruptionBudget":
			if o.Spec.MinAvailable == nil && o.Spec.MaxUnavailable == nil {
				t.Errorf("PodDisruptionBudget %s: neither minAvailable nor maxUnavailable", o.Metadata.Name)
			}
			matched := false
			for name, d := range deployments {
				if labelsMatch(o.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
					pdbs[name], matched = true, true
				}
			}
			if !matched {
				t.Errorf("PodDisruptionBudget %s selects no Deployment", o.Metadata.Name)
			}
		case "HorizontalPodAutoscaler":
			ref := o.Spec.ScaleTargetRef
			if _, ok := deployments[ref.Name]; ref.Kind != "Deployment" || !ok || o.Spec.MaxReplicas == 0 {
				t.Errorf("HorizontalPodAutoscaler %s: target %s %s, maxReplicas %d", o.Metadata.Name, ref.Kind, ref.Name, o.Spec.MaxReplicas)
			}
		}
	}
	cfg, err := config.Load("k8s/vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(cfg.Listen, ":")
	for name, d := range deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if !slices.ContainsFunc(c.Ports, func(cp struct {
				Name          string `yaml:"name"`
				ContainerPort int    `yaml:"containerPort"`
			}) bool {
				return fmt.Sprint(cp.ContainerPort) == port
			}) {
				t.Errorf("Deployment %s container %s: no container port %s, where listen (k8s/vigil.yaml %q) serves the probes", name, c.Name, port, cfg.Listen)
			}
		}
	}
	for name, d := range deployments {
		if d.Spec.Replicas != nil && *d.Spec.Replicas > 1 && !pdbs[name] {
			t.Errorf("Deployment %s runs %d replicas without a PodDisruptionBudget", name, *d.Spec.Replicas)
		}
	}
	kustomizeBuild(t)
}

func checkPod(t *testing.T, o object) {
	t.Helper()
	name := o.Kind + " " + o.Metadata.Name
	pod := o.Spec.Template.Spec
	if a := pod.AutomountServiceAccountToken; a == nil || *a {
		t.Errorf("%s: mounts a service account token; vigil does not use the Kubernetes API", name)
	}
	if len(pod.Containers) == 0 {
		t.Errorf("%s: no containers", name)
	}
	for _, c := range pod.Containers {
		where := fmt.Sprintf("%s container %s", name, c.Name)
		sc := c.SecurityContext
		if !isTrue(sc.RunAsNonRoot) && !isTrue(pod.SecurityContext.RunAsNonRoot) {
			t.Errorf("%s: runAsNonRoot not set", where)
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			t.Errorf("%s: readOnlyRootFilesystem not set", where)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation not false", where)
		}
		if !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities drop %v add %v; want drop ALL, add none", where, sc.Capabilities.Drop, sc.Capabilities.Add)
		}
		if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
			t.Errorf("%s: resource requests %v", where, c.Resources.Requests)
		}
		checkArgs(t, where, c.Args)
		mounted := false
		for _, m := range c.VolumeMounts {
			if m.MountPath != filepath.Dir(configPath) {
				continue
			}
			for _, v := range pod.Volumes {
				mounted = mounted || (v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == "vigil-config")
			}
		}
		if !mounted {
			t.Errorf("%s: the ConfigMap vigil-config is not mounted at %s", where, filepath.Dir(configPath))
		}
		if o.Kind != "Deployment" {
			continue
		}
		for path, p := range map[string]*probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
			if p == nil || p.HTTPGet.Path != path {
				t.Errorf("%s: want a probe on %s", where, path)
				continue
			}
			if !slices.ContainsFunc(c.Ports, func(cp struct {
				Name          string `yaml:"name"`
				ContainerPort int    `yaml:"containerPort"`
			}) bool {
				return cp.Name == fmt.Sprint(p.HTTPGet.Port) || fmt.Sprint(cp.ContainerPort) == fmt.Sprint(p.HTTPGet.Port)
			}) {
				t.Errorf("%s: probe port %v is not a container port", where, p.HTTPGet.Port)
			}
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func labelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// kustomizeBuild renders the manifests with `kubectl kustomize` when
// kubectl is installed.
func kustomizeBuild(t *testing.T) {
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not installed: kustomize rendering not checked")
		return
	}
	if out, err := exec.Command(bin, "kustomize", "k8s").CombinedOutput(); err != nil {
		t.Errorf("kubectl kustomize: %v\n%s", err, out)
	}
}
