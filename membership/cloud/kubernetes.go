package cloud

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Provider is a source of members: Fetch lists the instances the source knows now,
// this node included. The Service asks it on Start and on every heartbeat.
type Provider interface {
	Fetch(ctx context.Context) ([]Instance, error)
}

// Instance is one entry of a source's listing.
type Instance struct {
	// IP is the address as the source lists it; the entry whose IP equals the local
	// address (Config.LocalIP) is this node.
	IP string
	// UniqueID is the member id every node computes for this entry (see PodUniqueID,
	// AddressUniqueID).
	UniqueID [16]byte
	// Created is when the instance was created; zero if unknown (the member's alive
	// time is then -1, as Tomcat's DNS members').
	Created time.Time
}

// Kubernetes lists the running pods of a namespace through the Kubernetes API, as
// Tomcat's KubernetesMembershipProvider: GET
// {protocol}://{host}:{port}/api/{version}/namespaces/{namespace}/pods[?labelSelector=…]
// with the service account's bearer token (or a client certificate), trusting the
// service account's CA.
type Kubernetes struct {
	url       string
	client    *http.Client
	limits    DecodeLimits
	tokenFile string
	// connect and read are Tomcat's connectTimeout and readTimeout: the answer's first
	// byte must come within both, each later one within read; total bounds the fetch.
	connect, read, total time.Duration

	mu         sync.Mutex
	token      string
	tokenMTime time.Time
}

// NewKubernetes returns the Kubernetes provider of cfg (resolved as New does: explicit
// fields, environment, defaults). It reads the CA, token and client certificate files.
func NewKubernetes(cfg Config) (*Kubernetes, error) {
	c, err := cfg.Resolved()
	if err != nil {
		return nil, err
	}
	return newKubernetes(c)
}

func newKubernetes(c Config) (*Kubernetes, error) {
	k := c.Kubernetes
	host := k.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]" // a raw IPv6 address
	}
	u := fmt.Sprintf("%s://%s:%s/api/%s/namespaces/%s/pods", k.Protocol, host, k.Port,
		url.PathEscape(k.APIVersion), url.PathEscape(k.Namespace))
	if k.Labels != "" {
		u += "?labelSelector=" + url.QueryEscape(k.Labels)
	}
	if _, err := url.Parse(u); err != nil {
		return nil, fmt.Errorf("%w: API URL: %v", ErrConfig, err)
	}
	p := &Kubernetes{url: u, limits: DecodeLimits{MaxBytes: k.MaxResponseBytes, MaxPods: k.MaxPods},
		connect: c.ConnectTimeout, read: c.ReadTimeout, total: c.FetchTimeout}
	rt := k.Transport
	if rt == nil {
		tcfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if k.Protocol == "https" {
			pem, err := os.ReadFile(k.CACertFile)
			if err != nil {
				return nil, fmt.Errorf("%w: CA certificate: %v", ErrConfig, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: CA certificate %s holds no PEM certificate", ErrConfig, k.CACertFile)
			}
			tcfg.RootCAs = pool
		}
		if k.ClientCertFile != "" {
			cert, err := tls.LoadX509KeyPair(k.ClientCertFile, k.ClientKeyFile)
			if err != nil {
				return nil, fmt.Errorf("%w: client certificate: %v", ErrConfig, err)
			}
			tcfg.Certificates = []tls.Certificate{cert}
		}
		rt = &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            (&net.Dialer{Timeout: c.ConnectTimeout}).DialContext,
			TLSClientConfig:        tcfg,
			TLSHandshakeTimeout:    c.ConnectTimeout,
			ResponseHeaderTimeout:  c.ReadTimeout,
			MaxResponseHeaderBytes: MaxResponseHeaderBytes,
			MaxIdleConns:           1,
			IdleConnTimeout:        30 * time.Second,
		}
	}
	// No client timeout: Pods bounds the wait for the answer and each read of it, as
	// Tomcat's socket timeouts do, and the whole fetch by FetchTimeout.
	p.client = &http.Client{Transport: rt, CheckRedirect: checkRedirect}
	if k.ClientCertFile == "" {
		p.tokenFile = k.TokenFile
		if err := p.reloadToken(); err != nil {
			if !noTokenAllowed(k, err) {
				return nil, fmt.Errorf("%w: service account token: %v", ErrConfig, err)
			}
			p.tokenFile = "" // requests go without an Authorization header
		}
	}
	return p, nil
}

// noTokenAllowed reports whether the provider may go on without a token after reading
// the token file failed with err: over plain HTTP, when the file is the service account's
// default one and does not exist, as outside a pod where an API server on loopback
// authenticates for its clients (kubectl proxy;
// TestKubernetesPlainHTTPWithoutTokenFile). A token file named in the configuration or
// the environment must exist, and over HTTPS any token file must.
func noTokenAllowed(k KubernetesConfig, err error) bool {
	return k.Protocol == "http" && k.TokenFile == DefaultTokenFile && errors.Is(err, fs.ErrNotExist)
}

// MaxResponseHeaderBytes bounds the status line and headers of an answer of the
// Kubernetes API, in bytes as they come, when the provider builds its HTTP transport
// (KubernetesConfig.Transport unset): 384 KiB, the default of Java's
// jdk.http.maxHeaderSize (the largest header section Java's HTTP clients accept,
// counted as names and values plus 32 bytes a line), where Go's net/http takes 10 MiB.
// An API server's headers are some hundred bytes (it cuts the text of its warnings at
// 4096 characters). An answer over the bound fails the fetch with ErrFetch.
const MaxResponseHeaderBytes = 384 << 10

