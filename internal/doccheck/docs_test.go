package doccheck

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/printer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
)

// block is one fenced block of a markdown file.
type block struct {
	file  string // relative to the repository root
	line  int    // line of the opening fence
	lang  string
	note  string // the doccheck annotation before the fence, without "doccheck:"
	lines []string
}

func (b *block) String() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

func (b *block) text() string { return strings.Join(b.lines, "\n") + "\n" }

// noteKind splits the annotation into its first word and the rest.
func (b *block) noteKind() (kind, rest string) {
	kind, rest, _ = strings.Cut(b.note, " ")
	return kind, strings.TrimSpace(rest)
}

var annotation = regexp.MustCompile(`^<!--\s*doccheck:\s*(.*?)\s*-->$`)

// parseMarkdown returns the fenced blocks of one file.
func parseMarkdown(file string, data []byte) ([]*block, error) {
	var blocks []*block
	var cur *block
	prev := ""
	for i, l := range strings.Split(string(data), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{file: file, line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(l, "```"))}
			if m := annotation.FindStringSubmatch(strings.TrimSpace(prev)); m != nil {
				cur.note = m[1]
			}
		case cur != nil && strings.TrimSpace(l) == "```":
			blocks = append(blocks, cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, l)
		case strings.Contains(l, "doccheck:") && !annotation.MatchString(strings.TrimSpace(l)):
			return nil, fmt.Errorf("%s:%d: malformed doccheck annotation %q", file, i+1, l)
		}
		prev = l
	}
	if cur != nil {
		return nil, fmt.Errorf("%s: unclosed fence", cur)
	}
	return blocks, nil
}

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

func docFiles(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	out := []string{"README.md"}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

// tally counts what happened to the blocks, for the test's log.
type tally struct {
	mu   sync.Mutex
	what map[string][]string
}

func (c *tally) add(kind string, b *block) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.what == nil {
		c.what = map[string][]string{}
	}
	c.what[kind] = append(c.what[kind], b.String())
}

func TestDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the documentation test builds and runs the demo (about 40 s)")
	}
	lockMachine(t)
	root := repoRoot(t)
	var all []*block
	for _, f := range docFiles(t, root) {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		bs, err := parseMarkdown(f, data)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, bs...)
	}
	var c tally
	var goBlocks []*block
	for _, b := range all {
		if b.lang == "go" {
			goBlocks = append(goBlocks, b)
		}
	}
	t.Run("go", func(t *testing.T) { checkGo(t, root, goBlocks, &c) })

	r := newRunner(t, root)
	t.Run("sh", func(t *testing.T) {
		file := ""
		for _, b := range all {
			if b.file != file {
				r.stopBackground(t)
				file = b.file
			}
			switch b.lang {
			case "go":
			case "sh":
				r.shBlock(t, b, &c)
			case "":
				r.plainBlock(t, b, &c)
			default:
				t.Errorf("%s: block of language %q: the documentation test knows go, sh and plain blocks", b, b.lang)
			}
		}
		r.stopBackground(t)
	})
	var sum []string
	kinds := make([]string, 0, len(c.what))
	for k := range c.what {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	n := 0
	for _, k := range kinds {
		n += len(c.what[k])
		sum = append(sum, fmt.Sprintf("%s: %d (%s)", k, len(c.what[k]), strings.Join(c.what[k], ", ")))
	}
	t.Logf("%d blocks:\n%s", len(all), strings.Join(sum, "\n"))
	if n != len(all) && !t.Failed() {
		t.Errorf("%d blocks, %d accounted for", len(all), n)
	}
}

// ---- Go blocks ----

