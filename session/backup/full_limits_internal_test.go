package backup

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// TestFailedFullCopyKeepsTheReportOfTheLastOne: a full copy that failed (here for a
// value that is not a Java stream, which no session taken by Set or received holds)
// forgot the values the previous full copy left out, not reported yet: no Replicate named
// them (takeLeftOut returned nil; failed before), and its error was the limits' refusal
// of big rather than SessionData's (failed before). The report now stays until a
// Replicate takes it, the failed copy not counting big again; the full copy after the
// report counts it again: 2 in all.
func TestFailedFullCopyKeepsTheReportOfTheLastOne(t *testing.T) {
	java := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 50}}
	s := NewSession("S1", 0, Limits{})
	big := make([]any, 100)
	for i := range big {
		big[i] = "s"
	}
	if err := errors.Join(s.Set("big", big), s.Set("small", "x")); err != nil {
		t.Fatal(err)
	}
	var counted atomic.Uint64
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.fullCopy(java, &counted); err != nil {
		t.Fatal(err)
	}
	s.st.Attributes = append(s.st.Attributes, delta.NamedValue{Name: "bad", Value: []byte("not a stream")})
	if _, err := s.fullCopy(java, &counted); err == nil || !strings.Contains(err.Error(), "not a Java serialization stream") {
		t.Errorf("full copy of a value that is not a Java stream: %v, want SessionData's error", err)
	}
	s.st.Attributes = s.st.Attributes[:len(s.st.Attributes)-1]
	s.mu.Unlock()
	_, err := s.takeLeftOut(true)
	s.mu.Lock()
	if !errors.Is(err, delta.ErrMessageLimit) || !strings.Contains(err.Error(), `left out of its full copy, not on the other nodes: attribute "big"`) {
		t.Errorf("after a failed full copy: %v, want big reported left out of the one before", err)
	}
	if _, err := s.fullCopy(java, &counted); err != nil {
		t.Fatal(err)
	}
	if got := counted.Load(); got != 2 {
		t.Errorf("counted %d, want 2: once, and once again after the report", got)
	}
}

// TestCarriedReportGivenBackUnlessSent: a full copy under MaxArrayLen 50 leaves big (100
// strings) out, one under the defaults then carries it, which took big off the report as
// it was made. takeLeftOut now gives that report back unless the Replicate sent (the
// copy carrying big may not have left), and drops it when it sent; either way the next
// call reports nothing.
func TestCarriedReportGivenBackUnlessSent(t *testing.T) {
	tight := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 50}}
	for _, sent := range []bool{false, true} {
		s := NewSession("S1", 0, Limits{})
		big := make([]any, 100)
		for i := range big {
			big[i] = "s"
		}
		if err := s.Set("big", big); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		_, err1 := s.fullCopy(tight, nil)
		_, err2 := s.fullCopy(delta.JavaCodec{}, nil)
		s.mu.Unlock()
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		_, err := s.takeLeftOut(sent)
		if got := err != nil && strings.Contains(err.Error(), `left out of its full copy, not on the other nodes: attribute "big"`); got == sent {
			t.Errorf("sent %v: %v; want big reported %v", sent, err, !sent)
		}
		if _, err := s.takeLeftOut(false); err != nil {
			t.Errorf("sent %v: the next takeLeftOut: %v, want nil", sent, err)
		}
	}
}
