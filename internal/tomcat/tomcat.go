// Package tomcat runs real Tomcat 10.1 nodes for tests: Debian's tomcat10 package
// (CATALINA_HOME /usr/share/tomcat10, installed by scripts/install-test-deps.sh), one
// CATALINA_BASE per node in the test's temporary directory, a SimpleTcpCluster with
// DeltaManager (or BackupManager: Config.BackupManager), StaticMembershipService and a NioReceiver on 127.0.0.1 (or no cluster:
// Config.NoCluster), and a small
// distributable web application at /app compiled at test time (webapp/TestServlet.java;
// its endpoints are listed there).
//
// A node is started with catalina.sh and stopped by the pid catalina.sh records,
// after checking that this pid's command line names the node's CATALINA_BASE.
package tomcat

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testenv"
	"github.com/gotribes/tribes/internal/testutil"
)

// Home is Debian's CATALINA_HOME.
const Home = "/usr/share/tomcat10"

const jarDir = "/usr/share/java"

// Classpath is what a program using catalina-ha's classes outside a running Tomcat needs
// (interop/java/tomcat/SessionGolden.java; scripts/gen-golden.sh session names the same
// jars).
var Classpath = strings.Join(func() []string {
	var jars []string
	for _, j := range []string{"catalina-ha", "catalina", "tribes", "juli", "servlet-api", "util", "util-scan", "api",
		"coyote", "jaspic-api", "annotations-api"} {
		jars = append(jars, filepath.Join(jarDir, "tomcat10-"+j+".jar"))
	}
	return jars
}(), string(os.PathListSeparator))

// Skip ends the test (skip, or failure under GOTRIBES_NO_SKIP) when Tomcat or the JDK is
// missing.
func Skip(t testutil.TB) {
	t.Helper()
	for _, f := range []string{filepath.Join(Home, "bin", "catalina.sh"), filepath.Join(jarDir, "tomcat10-servlet-api.jar")} {
		if _, err := os.Stat(f); err != nil {
			testenv.Missing(t, "Tomcat 10.1 is not installed (%s; scripts/install-test-deps.sh installs Debian's tomcat10)", f)
		}
	}
	for _, tool := range []string{"java", "javac"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed (scripts/install-test-deps.sh)", tool)
		}
	}
}

// The user of every node's realm (a MemoryRealm on the Engine), with the roles "dev" and
// "admin": the test page's /login?user=&pw= logs it in (request.login), and /whoami prints
// the principal the request carries ("name dev=true admin=true", "-" for none).
const (
	RealmUser     = "ann"
	RealmPassword = "secret"
)

// Member is a static member of a node's cluster.
type Member struct {
	Port     int
	UniqueID channel.UniqueID
}

