package farm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
)

// TestContextNames: Tomcat's mapping between a file's name and its context, both ways.
func TestContextNames(t *testing.T) {
	for _, tc := range []struct{ file, context, base string }{
		{"shop.war", "/shop", "shop"},
		{"ROOT.war", "", "ROOT"},
		{"api#v2.war", "/api/v2", "api#v2"},
		{"shop##3.war", "/shop##3", "shop##3"},
		{"ROOT##2.war", "##2", "ROOT##2"},
	} {
		if got := farm.ContextName(tc.file); got != tc.context {
			t.Errorf("ContextName(%q) = %q, want %q", tc.file, got, tc.context)
		}
		if got := farm.BaseName(tc.context); got != tc.base {
			t.Errorf("BaseName(%q) = %q, want %q", tc.context, got, tc.base)
		}
	}
}

// Tomcat's parallel deployment of the root context: ROOT##2.war is the context named
// "##2" (org.apache.catalina.util.ContextName: path "" and version "2"), which
// farm.ContextName returns too. Tomcat's FarmWarDeployer sends that name in the
// FileMessage of such a file (fileModified: install(cn.getName(), ...)) and in its
// UndeployMessage; Deploy uses it for a local file. A Go node deploys it, receives it
// and undeploys it. (checkContextName used to refuse it, wanting "" or a name starting
// with "/".)
func TestVersionedRootContext(t *testing.T) {
	if got := farm.ContextName("ROOT##2.war"); got != "##2" {
		t.Fatalf("ContextName(ROOT##2.war) = %q, want Tomcat's %q", got, "##2")
	}
	nw := channeltest.NewNetwork()
	a := startNode(t, nw, farm.Config{})
	b := startNode(t, nw, farm.Config{})
	ctx := context.Background()

	src := writeFile(t, t.TempDir(), "ROOT##2.war", content(100, 1))
	if err := a.d.Deploy(ctx, src); err != nil {
		t.Errorf("Deploy of ROOT##2.war: %v", err)
	}

	// What a Tomcat node's watcher sends for ROOT##2.war.
	data, err := farm.AppendMessage(nil, &farm.FileMessage{Number: 1, Total: 1, Data: content(50, 2),
		FileName: "ROOT##2.war", ContextName: "##2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := farm.Receive(b.d, &channel.Message{Source: a.ch.LocalMember(), Data: data}); err != nil {
		t.Errorf("a FileMessage for context \"##2\" (Tomcat's name for ROOT##2.war) is refused: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.deploy, "ROOT##2.war")); err != nil {
		t.Errorf("ROOT##2.war not installed: %v", err)
	}
	if err := a.d.Remove(ctx, "##2", true); err != nil {
		t.Errorf("Remove of \"##2\": %v", err)
	}
	for _, n := range []*node{a, b} {
		if left := entries(t, n.deploy); len(left) != 0 {
			t.Errorf("deploy dir after Remove of \"##2\": %v", left)
		}
	}
}
