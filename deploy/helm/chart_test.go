// Package helm tests the Helm chart in ./sluice: helm lint and helm
// template for each values file, then every rendered object strictly
// decoded into the official Kubernetes, KEDA and Prometheus Operator types,
// and checked for what the chart promises.
//
// It is a module of its own so that Helm's and KEDA's dependencies stay out
// of the sluice binary's go.mod.
package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "sluice"
	releaseName = "sluice"
	namespace   = "ml"
)

// decoder decodes strictly: an unknown or duplicated field is an error.
var decoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, kedav1alpha1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// rendered is one values file's output, by kind and name.
type rendered struct {
	objects []runtime.Object
	hooks   map[string][]string // object name → hook events
}

func get[T runtime.Object](r rendered) []T {
	var out []T
	for _, o := range r.objects {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

func named[T interface {
	runtime.Object
	GetName() string
}](t *testing.T, r rendered, name string) T {
	t.Helper()
	for _, o := range get[T](r) {
		if o.GetName() == name {
			return o
		}
	}
	var zero T
	t.Fatalf("no %T named %s rendered", zero, name)
	return zero
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	return c
}

func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	if file == "" {
		return map[string]any{}
	}
	v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, file))
	if err != nil {
		t.Fatalf("reading %s: %v", file, err)
	}
	return v
}

// lintChart is `helm lint --strict`: warnings fail too.
func lintChart(t *testing.T, vals map[string]any) {
	t.Helper()
	l := action.NewLint()
	l.Strict = true
	l.Namespace = namespace
	res := l.Run([]string{chartDir}, vals)
	for _, err := range res.Errors {
		t.Errorf("helm lint: %v", err)
	}
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		}
	}
}

// render is `helm template`: the release's manifests and hooks.
func render(t *testing.T, c *chart.Chart, vals map[string]any) (rendered, error) {
	t.Helper()
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	rel, err := install.Run(c, vals)
	if err != nil {
		return rendered{}, err
	}
	r := rendered{hooks: map[string][]string{}}
	manifests := releaseutil.SplitManifests(rel.Manifest)
	keys := make([]string, 0, len(manifests))
	for k := range manifests {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	docs := make([]string, 0, len(keys)+len(rel.Hooks))
	for _, k := range keys {
		docs = append(docs, manifests[k])
	}
	for _, h := range rel.Hooks {
		docs = append(docs, h.Manifest)
		for _, e := range h.Events {
			r.hooks[h.Name] = append(r.hooks[h.Name], string(e))
		}
	}
	for _, doc := range docs {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj, gvk, err := decoder.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("decoding a rendered object strictly: %v\n%s", err, doc)
		}
		if obj.GetObjectKind().GroupVersionKind().Empty() {
			t.Fatalf("%v has no apiVersion/kind", gvk)
		}
		if m, ok := obj.(metav1.Object); ok && m.GetNamespace() != namespace {
			t.Errorf("%s %s: namespace %q, want %q", gvk.Kind, m.GetName(), m.GetNamespace(), namespace)
		}
		r.objects = append(r.objects, obj)
	}
	return r, nil
}

func lintAndRender(t *testing.T, file string, extra map[string]any) rendered {
	t.Helper()
	vals := readValues(t, file)
	if extra != nil {
		vals = chartutil.CoalesceTables(extra, vals)
	}
	lintChart(t, vals)
	r, err := render(t, loadChart(t), vals)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	checkConsistent(t, r)
	return r
}

