package cloud

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gotribes/tribes/internal/testutil"
)

// fakeDNS answers on a UDP socket and a TCP listener of 127.0.0.1 with the messages its
// answer function gives for each query: network is "udp" or "tcp", n counts the queries
// of that network and type so far (1 for the first).
type fakeDNS struct {
	udp    net.PacketConn
	tcp    net.Listener
	answer func(network string, n int, q dnsmessage.Message) [][]byte

	mu    sync.Mutex
	count map[string]int
	wg    sync.WaitGroup
}

func startFakeDNS(t *testing.T, answer func(network string, n int, q dnsmessage.Message) [][]byte) *fakeDNS {
	t.Helper()
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		u.Close()
		t.Fatal(err)
	}
	f := &fakeDNS{udp: u, tcp: l, answer: answer, count: map[string]int{}}
	f.wg.Add(2)
	go f.serveUDP()
	go f.serveTCP()
	t.Cleanup(func() {
		u.Close()
		l.Close()
		f.wg.Wait()
	})
	return f
}

func (f *fakeDNS) reset() {
	f.mu.Lock()
	f.count = map[string]int{}
	f.mu.Unlock()
}

func (f *fakeDNS) replies(network string, msg []byte) [][]byte {
	var q dnsmessage.Message
	if err := q.Unpack(msg); err != nil || len(q.Questions) != 1 {
		return nil
	}
	f.mu.Lock()
	k := network + q.Questions[0].Type.String()
	f.count[k]++
	n := f.count[k]
	f.mu.Unlock()
	return f.answer(network, n, q)
}

func (f *fakeDNS) serveUDP() {
	defer f.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := f.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		for _, m := range f.replies("udp", buf[:n]) {
			_, _ = f.udp.WriteTo(m, from)
		}
	}
}

func (f *fakeDNS) serveTCP() {
	defer f.wg.Done()
	for {
		c, err := f.tcp.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(testutil.WaitLimit))
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err != nil {
				return
			}
			msg := make([]byte, binary.BigEndian.Uint16(l[:]))
			if _, err := io.ReadFull(c, msg); err != nil {
				return
			}
			for _, m := range f.replies("tcp", msg) {
				_, _ = c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(m))))
				_, _ = c.Write(m)
			}
		}()
	}
}

// reply builds an answer to q: its ID plus idDelta, its question (or the name other),
// the TC flag if truncated, and, for an A question, the address addr if it is valid.
func reply(t *testing.T, q dnsmessage.Message, idDelta uint16, other string, truncated bool, addr netip.Addr) []byte {
	qq := q.Questions[0]
	if other != "" {
		qq.Name = dnsmessage.MustNewName(other)
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: q.Header.ID + idDelta, Response: true,
		Authoritative: true, RecursionAvailable: true, Truncated: truncated})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		t.Error(err)
	}
	if err := b.Question(qq); err != nil {
		t.Error(err)
	}
	if err := b.StartAnswers(); err != nil {
		t.Error(err)
	}
	if addr.IsValid() && qq.Type == dnsmessage.TypeA {
		h := dnsmessage.ResourceHeader{Name: qq.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
		if err := b.AResource(h, dnsmessage.AResource{A: addr.As4()}); err != nil {
			t.Error(err)
		}
	}
	m, err := b.Finish()
	if err != nil {
		t.Error(err)
	}
	return m
}

