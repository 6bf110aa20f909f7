package tomcatinterop_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/session/delta"
)

// sessionGolden compiles interop/java/tomcat/SessionGolden.java and runs it once with
// args: catalina-ha's own classes, without a running Tomcat.
func sessionGolden(t *testing.T, args ...string) string {
	t.Helper()
	return javaTool(t, "SessionGolden", args...)
}

// javaTool runs interop/java/tomcat/<class>.java once with args, compiled the first time
// (javaClasses).
func javaTool(t *testing.T, class string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	classes := javaClasses.compiled(ctx, t, class)
	cmd := exec.CommandContext(ctx, "java", append([]string{"-XX:TieredStopAtLevel=1", "-cp",
		classes + string(os.PathListSeparator) + tomcat.Classpath, class}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("java %s %v: %v\n%s", class, args, err, stderr.String())
	}
	return string(out)
}

// javaClasses are the classes javaTool compiled, each once per test binary (a javac run
// against catalina-ha takes seconds of CPU time), in a directory of their own that
// TestMain removes.
var javaClasses compiledClasses

type compiledClasses struct {
	mu   sync.Mutex
	dir  string          // the classes' parent directory, made by the first compile
	done map[string]bool // the classes compiled, each into dir/<class>
}

// compiled compiles interop/java/tomcat/<class>.java the first time (javac with the
// options of tomcat.Webapp's) and returns the directory of its classes.
func (c *compiledClasses) compiled(ctx context.Context, t *testing.T, class string) string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "gotribes-tomcat-javatool-")
		if err != nil {
			t.Fatal(err)
		}
		c.dir, c.done = dir, map[string]bool{}
	}
	classes := filepath.Join(c.dir, class)
	if c.done[class] {
		return classes
	}
	src := filepath.Join("..", "java", "tomcat", class+".java")
	args := append(tomcat.JavacJVMOptions(), "-nowarn", "-encoding", "UTF-8", "-d", classes, "-cp", tomcat.Classpath, src)
	if out, err := exec.CommandContext(ctx, "javac", args...).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	c.done[class] = true
	return classes
}

// remove removes what compiled compiled.
func (c *compiledClasses) remove() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}

// TestTomcatReadsGoPrincipal has Tomcat's DeltaRequest and DeltaManager read principals
// Go made, with attributes of several kinds, a realm's user principal Go carries as an
// opaque object (taken from a stream Tomcat wrote) and a wrapped GenericPrincipal, in a
// delta and in a state transfer.
func TestTomcatReadsGoPrincipal(t *testing.T) {
	tomcat.Skip(t)
	var c delta.JavaCodec
	golden, err := os.ReadFile(filepath.Join("..", "..", "session", "delta", "testdata", "java", "delta_principal.ser"))
	if err != nil {
		t.Fatal(err)
	}
	fromTomcat, err := c.DecodeMessage(golden)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := delta.DecodePrincipal(fromTomcat.Actions[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	p := &delta.Principal{Name: "gopher", Roles: []string{"dev", "admin"}, User: tp.User, Attributes: map[string]any{
		"mail": "gopher@example.com", "uid": 42, "groups": []any{"a", "b"}, "nested": map[string]any{"k": "v"},
		"photo": []byte{1, 2}, "big": int64(1) << 40}}
	value, err := delta.EncodePrincipal(p)
	if err != nil {
		t.Fatal(err)
	}
	inner := &delta.Principal{Name: "inner", Roles: []string{"r"}, Attributes: map[string]any{"level": 3}}
	// Read apart, the user principal of the second session carries its class descriptor
	// again where Tomcat would refer to the first one.
	again, err := delta.DecodePrincipal(fromTomcat.Actions[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[string]*delta.Message{
		"delta": {Event: delta.EventDelta, Context: appName, SessionID: "S1.go", Actions: []delta.Action{
			{Type: delta.ActionPrincipal, Op: delta.OpSet, Name: "__SET__PRINCIPAL__", Value: value}}},
		"transfer": {Event: delta.EventAllSessionData, Context: appName, SessionID: "SESSION-STATE",
			Sessions: []delta.SessionState{{ID: "T1.go", CreationTime: 1700000000000, LastAccessedTime: 1700000000000,
				MaxInactive: 1800, Principal: &delta.Principal{Name: "nina", Roles: []string{"user"},
					Attributes: map[string]any{"mail": "nina@example.com"}, User: inner}},
				{ID: "T2.go", CreationTime: 1700000000000, LastAccessedTime: 1700000000000, MaxInactive: 1800,
					Principal: &delta.Principal{Name: "otto", User: again.User}},
				{ID: "T3.go", CreationTime: 1700000000000, LastAccessedTime: 1700000000000, MaxInactive: 1800,
					Principal: &delta.Principal{Name: "pia", User: tp.User}}}},
	}
	want := map[string]string{
		"delta": `session S1.go
principal org.apache.catalina.realm.GenericPrincipal gopher
roles admin,dev
attr big java.lang.Long 1099511627776
attr groups java.util.ArrayList [a, b]
attr mail java.lang.String gopher@example.com
attr nested java.util.HashMap {k=v}
attr photo [B [1, 2]
attr uid java.lang.Integer 42
  principal SessionGolden$User alice@EXAMPLE.COM
`,
		"transfer": `session T1.go
principal org.apache.catalina.realm.GenericPrincipal nina
roles user
attr mail java.lang.String nina@example.com
  principal org.apache.catalina.realm.GenericPrincipal inner
  roles r
  attr level java.lang.Integer 3
session T2.go
principal org.apache.catalina.realm.GenericPrincipal otto
roles 
  principal SessionGolden$User alice@EXAMPLE.COM
session T3.go
principal org.apache.catalina.realm.GenericPrincipal pia
roles 
  principal SessionGolden$User alice@EXAMPLE.COM
`,
	}
	dir := t.TempDir()
	var files []string
	var wantAll string
	for _, name := range []string{"delta", "transfer"} {
		b, err := c.AppendMessage(nil, msgs[name])
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name+".ser")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		wantAll += want[name]
	}
	if got := sessionGolden(t, append([]string{"read"}, files...)...); got != wantAll {
		t.Errorf("Tomcat read\n%s\nwant\n%s", got, wantAll)
	}
}