// knownPackages maps the package names the docs use to their import paths.
var knownPackages = map[string]string{
	"channel":      "github.com/gotribes/tribes/channel",
	"channeltest":  "github.com/gotribes/tribes/channel/channeltest",
	"delta":        "github.com/gotribes/tribes/session/delta",
	"farm":         "github.com/gotribes/tribes/farm",
	"sso":          "github.com/gotribes/tribes/session/sso",
	"replmap":      "github.com/gotribes/tribes/replmap",
	"redisstore":   "github.com/gotribes/tribes/session/redisstore",
	"scsstore":     "github.com/gotribes/tribes/session/scsstore",
	"scs":          "github.com/alexedwards/scs/v2",
	"redis":        "github.com/redis/go-redis/v9",
	"interceptors": "github.com/gotribes/tribes/interceptors",
	"jserial":      "github.com/gotribes/tribes/jserial",
	"mcast":        "github.com/gotribes/tribes/membership/mcast",
	"metrics":      "github.com/gotribes/tribes/metrics",
	"nio":          "github.com/gotribes/tribes/transport/nio",
	"node":         "github.com/gotribes/tribes/node",
	"objects":      "github.com/gotribes/tribes/objects",
	"rpc":          "github.com/gotribes/tribes/rpc",
	"static":       "github.com/gotribes/tribes/membership/static",
	"staticsvc":    "github.com/gotribes/tribes/membership/staticsvc",
	"wire":         "github.com/gotribes/tribes/wire",
	"prometheus":   "github.com/prometheus/client_golang/prometheus",
	"promhttp":     "github.com/prometheus/client_golang/prometheus/promhttp",
	"bytes":        "bytes",
	"context":      "context",
	"errors":       "errors",
	"fmt":          "fmt",
	"http":         "net/http",
	"io":           "io",
	"log":          "log",
	"os":           "os",
	"regexp":       "regexp",
	"signal":       "os/signal",
	"slog":         "log/slog",
	"strings":      "strings",
	"sync":         "sync",
	"time":         "time",
}

// goSource is the file a Go block is type-checked as.
type goSource struct {
	b        *block
	src      string
	imports  []string
	fragment bool
}

// goFile turns a block into a Go file whose //line directives point back at the markdown.
func goFile(b *block) (*goSource, error) {
	kind, rest := b.noteKind()
	body := b.text()
	at := fmt.Sprintf("//line %s:%d\n", b.file, b.line+1)
	switch {
	case kind == "excerpt":
		return nil, nil
	case kind != "" && kind != "fragment":
		return nil, fmt.Errorf("%s: annotation %q does not apply to a go block", b, b.note)
	case strings.HasPrefix(strings.TrimSpace(body), "package "):
		return &goSource{b: b, src: at + body}, nil
	}
	var s goSource
	s.b = b
	if kind == "fragment" {
		if !strings.HasPrefix(rest, "func(") {
			return nil, fmt.Errorf("%s: fragment annotation needs a signature, func(…) …: %q", b, b.note)
		}
		body = strings.ReplaceAll(body, "{ … }", "{}")
		s.fragment = true
		s.src = fmt.Sprintf("//line %s:%d\nfunc _%s {\n%s%s\tpanic(0)\n}\n", b.file, b.line-1, strings.TrimPrefix(rest, "func"), at, body)
	} else {
		s.src = at + body
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", "package doc\n"+s.src, 0)
	if err != nil {
		if kind == "" {
			return nil, fmt.Errorf("%s: neither a program nor declarations (%v); statements need <!-- doccheck: fragment func(…) … -->", b, err)
		}
		return nil, err
	}
	seen := map[string]bool{}
	for _, id := range f.Unresolved {
		if p, ok := knownPackages[id.Name]; ok && !seen[p] {
			seen[p] = true
			s.imports = append(s.imports, p)
		}
	}
	sort.Strings(s.imports)
	var imp strings.Builder
	imp.WriteString("package doc\n")
	for _, p := range s.imports {
		fmt.Fprintf(&imp, "import %q\n", p)
	}
	s.src = imp.String() + s.src
	return &s, nil
}

// exportData lists the compiled export data of paths and their dependencies.
func exportData(t testing.TB, root string, paths []string) map[string]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-e", "-export", "-deps", "-json=ImportPath,Export"}, paths...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -export: %v\n%s", err, stderr.Bytes())
	}
	m := map[string]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct{ ImportPath, Export string }
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		m[p.ImportPath] = p.Export
	}
	return m
}

