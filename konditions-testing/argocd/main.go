// Command argocd-health prints the health Argo CD gives one object under the
// resource customizations of an argocd-cm ConfigMap: Argo CD's own settings
// code reads the ConfigMap, gitops-engine's GetResourceHealth (what the
// application controller calls) evaluates the object, running the Lua health
// script. It reads {"configMap": "<YAML>", "object": {...}} as JSON on stdin
// and writes {"status": ..., "message": ...} on stdout (both empty when Argo
// CD has no health for the kind). konditions-testing builds it from this
// pinned module.
//
// Argo CD is pinned at v3.2.12: v3.3 to v3.5 require gitops-engine versions
// the module proxy does not serve (their go.mod replaces it with a
// subdirectory), and v3.6 needs Go 1.27.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
	gitopshealth "github.com/argoproj/gitops-engine/pkg/health"
	log "github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

type input struct {
	ConfigMap string          `json:"configMap"`
	Object    json.RawMessage `json:"object"`
}

type health struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type result struct {
	health
	// Script is what the kind's Lua script alone says (Argo CD runs it
	// unless the object is being deleted: then GetResourceHealth says
	// "Pending deletion" first).
	Script *health `json:"script"`
}

func main() {
	log.SetLevel(log.WarnLevel)
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fail("the input is not {configMap, object}: %v", err)
	}
	cm := &corev1.ConfigMap{}
	if err := yaml.Unmarshal([]byte(in.ConfigMap), cm); err != nil {
		fail("the configMap is not a ConfigMap: %v", err)
	}
	// Argo CD watches only ConfigMaps labelled as its own; the argocd-cm a
	// snippet is merged into has the label.
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels["app.kubernetes.io/part-of"] = "argocd"
	ns := cm.Namespace
	if ns == "" {
		ns = "argocd"
		cm.Namespace = ns
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Name: "argocd-secret", Namespace: ns,
		Labels: map[string]string{"app.kubernetes.io/part-of": "argocd"},
	}}
	ctx := context.Background()
	mgr := settings.NewSettingsManager(ctx, fake.NewClientset(cm, secret), ns)
	overrides, err := mgr.GetResourceOverrides()
	if err != nil {
		fail("GetResourceOverrides: %v", err)
	}
	object := &unstructured.Unstructured{}
	if err := object.UnmarshalJSON(in.Object); err != nil {
		fail("the object is not a Kubernetes object: %v", err)
	}
	status, err := gitopshealth.GetResourceHealth(object, lua.ResourceHealthOverrides(overrides))
	if err != nil {
		fail("GetResourceHealth: %v", err)
	}
	out := result{}
	if status != nil {
		out.health = health{Status: string(status.Status), Message: status.Message}
	}
	script, err := lua.ResourceHealthOverrides(overrides).GetResourceHealth(object)
	if err != nil {
		fail("the health script: %v", err)
	}
	if script != nil {
		out.Script = &health{Status: string(script.Status), Message: script.Message}
	}
	encoded, _ := json.Marshal(out)
	fmt.Println(string(encoded))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "argocd-health: "+format+"\n", args...)
	os.Exit(1)
}
