package channel_test

import (
	"testing"

	"github.com/gotribes/tribes/channel"
)

// Release calls the transport's function once and drops Data; a Clone owns its Data and
// gives nothing back; a message without one ignores Release.
func TestMessageRelease(t *testing.T) {
	calls := 0
	m := &channel.Message{Data: []byte("payload")}
	m.SetRelease(func() { calls++ })
	c := m.Clone()
	c.Release()
	if calls != 0 || string(c.Data) != "payload" {
		t.Fatalf("a clone's Release: %d calls, Data %q", calls, c.Data)
	}
	m.Release()
	m.Release()
	if calls != 1 || m.Data != nil {
		t.Fatalf("after Release twice: %d calls, Data %q", calls, m.Data)
	}
	plain := &channel.Message{Data: []byte("x")}
	plain.Release()
	if string(plain.Data) != "x" {
		t.Fatal("Release changed a message with no buffer to give back")
	}
}
