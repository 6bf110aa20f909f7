package mcastinterop_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/netbench"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestTCPPingDefaultFlagAtPlainJava: with Tomcat's default optionFlag 0 a ping is not a
// byte message, so a Java node without TcpPingInterceptor tries to deserialize it, logs
// "Unable to deserialize message" and delivers nothing (docs/compatibility.md: every node
// needs the interceptor).
func TestTCPPingDefaultFlagAtPlainJava(t *testing.T) {
	javapeer.Skip(t)
	group, port := netbench.Group(t.Name())
	ping, err := interceptors.NewTCPPing(interceptors.TCPPingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g := startGo(t, goOpts{group: group, port: port, ics: []channel.Interceptor{ping}})
	plain := javaMcast(t, group, port)
	testutil.EventuallyTrue(t, waitLimit, "Go sees Java", func() bool { return len(g.ch.Members()) == 1 })
	plain.WaitEvent(t, waitLimit, isMember("memberAdded", g.idHex()))
	before := ping.Stats().Pings
	ping.Ping(context.Background())
	if st := ping.Stats(); st.Pings != before+1 || st.Failed != 0 {
		t.Fatalf("Go ping: %+v", st)
	}
	testutil.EventuallyTrue(t, waitLimit, "Java logs the failed deserialization", func() bool {
		return strings.Contains(plain.Stderr(), "Unable to deserialize message")
	})
	if st, err := plain.Stats(context.Background()); err != nil || st.Received != 0 || st.Objects != 0 {
		t.Fatalf("the plain Java node delivered %+v (%v), want nothing", st, err)
	}
}
