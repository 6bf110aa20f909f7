package channel_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// TestSendToNoMembersSaysWhatToDo: a send to every member of a running channel that lists
// none (sent right after Start, before a membership or failure detector listed the peers)
// returns an error wrapping ErrNoMembers that says no member is listed yet and names
// WaitForMembers; it was the bare "tribes: no destination members", which told a newcomer
// neither why nor what to do. SendMessage says the same.
func TestSendToNoMembersSaysWhatToDo(t *testing.T) {
	ctx := context.Background()
	n := channeltest.NewNetwork().NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership()})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	for name, send := range map[string]func() error{
		"Send":        func() error { return ch.Send(ctx, nil, []byte("x"), channel.OptUseAck) },
		"SendMessage": func() error { return ch.SendMessage(ctx, nil, &channel.Message{Data: []byte("x")}) },
	} {
		err := send()
		if !errors.Is(err, channel.ErrNoMembers) {
			t.Fatalf("%s to every member, none listed: %v, want ErrNoMembers", name, err)
		}
		for _, want := range []string{"no member yet", "WaitForMembers"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s to every member, none listed: %q does not say %q", name, err, want)
			}
		}
	}
}
