package rpc

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/membership/static"
)

// The defaults the package documentation and docs/rpc.md give, as literal values rather
// than the constants, so that a changed constant fails here until the documents follow:
// a zero Config's MaxMessageBytes (64 MiB) and ReplyOptions (0, Java's
// replyMessageOptions), and MaxNonMemberReplies (16).
func TestDefaultsAsDocumented(t *testing.T) {
	tn := channeltest.NewNetwork().NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: static.New(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Channel: ch, ID: []byte("defaults"),
		Handler: HandlerFunc(func(any, channel.Member) (any, error) { return nil, nil })})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"MaxMessageBytes", c.cfg.MaxMessageBytes, 64 << 20},
		{"ReplyOptions", c.cfg.ReplyOptions, channel.SendOptions(0)},
		{"MaxNonMemberReplies", MaxNonMemberReplies, 16},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, documented %v", f.name, f.got, f.want)
		}
	}
}
