package delta_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// Tomcat's ClusterSessionListener hands a SessionMessage whose mContextName is null to
// every manager, and one whose name is any string, the empty one included, to the
// manager of that name only (the ROOT context's manager is named "" when the Cluster is
// inside a Host: SimpleTcpCluster.getManagerName, StandardContext.setPath); for an
// unknown name it answers a GET_ALL_SESSIONS with NO-CONTEXT-MANAGER. JavaCodec used to
// decode both null and "" to Message.Context "", which Cluster.dispatch hands to every
// manager: a Go node running only /app took the ROOT application's sessions (attributes,
// principal) into /app's manager, and every Go manager served a ROOT joiner's
// GET_ALL_SESSIONS. "" now sets Message.EmptyContext: a context no Go manager has.
func TestJavaCodecEmptyContextNameIsAContext(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	app, _, _ := startJavaNode(t, nw, "go1")
	_, peer := newChannel(t, nw)
	to := peer.Members()
	if len(to) != 1 {
		t.Fatalf("the peer sees %d members, want the Go node", len(to))
	}

	root := ""
	send := func(ctxName *string, id string) {
		t.Helper()
		data, err := delta.TomcatMessage(delta.EventCreated, ctxName, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Synchronous ACK: the receiver has handled the message when SendMessage returns.
		if err := peer.SendMessage(ctx, to, &channel.Message{Data: data,
			Options: channel.OptUseAck | channel.OptSyncAck}); err != nil {
			t.Fatal(err)
		}
	}
	send(&root, "ROOTSESSION1")
	name := appName
	send(&name, "APPSESSION1") // the control: a message for /app reaches /app
	if app.Find("APPSESSION1") == nil {
		t.Fatal("the control session for the manager's own context was not created")
	}
	if app.Find("ROOTSESSION1") != nil {
		t.Errorf("a session of the context named %q (Tomcat's ROOT under a Host-level cluster) was created in manager %q",
			root, app.Name())
	}
}

// dataCapture hands the messages a channel receives to a Go channel.
type dataCapture chan []byte

func (c dataCapture) Accept(*channel.Message) bool { return true }

func (c dataCapture) MessageReceived(m *channel.Message) error {
	select {
	case c <- bytes.Clone(m.Data):
	default:
	}
	return nil
}

// A GET_ALL_SESSIONS of a Tomcat ROOT manager named "" is answered with a
// NO-CONTEXT-MANAGER naming "" (not null, which Tomcat would hand to every manager of the
// asking node), and none of the Go managers serves it.
func TestJavaCodecEmptyContextGetAllAnswered(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	startJavaNode(t, nw, "go1")
	_, peer := newChannel(t, nw)
	got := make(dataCapture, 8)
	t.Cleanup(peer.AddMessageListener(got))
	to := peer.Members()
	if len(to) != 1 {
		t.Fatalf("the peer sees %d members, want the Go node", len(to))
	}
	root := ""
	data, err := delta.TomcatMessage(delta.EventGetAllSessions, &root, "GET-ALL", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.SendMessage(ctx, to, &channel.Message{Data: data}); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case b := <-got:
			m, err := delta.JavaCodec{}.DecodeMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if m.Event != delta.EventNoContextManager || m.Context != "" || !m.EmptyContext {
				t.Fatalf("the answer is %s for context %q (the name \"\": %v), want EVT_ALL_SESSION_NOCONTEXTMANAGER for \"\"",
					m.Event, m.Context, m.EmptyContext)
			}
			return
		case <-timeout:
			t.Fatal("no answer to the GET_ALL_SESSIONS of the context named \"\"")
		}
	}
}

// JavaCodec writes a message's context as Tomcat reads it: null for Context "" (every
// manager, Go's own messages), "" for the name "" (EmptyContext), and reads both back.
func TestJavaCodecContextNameRoundTrip(t *testing.T) {
	for _, m := range []*delta.Message{
		{Event: delta.EventGetAllSessions, SessionID: "GET-ALL"},
		{Event: delta.EventGetAllSessions, SessionID: "GET-ALL", EmptyContext: true},
		{Event: delta.EventGetAllSessions, SessionID: "GET-ALL", Context: "localhost#/app"},
	} {
		b, err := delta.JavaCodec{}.AppendMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		var ctxName *string
		if m.Context != "" || m.EmptyContext {
			ctxName = &m.Context
		}
		want, err := delta.TomcatMessage(m.Event, ctxName, m.SessionID, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := delta.JavaCodec{}.DecodeMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Context != m.Context || got.EmptyContext != m.EmptyContext {
			t.Errorf("context %q (name \"\": %v) read back as %q (%v)", m.Context, m.EmptyContext, got.Context, got.EmptyContext)
		}
		fromTomcat, err := delta.JavaCodec{}.DecodeMessage(want)
		if err != nil {
			t.Fatal(err)
		}
		if fromTomcat.Context != m.Context || fromTomcat.EmptyContext != m.EmptyContext {
			t.Errorf("Tomcat's message for context %q (name \"\": %v) read as %q (%v)", m.Context, m.EmptyContext,
				fromTomcat.Context, fromTomcat.EmptyContext)
		}
	}
}
