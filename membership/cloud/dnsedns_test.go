package cloud

import (
	"encoding/binary"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// ednsAnswer is a truncated response to q with the ID id, answers A records (pushing
// what follows past maxQuestionEnd when many), and, if opt, an EDNS OPT record carrying
// the extended response code rcode (its upper 8 bits; the header holds the lower 4).
func ednsAnswer(t testing.TB, id uint16, q dnsmessage.Question, answers int, opt bool, rcode dnsmessage.RCode) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true, Truncated: true, RCode: rcode & 0xf})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.StartQuestions())
	must(b.Question(q))
	must(b.StartAnswers())
	for i := range answers {
		h := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
		must(b.AResource(h, dnsmessage.AResource{A: [4]byte{127, 0, byte(i >> 8), byte(i)}}))
	}
	must(b.StartAdditionals())
	if opt {
		var h dnsmessage.ResourceHeader
		must(h.SetEDNS0(1232, rcode, false))
		must(b.OPTResource(h, dnsmessage.OPTResource{}))
	}
	m, err := b.Finish()
	must(err)
	return m
}

// TestTruncationWatchEDNSExtendedRCode: the truncation watch read the header's RCODE only,
// so a truncated response whose EDNS OPT record carries an extended error code (BADVERS,
// 16: 0 in the header, 1 in the OPT record's upper bits), which Go's resolver refuses
// (checkHeader reads the extended code), was counted as a truncated answer. It is not
// now, on a packet connection and on a stream read in pieces of any size, also when the
// OPT record lies beyond the first maxQuestionEnd bytes; a truncated answer whose OPT
// record has no error, or without one, still counts.
func TestTruncationWatchEDNSExtendedRCode(t *testing.T) {
	const id = 4242
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("members.edns.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	qb := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id})
	_ = qb.StartQuestions()
	_ = qb.Question(q)
	query, err := qb.Finish()
	if err != nil {
		t.Fatal(err)
	}
	const badVers = dnsmessage.RCode(16)
	for _, tc := range []struct {
		what    string
		answers int
		opt     bool
		rcode   dnsmessage.RCode
		want    bool
	}{
		{"no OPT record", 0, false, dnsmessage.RCodeSuccess, true},
		{"OPT record, no error", 0, true, dnsmessage.RCodeSuccess, true},
		{"OPT record, BADVERS", 0, true, badVers, false},
		{"OPT record, extended 0xFF0", 0, true, 0xff0, false},
		{"header NXDOMAIN, OPT no extension", 0, true, dnsmessage.RCodeNameError, false},
		{"OPT record past the question's bytes, no error", 40, true, dnsmessage.RCodeSuccess, true},
		{"OPT record past the question's bytes, BADVERS", 40, true, badVers, false},
	} {
		t.Run(tc.what, func(t *testing.T) {
			msg := ednsAnswer(t, id, q, tc.answers, tc.opt, tc.rcode)
			if tc.answers > 0 && len(msg) <= maxQuestionEnd {
				t.Fatalf("a message of %d bytes; want one past maxQuestionEnd (%d)", len(msg), maxQuestionEnd)
			}
			// A packet connection: a message a Read.
			var flag atomic.Bool
			pc := &truncConn{Conn: &bytesConn{in: msg, chunk: len(msg)}, flag: &flag}
			if _, err := pc.Write(query); err != nil {
				t.Fatal(err)
			}
			if _, err := pc.Read(make([]byte, 2048)); err != nil {
				t.Fatal(err)
			}
			if flag.Load() != tc.want {
				t.Fatalf("packet: flag %v, want %v", flag.Load(), tc.want)
			}
			// A stream, read in pieces of 1 to 64 bytes.
			stream := append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)
			for _, chunk := range []int{1, 7, 64, len(stream)} {
				var flag atomic.Bool
				c := &truncConn{Conn: &bytesConn{in: stream, chunk: chunk}, flag: &flag, stream: true}
				if _, err := c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(query)))); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Write(query); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 1280)
				for range len(stream) {
					if _, err := c.Read(buf); err != nil {
						t.Fatal(err)
					}
				}
				if flag.Load() != tc.want {
					t.Fatalf("stream in pieces of %d: flag %v, want %v", chunk, flag.Load(), tc.want)
				}
			}
		})
	}
}
