package chartcheck

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const (
	chart = "../xfollow-mcp"
	repo  = "../../.."
	// HelmVersion is the helm .ci/run installs.
	HelmVersion = "v4.3.2"
)

// helm finds the helm binary: $XFOLLOW_HELM, the per-machine folder .ci/run
// installs it in, or PATH. Missing, the test skips outside CI and fails in
// it.
func helm(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("XFOLLOW_HELM"); p != "" {
		return p
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	if p := filepath.Join(cache, "xfollow-mcp", "helm-"+HelmVersion, "helm"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("helm is not installed; .ci/run installs it (go install helm.sh/helm/v4/cmd/helm@" + HelmVersion + ")")
	}
	t.Skip("helm is not installed (.ci/run installs it); skipping the chart checks")
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// No cluster, no repositories: everything happens offline.
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir(), "KUBECONFIG=/nonexistent")
	if err := cmd.Run(); err != nil {
		return out.String(), &helmError{args: args, err: err, stderr: errb.String()}
	}
	return out.String(), nil
}

// helmError is a helm run that failed; stderr is helm's own words.
type helmError struct {
	args   []string
	err    error
	stderr string
}

func (e *helmError) Error() string {
	return fmt.Sprintf("helm %s: %v\n%s", strings.Join(e.args, " "), e.err, e.stderr)
}

// rendered are the objects of one helm template, decoded.
type rendered struct {
	StatefulSet    *appsv1.StatefulSet
	Deployment     *appsv1.Deployment
	Services       []*corev1.Service
	ServiceAccount *corev1.ServiceAccount
	PDB            *policyv1.PodDisruptionBudget
	Ingress        *networkingv1.Ingress
	NetworkPolicy  *networkingv1.NetworkPolicy
	ServiceMonitor *monitoringv1.ServiceMonitor
	kinds          []string
}

// decode reads every document strictly into its Kubernetes API type: an
// unknown field, a wrong type or a kind the chart should not make fails.
func decode(t *testing.T, manifest string) *rendered {
	t.Helper()
	r := &rendered{}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(manifest, -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("a rendered document is not YAML: %v\n%s", err, doc)
		}
		var into any
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 StatefulSet":
			r.StatefulSet = &appsv1.StatefulSet{}
			into = r.StatefulSet
		case "apps/v1 Deployment":
			r.Deployment = &appsv1.Deployment{}
			into = r.Deployment
		case "v1 Service":
			s := &corev1.Service{}
			r.Services = append(r.Services, s)
			into = s
		case "v1 ServiceAccount":
			r.ServiceAccount = &corev1.ServiceAccount{}
			into = r.ServiceAccount
		case "policy/v1 PodDisruptionBudget":
			r.PDB = &policyv1.PodDisruptionBudget{}
			into = r.PDB
		case "networking.k8s.io/v1 Ingress":
			r.Ingress = &networkingv1.Ingress{}
			into = r.Ingress
		case "networking.k8s.io/v1 NetworkPolicy":
			r.NetworkPolicy = &networkingv1.NetworkPolicy{}
			into = r.NetworkPolicy
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.ServiceMonitor = &monitoringv1.ServiceMonitor{}
			into = r.ServiceMonitor
		default:
			t.Fatalf("the chart renders %s %s, which this test does not know", meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
			t.Fatalf("%s does not decode strictly into the API type: %v\n%s", meta.Kind, err, doc)
		}
		r.kinds = append(r.kinds, meta.Kind)
	}
	return r
}

func (r *rendered) pod(t *testing.T) (corev1.PodTemplateSpec, int32) {
	t.Helper()
	switch {
	case r.StatefulSet != nil && r.Deployment == nil:
		return r.StatefulSet.Spec.Template, *r.StatefulSet.Spec.Replicas
	case r.Deployment != nil && r.StatefulSet == nil:
		return r.Deployment.Spec.Template, *r.Deployment.Spec.Replicas
	}
	t.Fatalf("want one workload, rendered %v", r.kinds)
	return corev1.PodTemplateSpec{}, 0
}

