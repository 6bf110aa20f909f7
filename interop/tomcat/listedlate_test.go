package tomcatinterop_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
)

// lateView is a delta.Channel on a Go channel whose membership lists the node with
// unique id hidden only once reveal is called: until then the node is neither in Members
// nor found by Member, and the channel's MemberAdded for it is not passed on; reveal
// passes it on. The view of a Go node whose membership learns of a joiner late.
type lateView struct {
	*channel.Channel
	hidden channel.UniqueID

	mu       sync.Mutex
	revealed bool
	ls       []channel.MembershipListener
}

func (v *lateView) hides(m channel.Member) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return !v.revealed && m.UniqueID == v.hidden
}

func (v *lateView) Members() []channel.Member {
	return slices.DeleteFunc(v.Channel.Members(), v.hides)
}

func (v *lateView) Member(k channel.MemberKey) (channel.Member, bool) {
	m, ok := v.Channel.Member(k)
	if !ok || v.hides(m) {
		return channel.Member{}, false
	}
	return m, true
}

func (v *lateView) AddMembershipListener(l channel.MembershipListener) func() {
	v.mu.Lock()
	v.ls = append(v.ls, l)
	v.mu.Unlock()
	return v.Channel.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			if !v.hides(m) {
				l.MemberAdded(m)
			}
		},
		Disappeared: l.MemberDisappeared,
	})
}

// reveal lists the hidden node, if the channel does, and tells the listeners.
func (v *lateView) reveal() {
	v.mu.Lock()
	v.revealed = true
	ls := slices.Clone(v.ls)
	v.mu.Unlock()
	i := slices.IndexFunc(v.Channel.Members(), func(m channel.Member) bool { return m.UniqueID == v.hidden })
	if i < 0 {
		return
	}
	m := v.Channel.Members()[i]
	for _, l := range ls {
		l.MemberAdded(m)
	}
}

// TestTomcatJoinerListedLateGetsTheSessions: a Tomcat node joining a Go node asks it once,
// asynchronously, for every session, and waits 60 s for them without asking again. The
// Go node's membership lists the Tomcat node only after that request came (refused as a
// non-member's, and held): the Go node answers it once it lists the Tomcat node, which
// starts with every session, its transfer logged as completed, not timed out. Before, the
// request was dropped and the Tomcat node started after 60 s without any session.
func TestTomcatJoinerListedLateGetsTheSessions(t *testing.T) {
	dir, app := setUp(t)
	ctx := context.Background()
	const sessions = 20
	ports := testutil.FreePorts(t, 3) // the Go receiver, Tomcat's receiver and HTTP
	goMember := tomcat.Member{Port: ports[0], UniqueID: uid(2)}
	tcMember := tomcat.Member{Port: ports[1], UniqueID: uid(1)}
	ch := startChannel(t, goMember.Port, goMember.UniqueID, []tomcat.Member{tcMember}, nio.DefaultConfig())
	view := &lateView{Channel: ch, hidden: tcMember.UniqueID}
	cl, err := delta.NewCluster(delta.ClusterConfig{Channel: view, Codec: delta.JavaCodec{}})
	if err != nil {
		t.Fatal(err)
	}
	cleanupWithin(t, "closing the Go node's cluster", stopWithin, func() {
		ctx, cancel := context.WithTimeout(ctx, stopWithin)
		defer cancel()
		_ = cl.Close(ctx)
	})
	m, err := cl.NewManager(delta.Config{Name: appName, JvmRoute: "go1", Codec: delta.JavaValueCodec{},
		Replication: delta.ReplicateAcked, MemberWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range sessions {
		s, err := m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("counter", 1); err != nil {
			t.Fatal(err)
		}
		if err := m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID())
	}

	tn := tomcat.Launch(t, dir, app, tomcat.Config{Route: "t1", Port: tcMember.Port, UniqueID: tcMember.UniqueID,
		Members: []tomcat.Member{goMember}, HTTPPort: ports[2], SendOption: 6})
	testutil.EventuallyTrue(t, time.Minute, "the Go node holds t1's request for every session", func() bool {
		return cl.Stats().UnlistedHeld > 0
	})
	view.reveal()
	tn.Wait(t)
	_, took, err := tn.StateTransfer()
	if err != nil {
		t.Fatalf("%v\n%s", err, tn.Log())
	}
	held, err := tomcatCounters(tn)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		switch c, present := held[id]; {
		case !present:
			t.Errorf("t1 lacks session %s", id)
		case c != 1:
			t.Errorf("t1 holds session %s with counter %d (-1: none), want 1", id, c)
		}
	}
	if st := cl.Stats(); st.UnlistedAnswered != 1 || m.Stats().SessionsServed != sessions {
		t.Errorf("answered %d held requests, served %d sessions; want 1 and %d", st.UnlistedAnswered,
			m.Stats().SessionsServed, sessions)
	}
	// What t1 logged: its transfer completed (StateTransfer), not timed out (Tomcat's
	// deltaManager.noSessionState).
	catalina, err := os.ReadFile(filepath.Join(tn.Base, "logs", "catalina.out"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(catalina, []byte("No session state sent at")) {
		t.Errorf("t1 logged its state transfer's timeout:\n%s", tn.Log())
	}
	t.Logf("t1's state transfer took %v, the Go node's membership listing it after its request", took)
}
