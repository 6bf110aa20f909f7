package cloud

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// bytesConn is a stream whose Reads return at most chunk bytes of what is left of in.
type bytesConn struct {
	net.Conn
	in    []byte
	chunk int
}

func (c *bytesConn) Read(p []byte) (int, error) {
	n := copy(p[:min(len(p), c.chunk)], c.in)
	c.in = c.in[n:]
	return n, nil
}
func (c *bytesConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzTruncationWatch: whatever a server answers on a stream, read in pieces of any
// size, the watch neither panics nor keeps more than maxQuestionEnd bytes (the whole
// first message, at most 2+65535 bytes, when its question needs it), and marks the flag
// for exactly the answers Go's resolver reads whole and takes as a truncated response to
// the query (goTakesTruncated, after dnsStreamRoundTrip and exchange).
func FuzzTruncationWatch(f *testing.F) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7})
	_ = b.StartQuestions()
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("members.fuzz.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	_ = b.Question(q)
	query, _ := b.Finish()
	a := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, Response: true, Truncated: true})
	_ = a.StartQuestions()
	_ = a.Question(q)
	answer, _ := a.Finish()
	f.Add(binary.BigEndian.AppendUint16(nil, uint16(len(answer)))[:], answer, 3)
	f.Add([]byte{0, 0}, []byte{}, 1)
	var qm dnsmessage.Message
	_ = qm.Unpack(query)
	ptr := pointerAnswer(qm, 20) // the question through a pointer beyond maxQuestionEnd
	f.Add(binary.BigEndian.AppendUint16(nil, uint16(len(ptr))), ptr, 5)
	f.Add(binary.BigEndian.AppendUint16(nil, uint16(len(ptr))), ptr[:len(ptr)-1], 64) // cut short
	for _, rcode := range []dnsmessage.RCode{dnsmessage.RCodeSuccess, 16} {           // an EDNS OPT record past maxQuestionEnd
		m := ednsAnswer(f, 7, q, 40, true, rcode)
		f.Add(binary.BigEndian.AppendUint16(nil, uint16(len(m))), m, 9)
	}
	f.Fuzz(func(t *testing.T, prefix, data []byte, chunk int) {
		if chunk <= 0 || chunk > 4096 {
			chunk = 1
		}
		var flag atomic.Bool
		c := &truncConn{Conn: &bytesConn{in: append(append([]byte(nil), prefix...), data...), chunk: chunk}, flag: &flag, stream: true}
		if _, err := c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(query)))); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(query); err != nil {
			t.Fatal(err)
		}
		in := append(append([]byte(nil), prefix...), data...)
		buf := make([]byte, 1280)
		for range len(in) + 1 {
			if _, err := c.Read(buf); err != nil {
				t.Fatal(err)
			}
			if len(c.in) > 2+0xffff || len(c.in) > maxQuestionEnd && !c.whole {
				t.Fatalf("kept %d bytes read (whole %v); want at most %d, or the message", len(c.in), c.whole, maxQuestionEnd)
			}
		}
		if len(c.out) > maxQuestionEnd {
			t.Fatalf("kept %d bytes written; want at most %d", len(c.out), maxQuestionEnd)
		}
		if want := goTakesTruncated(in, 7, q); flag.Load() != want {
			t.Fatalf("flag %v for the stream %x, want %v", flag.Load(), in, want)
		}
	})
}

// goTakesTruncated tells whether Go's resolver, having asked q with the ID id on a
// stream, reads the stream's first message whole and takes it as a truncated response
// with no error code: the checks of dnsStreamRoundTrip (a response with its ID and
// question, the name's ASCII case ignored) and exchange (one question), the TC flag,
// RCODE success, EDNS's extended code included (below it, checkHeader rejects the
// others).
func goTakesTruncated(stream []byte, id uint16, q dnsmessage.Question) bool {
	if len(stream) < 2 {
		return false
	}
	l := int(binary.BigEndian.Uint16(stream))
	if len(stream) < 2+l {
		return false // io.ReadFull fails
	}
	var p dnsmessage.Parser
	h, err := p.Start(stream[2 : 2+l])
	if err != nil {
		return false
	}
	got, err := p.Question()
	if err != nil || !h.Response || h.ID != id || got.Type != q.Type || got.Class != q.Class ||
		!asciiEqualFold(got.Name.Data[:got.Name.Length], q.Name.Data[:q.Name.Length]) {
		return false
	}
	if p.SkipQuestion() != dnsmessage.ErrSectionDone {
		return false
	}
	if !h.Truncated {
		return false
	}
	// checkHeader's code: the header's, extended by an OPT record's upper bits when the
	// records before it parse.
	rcode := h.RCode
	if p.SkipAllAnswers() == nil && p.SkipAllAuthorities() == nil {
		for {
			ah, err := p.AdditionalHeader()
			if err != nil {
				break
			}
			if ah.Type == dnsmessage.TypeOPT {
				rcode = ah.ExtendedRCode(rcode)
				break
			}
			if p.SkipAdditional() != nil {
				break
			}
		}
	}
	return rcode == dnsmessage.RCodeSuccess
}

func asciiEqualFold(x, y []byte) bool {
	lower := func(b byte) byte {
		if 'A' <= b && b <= 'Z' {
			return b + 'a' - 'A'
		}
		return b
	}
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if lower(x[i]) != lower(y[i]) {
			return false
		}
	}
	return true
}
