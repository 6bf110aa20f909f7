package replmap

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/membership/static"
)

// docs/maps.md: ReplicatedContextConfig(ch, "/app") joins the ReplicatedMap Tomcat's
// ReplicatedContext keeps under the context's name, with Tomcat's 15 s timeout and
// USE_ACK, and New accepts it as it is (the interop test with Tomcat,
// TestReplicatedContext, needs Tomcat; this one pins the settings without it).
func TestReplicatedContextConfigAsDocumented(t *testing.T) {
	tn := channeltest.NewNetwork().NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: static.New(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ReplicatedContextConfig(ch, "/app")
	if cfg.Channel != ch || cfg.Name != "/app" || !cfg.Replicated || cfg.RPCTimeout != 15*time.Second ||
		cfg.SendOptions != channel.OptUseAck {
		t.Errorf("ReplicatedContextConfig = {Name %q Replicated %v RPCTimeout %v SendOptions %v}, want /app, true, 15s, use_ack",
			cfg.Name, cfg.Replicated, cfg.RPCTimeout, cfg.SendOptions)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Stop(context.Background()) }()
	if m.cfg.RPCTimeout != 15*time.Second || m.cfg.SendOptions&channel.OptUseAck == 0 {
		t.Errorf("New kept RPCTimeout %v and SendOptions %v", m.cfg.RPCTimeout, m.cfg.SendOptions)
	}
}
