package cloudinterop_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/freeport"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/cloud"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testutil.IgnoreGnetPool()...) }

// The recorded pod list's namespace and pods (membership/cloud/testdata/README.md).
const (
	namespace              = "tomcat-in-the-cloud"
	javaPodUID, javaPodIP  = "29cc7dec-cc8d-11e8-943e-02ec8e61afcf", "10.130.140.153"
	goPodUID, goPodIP      = "12cd7ae2-cc8d-11e8-943e-02ec8e61afcf", "10.129.123.39"
	javaAddr, goAddr       = "127.0.0.2", "127.0.0.1"
	token                  = "interop-test-token"
	javaHeartbeatAndExpiry = 5*time.Second + cloud.DefaultExpirationTime
	javaSeesWithin         = javaHeartbeatAndExpiry + testutil.WaitLimit
	recordedPodList        = "../../membership/cloud/testdata/openshift-podlist.json"
	shortExpiry            = 500 * time.Millisecond
	goHeartbeat            = 200 * time.Millisecond
)

// apiServer stands in for the Kubernetes API: HTTPS, bearer token, the pod list of one
// namespace.
type apiServer struct {
	*httptest.Server
	doc             atomic.Pointer[string]
	caFile, tokFile string
	host, port      string
}

func newAPIServer(t *testing.T, doc string) *apiServer {
	t.Helper()
	a := &apiServer{}
	a.doc.Store(&doc)
	a.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/api/v1/namespaces/"+namespace+"/pods" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(*a.doc.Load()))
	}))
	t.Cleanup(a.Close)
	dir := t.TempDir()
	a.caFile, a.tokFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	write(t, a.caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Certificate().Raw})))
	write(t, a.tokFile, token)
	a.host, a.port, _ = strings.Cut(strings.TrimPrefix(a.URL, "https://"), ":")
	return a
}

func (a *apiServer) setDoc(s string) { a.doc.Store(&s) }

func write(t *testing.T, name, s string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// podList is the recorded list with the Java pod at javaAddr and the Go pod at goAddr;
// javaPhase and goPhase replace the pods' phases.
func podList(t *testing.T, javaPhase, goPhase string) string {
	t.Helper()
	b, err := os.ReadFile(recordedPodList)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `"podIP": "`+javaPodIP+`"`, `"podIP": "`+javaAddr+`"`, 1)
	s = strings.Replace(s, `"podIP": "`+goPodIP+`"`, `"podIP": "`+goAddr+`"`, 1)
	// The Java pod is the first item, the Go pod the second, each with one phase.
	const running = `"phase": "Running"`
	i := strings.Index(s, running)
	j := strings.Index(s[i+1:], running) + i + 1
	return s[:i] + `"phase": "` + javaPhase + `"` + s[i+len(running):j] + `"phase": "` + goPhase + `"` + s[j+len(running):]
}

