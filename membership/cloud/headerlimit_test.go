package cloud

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestKubernetesHeaderLimit: the provider's HTTP transport took answers whose status
// line and headers ran up to net/http's default limit, 10 MiB, of bytes the server
// chose, held in memory on every fetch; an API server's are some hundred bytes (it cuts
// the text of its warnings at 4096 characters). It now takes at most
// MaxResponseHeaderBytes (384 KiB, the default of Java's jdk.http.maxHeaderSize): a
// server that sends header lines without end (here, up to 64 MiB, then it gives up)
// fails the fetch with ErrFetch naming the bound, while an answer with headers just
// under it is read.
func TestKubernetesHeaderLimit(t *testing.T) {
	if MaxResponseHeaderBytes != 384<<10 {
		t.Fatalf("MaxResponseHeaderBytes = %d, documented 384 KiB", MaxResponseHeaderBytes)
	}
	doc := recorded(t)
	t.Run("endless", func(t *testing.T) {
		err := fetchFrom(t, func(w *bufio.Writer) {
			_, _ = w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
			line := "X-Padding: " + strings.Repeat("a", 1000) + "\r\n"
			for range 64 << 10 { // 64 MiB, unless the client closes first
				if _, err := w.WriteString(line); err != nil {
					return
				}
			}
		})
		if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), strconv.Itoa(MaxResponseHeaderBytes)) {
			t.Fatalf("err = %.300v, want ErrFetch naming the bound %d", err, MaxResponseHeaderBytes)
		}
		if msg := err.Error(); len(msg) > maxErrorText {
			t.Fatalf("error of %d bytes, want at most %d", len(msg), maxErrorText)
		}
	})
	t.Run("just under", func(t *testing.T) {
		err := fetchFrom(t, func(w *bufio.Writer) {
			_, _ = w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
				strconv.Itoa(len(doc)) + "\r\n")
			line := "X-Padding: " + strings.Repeat("a", 1000) + "\r\n"
			for range (MaxResponseHeaderBytes - 1024) / len(line) {
				_, _ = w.WriteString(line)
			}
			_, _ = w.WriteString("\r\n")
			_, _ = w.Write(doc)
		})
		if err != nil {
			t.Fatalf("headers just under the bound: %v", err)
		}
	})
}

// fetchFrom is the error of a Kubernetes provider's fetch from a server that answers its
// request with what answer writes.
func fetchFrom(t *testing.T, answer func(w *bufio.Writer)) error {
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
		w := bufio.NewWriter(c)
		answer(w)
		_ = w.Flush()
	}()
	defer func() { <-served }()
	defer ln.Close()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	k, err := NewKubernetes(Config{LookupEnv: NoEnv, LocalIP: "127.0.0.1", Kubernetes: KubernetesConfig{
		Protocol: "http", Host: host, Port: port, Namespace: recordedNamespace, TokenFile: newAPIServer(t, nil).tokFile}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	_, err = k.Fetch(context.Background())
	return err
}