// Config describes one node.
type Config struct {
	Route      string // the Engine's jvmRoute (and the CATALINA_BASE's name)
	Port       int    // NioReceiver port on 127.0.0.1
	UniqueID   channel.UniqueID
	Members    []Member // the other members (static)
	HTTPPort   int      // HTTP connector on 127.0.0.1
	SendOption int      // the cluster's channelSendOptions; 0 means 8 (asynchronous)
	NoCluster  bool     // no Cluster element: the application gets Tomcat's StandardManager
	// NoJvmRoute leaves the Engine without jvmRoute and the cluster without
	// JvmRouteBinderValve: session ids get no route suffix and are never renamed.
	NoJvmRoute bool
	// BackupManager makes the cluster's manager Tomcat's BackupManager (sessions in a
	// LazyReplicatedMap named "localhost#/app-map", mapSendOptions 6) instead of
	// DeltaManager.
	BackupManager bool
	// JVMOptions replace QuickJVMOptions (IPv4, UTC and an English locale are always set).
	JVMOptions string
	// SenderTimeout is the cluster sender's timeout (the PooledParallelSender's `timeout`
	// attribute, in whole milliseconds): how long one send may take, writing the message
	// and waiting for its ACK. 0 leaves Tomcat's default, 3000 ms.
	SenderTimeout time.Duration
	// ExpireEverySecond runs the Engine's background processing every second
	// (backgroundProcessorDelay 1, Tomcat's default 10) and the manager's expiry on each
	// run (processExpiresFrequency 1, default 6): sessions expire within about a second
	// of their max inactive interval, not within a minute.
	ExpireEverySecond bool
	// Farm puts the cluster in the Host, as Tomcat's FarmWarDeployer requires, with a
	// FarmWarDeployer: WAR files received from members are assembled in FarmTempDir
	// and installed in the host's appBase (webapps), which deploys them. With FarmWatch,
	// a WAR copied into FarmWatchDir is deployed here and sent to every member, and one
	// removed from it is undeployed everywhere; the watch directory is checked every
	// second (backgroundProcessorDelay 1, processDeployFrequency 1).
	Farm, FarmWatch bool
	// SSO puts Tomcat's ClusterSingleSignOn valve in the Host: a user who logs in gets a
	// JSESSIONIDSSO cookie and an entry in the replicated map "<cluster name>-SSO-cache"
	// ("Catalina-SSO-cache", or "localhost-SSO-cache" with Farm).
	SSO bool
	// ReplicatedContext makes /app Tomcat's ReplicatedContext: its ServletContext
	// attributes live in the replicated map "/app", shared by the nodes (the test page's
	// /ctxset and /ctxget).
	ReplicatedContext bool
}

// FarmWatchDir, FarmTempDir and AppBase are the node's farm directories and its host's
// appBase, under its CATALINA_BASE.
func (n *Node) FarmWatchDir() string { return filepath.Join(n.Base, "farm-watch") }
func (n *Node) FarmTempDir() string  { return filepath.Join(n.Base, "farm-temp") }
func (n *Node) AppBase() string      { return filepath.Join(n.Base, "webapps") }

// QuickJVMOptions are the JVM options of a node by default: a small heap, the serial
// collector and only the first compiler tier, for a quick start on a loaded machine.
const QuickJVMOptions = "-Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"

// Node is a running Tomcat.
type Node struct {
	Config
	Base string // CATALINA_BASE
	URL  string // http://127.0.0.1:port/app
	pid  int
}

// Start writes a CATALINA_BASE under dir for cfg with the web application app (from
// Webapp), starts Tomcat and waits until /app answers, which a joining node does after
// its state transfer. The node is stopped when the test ends.
func Start(t testutil.TB, dir, app string, cfg Config) *Node {
	t.Helper()
	n := Launch(t, dir, app, cfg)
	n.Wait(t)
	return n
}

// Launch is Start without the wait: several nodes that need not wait for each other
// start at once, then Wait for each.
func Launch(t testutil.TB, dir, app string, cfg Config) *Node {
	t.Helper()
	if cfg.SendOption == 0 {
		cfg.SendOption = 8
	}
	if cfg.JVMOptions == "" {
		cfg.JVMOptions = QuickJVMOptions
	}
	n := &Node{Config: cfg, Base: filepath.Join(dir, "tomcat-"+cfg.Route), URL: fmt.Sprintf("http://127.0.0.1:%d/app", cfg.HTTPPort)}
	if err := n.writeBase(app); err != nil {
		t.Fatalf("tomcat %s: %v", cfg.Route, err)
	}
	cmd := exec.Command(filepath.Join(Home, "bin", "catalina.sh"), "start")
	cmd.Env = append(os.Environ(), "CATALINA_HOME="+Home, "CATALINA_BASE="+n.Base,
		"CATALINA_PID="+n.pidFile(), "CATALINA_OUT="+filepath.Join(n.Base, "logs", "catalina.out"),
		"CATALINA_TMPDIR="+filepath.Join(n.Base, "temp"),
		"JAVA_OPTS="+cfg.JVMOptions+" -Djava.net.preferIPv4Stack=true -Duser.timezone=UTC -Duser.language=en -Duser.country=US")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tomcat %s: catalina.sh start: %v\n%s", cfg.Route, err, out)
	}
	if err := poll(5*time.Second, func() error {
		var err error
		n.pid, err = n.readPid()
		return err
	}); err != nil {
		t.Fatalf("tomcat %s: %v", cfg.Route, err)
	}
	// catalina.sh writes the pid of the shell it forks for "eval java ... &" and exits:
	// until that shell has exec'd the JVM, the pid's command line is the shell's, which
	// alive takes for another process, so that Wait would report the node exited with an
	// empty log. Wait for the exec, or for the process to be gone (Wait then says so).
	if err := n.awaitExec(10 * time.Second); err != nil {
		t.Fatalf("tomcat %s: pid %d: %v", cfg.Route, n.pid, err)
	}
	t.Cleanup(n.Stop)
	return n
}