func checkGo(t testing.TB, root string, blocks []*block, c *tally) {
	var sources []*goSource
	paths := map[string]bool{}
	for _, b := range blocks {
		if k, rest := b.noteKind(); k == "excerpt" {
			if err := checkExcerpt(root, b, rest); err != nil {
				t.Error(err)
			}
			c.add("go excerpt compared with its source", b)
			continue
		}
		s, err := goFile(b)
		if err != nil {
			t.Error(err)
			continue
		}
		sources = append(sources, s)
		for _, p := range s.imports {
			paths[p] = true
		}
	}
	// Complete programs name their imports themselves.
	fset := token.NewFileSet()
	files := make([]*ast.File, len(sources))
	for i, s := range sources {
		f, err := parser.ParseFile(fset, s.b.file, s.src, 0)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		files[i] = f
		for _, is := range f.Imports {
			p, _ := strconv.Unquote(is.Path.Value)
			paths[p] = true
		}
	}
	export := exportData(t, root, slices.Sorted(func(yield func(string) bool) {
		for p := range paths {
			if !yield(p) {
				return
			}
		}
	}))
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := export[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	for i, s := range sources {
		if files[i] == nil {
			continue
		}
		var errs []string
		conf := types.Config{Importer: imp, Error: func(err error) {
			if s.fragment && strings.Contains(err.Error(), "declared and not used") {
				return
			}
			errs = append(errs, err.Error())
		}}
		_, _ = conf.Check(files[i].Name.Name, fset, []*ast.File{files[i]}, nil)
		for _, e := range errs {
			t.Errorf("%s (go block at %s)", e, s.b)
		}
		switch {
		case files[i].Name.Name == "main":
			c.add("go program type-checked", s.b)
		case s.fragment:
			c.add("go fragment type-checked", s.b)
		default:
			c.add("go declarations type-checked", s.b)
		}
	}
}

// checkExcerpt compares the declarations of b with those of the same name in the file path.
func checkExcerpt(root string, b *block, path string) error {
	decls := func(name, src string) (map[string]string, []string, error) {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			return nil, nil, err
		}
		m := map[string]string{}
		var order []string
		for _, d := range f.Decls {
			var key string
			switch d := d.(type) {
			case *ast.FuncDecl:
				key = d.Name.Name
				if d.Recv != nil && len(d.Recv.List) == 1 {
					var rb strings.Builder
					_ = printer.Fprint(&rb, fset, d.Recv.List[0].Type)
					key = rb.String() + "." + key
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						key += s.Name.Name + " "
					case *ast.ValueSpec:
						for _, n := range s.Names {
							key += n.Name + " "
						}
					}
				}
			}
			if key == "" {
				continue
			}
			var out strings.Builder
			_ = printer.Fprint(&out, fset, d)
			var kept []string
			for l := range strings.SplitSeq(out.String(), "\n") {
				if strings.TrimSpace(l) != "" {
					kept = append(kept, l)
				}
			}
			m[key] = strings.Join(kept, "\n")
			order = append(order, key)
		}
		return m, order, nil
	}
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		return fmt.Errorf("%s: excerpt of %s: %v", b, path, err)
	}
	want, _, err := decls(path, string(data))
	if err != nil {
		return err
	}
	src := b.text()
	if !strings.HasPrefix(strings.TrimSpace(src), "package ") {
		src = "package excerpt\n" + src
	}
	got, order, err := decls(b.String(), src)
	if err != nil {
		return fmt.Errorf("%s: %v", b, err)
	}
	if len(order) == 0 {
		return fmt.Errorf("%s: excerpt without declarations", b)
	}
	for _, k := range order {
		if w, ok := want[k]; !ok {
			return fmt.Errorf("%s: %s declares %s, which %s does not", b, b, k, path)
		} else if w != got[k] {
			return fmt.Errorf("%s: %s differs from %s:\n--- doc\n%s\n--- %s\n%s", b, k, path, got[k], path, w)
		}
	}
	return nil
}

// ---- shell blocks ----

// runner runs the shell blocks' commands.
type runner struct {
	root, bin string
	vars      map[string]string
	bg        []*bgProc
	outputs   map[string]string // stdout of the last run of each command line
	alone     map[string]bool   // command lines that passed with no background process
	help      map[string]string // tribesdemo <command> -h
}

type bgProc struct {
	line string
	at   string
	cmd  *exec.Cmd
	out  *testutil.Buffer
	done chan error
}

// buildLine is the documented build of the demo; the test runs it once, into a temporary
// directory.
const buildLine = "go build -o tribesdemo ./cmd/tribesdemo"