func template(t *testing.T, args ...string) *rendered {
	t.Helper()
	out, err := run(t, append([]string{"template", "xfollow", chart, "--namespace", "mcp"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

func lint(t *testing.T, args ...string) {
	t.Helper()
	if _, err := run(t, append([]string{"lint", "--strict", chart}, args...)...); err != nil {
		t.Fatal(err)
	}
}

func readmeEnv(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]bool{"AISA_API_KEY": true, "AISA_BASE_URL": true}
	for _, m := range regexp.MustCompile("(?m)^\\|[^|]*\\| `(XFOLLOW_[A-Z0-9_]+)` \\|").FindAllStringSubmatch(string(raw), -1) {
		env[m[1]] = true
	}
	if len(env) < 10 {
		t.Fatalf("the README's Configuration table lists %d variables", len(env))
	}
	return env
}

// profile is one values file and what its rendering must show.
type profile struct {
	name       string
	args       []string
	kind       string // StatefulSet or Deployment
	replicas   int32
	secretEnv  []string // variables that must come from a secretKeyRef
	valueEnv   map[string]string
	withRedis  bool
	optional   []string // optional kinds rendered
	keyFromReq bool
}

var profiles = []profile{
	{
		name: "default", kind: "StatefulSet", replicas: 1, keyFromReq: true,
		valueEnv: map[string]string{"XFOLLOW_JOURNAL": "/journal/journal.jsonl", "XFOLLOW_JOURNAL_RETENTION": "9600h", "XFOLLOW_METRICS": "0.0.0.0:9464",
			"XFOLLOW_CONFIRM": "false", "XFOLLOW_MAX_UNFOLLOWS_PER_15M": "50", "XFOLLOW_MAX_UNFOLLOWS_PER_DAY": "400"},
		optional: []string{"ServiceAccount", "PodDisruptionBudget", "NetworkPolicy"},
	},
	{
		name: "replicas-redis", args: []string{"-f", chart + "/ci/replicas-redis-values.yaml"}, kind: "StatefulSet", replicas: 3,
		keyFromReq: true, withRedis: true, secretEnv: []string{"XFOLLOW_STATE", "XFOLLOW_SECRET"},
		valueEnv: map[string]string{"XFOLLOW_CONFIRM": "true", "XFOLLOW_PROTECT": "783214,12", "XFOLLOW_ALLOWED_ORIGINS": "https://app.example.com"},
		optional: []string{"ServiceAccount", "PodDisruptionBudget", "NetworkPolicy", "Ingress", "ServiceMonitor"},
	},
	{
		name: "token", args: []string{"-f", chart + "/ci/token-values.yaml"}, kind: "Deployment", replicas: 1,
		secretEnv: []string{"AISA_API_KEY", "XFOLLOW_HTTP_TOKEN"},
		valueEnv:  map[string]string{"XFOLLOW_ACCOUNT": "jack", "XFOLLOW_DRY_RUN": "true", "XFOLLOW_MAX_UNFOLLOWS_PER_15M": "10", "XFOLLOW_TIMEOUT": "30s", "XFOLLOW_LOG_LEVEL": "debug", "XFOLLOW_JOURNAL_RETENTION": "720h"},
		optional:  []string{"NetworkPolicy"},
	},
}

func TestChartRendersValidObjects(t *testing.T) {
	appVersion := chartAppVersion(t)
	env := readmeEnv(t)
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			lint(t, p.args...)
			r := template(t, p.args...)
			for _, k := range []string{"ServiceAccount", "PodDisruptionBudget", "NetworkPolicy", "Ingress", "ServiceMonitor"} {
				if got, want := slices.Contains(r.kinds, k), slices.Contains(p.optional, k); got != want {
					t.Errorf("%s rendered: %v, want %v", k, got, want)
				}
			}
			pod, replicas := r.pod(t)
			if replicas != p.replicas {
				t.Errorf("replicas %d, want %d", replicas, p.replicas)
			}
			checkPod(t, p, pod, appVersion, env)
			checkWorkload(t, p, r)
			checkServices(t, p, r, pod)
			if r.NetworkPolicy != nil {
				checkNetworkPolicy(t, p, r.NetworkPolicy)
			}
			if r.ServiceMonitor != nil {
				eps := r.ServiceMonitor.Spec.Endpoints
				if len(eps) != 1 || eps[0].Port != "metrics" || eps[0].Path != "/metrics" || r.ServiceMonitor.Labels["release"] != "prometheus" {
					t.Errorf("ServiceMonitor: %+v", r.ServiceMonitor.Spec)
				}
			}
			if r.PDB != nil {
				if r.PDB.Spec.MaxUnavailable == nil || r.PDB.Spec.MaxUnavailable.IntValue() != 1 || !selects(r.PDB.Spec.Selector.MatchLabels, pod.Labels) {
					t.Errorf("PodDisruptionBudget: %+v", r.PDB.Spec)
				}
			}
			if r.ServiceAccount != nil && (r.ServiceAccount.AutomountServiceAccountToken == nil || *r.ServiceAccount.AutomountServiceAccountToken) {
				t.Error("the ServiceAccount mounts its token")
			}
			if r.Ingress != nil {
				rule := r.Ingress.Spec.Rules[0]
				if rule.Host != "xfollow.example.com" || rule.HTTP.Paths[0].Backend.Service.Port.Name != "http" || len(r.Ingress.Spec.TLS) != 1 {
					t.Errorf("Ingress: %+v", r.Ingress.Spec)
				}
			}
		})
	}
}

