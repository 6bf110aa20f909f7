package delta_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A stranger fills the hold from 256 invented senders, the first 4 of them keeping the
// 4 waiting places with synchronized-ack messages, before a Tomcat joiner's request for
// every session and a Tomcat member's synchronized-ack expiry come (neither listed yet),
// and sends 100 more from new senders after them. The two new senders' messages evict
// the stranger's oldest and are kept: once they are listed the expiry is applied and
// acknowledged, the request answered. Before, both were dropped (the expiry got FAIL_ACK
// at once) and the joiner started without sessions.
func TestStrangerCannotCrowdOutAJoinersHeldMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		view, cl, m, ids := startLaggingDonor(t, nw, 2)
		req := getAll(t)
		sync := channel.OptUseAck | channel.OptSyncAck

		strangers := make(chan error, 4)
		for i := range 4 {
			go func() { strangers <- view.injectWith(fakeMember(int32(4600+i), byte(i)), req, sync) }()
		}
		synctest.Wait()
		for i := range 252 {
			_ = view.inject(fakeMember(int32(5000+i), byte(i)), req)
		}
		if st := cl.Stats(); st.UnlistedHeld != 256 || len(strangers) != 0 {
			t.Fatalf("the stranger's: %d held, %d of its waiting receives returned; want 256, 0", st.UnlistedHeld, len(strangers))
		}

		listener := channel.MessageListenerFunc(func(*channel.Message) error { return nil })
		_, jch := newChannel(t, nw)
		jch.AddMessageListener(listener)
		joiner := jch.LocalMember()
		_, mch := newChannel(t, nw)
		mch.AddMessageListener(listener)
		member := mch.LocalMember()
		expire, err := delta.JavaCodec{}.AppendMessage(nil, &delta.Message{Event: delta.EventExpired, Context: appName,
			SessionID: ids[0], Timestamp: time.Now().UnixMilli()})
		if err != nil {
			t.Fatal(err)
		}
		_ = view.inject(joiner, req)
		expired := make(chan error, 1)
		go func() { expired <- view.injectWith(member, expire, sync) }()
		synctest.Wait()
		if len(expired) != 0 {
			t.Fatalf("the member's synchronized-ack expiry was answered at once: %v", <-expired)
		}
		if err := <-strangers; !errors.Is(err, channel.ErrNotMember) {
			t.Fatalf("the stranger's oldest waiting receive, evicted: %v, want ErrNotMember", err)
		}
		for i := range 100 { // more new senders, after the joiner's and the member's
			_ = view.inject(fakeMember(int32(6000+i), byte(i)), req)
		}

		time.Sleep(time.Second)
		view.list(member)
		view.list(joiner)
		synctest.Wait()
		select {
		case err := <-expired:
			if err != nil {
				t.Fatalf("the member's expiry once it was listed: %v, want its ACK", err)
			}
		default:
			t.Fatal("the member's expiry is still waiting once it was listed")
		}
		if m.Find(ids[0]) != nil || m.Stats().SessionsServed != 1 {
			t.Fatalf("expiry applied %v, %d sessions served to the joiner; want true, 1", m.Find(ids[0]) == nil,
				m.Stats().SessionsServed)
		}
		if st := cl.Stats(); st.UnlistedAnswered != 1 || st.UnlistedApplied != 1 || st.UnlistedHeld != 254 {
			t.Errorf("answered %d, applied %d, held %d; want 1, 1, 254 (the others)", st.UnlistedAnswered, st.UnlistedApplied, st.UnlistedHeld)
		}
		for range 3 {
			if err := <-strangers; !errors.Is(err, channel.ErrNotMember) {
				t.Fatalf("a stranger's waiting receive: %v, want ErrNotMember", err)
			}
		}
	})
}

// A Tomcat joiner's request held for a sender the membership does not list within
// UnlistedRequestWait is dropped, and the Go node says so once for that sender, naming
// it and the setting to raise (the joiner, asked once, starts without sessions after its
// stateTransferTimeout); before, the drop was only counted.
func TestUnlistedWaitEndedWarnsNamingTheSender(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var logs bytes.Buffer
		nw := channeltest.NewNetwork()
		view, cl, _, _ := startLaggingDonorWith(t, nw, 0, delta.ClusterConfig{
			Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))})
		joiner := fakeMember(4888, 88)
		for range 3 {
			_ = view.inject(joiner, getAll(t))
		}
		time.Sleep(delta.DefaultUnlistedRequestWait)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		var warned []string
		for line := range strings.Lines(logs.String()) {
			if strings.Contains(line, "UnlistedRequestWait") {
				warned = append(warned, line)
			}
		}
		if len(warned) != 1 || !strings.Contains(warned[0], "level=WARN") || !strings.Contains(warned[0], joiner.Addr()) {
			t.Fatalf("warnings about the wait: %q; want one naming %s", warned, joiner.Addr())
		}
		if st := cl.Stats(); st.UnlistedDropped != 3 || st.UnlistedHeld != 0 {
			t.Errorf("dropped %d, held %d; want 3, 0", st.UnlistedDropped, st.UnlistedHeld)
		}
	})
}