func TestDefaultValues(t *testing.T) {
	r := lintAndRender(t, "", nil)

	deploys := map[string]*appsv1.Deployment{}
	for _, d := range get[*appsv1.Deployment](r) {
		deploys[d.Name] = d
	}
	want := []string{"sluice-api", "sluice-serve", "sluice-worker-control", "sluice-worker-cpu", "sluice-worker-io"}
	if got := sortedKeys(deploys); !slices.Equal(got, want) {
		t.Fatalf("deployments %v, want %v", got, want)
	}
	if *deploys["sluice-api"].Spec.Replicas != 2 {
		t.Errorf("api replicas %d", *deploys["sluice-api"].Spec.Replicas)
	}
	// Scaled objects own the replica count.
	for _, n := range []string{"sluice-serve", "sluice-worker-control", "sluice-worker-io", "sluice-worker-cpu"} {
		if deploys[n].Spec.Replicas != nil {
			t.Errorf("%s sets replicas under an autoscaler", n)
		}
	}
	if c := container(deploys["sluice-worker-io"]); !slices.Contains(c.Args, "--queues=io") ||
		!slices.Contains(c.Args, "--metrics-addr=0.0.0.0:9464") {
		t.Errorf("io worker args %v", c.Args)
	}

	hpa := named[*autoscalingv2.HorizontalPodAutoscaler](t, r, "sluice-serve")
	if hpa.Spec.ScaleTargetRef.Name != "sluice-serve" || hpa.Spec.MaxReplicas != 20 || len(hpa.Spec.Metrics) != 1 ||
		hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 70 {
		t.Errorf("serve HPA %+v", hpa.Spec)
	}

	sos := get[*kedav1alpha1.ScaledObject](r)
	if len(sos) != 3 {
		t.Fatalf("%d ScaledObjects, want one per worker pool", len(sos))
	}
	for _, so := range sos {
		if len(so.Spec.Triggers) != 1 {
			t.Fatalf("%s: triggers %+v", so.Name, so.Spec.Triggers)
		}
		tr := so.Spec.Triggers[0]
		pool := strings.TrimPrefix(so.Name, "sluice-worker-")
		if tr.Type != "temporal" || tr.Metadata["taskQueue"] != "sluice-"+pool ||
			tr.Metadata["endpoint"] != "temporal-frontend.temporal.svc:7233" || tr.Metadata["enableTLS"] != "false" ||
			tr.AuthenticationRef != nil {
			t.Errorf("%s: trigger %+v", so.Name, tr)
		}
		wantTypes := "activity"
		if pool == "control" {
			wantTypes = "workflow,activity"
		}
		if tr.Metadata["queueTypes"] != wantTypes {
			t.Errorf("%s: queueTypes %q, want %q", so.Name, tr.Metadata["queueTypes"], wantTypes)
		}
	}
	if so := named[*kedav1alpha1.ScaledObject](t, r, "sluice-worker-cpu"); *so.Spec.MinReplicaCount != 0 || *so.Spec.MaxReplicaCount != 8 {
		t.Errorf("cpu pool scales %d..%d", *so.Spec.MinReplicaCount, *so.Spec.MaxReplicaCount)
	}

	if n := len(get[*policyv1.PodDisruptionBudget](r)); n != 5 {
		t.Errorf("%d PodDisruptionBudgets, want 5", n)
	}
	sm := named[*monitoringv1.ServiceMonitor](t, r, "sluice")
	if a := sm.Spec.Endpoints[0].Authorization; a == nil || a.Type != "Bearer" || a.Credentials == nil || a.Credentials.Key == "" {
		t.Errorf("the ServiceMonitor scrapes the API's /metrics without its token: %+v", sm.Spec.Endpoints[0].Authorization)
	}
	var ports []string
	for _, ep := range sm.Spec.Endpoints {
		ports = append(ports, ep.Port)
	}
	if !slices.Equal(ports, []string{"http", "metrics"}) {
		t.Errorf("ServiceMonitor ports %v", ports)
	}

	job := named[*batchv1.Job](t, r, "sluice-migrate")
	if got := r.hooks["sluice-migrate"]; !slices.Equal(got, []string{"pre-install", "pre-upgrade"}) {
		t.Errorf("migrations Job hooks %v", got)
	}
	if args := job.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args, []string{"migrate"}) {
		t.Errorf("migrations Job args %v", args)
	}
	if !slices.ContainsFunc(job.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "SLUICE_LAKE" && e.Value != "" }) {
		t.Error("the migrations Job has no SLUICE_LAKE: an upgrade would not move the first release's tables")
	}
	if job.Spec.Template.Spec.ServiceAccountName != "" {
		t.Error("the migrations Job uses the chart's ServiceAccount, which does not exist yet on install")
	}
	sec := named[*corev1.Secret](t, r, "sluice-secrets")
	if got := r.hooks["sluice-secrets"]; !slices.Equal(got, []string{"pre-install", "pre-upgrade"}) {
		t.Errorf("the Secret must exist before the migrations hook; hooks %v", got)
	}
	if wh, jw := sec.Annotations["helm.sh/hook-weight"], job.Annotations["helm.sh/hook-weight"]; wh >= jw {
		t.Errorf("Secret hook weight %s is not before the Job's %s", wh, jw)
	}
	if tok := sec.StringData["api-token"]; len(tok) < 32 {
		t.Errorf("generated API token %q is too short", tok)
	}
	if sec.StringData["database-url"] == "" {
		t.Error("no database URL in the Secret")
	}
	if _, ok := sec.StringData["AWS_ACCESS_KEY_ID"]; ok {
		t.Error("S3 keys stored with none given")
	}
	if get[*kedav1alpha1.TriggerAuthentication](r) != nil {
		t.Error("a TriggerAuthentication without TLS or an API key")
	}
}