func newRunner(t testing.TB, root string) *runner {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tribesdemo")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/tribesdemo")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", buildLine, err, out)
	}
	return &runner{root: root, bin: bin, vars: map[string]string{}, outputs: map[string]string{}, alone: map[string]bool{}, help: map[string]string{}}
}

// commandLines joins continued lines and drops comments; each result keeps the markdown
// line it starts on and its trailing comment.
type cmdLine struct {
	n             int
	text, comment string
}

func commandLines(b *block) []cmdLine {
	var out []cmdLine
	var cur *cmdLine
	for i, l := range b.lines {
		code, comment := l, ""
		if j := strings.Index(l, " #"); j >= 0 {
			code, comment = l[:j], strings.TrimSpace(l[j+2:])
		}
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			code, comment = "", strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#"))
		}
		code = strings.TrimSpace(code)
		if cur == nil {
			if code == "" {
				continue
			}
			cur = &cmdLine{n: b.line + 1 + i}
		}
		cont := strings.HasSuffix(code, `\`)
		cur.text += strings.TrimSuffix(code, `\`)
		if comment != "" {
			cur.comment = strings.TrimSpace(cur.comment + " " + comment)
		}
		if cont {
			cur.text += " "
			continue
		}
		cur.text = strings.Join(strings.Fields(cur.text), " ")
		out = append(out, *cur)
		cur = nil
	}
	return out
}

// words splits a command line as a shell would (quotes, $VAR), without globbing.
func (r *runner) words(s string) ([]string, error) {
	var out []string
	var w strings.Builder
	inWord := false
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote == '\'' && ch != '\'':
			w.WriteByte(ch)
		case quote != 0 && ch == quote:
			quote = 0
		case quote == 0 && (ch == '\'' || ch == '"'):
			quote, inWord = ch, true
		case ch == '$':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			name := s[i+1 : j]
			v, ok := r.vars[name]
			if !ok {
				return nil, fmt.Errorf("$%s is not set by an earlier line", name)
			}
			w.WriteString(v)
			inWord = true
			i = j - 1
		case quote == 0 && ch == ' ':
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed quote")
	}
	if inWord {
		out = append(out, w.String())
	}
	return out, nil
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=\S*$`)

// demoArgs returns the tribesdemo arguments of a line that runs the demo.
func demoArgs(args []string) ([]string, bool) {
	switch {
	case len(args) >= 3 && args[0] == "go" && args[1] == "run" && args[2] == "./cmd/tribesdemo":
		return args[3:], true
	case len(args) >= 1 && (args[0] == "./tribesdemo" || args[0] == "tribesdemo"):
		return args[1:], true
	}
	return nil, false
}

var exitStatus = regexp.MustCompile(`\(exit status (\d+)\)`)

func (r *runner) shBlock(t testing.TB, b *block, c *tally) {
	kind, reason := b.noteKind()
	switch kind {
	case "parse-only":
		if reason == "" {
			t.Errorf("%s: parse-only needs a reason", b)
		}
		for _, l := range commandLines(b) {
			if err := r.parseOnly(l); err != nil {
				t.Errorf("%s:%d: %v", b.file, l.n, err)
			}
		}
		c.add("sh parse-only (checked, not run)", b)
		return
	case "":
	default:
		t.Errorf("%s: annotation %q does not apply to a sh block", b, b.note)
		return
	}
	started := false
	for _, l := range commandLines(b) {
		at := fmt.Sprintf("%s:%d", b.file, l.n)
		args, err := r.words(strings.TrimSuffix(l.text, "&"))
		if err != nil {
			t.Errorf("%s: %v", at, err)
			return
		}
		if len(args) > 0 && !slices.ContainsFunc(args, func(a string) bool { return !assignment.MatchString(a) }) {
			for _, a := range args {
				k, v, _ := strings.Cut(a, "=")
				r.vars[k] = v
			}
			continue
		}
		if l.text == buildLine {
			continue // built once by newRunner
		}
		if len(r.bg) == 0 && r.alone[l.text] {
			// The same command, with no node running now or then, already ran and passed
			// (the cluster demo of README and getting-started): not run twice.
			t.Logf("%s: %s: ran before", at, l.text)
			continue
		}
		var cmd *exec.Cmd
		long := strings.HasSuffix(l.text, "&")
		if da, ok := demoArgs(args); ok {
			cmd = exec.Command(r.bin, da...)
			if len(da) > 0 && (da[0] == "node" || da[0] == "sessions") && !slices.ContainsFunc(da, func(a string) bool { return strings.HasPrefix(a, "--seconds") }) {
				long = true
			}
		} else if len(args) >= 2 && args[0] == "go" && args[1] == "build" {
			cmd = exec.Command("go", args[1:]...)
		} else {
			t.Errorf("%s: %q: the documentation test runs tribesdemo and go build lines; annotate the block parse-only with a reason", at, l.text)
			continue
		}
		cmd.Dir = r.root
		if long {
			if !started {
				r.stopBackground(t) // a block that starts nodes follows the earlier ones' end
				started = true
			}
			r.start(t, at, l.text, cmd)
			continue
		}
		want := 0
		if m := exitStatus.FindStringSubmatch(l.comment); m != nil {
			want, _ = strconv.Atoi(m[1])
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		// A guard against a command that hangs, not a speed check: a go build on a loaded
		// machine with a cold cache took over a minute (load 25-30).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		began := time.Now()
		err = runCtx(ctx, cmd)
		cancel()
		t.Logf("%s: %s: %v", at, l.text, time.Since(began).Round(time.Millisecond))
		got := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			got = ee.ExitCode()
		} else if err != nil {
			t.Errorf("%s: %s: %v", at, l.text, err)
			continue
		}
		if got != want {
			t.Errorf("%s: %s: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", at, l.text, got, want, stdout.Bytes(), stderr.Bytes())
		}
		r.outputs[l.text] = stdout.String()
		if len(r.bg) == 0 && got == want {
			r.alone[l.text] = true
		}
	}
	// sessions.md says that each sessions node also reports that it is ready.
	for _, p := range r.bg {
		if strings.Contains(p.line, "tribesdemo sessions") && !waitFor(p, `"event":"ready"`, 20*time.Second) {
			t.Errorf("%s: %s printed no ready line within 20 s\n%s", p.at, p.line, p.out.String())
		}
	}
	c.add("sh executed", b)
}

// waitFor polls the output of p until it contains s, p exits or the time is up.
func waitFor(p *bgProc, s string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for !strings.Contains(p.out.String(), s) {
		select {
		case err := <-p.done:
			p.done <- err
			return strings.Contains(p.out.String(), s)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// runCtx runs cmd and interrupts it when ctx ends.
func runCtx(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("no exit within the time limit: %w", ctx.Err())
	}
}

// start runs a long-running command and waits for its "started" line.
func (r *runner) start(t testing.TB, at, line string, cmd *exec.Cmd) {
	p := &bgProc{line: line, at: at, cmd: cmd, out: &testutil.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		t.Errorf("%s: %s: %v", at, line, err)
		return
	}
	go func() { p.done <- cmd.Wait() }()
	r.bg = append(r.bg, p)
	if !waitFor(p, `"started"`, 20*time.Second) {
		t.Errorf("%s: %s printed no started line within 20 s\n%s", at, line, p.out.String())
	}
}

// stopBackground interrupts the background commands and checks that they end cleanly.
func (r *runner) stopBackground(t testing.TB) {
	for _, p := range r.bg {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
	}
	for _, p := range r.bg {
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("%s: %s ended with %v after SIGINT\n%s", p.at, p.line, err, p.out.String())
			}
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("%s: %s did not stop within 15 s of SIGINT", p.at, p.line)
		}
	}
	r.bg = nil
}

var flagName = regexp.MustCompile(`^--?([a-z][a-z0-9-]*)`)

// parseOnly checks a command that is not run.
func (r *runner) parseOnly(l cmdLine) error {
	args := strings.Fields(strings.TrimSuffix(l.text, "&"))
	if len(args) > 1 && args[0] == "sudo" {
		args = args[1:]
	}
	if da, ok := demoArgs(args); ok {
		if len(da) == 0 {
			return nil
		}
		h, ok := r.help[da[0]]
		if !ok {
			out, _ := exec.Command(r.bin, da[0], "-h").CombinedOutput()
			h = string(out)
			r.help[da[0]] = h
		}
		if !strings.HasPrefix(h, "usage: tribesdemo "+da[0]) {
			return fmt.Errorf("tribesdemo has no command %q:\n%s", da[0], h)
		}
		for _, a := range da[1:] {
			if m := flagName.FindStringSubmatch(a); m != nil {
				if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(m[1]) + `(\s|$)`).MatchString(h) {
					return fmt.Errorf("tribesdemo %s has no flag --%s", da[0], m[1])
				}
			}
		}
		return nil
	}
	switch {
	case len(args) >= 2 && args[0] == "go" && args[1] == "test":
		return r.checkGoTest(l.text)
	case len(args) >= 3 && args[0] == "go" && args[1] == "run" && (strings.HasPrefix(args[2], "./cmd/") || strings.HasPrefix(args[2], "./interop/")):
		return checkFlagsInSource(filepath.Join(r.root, args[2]), args[3:])
	case len(args) >= 1 && strings.HasPrefix(args[0], "scripts/"):
		st, err := os.Stat(filepath.Join(r.root, args[0]))
		if err != nil {
			return err
		}
		if st.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable", args[0])
		}
		return nil
	case len(args) >= 4 && args[0] == "java" && args[1] == "-cp":
		return r.checkJavaPeer(args[3:])
	}
	return fmt.Errorf("%q: no check known for this command", l.text)
}