// awaitExec waits up to timeout until the node's pid is its JVM (alive) or gone
// (TestAwaitExec).
func (n *Node) awaitExec(timeout time.Duration) error {
	return poll(timeout, func() error {
		if n.alive() || n.gone() {
			return nil
		}
		return errors.New("the JVM not exec'd yet")
	})
}

// gone reports whether the node's pid names no process or a zombie.
func (n *Node) gone() bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// waitTimeout bounds Wait, its requests included.
const waitTimeout = 120 * time.Second

// Wait waits up to 120 s until a launched node's /app answers. Each /health request is
// bounded by what is left of those 120 s as well as by the client's 30 s timeout, so a
// request that hangs near the end does not take Wait past them (TestWaitWithinItsBound).
func (n *Node) Wait(t testutil.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	exited := false
	err := testutil.Poll(ctx, func() error {
		if !n.alive() {
			exited = true
			return nil
		}
		_, err := n.get(ctx, "/health", nil)
		return err
	})
	if exited {
		t.Fatalf("tomcat %s exited:\n%s", n.Route, n.Log())
	}
	if err != nil {
		t.Fatalf("tomcat %s not answering within %v: %v\n%s", n.Route, waitTimeout, err, n.Log())
	}
}

// poll is testutil.Poll bounded by timeout.
func poll(timeout time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return testutil.Poll(ctx, cond)
}

// Pid is the node's process id (0 once stopped).
func (n *Node) Pid() int { return n.pid }

func (n *Node) pidFile() string { return filepath.Join(n.Base, "tomcat.pid") }