func TestGPUValues(t *testing.T) {
	r := lintAndRender(t, "values-gpu.yaml", nil)
	d := named[*appsv1.Deployment](t, r, "sluice-worker-gpu")
	spec := d.Spec.Template.Spec
	if spec.NodeSelector["nvidia.com/gpu.present"] != "true" {
		t.Errorf("gpu nodeSelector %v", spec.NodeSelector)
	}
	if !slices.ContainsFunc(spec.Tolerations, func(t corev1.Toleration) bool {
		return t.Key == "nvidia.com/gpu" && t.Operator == corev1.TolerationOpExists && t.Effect == corev1.TaintEffectNoSchedule
	}) {
		t.Errorf("gpu tolerations %+v", spec.Tolerations)
	}
	c := container(d)
	if q := c.Resources.Limits["nvidia.com/gpu"]; q.Cmp(resource.MustParse("1")) != 0 {
		t.Errorf("nvidia.com/gpu limit %v", q.String())
	}
	if !slices.Contains(c.Args, "--gpus=1") || !slices.Contains(c.Args, "--queues=gpu") {
		t.Errorf("gpu worker args %v", c.Args)
	}
	so := named[*kedav1alpha1.ScaledObject](t, r, "sluice-worker-gpu")
	if *so.Spec.MinReplicaCount != 0 || so.Spec.Triggers[0].Metadata["taskQueue"] != "sluice-gpu" ||
		so.Spec.Triggers[0].Metadata["targetQueueSize"] != "1" {
		t.Errorf("gpu ScaledObject %+v", so.Spec)
	}
	// The CPU pools do not ask for GPUs or land on GPU nodes.
	for _, n := range []string{"sluice-worker-cpu", "sluice-worker-io", "sluice-worker-control"} {
		d := named[*appsv1.Deployment](t, r, n)
		if _, ok := container(d).Resources.Limits["nvidia.com/gpu"]; ok || len(d.Spec.Template.Spec.Tolerations) > 0 {
			t.Errorf("%s asks for a GPU node", n)
		}
	}
}

