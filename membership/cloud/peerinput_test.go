package cloud

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
)

// maxErrorText bounds the text of an error about a source's answer: it names what was
// wrong, it does not carry the answer.
const maxErrorText = 512

// TestPodListErrorsQuoteNoDocument: a pod list that is not a JSON object with an "items"
// array failed with an error that quoted the token found instead, whole: a string of
// MaxResponseBytes (32 MiB) from the API server went into the error, logged and handed to
// the channel's health function on every heartbeat. The error now names the token's kind
// and holds at most a short prefix of it.
func TestPodListErrorsQuoteNoDocument(t *testing.T) {
	big := strings.Repeat("A", 1<<20)
	for name, doc := range map[string]string{
		"a string":               `"` + big + `"`,
		"items a string":         `{"items":"` + big + `"}`,
		"items a control string": `{"items":"` + strings.Repeat("\x1b[2J", 1<<16) + `"}`,
		"a number":               strings.Repeat("9", 1<<16),
	} {
		_, err := DecodePodList(strings.NewReader(doc), DecodeLimits{})
		if !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: err = %.200v, want ErrBadResponse", name, err)
			continue
		}
		if msg := err.Error(); len(msg) > maxErrorText || strings.ContainsRune(msg, '\x1b') {
			t.Errorf("%s: error of %d bytes (control characters: %v), want at most %d and none",
				name, len(msg), strings.ContainsRune(msg, '\x1b'), maxErrorText)
		}
	}
}

// TestKubernetesErrorQuotesNoStatusLine: an API server's answer other than 200 failed the
// fetch with an error that held its status line whole, up to the HTTP client's header
// limit (10 MiB by default) of bytes the server chose: a long reason phrase with its
// control characters, or a malformed line (quoted by the HTTP client). The error now
// holds a short prefix of it, control characters replaced. (The line is 320 KiB, under
// MaxResponseHeaderBytes, the bound that replaced the 10 MiB.)
func TestKubernetesErrorQuotesNoStatusLine(t *testing.T) {
	junk := strings.Repeat("\x1b[2JA", 1<<16)
	for name, line := range map[string]string{
		"long reason":      "HTTP/1.1 503 " + junk,
		"malformed status": "HTTP/1.1 5" + junk,
		"malformed line":   junk,
	} {
		t.Run(name, func(t *testing.T) {
			err := fetchAnswer(t, line+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			if !errors.Is(err, ErrFetch) {
				t.Fatalf("err = %.200v, want ErrFetch", err)
			}
			if msg := err.Error(); len(msg) > maxErrorText || strings.ContainsRune(msg, '\x1b') {
				t.Fatalf("error of %d bytes (control characters: %v): %.200q; want at most %d bytes and none",
					len(msg), strings.ContainsRune(msg, '\x1b'), msg, maxErrorText)
			}
			if name == "long reason" && !strings.Contains(err.Error(), "503") {
				t.Fatalf("error %.200q does not name the status code", err)
			}
		})
	}
}

// fetchAnswer is the error of a Kubernetes provider's fetch from a server that answers
// its request with answer.
func fetchAnswer(t *testing.T, answer string) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = c.Write([]byte(answer))
	}()
	defer func() { ln.Close(); <-served }()
	host, port, _ := strings.Cut(ln.Addr().String(), ":")
	// A status line of over a MiB is read within ReadTimeout: Tomcat's 1 s is too short
	// for it under -race on a loaded machine.
	k, err := NewKubernetes(Config{LookupEnv: NoEnv, LocalIP: "127.0.0.1", ReadTimeout: testutil.WaitLimit,
		Kubernetes: KubernetesConfig{Protocol: "http", Host: host, Port: port, Namespace: "x",
			TokenFile: newAPIServer(t, nil).tokFile}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	_, err = k.Fetch(context.Background())
	return err
}

// TestKubernetesFollowsNoRedirectToAnotherProtocol: the HTTP client followed the API
// server's redirects, and Go's client sends the Authorization header again to the same
// host name whatever the scheme and port: an answer 307 to
// http://the-same-host:other-port/ had the service account's token sent there in clear.
// A redirect to another protocol is not followed, as Java's HttpURLConnection (Tomcat's)
// does not follow one: the fetch fails with ErrFetch naming where it was sent, and
// nothing reaches the other address.
func TestKubernetesFollowsNoRedirectToAnotherProtocol(t *testing.T) {
	api := newAPIServer(t, nil) // its CA (httptest's) and token files
	var leaked atomic.Pointer[string]
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get("Authorization")
		leaked.Store(&a)
		_, _ = w.Write(recorded(t))
	}))
	defer plain.Close()
	redirecting := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	cfg := api.config()
	cfg.Kubernetes.Host, cfg.Kubernetes.Port, _ = strings.Cut(strings.TrimPrefix(redirecting.URL, "https://"), ":")
	k, err := NewKubernetes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	_, err = k.Fetch(context.Background())
	if a := leaked.Load(); a != nil {
		t.Fatalf("the redirect was followed over plain HTTP, with the header Authorization %q", *a)
	}
	if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), plain.URL+"/api/") {
		t.Fatalf("err = %v, want ErrFetch naming the redirect's address", err)
	}
}

// TestKubernetesFollowsARedirectThatKeepsTheProtocol: the provider followed no redirect,
// where Tomcat's connection follows one that keeps the protocol: an API server behind a
// proxy that sends the pod list request to another port of the same host over HTTPS
// (307) failed every fetch. Such a redirect is now followed, the token sent again (the
// same host, over TLS trusting the same CA), and the pods listed there are returned.
func TestKubernetesFollowsARedirectThatKeepsTheProtocol(t *testing.T) {
	api := newAPIServer(t, recorded(t))
	redirecting := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, api.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	cfg := api.config()
	cfg.Kubernetes.Host, cfg.Kubernetes.Port, _ = strings.Cut(strings.TrimPrefix(redirecting.URL, "https://"), ":")
	k, err := NewKubernetes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	insts, err := k.Fetch(context.Background())
	if err != nil {
		t.Fatalf("fetch through a redirect that keeps HTTPS: %v", err)
	}
	if len(insts) != 2 || api.requests.Load() != 1 {
		t.Fatalf("%d instances, %d requests at the API server; want the recorded list's 2 pods, from 1 request", len(insts), api.requests.Load())
	}
}

// TestKubernetesRedirectLoopEnds: a server that redirects the request to itself for
// ever fails the fetch with ErrFetch at its tenth redirect, as Go's HTTP client stops.
func TestKubernetesRedirectLoopEnds(t *testing.T) {
	api := newAPIServer(t, nil)
	var n atomic.Int64
	looping := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Redirect(w, r, r.URL.RequestURI(), http.StatusFound)
	}))
	defer looping.Close()
	cfg := api.config()
	cfg.Kubernetes.Host, cfg.Kubernetes.Port, _ = strings.Cut(strings.TrimPrefix(looping.URL, "https://"), ":")
	k, err := NewKubernetes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	if _, err := k.Fetch(context.Background()); !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("err = %v, want ErrFetch naming the redirects", err)
	}
	if got := n.Load(); got != 10 {
		t.Fatalf("%d requests, want 10 (the tenth redirect not followed)", got)
	}
}
