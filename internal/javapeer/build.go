// Package javapeer runs the Java test peer (interop/java, built on the real
// Apache Tomcat Tribes classes from Debian's libtomcat10-java) for interop
// tests and benchmarks.
//
// Typical use in a test:
//
//	javapeer.Skip(t)
//	b := javapeer.Start(t, "--throw-prefix", "THROW")
//	// ... let Go code send to b.Host:b.Port ...
//	ev := b.WaitEvent(t, 10*time.Second, javapeer.IsMessage)
//
// The Java process is started with -Djava.net.preferIPv4Stack=true, binds
// 127.0.0.1 only and never starts Tribes' multicast membership.
package javapeer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gotribes/tribes/internal/testenv"
	"github.com/gotribes/tribes/internal/testutil"
)

const (
	// TribesJar and JuliJar are the Debian libtomcat10-java jars the peer needs; UtilJar
	// holds org.apache.tomcat.util.json, which Tribes' KubernetesMembershipProvider parses
	// pod lists with.
	TribesJar = "/usr/share/java/tomcat10-tribes.jar"
	JuliJar   = "/usr/share/java/tomcat10-juli.jar"
	UtilJar   = "/usr/share/java/tomcat10-util.jar"

	// SkipReason is the message used by Skip.
	SkipReason = "needs Java 17 and Debian's libtomcat10-java: run scripts/install-test-deps.sh"

	// MainClass is the peer's main class (package-less).
	MainClass = "TribesPeer"

	// SourceEnv overrides the directory holding the peer's .java files.
	SourceEnv = "GOTRIBES_JAVAPEER_SRC"

	// JavaOptsEnv adds JVM options (space separated) to every peer process.
	JavaOptsEnv = "GOTRIBES_JAVA_OPTS"

	compileTimeout = 3 * time.Minute
)

// Jars is the library part of the classpath.
var Jars = []string{TribesJar, JuliJar, UtilJar}

// Available reports whether java, javac and the Tribes jars are present;
// reason says what is missing.
func Available() (reason string, ok bool) {
	var missing []string
	for _, tool := range []string{"java", "javac"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" not in PATH")
		}
	}
	for _, j := range Jars {
		if st, err := os.Stat(j); err != nil || st.IsDir() {
			missing = append(missing, j+" missing")
		}
	}
	if len(missing) > 0 {
		return strings.Join(missing, "; "), false
	}
	return "", true
}

// Skip skips t with a clear reason when Java or the jars are unavailable
// (or fails it under scripts/test.sh, see internal/testenv).
func Skip(t testutil.TB) {
	t.Helper()
	reason, ok := Available()
	if ok {
		return
	}
	testenv.Missing(t, "%s (%s)", SkipReason, reason)
}

// SourceDir returns the directory holding interop/java/*.java.
func SourceDir() (string, error) {
	if d := os.Getenv(SourceEnv); d != "" {
		return d, nil
	}
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "..", "interop", "java"))
	}
	if root, err := moduleRoot(); err == nil {
		candidates = append(candidates, filepath.Join(root, "interop", "java"))
	}
	for _, c := range candidates {
		if st, err := os.Stat(filepath.Join(c, MainClass+".java")); err == nil && !st.IsDir() {
			return filepath.Clean(c), nil
		}
	}
	return "", fmt.Errorf("javapeer: cannot find interop/java/%s.java (tried %v; set %s)", MainClass, candidates, SourceEnv)
}

// moduleRoot walks up from the working directory to the go.mod of this module.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for i := 0; i < 64; i++ {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/gotribes/tribes")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("javapeer: module root not found")
}

var (
	buildMu sync.Mutex
	builtCP string
)

// Build compiles interop/java/*.java against the jars into a cache directory
// (os.TempDir()/gotribes-javapeer-<hash of sources and jars>) and returns the
// classpath. Concurrent callers, also in other processes, are safe: every
// compiler writes into its own temporary directory that is then renamed into
// place; whoever loses the rename uses the winner's classes.
func Build() (classpath string, err error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if builtCP != "" {
		return builtCP, nil
	}
	if reason, ok := Available(); !ok {
		return "", errors.New("javapeer: " + reason)
	}
	src, err := SourceDir()
	if err != nil {
		return "", err
	}
	files, key, err := sourceKey(src)
	if err != nil {
		return "", err
	}
	target := filepath.Join(os.TempDir(), "gotribes-javapeer-"+key)
	if err := compileInto(files, target); err != nil {
		return "", err
	}
	builtCP = ClasspathFor(target)
	return builtCP, nil
}

