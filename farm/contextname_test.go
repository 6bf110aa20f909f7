package farm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
)

// TestContextNameExtensions: ContextName is Tomcat's
// org.apache.catalina.util.ContextName(fileName, true), which strips only ".war" and
// ".xml" (any case). It used to strip any extension (filepath.Ext), so a file with a dot
// in its name and no .war got another context than on Tomcat, and two files that
// differ only in their extension shared a context: deploying one removed the other
// from DeployDir.
func TestContextNameExtensions(t *testing.T) {
	for _, tc := range []struct{ file, want string }{ // Tomcat's ContextName(file, true).getName()
		{"shop-1.0", "/shop-1.0"},
		{"shop##1.5", "/shop##1.5"},
		{"notes.txt", "/notes.txt"},
		{"shop.WAR", "/shop"},
		{"shop.xml", "/shop"},
		{"##2.war", "##2"}, // nothing before "##": the root context (Tomcat inserts "ROOT")
	} {
		if got := farm.ContextName(tc.file); got != tc.want {
			t.Errorf("ContextName(%q) = %q, Tomcat's is %q", tc.file, got, tc.want)
		}
	}
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startNode(t, nw, farm.Config{})
	src := t.TempDir()
	for _, name := range []string{"notes.txt", "notes.md"} {
		if err := a.d.Deploy(ctx, writeFile(t, src, name, []byte(name))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(a.deploy, "notes.txt")); err != nil {
		t.Errorf("Deploy of notes.md removed notes.txt, deployed before it: %v", err)
	}
}
