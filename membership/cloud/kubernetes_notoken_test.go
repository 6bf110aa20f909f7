package cloud

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// A user running kubectl proxy (the API on loopback over plain HTTP, the proxy
// authenticating) has no service account token: the provider refused to start without
// the token file. Over plain HTTP, without the default token file, it now asks without
// a token and lists the recorded pods; a token file named in the configuration must
// exist, and over HTTPS the default one too, as before.
func TestKubernetesPlainHTTPWithoutTokenFile(t *testing.T) {
	if _, err := os.Stat(DefaultTokenFile); err == nil {
		t.Skipf("%s exists on this machine (a pod): the test needs it missing", DefaultTokenFile)
	}
	doc := recorded(t)
	var auth atomic.Pointer[string]
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get("Authorization")
		auth.Store(&a)
		if r.URL.Path != "/api/v1/namespaces/"+recordedNamespace+"/pods" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	defer proxy.Close()
	host, port, _ := strings.Cut(strings.TrimPrefix(proxy.URL, "http://"), ":")
	cfg := func(protocol, tokenFile string) Config {
		return Config{LookupEnv: NoEnv, LocalIP: "127.0.0.1", Kubernetes: KubernetesConfig{
			Protocol: protocol, Host: host, Port: port, Namespace: recordedNamespace, TokenFile: tokenFile}}
	}

	k, err := NewKubernetes(cfg("http", ""))
	if err != nil {
		t.Fatalf("plain HTTP without the default token file: %v", err)
	}
	defer k.CloseIdleConnections()
	insts, err := k.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != 2 || insts[0].IP != pod1IP || insts[0].UniqueID != md5Of(pod1UID) ||
		insts[1].IP != pod2IP || insts[1].UniqueID != md5Of(pod2UID) {
		t.Fatalf("instances %+v", insts)
	}
	if a := auth.Load(); a == nil || *a != "" {
		t.Errorf("Authorization header %q, want none", *a)
	}

	missing := filepath.Join(t.TempDir(), "token")
	if _, err := NewKubernetes(cfg("http", missing)); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "token") {
		t.Errorf("plain HTTP, a token file named but missing: err = %v, want ErrConfig naming the token", err)
	}
	tls := cfg("https", "")
	tls.Kubernetes.CACertFile = newAPIServer(t, nil).caFile
	if _, err := NewKubernetes(tls); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "token") {
		t.Errorf("HTTPS without the default token file: err = %v, want ErrConfig naming the token", err)
	}
}