func TestMinimalValues(t *testing.T) {
	r := lintAndRender(t, "values-minimal.yaml", nil)
	var names []string
	for _, d := range get[*appsv1.Deployment](r) {
		names = append(names, d.Name)
		if *d.Spec.Replicas != 1 {
			t.Errorf("%s: %d replicas", d.Name, *d.Spec.Replicas)
		}
	}
	if want := []string{"sluice-api", "sluice-serve", "sluice-worker-all"}; !slices.Equal(names, want) {
		t.Errorf("deployments %v, want %v", names, want)
	}
	if c := container(named[*appsv1.Deployment](t, r, "sluice-worker-all")); !slices.Contains(c.Args, "--queues=control,io,cpu") {
		t.Errorf("worker args %v", c.Args)
	}
	if n := len(get[*kedav1alpha1.ScaledObject](r)) + len(get[*autoscalingv2.HorizontalPodAutoscaler](r)) +
		len(get[*monitoringv1.ServiceMonitor](r)) + len(get[*policyv1.PodDisruptionBudget](r)); n != 0 {
		t.Errorf("%d autoscaling, monitoring or disruption objects in the minimal install", n)
	}
	sec := named[*corev1.Secret](t, r, "sluice-secrets")
	if sec.StringData["AWS_ACCESS_KEY_ID"] != "sluice" || sec.StringData["AWS_SECRET_ACCESS_KEY"] == "" {
		t.Errorf("S3 keys not in the Secret: %v", sortedKeys(sec.StringData))
	}
	env := envOf(container(named[*appsv1.Deployment](t, r, "sluice-serve")))
	if env["SLUICE_S3_ENDPOINT"].Value != "http://minio:9000" || env["SLUICE_S3_PATH_STYLE"].Value != "true" ||
		env["AWS_SECRET_ACCESS_KEY"].ValueFrom.SecretKeyRef.Name != "sluice-secrets" {
		t.Errorf("serve's S3 environment %+v", env)
	}
}

// TestTemporalCloud: a client certificate and an API key reach the
// workers and KEDA's scaler; existing Secrets are referenced, not copied.
func TestTemporalCloud(t *testing.T) {
	r := lintAndRender(t, "", map[string]any{
		"temporal": map[string]any{
			"address": "prod.a1b2c.tmprl.cloud:7233", "namespace": "prod.a1b2c",
			"tls":    map[string]any{"existingSecret": "temporal-client", "serverName": "prod.a1b2c.tmprl.cloud"},
			"apiKey": map[string]any{"existingSecret": "temporal-key"},
		},
		"postgresql": map[string]any{"existingSecret": "pg", "existingSecretKey": "url"},
		"apiToken":   map[string]any{"existingSecret": "api-token", "existingSecretKey": "token"},
		"lake":       map[string]any{"s3": map[string]any{"existingSecret": "s3-keys"}},
	})
	c := container(named[*appsv1.Deployment](t, r, "sluice-worker-io"))
	env := envOf(c)
	for k, v := range map[string]string{
		"SLUICE_TEMPORAL_TLS_CERT": "/etc/sluice/temporal-tls/tls.crt",
		"SLUICE_TEMPORAL_TLS_KEY":  "/etc/sluice/temporal-tls/tls.key", "SLUICE_TEMPORAL_TLS_CA": "/etc/sluice/temporal-tls/ca.crt",
		"SLUICE_TEMPORAL_TLS_SERVER_NAME": "prod.a1b2c.tmprl.cloud", "SLUICE_TEMPORAL_NAMESPACE": "prod.a1b2c",
	} {
		if env[k].Value != v {
			t.Errorf("%s = %q, want %q", k, env[k].Value, v)
		}
	}
	for k, ref := range map[string]string{
		"SLUICE_TEMPORAL_API_KEY": "temporal-key/api-key", "SLUICE_DATABASE_URL": "pg/url",
		"AWS_ACCESS_KEY_ID": "s3-keys/AWS_ACCESS_KEY_ID",
	} {
		s := env[k].ValueFrom
		if s == nil || s.SecretKeyRef == nil || s.SecretKeyRef.Name+"/"+s.SecretKeyRef.Key != ref {
			t.Errorf("%s from %+v, want secret %s", k, s, ref)
		}
	}
	if tok := envOf(container(named[*appsv1.Deployment](t, r, "sluice-api")))["SLUICE_API_TOKEN"].ValueFrom.SecretKeyRef; tok.Name != "api-token" || tok.Key != "token" {
		t.Errorf("API token from %+v", tok)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == "temporal-tls" && m.MountPath == "/etc/sluice/temporal-tls" && m.ReadOnly
	}) {
		t.Errorf("no certificate mount: %+v", c.VolumeMounts)
	}
	sec := named[*corev1.Secret](t, r, "sluice-secrets")
	if len(sec.StringData) != 0 {
		t.Errorf("the chart's Secret copies existing secrets: %v", sortedKeys(sec.StringData))
	}
	ta := named[*kedav1alpha1.TriggerAuthentication](t, r, "sluice-temporal")
	var params []string
	for _, s := range ta.Spec.SecretTargetRef {
		params = append(params, s.Parameter+"="+s.Name+"/"+s.Key)
	}
	if want := []string{"cert=temporal-client/tls.crt", "key=temporal-client/tls.key", "ca=temporal-client/ca.crt",
		"apiKey=temporal-key/api-key"}; !slices.Equal(params, want) {
		t.Errorf("TriggerAuthentication %v, want %v", params, want)
	}
	for _, so := range get[*kedav1alpha1.ScaledObject](r) {
		tr := so.Spec.Triggers[0]
		if tr.AuthenticationRef == nil || tr.AuthenticationRef.Name != "sluice-temporal" ||
			tr.Metadata["enableTLS"] != "true" || tr.Metadata["tlsServerName"] != "prod.a1b2c.tmprl.cloud" {
			t.Errorf("%s: trigger %+v", so.Name, tr)
		}
	}
}