// checkGoTest checks that the package of a go test line exists and that its -run and -bench
// patterns select a test or benchmark of it.
func (r *runner) checkGoTest(line string) error {
	args, err := r.words(line)
	if err != nil {
		return err
	}
	var pkg, run, bench string
	for i := 2; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-run" && i+1 < len(args):
			run = args[i+1]
			i++
		case a == "-bench" && i+1 < len(args):
			bench = args[i+1]
			i++
		case strings.HasPrefix(a, "-") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && !strings.HasPrefix(args[i+1], "./"):
			i++ // a flag's value
		case strings.HasPrefix(a, "./"):
			pkg = a
		}
	}
	if pkg == "" {
		return fmt.Errorf("no ./package in %q", line)
	}
	files, _ := filepath.Glob(filepath.Join(r.root, pkg, "*_test.go"))
	if len(files) == 0 {
		return fmt.Errorf("%s has no tests", pkg)
	}
	var names []string
	fn := regexp.MustCompile(`(?m)^func ((Test|Benchmark)\w*)\(`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for _, m := range fn.FindAllStringSubmatch(string(data), -1) {
			names = append(names, m[1])
		}
	}
	match := func(prefix, pattern string) error {
		if pattern == "" || pattern == "^$" {
			return nil
		}
		// go test matches the part before the first unbracketed '/' against the
		// top-level names; each alternative of it must select something.
		top := topLevel(pattern)
		alts := []string{top}
		if !strings.ContainsAny(top, "([") {
			alts = strings.Split(top, "|")
		}
		for _, alt := range alts {
			re, err := regexp.Compile(alt)
			if err != nil {
				return fmt.Errorf("pattern %q: %v", pattern, err)
			}
			if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, prefix) && re.MatchString(n) }) {
				return fmt.Errorf("%s: no %s function matches %q (of %q)", pkg, prefix, alt, pattern)
			}
		}
		// An alternative after the '/' that names a top-level function is a slip: go test
		// reads it as a sub-test of the first part, so that function does not run.
		if rest, ok := strings.CutPrefix(pattern, top+"/"); ok && !strings.ContainsAny(rest, "([") {
			topRe, _ := regexp.Compile(top)
			for _, alt := range strings.Split(rest, "|") {
				re, err := regexp.Compile(alt)
				if alt == "" || err != nil {
					continue
				}
				for _, n := range names {
					if strings.HasPrefix(n, prefix) && re.MatchString(n) && !topRe.MatchString(n) {
						return fmt.Errorf("%s: %q of %q is matched below %q, so %s does not run (go test splits the pattern at '/')", pkg, alt, pattern, top, n)
					}
				}
			}
		}
		return nil
	}
	if err := match("Test", run); err != nil {
		return err
	}
	return match("Benchmark", bench)
}

