package cloud_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"

	"github.com/gotribes/tribes/membership/cloud"
)

// The Kubernetes provider asks the API server for the pods of a namespace and keeps the
// running ones. Here a local HTTP server plays the API server (in a cluster the provider
// finds it, the service account's token and CA in the environment and the files Tomcat
// reads). A token file is required even where the API server asks for none.
func ExampleNewKubernetes() {
	const podList = `{"kind": "PodList", "items": [
	  {"metadata": {"name": "web-0", "uid": "6f1c2a4e-0000-4000-8000-000000000001", "creationTimestamp": "2026-01-02T03:04:05Z"},
	   "status": {"phase": "Running", "podIP": "10.0.0.1"}},
	  {"metadata": {"name": "web-1", "uid": "6f1c2a4e-0000-4000-8000-000000000002", "creationTimestamp": "2026-01-02T03:04:06Z"},
	   "status": {"phase": "Pending"}}]}`
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("GET", r.URL.Path, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, podList)
	}))
	defer api.Close()
	dir, err := os.MkdirTemp("", "k8s")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("secret-token"), 0o600); err != nil {
		panic(err)
	}

	u, _ := url.Parse(api.URL)
	k, err := cloud.NewKubernetes(cloud.Config{
		LookupEnv: cloud.NoEnv, // ignore KUBERNETES_SERVICE_HOST and the like
		Kubernetes: cloud.KubernetesConfig{Protocol: "http", Host: u.Hostname(), Port: u.Port(),
			Namespace: "shop", TokenFile: token},
	})
	if err != nil {
		panic(err)
	}
	defer k.CloseIdleConnections()
	pods, err := k.Pods(context.Background())
	if err != nil {
		panic(err)
	}
	for _, p := range pods.Running {
		fmt.Println("running:", p.Name, p.IP)
	}
	fmt.Println("skipped:", pods.Skipped)
	// Output:
	// GET /api/v1/namespaces/shop/pods Bearer secret-token
	// running: web-0 10.0.0.1
	// skipped: 1
}