// freePort returns a TCP port free on both loopback addresses: every node of a cloud
// cluster listens on the same port. It is reserved until the test ends (internal/freeport).
func freePort(t *testing.T) int {
	t.Helper()
	ports, release, err := freeport.Pick(1, freeport.TCP, goAddr, javaAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return ports[0]
}

func md5Hex(s string) string {
	d := md5.Sum([]byte(s))
	return hex.EncodeToString(d[:])
}

// startJava runs the Java peer with Tomcat's CloudMembershipService and its Kubernetes
// provider, configured by environment variables as in a pod. Its own address
// (InetAddress.getLocalHost) is javaAddr: the JVM reads host names from a hosts file
// that maps this machine's name there.
func startJava(t *testing.T, api *apiServer, port int) *javapeer.Peer {
	t.Helper()
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	hosts := filepath.Join(t.TempDir(), "hosts")
	write(t, hosts, javaAddr+" "+hostname+"\n")
	return javapeer.StartWith(t, javapeer.Options{
		Env: []string{
			"KUBERNETES_SERVICE_HOST=" + api.host, "KUBERNETES_SERVICE_PORT=" + api.port,
			"KUBERNETES_NAMESPACE=" + namespace, "KUBERNETES_CA_CERTIFICATE_FILE=" + api.caFile,
			"SA_TOKEN_FILE=" + api.tokFile,
		},
		JVMArgs: []string{"-Djdk.net.hosts.file=" + hosts},
	}, "--bind", javaAddr, "--port", strconv.Itoa(port), "--autobind", "1", "--cloud-membership", "kubernetes")
}

// startGo runs a Go node with cloud membership over the same API server, through
// node.Config.Cloud (which takes the node's id from the pod list).
func startGo(t *testing.T, api *apiServer, port int) *channel.Channel {
	t.Helper()
	tcfg := nio.DefaultConfig()
	tcfg.Address, tcfg.Port, tcfg.AutoBind = goAddr, port, 1
	ch, err := node.New(node.Config{
		Transport: &tcfg,
		Cloud: &cloud.Config{LookupEnv: cloud.NoEnv, LocalIP: goAddr,
			Kubernetes: cloud.KubernetesConfig{Host: api.host, Port: api.port, Namespace: namespace,
				CACertFile: api.caFile, TokenFile: api.tokFile}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
		defer cancel()
		_ = ch.Stop(ctx, channel.SvcAll)
	})
	return ch
}

// TestKubernetesJavaAndGo: a Java node running Tomcat's CloudMembershipService and a Go
// node running membership/cloud, both listing the pods of the same (recorded) pod list,
// see each other as members with the same ids (the MD5 digests of their pods' uids, the
// Go node's advertised by itself, the Java node's computed by Tomcat), exchange messages
// that each side accepts as a member's, and each drops the other once its pod stops
// running.
func TestKubernetesJavaAndGo(t *testing.T) {
	javapeer.Skip(t)
	api := newAPIServer(t, podList(t, "Running", "Running"))
	port := freePort(t)
	jp := startJava(t, api, port)

	// Tomcat replaced its initial (zero) id by the digest of its pod's uid.
	if got, want := hex.EncodeToString(jp.ID[:]), md5Hex(javaPodUID); got != want {
		t.Fatalf("Java's own id %s, want md5(uid of its pod) %s", got, want)
	}
	ch := startGo(t, api, port)
	goID := ch.LocalMember().UniqueID.String()
	if got, want := goID, md5Hex(goPodUID); got != want {
		t.Fatalf("Go's own id %s, want md5(uid of its pod) %s", got, want)
	}

	// Go lists Java with the id Java gave itself.
	var javaMember channel.Member
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		ms := ch.Members()
		if len(ms) != 1 {
			return fmt.Errorf("Go's members %v", ms)
		}
		javaMember = ms[0]
		return nil
	})
	if javaMember.IP().String() != javaAddr || int(javaMember.Port) != port || javaMember.UniqueID != jp.ID {
		t.Fatalf("Go lists Java as %v, Java is %s", javaMember, jp.Member())
	}

	// Java lists Go with the id Go advertises, and only Go.
	ctx, cancel := context.WithTimeout(context.Background(), javaSeesWithin)
	defer cancel()
	testutil.Eventually(t, javaSeesWithin, func() error {
		ms, err := jp.Members(ctx)
		if err != nil {
			return err
		}
		if len(ms) != 1 || ms[0].Host != goAddr || ms[0].Port != port || ms[0].ID != goID {
			return fmt.Errorf("Java's members %+v, want %s:%d:%s", ms, goAddr, port, goID)
		}
		return nil
	})

	// Go to Java: Java reports the sender with Go's id.
	got := make(chan *channel.Message, 1)
	ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		select {
		case got <- &channel.Message{Source: m.Source, Data: append([]byte(nil), m.Data...)}:
		default:
		}
		return nil
	}))
	if err := ch.Send(ctx, ch.Members(), []byte("hello from go"), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatalf("send to Java: %v", err)
	}
	ev := jp.WaitEvent(t, testutil.WaitLimit, javapeer.IsMessage)
	if ev.From == nil || ev.From.ID != goID || ev.From.Host != goAddr {
		t.Errorf("Java got a message from %+v, want id %s", ev.From, goID)
	}

	// Java to Go: the Go channel delivers it (its sender check passes: Java is a member).
	res, err := jp.Send(ctx, []string{fmt.Sprintf("%s:%d:%s", goAddr, port, goID)}, 1, 20, 3, "hello-from-java")
	if err != nil || res.Failed != 0 {
		t.Fatalf("Java's send: %+v, %v", res, err)
	}
	select {
	case m := <-got:
		if m.Source.UniqueID != jp.ID || !strings.HasPrefix(string(m.Data), "hello-from-java") {
			t.Errorf("Go got %q from %v", m.Data, m.Source)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Go did not deliver Java's message")
	}
	if n := ch.Stats().NonMemberDropped; n != 0 {
		t.Errorf("%d messages dropped as a non-member's", n)
	}

	// The Go pod stops running: Java drops the Go member (after its heartbeat and
	// expiration time).
	api.setDoc(podList(t, "Running", "Succeeded"))
	jp.WaitEvent(t, javaSeesWithin, func(e javapeer.Event) bool {
		return e.Event == "memberDisappeared" && e.Member != nil && e.Member.ID == goID
	})

	// The Java pod stops running: Go drops the Java member (after its heartbeat, 5 s,
	// and the expiration time).
	api.setDoc(podList(t, "Failed", "Succeeded"))
	testutil.Eventually(t, javaSeesWithin, func() error {
		if ms := ch.Members(); len(ms) != 0 {
			return fmt.Errorf("Go's members %v", ms)
		}
		return nil
	})
}