// topLevel is the part of a -run or -bench pattern before its first '/' outside brackets and
// parentheses.
func topLevel(pattern string) string {
	depth := 0
	for i, ch := range pattern {
		switch ch {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case '/':
			if depth == 0 {
				return pattern[:i]
			}
		}
	}
	return pattern
}

// checkFlagsInSource checks that the command in dir defines each -flag of args (as the
// flag package's name argument, "name").
func checkFlagsInSource(dir string, args []string) error {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	var src []byte
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		src = append(src, data...)
	}
	if len(src) == 0 {
		return fmt.Errorf("no Go command in %s", dir)
	}
	for _, a := range args {
		if m := flagName.FindStringSubmatch(a); m != nil && !bytes.Contains(src, []byte(`"`+m[1]+`"`)) {
			return fmt.Errorf("%s defines no flag -%s", dir, m[1])
		}
	}
	return nil
}

// checkJavaPeer checks a java line of the interop peer: the class and its flags exist (a
// subcommand may read its flags in another file of the class's directory).
func (r *runner) checkJavaPeer(args []string) error {
	class := args[0]
	var dir string
	err := filepath.WalkDir(filepath.Join(r.root, "interop", "java"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == class+".java" {
			dir = filepath.Dir(p)
		}
		return err
	})
	if err != nil {
		return err
	}
	if dir == "" {
		return fmt.Errorf("no %s.java in interop/java", class)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.java"))
	if err != nil {
		return err
	}
	var src []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		src = append(src, b...)
	}
	// The peer reads "--name value" pairs into a map and looks names up as "name".
	for _, a := range args[1:] {
		if name, ok := strings.CutPrefix(a, "--"); ok && !bytes.Contains(src, []byte(`"`+name+`"`)) {
			return fmt.Errorf("%s's sources do not read %s", class, a)
		}
	}
	return nil
}