// TestServeRequestRate: the optional request-rate metric joins CPU.
func TestServeRequestRate(t *testing.T) {
	r := lintAndRender(t, "", map[string]any{"serve": map[string]any{
		"autoscaling": map[string]any{"requestRate": map[string]any{"enabled": true, "averageValue": "1500"}},
		"routes":      "churn:champion=90,challenger=10",
	}})
	hpa := named[*autoscalingv2.HorizontalPodAutoscaler](t, r, "sluice-serve")
	if len(hpa.Spec.Metrics) != 2 || hpa.Spec.Metrics[1].Type != autoscalingv2.PodsMetricSourceType ||
		hpa.Spec.Metrics[1].Pods.Metric.Name != "sluice_serving_requests_per_second" ||
		hpa.Spec.Metrics[1].Pods.Target.AverageValue.Cmp(resource.MustParse("1500")) != 0 {
		t.Errorf("HPA metrics %+v", hpa.Spec.Metrics)
	}
	if env := envOf(container(named[*appsv1.Deployment](t, r, "sluice-serve"))); env["SLUICE_SERVE_ROUTES"].Value != "churn:champion=90,challenger=10" {
		t.Errorf("routes %+v", env["SLUICE_SERVE_ROUTES"])
	}
}

// TestRefusedValues: values that cannot work fail the render with a
// message that says what to set.
func TestRefusedValues(t *testing.T) {
	c := loadChart(t)
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"no database", map[string]any{"postgresql": map[string]any{"url": ""}}, "set postgresql.url or postgresql.existingSecret"},
		{"local lake", map[string]any{"lake": map[string]any{"url": "file:///data"}}, "lake.url must be s3://"},
		{"unknown queue", map[string]any{"workers": map[string]any{"io": map[string]any{"queues": []any{"io", "tpu"}}}}, `"tpu" is not a queue`},
		{"gpu queue without gpus", map[string]any{"workers": map[string]any{"gpu": map[string]any{"enabled": true, "gpus": 0}}}, "set gpus"},
		{"half an S3 key", map[string]any{"lake": map[string]any{"s3": map[string]any{"accessKeyId": "AKIA"}}}, "without lake.s3.secretAccessKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := chartutil.CoalesceTables(tc.vals, map[string]any{})
			_, err := render(t, c, vals)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// checkConsistent checks what holds for every values file: selectors find
// their pods, autoscalers and budgets their Deployments, secrets are the
// chart's or named in values, pods are locked down, and every flag and
// SLUICE_* variable is one the sluice binary reads, every KEDA trigger
// setting one the pinned KEDA's Temporal scaler reads.
func checkConsistent(t *testing.T, r rendered) {
	t.Helper()
	deploys := get[*appsv1.Deployment](r)
	byName := map[string]*appsv1.Deployment{}
	var podLabels []labels.Set
	for _, d := range deploys {
		byName[d.Name] = d
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: selector %v does not match its pods' labels %v", d.Name, d.Spec.Selector, d.Spec.Template.Labels)
		}
		podLabels = append(podLabels, d.Spec.Template.Labels)
		checkPod(t, d.Name, d.Spec.Template.Spec)
	}
	for _, j := range get[*batchv1.Job](r) {
		checkPod(t, j.Name, j.Spec.Template.Spec)
	}
	matchesOne := func(sel labels.Selector) int {
		n := 0
		for _, l := range podLabels {
			if sel.Matches(l) {
				n++
			}
		}
		return n
	}
	for _, s := range get[*corev1.Service](r) {
		if n := matchesOne(labels.SelectorFromSet(s.Spec.Selector)); n != 1 {
			t.Errorf("service %s selects the pods of %d deployments", s.Name, n)
		}
		for _, p := range s.Spec.Ports {
			if !namedPortExists(byName, s.Spec.Selector, p.TargetPort.StrVal) {
				t.Errorf("service %s: target port %q is no container port of its pods", s.Name, p.TargetPort.StrVal)
			}
		}
	}
	for _, p := range get[*policyv1.PodDisruptionBudget](r) {
		sel, _ := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if n := matchesOne(sel); n != 1 {
			t.Errorf("PDB %s selects the pods of %d deployments", p.Name, n)
		}
	}
	for _, h := range get[*autoscalingv2.HorizontalPodAutoscaler](r) {
		if byName[h.Spec.ScaleTargetRef.Name] == nil {
			t.Errorf("HPA %s scales a missing %s", h.Name, h.Spec.ScaleTargetRef.Name)
		}
	}
	known := kedaTemporalSettings(t)
	auths := map[string]bool{}
	for _, a := range get[*kedav1alpha1.TriggerAuthentication](r) {
		auths[a.Name] = true
		for _, s := range a.Spec.SecretTargetRef {
			if !known["auth:"+s.Parameter] {
				t.Errorf("TriggerAuthentication %s: KEDA's Temporal scaler reads no auth parameter %q", a.Name, s.Parameter)
			}
		}
	}
	for _, so := range get[*kedav1alpha1.ScaledObject](r) {
		if byName[so.Spec.ScaleTargetRef.Name] == nil {
			t.Errorf("ScaledObject %s scales a missing %s", so.Name, so.Spec.ScaleTargetRef.Name)
		}
		for _, tr := range so.Spec.Triggers {
			for k := range tr.Metadata {
				if !known["meta:"+k] {
					t.Errorf("ScaledObject %s: KEDA's Temporal scaler reads no setting %q", so.Name, k)
				}
			}
			if tr.AuthenticationRef != nil && !auths[tr.AuthenticationRef.Name] {
				t.Errorf("ScaledObject %s: TriggerAuthentication %s is not rendered", so.Name, tr.AuthenticationRef.Name)
			}
		}
	}
	secrets := map[string]*corev1.Secret{}
	for _, s := range get[*corev1.Secret](r) {
		secrets[s.Name] = s
	}
	flags, envs := sluiceInputs(t)
	for _, d := range deploys {
		for _, c := range d.Spec.Template.Spec.Containers {
			checkContainer(t, d.Name, c, secrets, flags, envs)
		}
	}
	for _, j := range get[*batchv1.Job](r) {
		for _, c := range j.Spec.Template.Spec.Containers {
			checkContainer(t, j.Name, c, secrets, flags, envs)
		}
	}
}