func selects(selector, labels map[string]string) bool {
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

func checkPod(t *testing.T, p profile, pod corev1.PodTemplateSpec, appVersion string, readme map[string]bool) {
	t.Helper()
	s := pod.Spec
	if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		t.Error("the pod mounts a service-account token")
	}
	psc := s.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
		psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.FSGroup == nil || *psc.FSGroup != 65532 {
		t.Errorf("pod securityContext: %+v", psc)
	}
	if len(s.Containers) != 1 {
		t.Fatalf("%d containers", len(s.Containers))
	}
	c := s.Containers[0]
	csc := c.SecurityContext
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.RunAsNonRoot == nil || !*csc.RunAsNonRoot || csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		len(csc.Capabilities.Add) != 0 || csc.SeccompProfile == nil || csc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext: %+v", csc)
	}
	wantImage := "ghcr.io/xfollow-mcp/xfollow-mcp:" + appVersion
	if p.name == "token" {
		wantImage = "ghcr.io/xfollow-mcp/xfollow-mcp@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	}
	if c.Image != wantImage {
		t.Errorf("image %s, want %s", c.Image, wantImage)
	}
	wantArgs := []string{"--http", "0.0.0.0:8080"}
	if p.keyFromReq {
		wantArgs = append(wantArgs, "--key-from-request")
	}
	if !slices.Equal(c.Args, wantArgs) || len(c.Command) != 0 {
		t.Errorf("command %v args %v, want the image's entrypoint with %v", c.Command, c.Args, wantArgs)
	}
	for name, pr := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := "/healthz?live"
		if name == "readiness" {
			want = "/healthz"
		}
		if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != want || pr.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe: %+v, want GET %s on http", name, pr, want)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: %+v", c.Resources)
	}
	envs := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := envs[e.Name]; dup {
			t.Errorf("%s is set twice", e.Name)
		}
		envs[e.Name] = e
		if !readme[e.Name] {
			t.Errorf("%s is not a variable the README's Configuration table documents", e.Name)
		}
		secretish := strings.Contains(e.Name, "KEY") || strings.Contains(e.Name, "TOKEN") || strings.Contains(e.Name, "SECRET")
		if secretish && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s must come from a Secret (secretKeyRef), never a value", e.Name)
		}
	}
	for _, name := range p.secretEnv {
		if e, ok := envs[name]; !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name == "" {
			t.Errorf("%s: %+v, want a secretKeyRef", name, e)
		}
	}
	for name, v := range p.valueEnv {
		if envs[name].Value != v {
			t.Errorf("%s=%q, want %q", name, envs[name].Value, v)
		}
	}
	if _, ok := envs["XFOLLOW_STATE"]; ok != p.withRedis {
		t.Errorf("XFOLLOW_STATE set: %v, want %v", ok, p.withRedis)
	}
	if _, ok := envs["XFOLLOW_HTTP"]; ok {
		t.Error("XFOLLOW_HTTP is set besides --http")
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.Name == "journal" && m.MountPath == "/journal" && !m.ReadOnly {
			mounted = true
		}
	}
	if !mounted || !strings.HasPrefix(envs["XFOLLOW_JOURNAL"].Value, "/journal/") {
		t.Errorf("the journal is not on the journal volume: mounts %+v, XFOLLOW_JOURNAL=%q", c.VolumeMounts, envs["XFOLLOW_JOURNAL"].Value)
	}
	ports := map[string]int32{}
	for _, cp := range c.Ports {
		ports[cp.Name] = cp.ContainerPort
	}
	if ports["http"] != 8080 {
		t.Errorf("container ports %v", ports)
	}
	if _, ok := envs["XFOLLOW_METRICS"]; ok != (ports["metrics"] == 9464) {
		t.Errorf("metrics: XFOLLOW_METRICS set %v, port %v", ok, ports)
	}
}

func checkWorkload(t *testing.T, p profile, r *rendered) {
	t.Helper()
	switch p.kind {
	case "StatefulSet":
		ss := r.StatefulSet
		if ss == nil {
			t.Fatalf("want a StatefulSet, rendered %v", r.kinds)
		}
		// The journal on a volume per pod, kept across upgrades.
		vct := ss.Spec.VolumeClaimTemplates
		if len(vct) != 1 || vct[0].Name != "journal" || vct[0].Spec.Resources.Requests.Storage().IsZero() {
			t.Errorf("volumeClaimTemplates: %+v", vct)
		}
		if ss.Spec.PersistentVolumeClaimRetentionPolicy == nil || ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
			t.Error("the journals' volumes must outlive an uninstall")
		}
		if !selects(ss.Spec.Selector.MatchLabels, ss.Spec.Template.Labels) {
			t.Error("the StatefulSet's selector does not select its pods")
		}
	case "Deployment":
		d := r.Deployment
		if d == nil {
			t.Fatalf("want a Deployment, rendered %v", r.kinds)
		}
		vols := d.Spec.Template.Spec.Volumes
		if len(vols) != 1 || vols[0].Name != "journal" || vols[0].EmptyDir == nil {
			t.Errorf("volumes: %+v", vols)
		}
		if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Error("the Deployment's selector does not select its pods")
		}
	}
}

