package mcastinterop_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/netbench"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestOrderMulticastWithJava: what Java's OrderInterceptor does with a multicast
// (docs/interceptors.md, Order). It sends one broadcast per destination, each with that
// destination's counter appended (GroupChannel refuses an empty destination list), so a
// Go node with Order, which passes multicasts up unchanged, gets every copy with 4 bytes
// more; and it takes the last 4 bytes of a multicast it receives for a counter and cuts
// them off (a Go multicast ending in ff ff ff ff, -1, is below its counter and delivered
// at once).
func TestOrderMulticastWithJava(t *testing.T) {
	javapeer.Skip(t)
	group, port := netbench.Group(t.Name())
	o, err := interceptors.NewOrder(interceptors.OrderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g := startGo(t, goOpts{group: group, port: port, ics: []channel.Interceptor{o}})
	j := javaMcast(t, group, port, "--interceptors", "Order")
	plain := javaMcast(t, group, port)
	testutil.EventuallyTrue(t, waitLimit, "Go sees both Java nodes", func() bool { return len(g.ch.Members()) == 2 })
	testutil.EventuallyTrue(t, waitLimit, "Java sees Go", func() bool { _, ok := javaHas(t, j, g.idHex()); return ok })

	data := append([]byte("multicast from go through order"), 0xff, 0xff, 0xff, 0xff)
	if err := g.ch.Send(context.Background(), nil, data, channel.OptMulticast); err != nil {
		t.Fatal(err)
	}
	ev := j.WaitEvent(t, waitLimit, func(e javapeer.Event) bool {
		return javapeer.IsMessage(e) && e.From != nil && e.From.ID == g.idHex()
	})
	if want := hex.EncodeToString(data[:len(data)-4]); ev.Data != want {
		t.Fatalf("Java's Order delivered %q, want the message less its last 4 bytes %q", ev.Data, want)
	}

	res, err := j.Send(context.Background(), []string{g.member(), plain.Member()}, 1, 100,
		int(channel.OptMulticast|channel.OptByteMessage), "FROMJAVA")
	if err != nil || res.Sent != 1 {
		t.Fatalf("Java multicast send: %+v %v", res, err)
	}
	testutil.EventuallyTrue(t, waitLimit, "Go receives a copy per destination", func() bool { return len(g.messages()) == 2 })
	want := append(javapeer.Content(100, 0, "FROMJAVA"), 0, 0, 0, 1)
	for i, m := range g.messages() {
		if !bytes.Equal(m.Data, want) || m.Options&channel.OptMulticast == 0 {
			t.Fatalf("copy %d: %d bytes %x, options %v; want %d bytes ending in 00000001", i, len(m.Data), m.Data[max(0, len(m.Data)-8):], m.Options, len(want))
		}
	}
}
