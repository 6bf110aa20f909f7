package doccheck

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// headingSlug is the anchor GitHub gives a heading's text: lower case, without the
// characters other than letters, digits, '_', '-' and spaces, spaces made '-'.
func headingSlug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(text)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of a markdown file's headings (outside fenced blocks); a
// repeated heading's later anchors get "-1", "-2", … as on GitHub.
func anchors(data string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, l := range strings.Split(data, "\n") {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(l, "#") {
			continue
		}
		text := strings.TrimLeft(l, "#")
		if !strings.HasPrefix(text, " ") {
			continue
		}
		s := headingSlug(text)
		if n := seen[s]; n > 0 {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]*)\)`)

// brokenLinks returns the relative links of file (its text data) whose file does not
// exist under root, or whose anchor is no heading of it.
func brokenLinks(root, file, data string) []string {
	var bad []string
	cache := map[string]map[string]bool{}
	for _, m := range mdLink.FindAllStringSubmatch(data, -1) {
		link := m[1]
		if link == "" || strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
			continue
		}
		target, anchor, _ := strings.Cut(link, "#")
		p, content := file, []byte(data)
		if target != "" {
			p = path.Join(path.Dir(file), target)
			var err error
			if content, err = os.ReadFile(root + "/" + p); err != nil {
				bad = append(bad, fmt.Sprintf("%s: %s: no file %s", file, link, p))
				continue
			}
		}
		if anchor == "" || !strings.HasSuffix(p, ".md") {
			continue
		}
		if cache[p] == nil {
			cache[p] = anchors(string(content))
		}
		if !cache[p][anchor] {
			bad = append(bad, fmt.Sprintf("%s: %s: %s has no heading #%s", file, link, p, anchor))
		}
	}
	return bad
}

// TestLinksResolve: every relative link of README.md and docs/*.md names a file of the
// repository, and its anchor a heading of that file (sections moved between pages, as
// sessions.md's to consistency.md and failover.md, must take their links along).
func TestLinksResolve(t *testing.T) {
	root := repoRoot(t)
	n := 0
	for _, f := range docFiles(t, root) {
		data, err := os.ReadFile(root + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		n += len(mdLink.FindAllStringIndex(string(data), -1))
		for _, b := range brokenLinks(root, f, string(data)) {
			t.Error(b)
		}
	}
	if n < 50 {
		t.Fatalf("%d links found: the pattern no longer finds them", n)
	}
}

// TestBrokenLinksFound: brokenLinks reports a missing file and a missing anchor, and
// nothing for good links, a link into the same file or a web address.
func TestBrokenLinksFound(t *testing.T) {
	root := repoRoot(t)
	md := "[ok](README.md#two-commands) [self](#a-heading) [gone](docs/nope.md) [bad](README.md#nope) [web](https://example.com/x#y)\n" +
		"# A heading\n```\n# not a heading\n```\n"
	got := brokenLinks(root, "x.md", md)
	if len(got) != 2 || !strings.Contains(got[0], "docs/nope.md") || !strings.Contains(got[1], "#nope") {
		t.Errorf("broken links %q, want docs/nope.md and README.md#nope", got)
	}
	if a := anchors(md); !a["a-heading"] || a["not-a-heading"] {
		t.Errorf("anchors %v", a)
	}
	if s := headingSlug(" Single sign-on (`ClusterSingleSignOn`)"); s != "single-sign-on-clustersinglesignon" {
		t.Errorf("slug %q", s)
	}
}
