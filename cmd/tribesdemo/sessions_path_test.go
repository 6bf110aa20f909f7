package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Beside Tomcat nodes serving /app, the demo serves its page under --path /app and writes
// its session cookie with Path=/app, Tomcat's (the context path), so that a client moving
// between the two holds one JSESSIONID cookie (docs/migration.md); / is not the page then.
func TestSessionsPathSetsCookiePath(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, done := startCmd(t, ctx, "sessions", "--port", "0", "--http", "127.0.0.1:0", "--path", "/app", "--seconds", "60")
	started := next(t, lines, "started")
	url, _ := started["url"].(string)
	if !strings.HasSuffix(url, "/app/") {
		t.Fatalf("started url %q, want the page under /app/", url)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "JSESSIONID" {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusOK || cookie == nil || cookie.Path != "/app" || !strings.Contains(string(body), `href="/app/"`) {
		t.Fatalf("GET %s: %s, cookie %v, page:\n%s", url, resp.Status, cookie, body)
	}
	resp, err = http.Get(strings.TrimSuffix(url, "app/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET / with --path /app: %s, want 404", resp.Status)
	}
	cancel()
	for range lines {
	}
	<-done
}