// maxRedirects is the redirect at which a fetch stops, not following it: at most that
// many requests (Go's HTTP client's own bound; TestKubernetesRedirectLoopEnds).
const maxRedirects = 10

// checkRedirect follows a redirect that keeps the protocol, as Java's HttpURLConnection
// (Tomcat's) does, and no other: Go's client sends the Authorization header again to the
// same host name whatever the scheme and port, so a redirect from https to
// http://the-same-host:other-port/ would send the token in clear
// (TestKubernetesFollowsNoRedirectToAnotherProtocol). Over https the token goes again
// by TLS trusting the same CA (TestKubernetesFollowsARedirectThatKeepsTheProtocol), to
// the same host name (Go's client drops it for another, but for a subdomain).
// The error, which fails the fetch with ErrFetch, names where the redirect was to.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if req.URL.Scheme != via[0].URL.Scheme {
		return fmt.Errorf("redirect from %s to another protocol not followed: %s", via[0].URL.Scheme, req.URL.Redacted())
	}
	return nil
}

// CloseIdleConnections closes the kept-alive connection to the API server (Service.Stop
// calls it).
func (p *Kubernetes) CloseIdleConnections() { p.client.CloseIdleConnections() }

// URL is the pod list's address.
func (p *Kubernetes) URL() string { return p.url }

// reloadToken reads the token file when its modification time changed (projected
// service account tokens are rotated in place).
func (p *Kubernetes) reloadToken() error {
	fi, err := os.Stat(p.tokenFile)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if fi.ModTime().Equal(p.tokenMTime) && p.token != "" {
		return nil
	}
	if fi.Size() > 64<<10 {
		return fmt.Errorf("token file %s larger than 64 KiB", p.tokenFile)
	}
	b, err := os.ReadFile(p.tokenFile)
	if err != nil {
		return err
	}
	p.token, p.tokenMTime = strings.TrimSpace(string(b)), fi.ModTime()
	return nil
}

// Pods fetches and decodes the pod list. The answer must begin within ConnectTimeout +
// ReadTimeout, and each read of it return within ReadTimeout (Tomcat's socket read
// timeout): a list that keeps coming is read however long it takes, within FetchTimeout.
// A timeout fails the fetch with ErrFetch.
func (p *Kubernetes) Pods(ctx context.Context) (PodList, error) {
	if p.total > 0 {
		var cancelTotal context.CancelFunc
		ctx, cancelTotal = context.WithTimeout(ctx, p.total)
		defer cancelTotal()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var silent atomic.Bool // the idle timer cancelled the request
	idle := time.AfterFunc(p.connect+p.read, func() { silent.Store(true); cancel() })
	defer idle.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return PodList{}, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	if p.tokenFile != "" {
		_ = p.reloadToken() // on failure Tomcat goes on with the token it has, and so do we
		p.mu.Lock()
		tok := p.token
		p.mu.Unlock()
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	idle.Stop()
	if err != nil {
		if silent.Load() {
			err = fmt.Errorf("no answer within %v", p.connect+p.read)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL again
		}
		// The HTTP client's error may quote a malformed answer (its status line) whole.
		return PodList{}, fmt.Errorf("%w: GET %s: %s", ErrFetch, p.url, clipText(err.Error()))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return PodList{}, apiError(p.url, resp.StatusCode, resp.Status, &idleReader{r: resp.Body, timer: idle, d: p.read})
	}
	if resp.ContentLength > p.limits.MaxBytes {
		return PodList{}, fmt.Errorf("%w: pod list of %d bytes, limit %d", ErrTooLarge, resp.ContentLength, p.limits.MaxBytes)
	}
	body := &idleReader{r: resp.Body, timer: idle, d: p.read}
	pl, err := DecodePodList(body, p.limits)
	if err == nil {
		// The decoder stops at the list's closing brace: read what follows (a newline)
		// to the end, so that the connection is kept alive for the next fetch, as Java
		// keeps it, rather than a new TCP connection and TLS handshake with the API
		// server on every heartbeat (TestKubernetesReusesConnection).
		_, _ = io.CopyN(io.Discard, body, maxTrailer)
	}
	if err != nil && ctx.Err() != nil {
		// The answer stopped coming (ReadTimeout) or took too long (FetchTimeout): the
		// source failed, the document may be fine.
		if silent.Load() {
			return PodList{}, fmt.Errorf("%w: GET %s: no data for %v", ErrFetch, p.url, p.read)
		}
		return PodList{}, fmt.Errorf("%w: GET %s: %w", ErrFetch, p.url, context.Cause(ctx))
	}
	return pl, err
}

// maxTrailer bounds what is read after the pod list to keep its connection alive.
const maxTrailer = 4096

// idleReader cancels the request (through timer) when one read waits longer than d for
// data: a socket read timeout. Time spent between reads, decoding, does not count.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (b *idleReader) Read(p []byte) (int, error) {
	if b.d > 0 {
		b.timer.Reset(b.d)
		defer b.timer.Stop()
	}
	return b.r.Read(p)
}

// Fetch implements Provider: the running pods, each with the id Tomcat gives it (the
// MD5 of its uid, or of its address if it has none).
func (p *Kubernetes) Fetch(ctx context.Context) ([]Instance, error) {
	pl, err := p.Pods(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Instance, 0, len(pl.Running))
	for _, pod := range pl.Running {
		out = append(out, Instance{IP: pod.IP, UniqueID: PodUniqueID(pod), Created: pod.Created})
	}
	return out, nil
}