// ClasspathFor returns the classpath for classes compiled into dir.
func ClasspathFor(dir string) string {
	return strings.Join(append([]string{dir}, Jars...), string(os.PathListSeparator))
}

// sourceKey lists the .java files and hashes their names and contents together
// with the identity of the jars.
func sourceKey(src string) ([]string, string, error) {
	files, err := filepath.Glob(filepath.Join(src, "*.java"))
	if err != nil {
		return nil, "", err
	}
	if len(files) == 0 {
		return nil, "", fmt.Errorf("javapeer: no .java files in %s", src)
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(b))
		h.Write(b)
	}
	for _, j := range Jars {
		st, err := os.Stat(j)
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", j, st.Size(), st.ModTime().UnixNano())
	}
	return files, hex.EncodeToString(h.Sum(nil))[:20], nil
}

const builtMarker = ".javapeer-complete"

func complete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, builtMarker))
	return err == nil
}

// compileInto makes target hold the compiled classes of files.
func compileInto(files []string, target string) error {
	if complete(target) {
		return nil
	}
	parent := filepath.Dir(target)
	tmp, err := os.MkdirTemp(parent, filepath.Base(target)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // no-op after a successful rename

	ctx, cancel := context.WithTimeout(context.Background(), compileTimeout)
	defer cancel()
	args := append([]string{"-nowarn", "-encoding", "UTF-8", "-d", tmp,
		"-cp", strings.Join(Jars, string(os.PathListSeparator))}, files...)
	cmd := exec.CommandContext(ctx, "javac", args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("javapeer: javac failed: %v\n%s", err, out.String())
	}
	if err := os.WriteFile(filepath.Join(tmp, builtMarker), []byte("ok\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, target); err != nil {
		// Somebody else won the race (target exists and is not empty).
		if complete(target) {
			return nil
		}
		// A stale, incomplete target (should not happen: only complete
		// directories are renamed into place). Replace it once.
		if rmErr := os.RemoveAll(target); rmErr == nil {
			if err2 := os.Rename(tmp, target); err2 == nil || complete(target) {
				return nil
			}
		}
		return fmt.Errorf("javapeer: installing classes into %s: %w", target, err)
	}
	return nil
}

// javaArgs returns the JVM arguments before the main class.
func javaArgs(classpath string) []string {
	a := []string{"-Djava.net.preferIPv4Stack=true"}
	if extra := strings.Fields(os.Getenv(JavaOptsEnv)); len(extra) > 0 {
		a = append(a, extra...)
	}
	return append(a, "-cp", classpath, MainClass)
}

// Content returns the bytes the peer's "send" command sends as message seq
// (0-based within one command): the ASCII prefix, then byte i = byte(i*7+seq)
// for every following index i (absolute index into the message). The length
// is max(size, len(prefix)).
func Content(size, seq int, prefix string) []byte {
	n := size
	if len(prefix) > n {
		n = len(prefix)
	}
	b := make([]byte, n)
	copy(b, prefix)
	for i := len(prefix); i < n; i++ {
		b[i] = byte(i*7 + seq)
	}
	return b
}

// ContentSHA256 is the lowercase hex SHA-256 of Content(size, seq, prefix).
func ContentSHA256(size, seq int, prefix string) string {
	s := sha256.Sum256(Content(size, seq, prefix))
	return hex.EncodeToString(s[:])
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	total int64
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += int64(len(p))
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return len(p), nil
	}
	if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total > int64(len(b.buf)) {
		return fmt.Sprintf("[... %d earlier bytes dropped ...]\n%s", b.total-int64(len(b.buf)), b.buf)
	}
	return string(b.buf)
}

var _ io.Writer = (*tailBuffer)(nil)
