package doccheck

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// recorder collects the errors a check reports instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Error(args ...any) { r.errs = append(r.errs, fmt.Sprint(args...)) }

func (r *recorder) has(t *testing.T, want ...string) {
	t.Helper()
	all := strings.Join(r.errs, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("errors %q do not contain %q", r.errs, w)
		}
	}
}

func TestParseMarkdownReadsAnnotationsAndLines(t *testing.T) {
	md := "text\n<!-- doccheck: fragment func(x int) -->\n```go\nx++\n```\n\n```sh\nls\n```\n"
	bs, err := parseMarkdown("a.md", []byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 {
		t.Fatalf("%d blocks, want 2", len(bs))
	}
	if b := bs[0]; b.line != 3 || b.lang != "go" || b.note != "fragment func(x int)" || b.text() != "x++\n" {
		t.Errorf("first block %+v", b)
	}
	if b := bs[1]; b.line != 7 || b.lang != "sh" || b.note != "" {
		t.Errorf("second block %+v", b)
	}
	if _, err := parseMarkdown("b.md", []byte("<!-- doccheck: x\n```sh\n")); err == nil {
		t.Error("a malformed annotation and an unclosed fence were accepted")
	}
}

func TestGoBlocksThatBreakNameTheirLine(t *testing.T) {
	root := repoRoot(t)
	blocks := []*block{
		{file: "a.md", line: 10, lang: "go", note: "fragment func(ch *channel.Channel)", lines: []string{"x := 1", "ch.NoSuchMethod()"}},
		{file: "b.md", line: 20, lang: "go", lines: []string{"ch.Send(nil)"}},
		{file: "c.md", line: 30, lang: "go", lines: []string{"func f() int { return time.Second }"}},
		{file: "d.md", line: 40, lang: "go", note: "excerpt channel/listener.go", lines: []string{"type MessageListener interface {", "Accept(msg *Message) int", "}"}},
		{file: "e.md", line: 50, lang: "go", note: "fragment func(ch *channel.Channel)", lines: []string{"if ch == nil { … }"}},
	}
	rec := &recorder{TB: t}
	var c tally
	checkGo(rec, root, blocks, &c)
	rec.has(t, "a.md:12:", "NoSuchMethod", "b.md:20: neither a program nor declarations", "c.md:31:", "d.md:40: MessageListener  differs")
	if len(rec.errs) != 4 {
		t.Errorf("%d errors, want 4 (the unused x and the e.md block are fine): %q", len(rec.errs), rec.errs)
	}
}

func TestShellLinesThatFailNameTheirLine(t *testing.T) {
	root := repoRoot(t)
	failing, err := exec.LookPath("false")
	if err != nil {
		t.Skip("no false(1) to stand in for a failing tribesdemo")
	}
	r := &runner{root: root, bin: failing, vars: map[string]string{}, outputs: map[string]string{}, alone: map[string]bool{}, help: map[string]string{}}
	rec := &recorder{TB: t}
	var c tally
	r.shBlock(rec, &block{file: "a.md", line: 5, lang: "sh", lines: []string{
		"./tribesdemo cluster",
		"./tribesdemo send --to x   # (exit status 1)",
		"go build \\",
		"    ./no/such/package",
		"curl http://127.0.0.1:1/",
	}}, &c)
	rec.has(t, "a.md:6: ./tribesdemo cluster: exit status 1, want 0", "a.md:8: go build ./no/such/package: exit status 1", `a.md:10: "curl http://127.0.0.1:1/"`)
	if len(rec.errs) != 3 {
		t.Errorf("%d errors, want 3: %q", len(rec.errs), rec.errs)
	}
	rec = &recorder{TB: t}
	r.plainBlock(rec, &block{file: "a.md", line: 20, note: "output ./tribesdemo cluster", lines: []string{"anything"}}, &c)
	rec.has(t, `a.md:20: the output of "./tribesdemo cluster" differs`)
	rec = &recorder{TB: t}
	r.plainBlock(rec, &block{file: "a.md", line: 30, lines: []string{"x"}}, &c)
	rec.has(t, "a.md:30: a block without language needs")
}

func TestParseOnlyChecksGoTestPatterns(t *testing.T) {
	r := &runner{root: repoRoot(t), vars: map[string]string{}}
	for line, want := range map[string]string{
		"go test -run '^$' -bench 'Throughput|SyncAckRTT' ./transport/nio/":  "",
		"go test -run '^$' -bench 'Throughput/|SyncAckRTT' ./transport/nio/": "BenchmarkSyncAckRTT does not run",
		"go test -run '^$' -bench 'NoSuchBench' ./transport/nio/":            `no Benchmark function matches "NoSuchBench"`,
		"go test -run TestNoSuchTest ./wire/":                                `no Test function matches "TestNoSuchTest"`,
		"go test ./no/such/":                                                 "./no/such/ has no tests",
	} {
		err := r.parseOnly(cmdLine{text: line})
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", line, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want %q", line, err, want)
		}
	}
}

func TestMatchOutput(t *testing.T) {
	doc := []string{
		"== starting 3 nodes on 127.0.0.1:4000",
		"   node1 sees node2 join",
		"   …",
		"   delivered 400/400 in 12.5 µs (pid 6852)",
		"== done",
	}
	good := "== starting 3 nodes on 127.0.0.1:41234\n  node2   sees node1 join\n  node3 sees node1 join\n   delivered 400/400 in 3.1 µs (pid 1)\n== done\n"
	if err := matchOutput(doc, good); err != nil {
		t.Errorf("matching output: %v", err)
	}
	for _, bad := range []string{
		"== starting 3 nodes on 127.0.0.1:41234\n  extra line\n  node2 sees node1 join\n   delivered 400/400 in 3.1 µs (pid 1)\n== done\n",
		"== starting 3 nodes on 127.0.0.1:41234\n  node2 sees node1 join\n   delivered 399/400 in 3.1 µs (pid 1)\n== done\n",
		"== starting 3 nodes on 127.0.0.1:41234\n  node2 sees node1 join\n   delivered 400/400 in 3.1 µs (pid 1)\n",
		"== starting 3 nodes on 127.0.0.1:41234\n  node2 sees node1 join\n   delivered 400/400 in 3.1 µs (pid 1)\n== done\nmore\n",
	} {
		if err := matchOutput(doc, bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestCommandLines(t *testing.T) {
	b := &block{file: "a.md", line: 1, lines: []string{"# a comment", "cmd --a 1 \\", "    --b 2   # note (exit status 2)", "", "next &"}}
	got := commandLines(b)
	want := []cmdLine{{n: 3, text: "cmd --a 1 --b 2", comment: "note (exit status 2)"}, {n: 6, text: "next &"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	r := &runner{vars: map[string]string{"ID": "01"}}
	w, err := r.words(`a "b c" 'd $ID' x:$ID`)
	if err != nil || fmt.Sprint(w) != "[a b c d $ID x:01]" {
		t.Errorf("words: %q, %v", w, err)
	}
	if _, err := r.words("$NOPE"); err == nil {
		t.Error("an unset variable was accepted")
	}
}
