package main

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// The Java codec decodes the message of every session a Tomcat donor sends at once (its
// session block is one byte[], longer here than jserial.DefaultMaxArrayLen, which bounds
// arrays of objects only) up to the larger of jserial.DefaultMaxBytes and
// --max-frame-size.
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
	got, err := javaCodec(0).DecodeMessage(data)
	if err != nil || len(got.Sessions) != 2 {
		t.Fatalf("default limits, a %d-byte message: %v", len(data), err)
	}
	short := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: int64(len(data) - 1)}}
	if _, err := short.DecodeMessage(data); !errors.Is(err, jserial.ErrLimit) {
		t.Fatalf("MaxBytes below the message: %v, want jserial.ErrLimit", err)
	}
	if got := javaCodec(0).Limits.MaxBytes; got != jserial.DefaultMaxBytes {
		t.Fatalf("MaxBytes %d without --max-frame-size", got)
	}
	if got := javaCodec(128 << 20).Limits.MaxBytes; got != 128<<20 {
		t.Fatalf("MaxBytes %d with --max-frame-size 128 MiB", got)
	}
}
