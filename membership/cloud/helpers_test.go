package cloud

import (
	"crypto/md5"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The recorded document: a real PodList as an OpenShift API server returned it (see
// testdata/README.md). Its two pods run at these addresses, with these uids.
const (
	recordedNamespace = "tomcat-in-the-cloud"
	pod1UID, pod1IP   = "29cc7dec-cc8d-11e8-943e-02ec8e61afcf", "10.130.140.153"
	pod2UID, pod2IP   = "12cd7ae2-cc8d-11e8-943e-02ec8e61afcf", "10.129.123.39"
)

func recorded(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "openshift-podlist.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withAddresses is the recorded document with its pods moved to other addresses (the
// tests' nodes run on loopback addresses).
func withAddresses(doc []byte, ip1, ip2 string) []byte {
	s := strings.ReplaceAll(string(doc), `"podIP": "`+pod1IP+`"`, `"podIP": "`+ip1+`"`)
	return []byte(strings.ReplaceAll(s, `"podIP": "`+pod2IP+`"`, `"podIP": "`+ip2+`"`))
}

// editPods decodes doc, lets f change its items and encodes it again.
func editPods(t testing.TB, doc []byte, f func(items []any) []any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	m["items"] = f(m["items"].([]any))
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func md5Of(s string) [16]byte { return md5.Sum([]byte(s)) }

// apiServer is an HTTPS server that answers the pod list request of one namespace with
// a document the test can change, like the Kubernetes API server, checking the bearer
// token.
type apiServer struct {
	*httptest.Server
	doc      atomic.Pointer[[]byte]
	token    atomic.Pointer[string]
	requests atomic.Int64
	remotes  sync.Map // the clients' addresses: one per connection
	lastURL  atomic.Pointer[string]
	caFile   string
	tokFile  string
}

func newAPIServer(t *testing.T, doc []byte) *apiServer {
	t.Helper()
	a := &apiServer{}
	a.doc.Store(&doc)
	tok := "recorded-test-token"
	a.token.Store(&tok)
	a.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		a.remotes.Store(r.RemoteAddr, true)
		u := r.URL.String()
		a.lastURL.Store(&u)
		if r.Header.Get("Authorization") != "Bearer "+*a.token.Load() {
			http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/api/v1/namespaces/"+recordedNamespace+"/pods" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*a.doc.Load())
	}))
	t.Cleanup(a.Close)
	dir := t.TempDir()
	a.caFile = filepath.Join(dir, "ca.crt")
	a.tokFile = filepath.Join(dir, "token")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Certificate().Raw})
	if err := os.WriteFile(a.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *apiServer) setDoc(b []byte) { a.doc.Store(&b) }

// connections counts the connections requests came on.
func (a *apiServer) connections() int {
	n := 0
	a.remotes.Range(func(any, any) bool { n++; return true })
	return n
}

// config is a Kubernetes configuration for the server, ignoring the environment.
func (a *apiServer) config() Config {
	host, port, _ := strings.Cut(strings.TrimPrefix(a.URL, "https://"), ":")
	return Config{
		LookupEnv: NoEnv,
		LocalIP:   "127.0.0.1",
		Kubernetes: KubernetesConfig{Host: host, Port: port, Namespace: recordedNamespace,
			CACertFile: a.caFile, TokenFile: a.tokFile},
	}
}

// recorder is a MembershipListener that keeps the events.
type recorder struct {
	mu     sync.Mutex
	events []string // "+host:port:id" or "-host:port:id"
}

func (r *recorder) MemberAdded(m channel.Member)       { r.add("+" + m.String()) }
func (r *recorder) MemberDisappeared(m channel.Member) { r.add("-" + m.String()) }
func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// memberSet is the members' "host:port" and id, sorted.
func memberSet(ms []channel.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.String())
	}
	slices.Sort(out)
	return out
}

// waitMembers calls Heartbeat until the members are want.
func waitMembers(t *testing.T, s *Service, want ...channel.Member) {
	t.Helper()
	w := memberSet(want)
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		s.Heartbeat()
		if got := memberSet(s.Members()); !slices.Equal(got, w) {
			return &mismatch{got, w}
		}
		return nil
	})
}

type mismatch struct{ got, want []string }

func (m *mismatch) Error() string {
	return "members " + strings.Join(m.got, ",") + ", want " + strings.Join(m.want, ",")
}

var _ = time.Second