func checkPod(t *testing.T, name string, spec corev1.PodSpec) {
	t.Helper()
	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: pod may run as root", name)
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s/%s: container is not locked down: %+v", name, c.Name, sc)
		}
		if !strings.HasPrefix(c.Image, "ghcr.io/sluice-ml/sluice:") {
			t.Errorf("%s/%s: image %s", name, c.Name, c.Image)
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s/%s: no memory request or limit", name, c.Name)
		}
	}
}

var flagArg = regexp.MustCompile(`^--([a-z0-9-]+)=`)

func checkContainer(t *testing.T, owner string, c corev1.Container, secrets map[string]*corev1.Secret,
	flags, envs map[string]bool) {
	t.Helper()
	if len(c.Args) == 0 {
		t.Errorf("%s: no subcommand", owner)
		return
	}
	for _, a := range c.Args[1:] {
		m := flagArg.FindStringSubmatch(a)
		if m == nil || !flags[m[1]] {
			t.Errorf("%s: argument %q is no flag of sluice", owner, a)
		}
	}
	for _, e := range c.Env {
		if (strings.HasPrefix(e.Name, "SLUICE_") && !envs[e.Name]) || e.Name == "" {
			t.Errorf("%s: sluice reads no %s", owner, e.Name)
		}
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if s, ours := secrets[ref.Name]; ours {
			if _, ok := s.StringData[ref.Key]; !ok {
				t.Errorf("%s: %s reads key %s, which secret %s lacks", owner, e.Name, ref.Key, ref.Name)
			}
		}
	}
	mounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = true
	}
	if !mounts["/tmp"] {
		t.Errorf("%s: no writable /tmp under a read-only root", owner)
	}
}