// plainBlock handles a block without language: a command's output or plain text.
func (r *runner) plainBlock(t testing.TB, b *block, c *tally) {
	kind, rest := b.noteKind()
	switch kind {
	case "text":
		if rest == "" {
			t.Errorf("%s: text needs a reason", b)
		}
		c.add("text (annotated, not code)", b)
	case "output":
		got, ok := r.outputs[rest]
		if !ok {
			t.Errorf("%s: output of %q, which no executed block before it runs", b, rest)
			return
		}
		if err := matchOutput(b.lines, got); err != nil {
			t.Errorf("%s: the output of %q differs: %v\n--- printed:\n%s", b, rest, err, got)
		}
		c.add("output compared", b)
	default:
		t.Errorf("%s: a block without language needs <!-- doccheck: output COMMAND --> or <!-- doccheck: text REASON -->", b)
	}
}

// freeToken matches the words of shown output that differ from run to run.
var freeToken = regexp.MustCompile(`^\(?(\d+(\.\d+)?(µs|ms|s|m)?|[0-9A-Fa-f]{16,}(\.node\d+)?|\d+\.\d+\.\d+\.\d+:\d+|node\d+)[),]?$`)

func lineRegexp(l string) *regexp.Regexp {
	var parts []string
	for f := range strings.FieldsSeq(l) {
		if freeToken.MatchString(f) {
			parts = append(parts, `\S+`)
		} else {
			parts = append(parts, regexp.QuoteMeta(f))
		}
	}
	return regexp.MustCompile(`^\s*` + strings.Join(parts, `\s+`) + `\s*$`)
}

// matchOutput matches printed output against the documented lines: in order, with "…"
// standing for any lines.
func matchOutput(doc []string, got string) error {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(got))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	i := 0
	skip := false
	for _, d := range doc {
		if strings.TrimSpace(d) == "…" {
			skip = true
			continue
		}
		re := lineRegexp(d)
		for {
			if i >= len(out) {
				return fmt.Errorf("no line matches %q", d)
			}
			if re.MatchString(out[i]) {
				i++
				break
			}
			if !skip {
				return fmt.Errorf("line %d %q does not match %q", i+1, out[i], d)
			}
			i++
		}
		skip = false
	}
	if i < len(out) && !skip {
		return fmt.Errorf("unexpected line %d %q", i+1, out[i])
	}
	return nil
}
