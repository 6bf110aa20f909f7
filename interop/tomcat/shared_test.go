package tomcatinterop_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/transport/nio"
)

// ssoNode is the Tomcat node with ClusterSingleSignOn (its cluster in the Engine,
// DeltaManager, channelSendOptions 6) that the tests of single sign-on between Tomcat
// DeltaManager nodes and a Go node share: TestSSOSignOffAfterIDChange,
// TestSSOSignOffAfterBinderRenames (its Tomcat t1), TestClusterSingleSignOn and
// TestClusterSingleSignOnSessions. Each test starts nodes of its own beside it (a Go
// node, and a second Tomcat node for TestSSOSignOffAfterBinderRenames), listed in its
// static members, stopped when the test ends; each logs in, signs on and creates sessions
// of its own, so that it passes alone (-run) as after the others. A Tomcat start took 1.5
// to 8 s of each test under -race on the 2-core CI machine (2026-12-08, load 2 to 22).
var ssoNode = sharedTomcat{
	cfg: tomcat.Config{Route: "t1", UniqueID: uid(41), SendOption: 6, SSO: true},
	members: []channel.UniqueID{
		uid(43), // TestClusterSingleSignOn's Go node
		uid(53), // TestSSOSignOffAfterIDChange's
		uid(73), // TestClusterSingleSignOnSessions'
		uid(57), // TestSSOSignOffAfterBinderRenames' Tomcat t2
		uid(58), // and its Go node
	},
}

// stopShared stops the Tomcat nodes tests shared (TestMain, after the tests).
func stopShared() {
	ssoNode.stop()
}

// sharedTomcat is a Tomcat node that several tests use one after the other: the first
// of them starts it, TestMain stops it. Its static members are the nodes members, which
// the tests start beside it.
type sharedTomcat struct {
	cfg     tomcat.Config // without ports and members
	members []channel.UniqueID

	once     sync.Once
	node     *tomcat.Node
	ports    []int    // the receiver ports of members
	failed   string   // why the start failed
	cleanups []func() // what stop runs, the last registered first
}

// get returns the node, started by this test if no test did yet. A test after one
// whose start of it failed fails with that failure.
func (s *sharedTomcat) get(t *testing.T) *tomcat.Node {
	t.Helper()
	_, app := setUp(t)
	s.once.Do(func() { s.start(sharedTB{T: t, s: s}, app) })
	if s.failed != "" {
		t.Fatalf("the shared Tomcat node %s did not start: %s", s.cfg.Route, s.failed)
	}
	return s.node
}

// member returns the static member of the node (started: get) with the unique id id,
// one of members: the port a node started as that member listens on.
func (s *sharedTomcat) member(t *testing.T, id channel.UniqueID) tomcat.Member {
	t.Helper()
	i := slices.Index(s.members, id)
	if i < 0 {
		t.Fatalf("%x is not a member of the shared Tomcat node %s", id[:], s.cfg.Route)
	}
	return tomcat.Member{Port: s.ports[i], UniqueID: id}
}

// join is tomcatAndGo on the shared node: a Go channel with id goID (one of members) that
// lists the node, its member protocol on channelName, stopped when t ends, once it sees
// the node.
func (s *sharedTomcat) join(t *testing.T, goID channel.UniqueID, channelName string) (*tomcat.Node, *channel.Channel) {
	t.Helper()
	ta := s.get(t)
	return ta, goBeside(t, ta, s.member(t, goID), channelName)
}

// start starts the node in a temporary directory of its own with the web application
// app; what it registers for cleanup (the node's stop, its ports, the directory) waits
// for stop.
func (s *sharedTomcat) start(t sharedTB, app string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "gotribes-tomcat-shared-")
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ports := testutil.FreePorts(t, 2+len(s.members)) // Tomcat's receiver and HTTP, its members' receivers
	cfg := s.cfg
	cfg.Port, cfg.HTTPPort, s.ports = ports[0], ports[1], ports[2:]
	for i, id := range s.members {
		cfg.Members = append(cfg.Members, tomcat.Member{Port: s.ports[i], UniqueID: id})
	}
	s.node = tomcat.Start(t, dir, app, cfg)
}

// stop runs the cleanups the start registered, the last first.
func (s *sharedTomcat) stop() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}

// sharedTB is the testutil.TB of a shared node's start: the test that starts it, except
// that cleanups wait for the shared node's stop and that a failure is also recorded for
// the tests after it.
type sharedTB struct {
	*testing.T
	s *sharedTomcat
}

func (t sharedTB) Cleanup(f func()) { t.s.cleanups = append(t.s.cleanups, f) }

func (t sharedTB) Fatalf(format string, args ...any) {
	t.T.Helper()
	t.s.failed = fmt.Sprintf(format, args...)
	t.T.Fatalf("%s", t.s.failed)
}

// goBeside starts a Go channel as goMember (a static member of the Tomcat node ta) that
// lists ta, its member protocol on channelName, stopped when t ends, and waits until it
// sees ta.
func goBeside(t *testing.T, ta *tomcat.Node, goMember tomcat.Member, channelName string) *channel.Channel {
	t.Helper()
	ch := startChannelNamed(t, goMember.Port, goMember.UniqueID, []tomcat.Member{{Port: ta.Port, UniqueID: ta.UniqueID}},
		nio.DefaultConfig(), channelName)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := ch.WaitForMembers(ctx, 1); err != nil {
		t.Fatalf("%v\n%s", err, ta.Log())
	}
	return ch
}

// ssoTomcatAndGo is tomcatAndGo on ssoNode: the Go channel with goID, one of its members.
func ssoTomcatAndGo(t *testing.T, goID channel.UniqueID) (*tomcat.Node, *channel.Channel) {
	t.Helper()
	return ssoNode.join(t, goID, staticsvc.DefaultChannelName)
}