func (n *Node) readPid() (int, error) {
	b, err := os.ReadFile(n.pidFile())
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// alive reports whether the node's process runs and is this node's Tomcat.
func (n *Node) alive() bool {
	if n.pid <= 0 {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", n.pid))
	if err != nil || !bytes.Contains(cmdline, []byte("-Dcatalina.base="+n.Base)) {
		return false
	}
	return !n.gone() // a zombie (state Z) has exited
}

// Stop sends SIGTERM and waits up to 30 s for the process to end, then SIGKILLs it.
func (n *Node) Stop() {
	if !n.alive() {
		return
	}
	_ = signal(n.pid, syscall.SIGTERM)
	if poll(30*time.Second, func() error {
		if n.alive() {
			return errors.New("running")
		}
		return nil
	}) != nil {
		n.Kill()
	}
	n.pid = 0
}

// Kill sends SIGKILL, as a crash, and waits until the process is gone.
func (n *Node) Kill() {
	if !n.alive() {
		return
	}
	_ = signal(n.pid, syscall.SIGKILL)
	_ = poll(10*time.Second, func() error {
		if n.alive() {
			return errors.New("running")
		}
		return nil
	})
	n.pid = 0
}

var (
	stateRequested = regexp.MustCompile(`(?m)^(\S+ \S+) INFO \S+ \S+ Manager \[[^]]*\], requesting session state from`)
	stateReceived  = regexp.MustCompile(`session state sent at \[[^]]*\] received in \[([\d,]+)\] ms`)
)

// StateTransfer reads the node's state transfer at start from its DeltaManager's log
// lines: when it sent GET_ALL_SESSIONS (deltaManager.waitForSessionState), and how long
// until its wait loop, which looks every 100 ms, saw the transfer complete
// (deltaManager.sessionReceived). That the transfer completed does not mean the sessions
// arrived: a donor whose message of all sessions failed still ends the transfer. It fails
// when the log lacks a line: the node had no member to ask, or the transfer timed out.
func (n *Node) StateTransfer() (requested time.Time, took time.Duration, err error) {
	b, err := os.ReadFile(filepath.Join(n.Base, "logs", "catalina.out"))
	if err != nil {
		return time.Time{}, 0, err
	}
	req, done := stateRequested.FindSubmatch(b), stateReceived.FindSubmatch(b)
	if req == nil || done == nil {
		return time.Time{}, 0, fmt.Errorf("tomcat %s logged no completed state transfer", n.Route)
	}
	// The JVM runs in UTC with an English locale (Start): 03-Dec-2026 10:29:53.158, and
	// 7,010 ms.
	requested, err = time.Parse("02-Jan-2006 15:04:05.000", string(req[1]))
	if err != nil {
		return time.Time{}, 0, err
	}
	ms, err := strconv.Atoi(strings.ReplaceAll(string(done[1]), ",", ""))
	return requested, time.Duration(ms) * time.Millisecond, err
}

// Log returns the end of the node's catalina.out, for failure messages.
func (n *Node) Log() string {
	b, _ := os.ReadFile(filepath.Join(n.Base, "logs", "catalina.out"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Get requests path (e.g. "/counter") with the session cookie id (none if empty) and
// returns the trimmed body of a 200 answer; other statuses are errors that start with
// the status code.
func (n *Node) Get(path string, cookie *http.Cookie) (string, error) {
	return n.get(context.Background(), path, cookie)
}

// get is Get with ctx bounding the request besides the client's timeout.
func (n *Node) get(ctx context.Context, path string, cookie *http.Cookie) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+path, nil)
	if err != nil {
		return "", err
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return strings.TrimSpace(string(body)), nil
}

var client = &http.Client{Timeout: 30 * time.Second}

// SessionCookie is the cookie of session id for the node's /app.
func SessionCookie(id string) *http.Cookie { return &http.Cookie{Name: "JSESSIONID", Value: id} }

func (n *Node) writeBase(app string) error {
	for _, d := range []string{"conf", "logs", "temp", "work", "webapps", "farm-watch", "farm-temp"} {
		if err := os.MkdirAll(filepath.Join(n.Base, d), 0o755); err != nil {
			return err
		}
	}
	for _, f := range []string{"web.xml", "catalina.properties", "logging.properties"} {
		b, err := os.ReadFile(filepath.Join(Home, "etc", f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(n.Base, "conf", f), b, 0o644); err != nil {
			return err
		}
	}
	contextClass := ""
	if n.ReplicatedContext {
		contextClass = ` className="org.apache.catalina.ha.context.ReplicatedContext"`
	}
	files := map[string]string{
		"conf/server.xml": n.serverXML(),
		// The JarScanner looks only in the application's WEB-INF/lib (it has none), not
		// on the JVM's class path, for TLDs, web fragments and annotated classes: the
		// test application has no JSP and no fragment. Scanning the class path took a
		// Tomcat start about 1 s of CPU time (3.5 instead of 2.5 s) and its deployment
		// 5.7 to 9.9 s instead of 1.8 to 3.6 on the loaded 2-core CI machine
		// (2026-12-07, three starts each).
		"conf/context.xml": "<Context><WatchedResource>WEB-INF/web.xml</WatchedResource>" +
			`<JarScanner scanClassPath="false"/></Context>` + "\n",
		// The Engine's realm: the test page's /login authenticates against it.
		"conf/tomcat-users.xml": "<tomcat-users>\n  <user username=\"" + RealmUser + "\" password=\"" + RealmPassword +
			"\" roles=\"dev,admin\"/>\n</tomcat-users>\n",
		// The web application is the compiled directory, shared by the nodes.
		"conf/Catalina/localhost/app.xml": fmt.Sprintf("<Context docBase=%q%s/>\n", app, contextClass),
	}
	for name, content := range files {
		p := filepath.Join(n.Base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func attr(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (n *Node) serverXML() string {
	var members strings.Builder
	for _, m := range n.Members {
		fmt.Fprintf(&members, `            <Member className="org.apache.catalina.tribes.membership.StaticMember" host="127.0.0.1" port="%d" uniqueId="%s"/>
`, m.Port, m.UniqueID.TomcatText())
	}
	route := fmt.Sprintf(` jvmRoute="%s"`, attr(n.Route))
	binder := `
        <Valve className="org.apache.catalina.ha.session.JvmRouteBinderValve"/>`
	if n.NoJvmRoute {
		route, binder = "", ""
	}
	timeout := ""
	if n.SenderTimeout > 0 {
		timeout = fmt.Sprintf(` timeout="%d"`, n.SenderTimeout.Milliseconds())
	}
	expiry, background := "", ""
	if n.ExpireEverySecond {
		expiry, background = ` processExpiresFrequency="1"`, ` backgroundProcessorDelay="1"`
	}
	deployer := ""
	if n.Farm {
		background = ` backgroundProcessorDelay="1"`
		deployer = fmt.Sprintf(`
        <Deployer className="org.apache.catalina.ha.deploy.FarmWarDeployer" tempDir="%s" deployDir="%s"
                  watchDir="%s" watchEnabled="%t" processDeployFrequency="1"/>`,
			attr(n.FarmTempDir()), attr(n.AppBase()), attr(n.FarmWatchDir()), n.FarmWatch)
	}
	manager := `<Manager className="org.apache.catalina.ha.session.DeltaManager" expireSessionsOnShutdown="false"
                 notifyListenersOnReplication="true"` + expiry + `/>`
	if n.BackupManager {
		manager = `<Manager className="org.apache.catalina.ha.session.BackupManager" mapSendOptions="6"
                 notifyListenersOnReplication="true"` + expiry + `/>`
	}
	cluster := ""
	if !n.NoCluster {
		cluster = fmt.Sprintf(`      <Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" channelSendOptions="%d">
        %s
        <Channel className="org.apache.catalina.tribes.group.GroupChannel">
          <Membership className="org.apache.catalina.tribes.membership.StaticMembershipService">
            <LocalMember className="org.apache.catalina.tribes.membership.StaticMember" host="127.0.0.1" port="%d" uniqueId="%s"/>
%s          </Membership>
          <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver" address="127.0.0.1" port="%d" autoBind="0"/>
          <Sender className="org.apache.catalina.tribes.transport.ReplicationTransmitter">
            <Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender"%s/>
          </Sender>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpPingInterceptor" staticOnly="true"/>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector"/>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor"/>
        </Channel>
        <Valve className="org.apache.catalina.ha.tcp.ReplicationValve" filter=""/>%s
        <ClusterListener className="org.apache.catalina.ha.session.ClusterSessionListener"/>%s
      </Cluster>
`, n.SendOption, manager, n.Port, n.UniqueID.TomcatText(), members.String(), n.Port, timeout, binder, deployer)
	}
	engineCluster, inHost := cluster, ""
	if n.Farm { // FarmWarDeployer only runs in a cluster of a Host
		engineCluster, inHost = "", cluster
	}
	if n.SSO {
		inHost += `        <Valve className="org.apache.catalina.ha.authenticator.ClusterSingleSignOn"/>
`
	}
	host := `      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>
`
	if inHost != "" {
		host = `      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false">
` + inHost + `      </Host>
`
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="%d" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="20000"/>
    <Engine name="Catalina" defaultHost="localhost"%s%s>
      <Realm className="org.apache.catalina.realm.MemoryRealm" pathname="conf/tomcat-users.xml"/>
%s%s    </Engine>
  </Service>
</Server>
`, n.HTTPPort, route, background, engineCluster, host)
}
