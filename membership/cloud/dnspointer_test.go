package cloud

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// pointerAnswer is a truncated answer to the A question q whose question name is a
// compression pointer to the name's one full occurrence, the owner of its last record,
// beyond the first maxQuestionEnd bytes of the stream: n A records (n >= 17), all
// owned by that name, the first n-1 through pointers to it as well.
func pointerAnswer(q dnsmessage.Message, n int) []byte {
	const aRecord = 2 + 10 + 4 // a pointer owner, type, class, TTL, RDLENGTH, address
	full := 12 + 2 + 4 + (n-1)*aRecord
	ptr := []byte{0xC0 | byte(full>>8), byte(full)}
	m := binary.BigEndian.AppendUint16(nil, q.Header.ID)
	m = append(m, 0x86, 0x80) // QR, AA, TC; RA
	m = binary.BigEndian.AppendUint16(m, 1)
	m = binary.BigEndian.AppendUint16(m, uint16(n))
	m = append(m, 0, 0, 0, 0)
	m = append(m, ptr...)
	m = binary.BigEndian.AppendUint16(m, uint16(dnsmessage.TypeA))
	m = binary.BigEndian.AppendUint16(m, uint16(dnsmessage.ClassINET))
	record := func(owner []byte, i int) {
		m = append(m, owner...)
		m = binary.BigEndian.AppendUint16(m, uint16(dnsmessage.TypeA))
		m = binary.BigEndian.AppendUint16(m, uint16(dnsmessage.ClassINET))
		m = append(m, 0, 0, 0, 60, 0, 4, 127, 0, 1, byte(i+1))
	}
	for i := range n - 1 {
		record(ptr, i)
	}
	var name []byte
	qn := q.Questions[0].Name
	for _, label := range splitLabels(qn.Data[:qn.Length]) {
		name = append(append(name, byte(len(label))), label...)
	}
	record(append(name, 0), n-1)
	return m
}

func splitLabels(name []byte) [][]byte {
	var out [][]byte
	start := 0
	for i, b := range name {
		if b == '.' {
			if i > start {
				out = append(out, name[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// TestDNSTruncatedAnswerWithAPointerInItsQuestionIsCounted: the watch checked a
// stream's answer on its first maxQuestionEnd bytes alone, so a truncated answer whose
// question name is a compression pointer beyond them (one Go's resolver follows, and
// takes the answer: here 20 addresses) could not be parsed there and went unlogged and
// uncounted. The watch now reads on to the whole message when the question needs it.
func TestDNSTruncatedAnswerWithAPointerInItsQuestionIsCounted(t *testing.T) {
	const name, n = "members.pointer.test.", 20
	f := startFakeDNS(t, func(network string, _ int, q dnsmessage.Message) [][]byte {
		if network == "tcp" && q.Questions[0].Type == dnsmessage.TypeA {
			return [][]byte{pointerAnswer(q, n)}
		}
		return [][]byte{reply(t, q, 0, "", network == "udp", netip.Addr{})}
	})
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		if network == "udp" {
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
	if len(insts) != n {
		t.Fatalf("%d instances, want the %d of the truncated answer Go's resolver took", len(insts), n)
	}
	if got, text := s.Stats().TruncatedAnswers, logText(&log); got != 1 || text == "" {
		t.Fatalf("Stats.TruncatedAnswers %d, log %q; want 1 and a warning", got, text)
	}
}

// longAnswer is a truncated answer to q with n A records, its names compressed.
func longAnswer(t *testing.T, q dnsmessage.Message, n int) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: q.Header.ID, Response: true, Authoritative: true,
		RecursionAvailable: true, Truncated: true})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q.Questions[0])
	_ = b.StartAnswers()
	for i := range n {
		h := dnsmessage.ResourceHeader{Name: q.Questions[0].Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
		if err := b.AResource(h, dnsmessage.AResource{A: [4]byte{127, 0, 2, byte(i + 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if len(m) <= maxQuestionEnd {
		t.Fatalf("an answer of %d bytes, want more than the watch's first %d", len(m), maxQuestionEnd)
	}
	return m
}

// TestTruncationWatchWaitsForTheWholeAnswer: the watch judged a stream's answer on its
// first bytes, so a truncated answer to the query cut short (the server closing the
// connection, or the deadline passing, before the length it announced), which Go's
// resolver fails to read (io.ReadFull) and so does not take, marking the fetch's flag
// nonetheless: a false warning and count when the next attempt or server then answered
// whole. The flag is now set only once the whole message was read.
func TestTruncationWatchWaitsForTheWholeAnswer(t *testing.T) {
	qb := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 9})
	_ = qb.StartQuestions()
	_ = qb.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("members.cut.test."),
		Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	query, err := qb.Finish()
	if err != nil {
		t.Fatal(err)
	}
	var q dnsmessage.Message
	if err := q.Unpack(query); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what string
		msg  []byte
	}{
		{"question in the first bytes", longAnswer(t, q, 30)},
		{"question through a pointer beyond them", pointerAnswer(q, 30)},
	} {
		t.Run(tc.what, func(t *testing.T) {
			answer := append(binary.BigEndian.AppendUint16(nil, uint16(len(tc.msg))), tc.msg...)
			for _, cut := range []int{len(answer) - 1, len(answer)} {
				var flag atomic.Bool
				c := &truncConn{Conn: &bytesConn{in: answer[:cut], chunk: 7}, flag: &flag, stream: true}
				if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(query))), query...)); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 1280)
				for range len(answer) {
					if _, err := c.Read(buf); err != nil {
						t.Fatal(err)
					}
				}
				if whole := cut == len(answer); flag.Load() != whole {
					t.Fatalf("%d of the answer's %d bytes read: flag %v, want %v", cut, len(answer), flag.Load(), whole)
				}
			}
		})
	}
}
