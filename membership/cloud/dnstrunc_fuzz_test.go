package cloud

import (
	"bytes"
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
// size, the watch neither panics nor keeps more than maxQuestionEnd bytes, and marks the
// flag only for an answer whose header has the query's ID and the TC flag, and whose one
// question is the query's.
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
		}
		if len(c.in) > maxQuestionEnd || len(c.out) > maxQuestionEnd {
			t.Fatalf("kept %d bytes read, %d written; want at most %d", len(c.in), len(c.out), maxQuestionEnd)
		}
		if !flag.Load() {
			return
		}
		msg := in[2:]
		var p dnsmessage.Parser
		h, err := p.Start(msg)
		if err != nil || h.ID != 7 || !h.Truncated || !h.Response {
			t.Fatalf("flag set for the header %+v (%v)", h, err)
		}
		got, err := p.Question()
		if err != nil || got.Type != q.Type || !bytes.EqualFold(got.Name.Data[:got.Name.Length], q.Name.Data[:q.Name.Length]) {
			t.Fatalf("flag set for the question %+v (%v)", got, err)
		}
	})
}