func namedPortExists(deploys map[string]*appsv1.Deployment, selector map[string]string, port string) bool {
	for _, d := range deploys {
		if !labels.SelectorFromSet(selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == port {
					return true
				}
			}
		}
	}
	return false
}

// sluiceInputs reads the flag names and SLUICE_* variables the sluice
// binary defines, from its source.
func sluiceInputs(t *testing.T) (flags, envs map[string]bool) {
	t.Helper()
	files, err := filepath.Glob("../../cmd/sluice/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("reading cmd/sluice: %v", err)
	}
	flags, envs = map[string]bool{}, map[string]bool{}
	flagDef := regexp.MustCompile(`(?:stringVar|intVar|boolVar|durationVar|StringVar|IntVar|BoolVar|DurationVar|Float64Var)\(&[^,]+, "([a-z0-9-]+)"(?:, "(SLUICE_[A-Z0-9_]+)")?`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range flagDef.FindAllSubmatch(src, -1) {
			flags[string(m[1])] = true
			if len(m[2]) > 0 {
				envs[string(m[2])] = true
			}
		}
	}
	if !flags["queues"] || !envs["SLUICE_DATABASE_URL"] {
		t.Fatalf("read no flags from cmd/sluice (found %d)", len(flags))
	}
	return flags, envs
}

// kedaTemporalSettings reads the trigger metadata and auth parameters of
// the pinned KEDA's Temporal scaler from its source in the module cache.
func kedaTemporalSettings(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/kedacore/keda/v2").Output()
	if err != nil {
		t.Fatalf("locating KEDA's source: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "pkg/scalers/temporal_scaler.go"))
	if err != nil {
		t.Fatal(err)
	}
	tag := regexp.MustCompile(`keda:"name=(\w+),\s*order=(\w+)`)
	known := map[string]bool{}
	for _, m := range tag.FindAllSubmatch(src, -1) {
		switch string(m[2]) {
		case "triggerMetadata":
			known["meta:"+string(m[1])] = true
		case "authParams":
			known["auth:"+string(m[1])] = true
		}
	}
	if !known["meta:taskQueue"] || !known["auth:apiKey"] {
		t.Fatalf("read no settings from KEDA's Temporal scaler: %v", known)
	}
	return known
}

func container(d *appsv1.Deployment) corev1.Container { return d.Spec.Template.Spec.Containers[0] }

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestValuesDocumented: every top-level setting in values.yaml has a
// comment above it or as its first line.
func TestValuesDocumented(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var vals map[string]any
	if err := yaml.Unmarshal(src, &vals); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	isComment := func(i int) bool {
		return i >= 0 && i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "#")
	}
	seen := 0
	for i, l := range lines {
		if l == "" || l[0] == ' ' || l[0] == '#' {
			continue
		}
		key := strings.TrimSuffix(strings.Fields(l)[0], ":")
		if _, ok := vals[key]; !ok {
			continue
		}
		seen++
		if !isComment(i-1) && !isComment(i+1) {
			t.Errorf("values.yaml:%d: %s is not documented", i+1, key)
		}
	}
	if seen != len(vals) {
		t.Errorf("checked %d of %d top-level settings", seen, len(vals))
	}
}
