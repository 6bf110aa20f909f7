package main

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// With --max-frame-size above jserial's limits, the Java codec decodes the message of
// every session a Tomcat donor sends at once (its session block is one byte[]); with the
// default it refuses a block longer than jserial.DefaultMaxArrayLen.
func TestJavaCodecFollowsMaxFrameSize(t *testing.T) {
	v, err := delta.JavaValueCodec{}.Marshal(make([]byte, jserial.DefaultMaxArrayLen/2))
	if err != nil {
		t.Fatal(err)
	}
	msg := &delta.Message{Event: delta.EventAllSessionData, Context: "localhost#/app", SessionID: "SESSION-STATE",
		Sessions: []delta.SessionState{{ID: "a", Attributes: []delta.NamedValue{{Name: "blob", Value: v}}},
			{ID: "b", Attributes: []delta.NamedValue{{Name: "blob", Value: v}}}}}
	data, err := javaCodec(0).AppendMessage(nil, msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := javaCodec(0).DecodeMessage(data); !errors.Is(err, jserial.ErrLimit) {
		t.Fatalf("default limits: %v, want jserial.ErrLimit", err)
	}
	got, err := javaCodec(len(data)).DecodeMessage(data)
	if err != nil || len(got.Sessions) != 2 {
		t.Fatalf("limits of a %d-byte frame: %v", len(data), err)
	}
}
