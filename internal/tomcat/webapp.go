package tomcat

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/gotribes/tribes/internal/testutil"
)

//go:embed webapp/TestServlet.java
var servletSource []byte

// Webapp compiles the test web application into dir/app (once per test; share the
// directory between the nodes of a test). SharedWebapp compiles it once per test binary.
func Webapp(t testutil.TB, dir string) string {
	t.Helper()
	app, err := compileWebapp(dir)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return app
}

// shared is SharedWebapp's application, compiled once.
var shared struct {
	once     sync.Once
	dir, app string
	err      error
}

// SharedWebapp is Webapp compiled once per test binary, in a temporary directory of its
// own that RemoveSharedWebapp deletes (call it from TestMain after m.Run). A node reads
// the application and writes nothing into it (its work files go to its CATALINA_BASE), so
// that every test of a package can use one copy: a javac run takes 1.5 to 3 s of CPU time.
func SharedWebapp(t testutil.TB) string {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "gotribes-tomcat-webapp-"); shared.err == nil {
			shared.app, shared.err = compileWebapp(shared.dir)
		}
	})
	if shared.err != nil {
		t.Fatalf("%v", shared.err)
	}
	return shared.app
}

// RemoveSharedWebapp removes what SharedWebapp compiled, if it did.
func RemoveSharedWebapp() {
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
}

// JavacJVMOptions are javac's options for its own JVM: only the first compiler tier and
// the serial collector, as QuickJVMOptions for a node. javac of the test application took
// 1.2 to 1.5 s of user CPU time with them instead of 2.5 to 2.8 (2026-12-07, the loaded
// 2-core CI machine, three runs each).
func JavacJVMOptions() []string { return []string{"-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC"} }

// compileWebapp compiles the test web application into dir/app and returns that
// directory.
func compileWebapp(dir string) (string, error) {
	app := filepath.Join(dir, "app")
	src := filepath.Join(dir, "src", "TestServlet.java")
	classes := filepath.Join(app, "WEB-INF", "classes")
	for _, d := range []string{filepath.Dir(src), classes} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(src, servletSource, 0o644); err != nil {
		return "", err
	}
	args := append(JavacJVMOptions(), "--release", "17", "-nowarn", "-encoding", "UTF-8", "-d", classes,
		"-cp", filepath.Join(jarDir, "tomcat10-servlet-api.jar"), src)
	if out, err := exec.Command("javac", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("compiling the test webapp: %v\n%s", err, out)
	}
	webXML := `<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">
  <distributable/>
  <servlet><servlet-name>test</servlet-name><servlet-class>TestServlet</servlet-class></servlet>
  <servlet-mapping><servlet-name>test</servlet-name><url-pattern>/*</url-pattern></servlet-mapping>
</web-app>
`
	if err := os.WriteFile(filepath.Join(app, "WEB-INF", "web.xml"), []byte(webXML), 0o644); err != nil {
		return "", err
	}
	return app, nil
}