func checkServices(t *testing.T, p profile, r *rendered, pod corev1.PodTemplateSpec) {
	t.Helper()
	var main *corev1.Service
	for _, s := range r.Services {
		if !selects(s.Spec.Selector, pod.Labels) {
			t.Errorf("Service %s does not select the pods", s.Name)
		}
		if s.Spec.ClusterIP != corev1.ClusterIPNone {
			main = s
		}
	}
	if main == nil {
		t.Fatal("no Service")
	}
	if r.StatefulSet != nil && (len(r.Services) != 2 || r.StatefulSet.Spec.ServiceName == main.Name) {
		t.Error("a StatefulSet needs its headless Service")
	}
	names := map[string]string{}
	for _, sp := range main.Spec.Ports {
		names[sp.Name] = sp.TargetPort.String()
	}
	if names["http"] != "http" {
		t.Errorf("Service ports %v", names)
	}
}

func checkNetworkPolicy(t *testing.T, p profile, np *networkingv1.NetworkPolicy) {
	t.Helper()
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress", "Egress"}) {
		t.Errorf("policyTypes %v", np.Spec.PolicyTypes)
	}
	var egressPorts []string
	for _, rule := range np.Spec.Egress {
		if len(rule.Ports) == 0 || len(rule.To) == 0 {
			t.Errorf("an egress rule open to every port or every peer: %+v", rule)
		}
		for _, port := range rule.Ports {
			egressPorts = append(egressPorts, fmt.Sprintf("%s/%s", port.Port.String(), *port.Protocol))
		}
		for _, peer := range rule.To {
			if peer.IPBlock != nil && !slices.Contains(peer.IPBlock.Except, "169.254.0.0/16") {
				t.Errorf("egress to %s does not exclude the metadata address", peer.IPBlock.CIDR)
			}
		}
	}
	want := []string{"53/UDP", "53/TCP", "443/TCP"}
	if p.withRedis {
		want = append(want, "6379/TCP")
	}
	if !slices.Equal(egressPorts, want) {
		t.Errorf("egress to %v, want DNS, the gateway and Redis alone: %v", egressPorts, want)
	}
	for _, rule := range np.Spec.Ingress {
		for _, port := range rule.Ports {
			if port.Port.String() == "metrics" && len(rule.From) == 0 {
				t.Error("the metrics port is open to everyone")
			}
		}
	}
}

// TestChartRefusesWhatTheServerWould: settings the server refuses at
// start fail at render time, saying why.
func TestChartRefusesWhatTheServerWould(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		says string
	}{
		{"replicas without a state store", []string{"replicaCount=2"}, "needs a state store"},
		{"confirm across replicas without the secret", []string{"replicaCount=2", "state.url=redis://redis:6379/0", "config.confirm=true"}, "XFOLLOW_SECRET"},
		{"a password in the state URL", []string{"state.url=redis://:hunter2@redis:6379/0"}, "put the whole URL in a Secret"},
		{"token mode without a Secret", []string{"auth.mode=token"}, "auth.existingSecret"},
		{"an unknown auth mode", []string{"auth.mode=none"}, "'keyFromRequest', 'token'"},
		{"a misspelt setting", []string{"config.confrim=true"}, "confrim"},
		{"a protected handle instead of an id", []string{"config.protect={jack}"}, "/config/protect/0"},
		{"one account for many callers", []string{"config.account=jack"}, "leave config.account empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", "xfollow", chart}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			_, err := run(t, args...)
			var he *helmError
			if !errors.As(err, &he) || !strings.Contains(he.stderr, tc.says) {
				t.Fatalf("rendered, or refused without saying %q: %v", tc.says, err)
			}
			if strings.Contains(he.stderr, "hunter2") {
				t.Error("the refusal repeats the password")
			}
		})
	}
	// Several replicas with the store and the secret render.
	template(t, "--set", "replicaCount=2", "--set", "state.url=redis://redis:6379/0", "--set", "config.confirm=true", "--set", "secret.existingSecret=s")
}

// chartAppVersion is Chart.yaml's appVersion, which must be the server's
// VERSION.
func chartAppVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion  string            `json:"appVersion"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	v, err := os.ReadFile(filepath.Join(repo, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	if c.AppVersion != strings.TrimSpace(string(v)) {
		t.Errorf("Chart.yaml appVersion %q, VERSION %q", c.AppVersion, strings.TrimSpace(string(v)))
	}
	return c.AppVersion
}