// TestDNSForgedTruncatedResponseIsNotCounted: the truncation watch took the TC flag of
// any message read on a TCP attempt: on a packet connection (a Dial answering Go's TCP
// attempt over UDP), a forged message, with another ID or another question, which Go's
// resolver skips before the real answer, and on a stream a forged first answer, which
// Go's resolver rejects, both marked the fetch truncated: a false warning in the log,
// for a fetch that gave every address. The flag is now set only by a response that
// matches the query (ID and question): those fetches log nothing and count nothing
// (Stats.TruncatedAnswers), while a truncated answer to the query still does.
//
// Nothing here depends on the machine's resolv.conf (how many attempts and servers Go's
// resolver tries, whether it asks over TCP first): the Dial sends each network the
// resolver asks for to a server of its own, the packet case's forged message comes
// before the real answer on the same attempt, and the stream's forged answer is the
// first to the AAAA question, for a name with only an A record: its rejection fails
// that question (if the resolver does not try again) without failing the fetch, which
// the resolver's StrictErrors, set false here, ignores.
func TestDNSForgedTruncatedResponseIsNotCounted(t *testing.T) {
	const name = "members.forged.test."
	addr := netip.MustParseAddr("127.0.0.7")
	var forge struct {
		sync.Mutex
		idDelta uint16 // the forged message's ID: the query's plus this
		other   string // the forged message's question name, if set
		genuine bool   // the TCP attempt's answer is truncated itself
	}
	forged := func(q dnsmessage.Message) []byte {
		forge.Lock()
		defer forge.Unlock()
		return reply(t, q, forge.idDelta, forge.other, true, addr)
	}
	isGenuine := func() bool { forge.Lock(); defer forge.Unlock(); return forge.genuine }
	set := func(idDelta uint16, other string, genuine bool) {
		forge.Lock()
		forge.idDelta, forge.other, forge.genuine = idDelta, other, genuine
		forge.Unlock()
	}

	// The UDP attempts of every case get a truncated answer without addresses.
	udp := startFakeDNS(t, func(_ string, _ int, q dnsmessage.Message) [][]byte {
		return [][]byte{reply(t, q, 0, "", true, netip.Addr{})}
	})
	// A packet connection for Go's TCP attempt: UDP whatever the network asked. It
	// answers a forged truncated message first, then the whole answer, on the attempt.
	packet := startFakeDNS(t, func(_ string, _ int, q dnsmessage.Message) [][]byte {
		if isGenuine() {
			return [][]byte{reply(t, q, 0, "", true, addr)}
		}
		return [][]byte{forged(q), reply(t, q, 0, "", false, addr)}
	})
	// A stream for Go's TCP attempt: the first AAAA question gets a forged truncated
	// answer, which Go's resolver rejects; every other question the whole answer.
	var forgedServed atomic.Int32
	stream := startFakeDNS(t, func(_ string, n int, q dnsmessage.Message) [][]byte {
		if n == 1 && q.Questions[0].Type == dnsmessage.TypeAAAA && !isGenuine() {
			forgedServed.Add(1)
			return [][]byte{forged(q)}
		}
		return [][]byte{reply(t, q, 0, "", isGenuine(), addr)}
	})

	for _, tc := range []struct {
		what     string
		fake     *fakeDNS
		overUDP  bool // the Dial dials UDP whatever network it is asked
		idDelta  uint16
		other    string
		genuine  bool
		wantWarn bool
	}{
		{what: "packet, forged ID", fake: packet, overUDP: true, idDelta: 1},
		{what: "packet, forged question", fake: packet, overUDP: true, other: "other.forged.test."},
		{what: "stream, forged ID", fake: stream, idDelta: 1},
		{what: "stream, forged question", fake: stream, other: "other.forged.test."},
		{what: "packet, truncated answer", fake: packet, overUDP: true, genuine: true, wantWarn: true},
		{what: "stream, truncated answer", fake: stream, genuine: true, wantWarn: true},
	} {
		t.Run(tc.what, func(t *testing.T) {
			set(tc.idDelta, tc.other, tc.genuine)
			tc.fake.reset()
			forgedServed.Store(0)
			f := tc.fake
			r := &net.Resolver{PreferGo: true, StrictErrors: false, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				switch {
				case network == "udp":
					return d.DialContext(ctx, "udp", udp.udp.LocalAddr().String())
				case tc.overUDP:
					return d.DialContext(ctx, "udp", f.udp.LocalAddr().String())
				}
				return d.DialContext(ctx, "tcp", f.tcp.Addr().String())
			}}
			var log lockedBuffer
			logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))
			s, err := New(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1", Logger: logger,
				DNS: DNSConfig{ServiceName: name, Resolver: r}})
			if err != nil {
				t.Fatal(err)
			}
			insts, err := s.Provider().Fetch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(insts) != 1 || insts[0].IP != addr.String() {
				t.Fatalf("instances %+v, want %s alone", insts, addr)
			}
			if f == stream && !tc.genuine && forgedServed.Load() != 1 {
				t.Fatalf("the forged answer was served %d times, want once", forgedServed.Load())
			}
			text := logText(&log)
			var want uint64
			if tc.wantWarn {
				want = 1
			}
			if got := s.Stats().TruncatedAnswers; got != want || (text != "") != tc.wantWarn {
				t.Fatalf("Stats.TruncatedAnswers %d, log %q; want %d, a warning %v", got, text, want, tc.wantWarn)
			}
		})
	}
}
