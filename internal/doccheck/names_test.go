package doccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// typeMembers maps the repository's type names, bare ("Config") and qualified
// ("nio.Config"), to the names of their fields and methods; several types of one name
// share an entry. A struct field is also an entry of its own, naming its type's
// members, so that "Limits.MaxBytes" (JavaCodec.Limits, a jserial.DecoderConfig)
// resolves; embedded types are followed.
type typeMembers struct {
	members map[string]map[string]bool
	aliases map[string]map[string]bool // a name to the type names it stands for
}

func (tm *typeMembers) add(m map[string]map[string]bool, key, v string) {
	if m[key] == nil {
		m[key] = map[string]bool{}
	}
	m[key][v] = true
}

// typeName is the name of a field's type: T, *T, pkg.T, *pkg.T, T[X]; "" otherwise.
func typeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.StarExpr:
		return typeName(e.X)
	case *ast.SelectorExpr:
		if p, ok := e.X.(*ast.Ident); ok {
			return p.Name + "." + e.Sel.Name
		}
	case *ast.IndexExpr:
		return typeName(e.X)
	}
	return ""
}

func repoTypes(t *testing.T, root string) *typeMembers {
	t.Helper()
	tm := &typeMembers{members: map[string]map[string]bool{}, aliases: map[string]map[string]bool{}}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		pkg := f.Name.Name
		member := func(typ, name string) {
			tm.add(tm.members, typ, name)
			tm.add(tm.members, pkg+"."+typ, name)
		}
		fields := func(typ string, list *ast.FieldList) {
			for _, fl := range list.List {
				tn := typeName(fl.Type)
				if tn != "" && !strings.Contains(tn, ".") {
					tn = pkg + "." + tn
				}
				for _, n := range fl.Names {
					member(typ, n.Name)
					if tn != "" {
						tm.add(tm.aliases, n.Name, tn)
					}
				}
				if len(fl.Names) == 0 && tn != "" { // embedded
					member(typ, "embed:"+tn)
				}
			}
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if vs, ok := s.(*ast.ValueSpec); ok {
						for _, n := range vs.Names {
							tm.add(tm.members, "package "+pkg, n.Name)
						}
					}
					ts, ok := s.(*ast.TypeSpec)
					if !ok {
						continue
					}
					tm.add(tm.members, "package "+pkg, ts.Name.Name)
					member(ts.Name.Name, "")
					switch st := ts.Type.(type) {
					case *ast.StructType:
						fields(ts.Name.Name, st.Fields)
					case *ast.InterfaceType:
						fields(ts.Name.Name, st.Methods)
					}
				}
			case *ast.FuncDecl:
				// A method counts as its package's name too: the docs write
				// `channel.Send` for Channel.Send.
				tm.add(tm.members, "package "+pkg, d.Name.Name)
				if d.Recv != nil && len(d.Recv.List) == 1 {
					if tn := typeName(d.Recv.List[0].Type); tn != "" {
						member(tn, d.Name.Name)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// known reports whether typ is a type of the repository, or a field of such a type.
func (tm *typeMembers) known(typ string) bool {
	if tm.members[typ] != nil {
		return true
	}
	for a := range tm.aliases[typ] {
		if tm.members[a] != nil {
			return true
		}
	}
	return false
}

// has reports whether typ (a type name, or a field standing for its type) has member m,
// directly or through an embedded type.
func (tm *typeMembers) has(typ, m string) bool {
	seen := map[string]bool{}
	var rec func(k string) bool
	rec = func(k string) bool {
		if seen[k] {
			return false
		}
		seen[k] = true
		if tm.members[k][m] {
			return true
		}
		for e := range tm.members[k] {
			if name, ok := strings.CutPrefix(e, "embed:"); ok && (rec(name) || rec(name[strings.LastIndex(name, ".")+1:])) {
				return true
			}
		}
		for a := range tm.aliases[k] {
			if rec(a) {
				return true
			}
		}
		return false
	}
	return rec(typ)
}

// goneNames are names the documents give as removed, with the page that says so: they
// must not exist.
var goneNames = map[string]string{"metrics.Registry": "docs/operations.md", "metrics.L": "docs/operations.md"}

var (
	memberRef = regexp.MustCompile("`((?:[a-z]+\\.)?[A-Z][A-Za-z0-9]*)\\.([A-Z][A-Za-z0-9]*)")
	// packageRef is a package's exported name: `delta.ErrNoQuorum`, `nio.DefaultConfig`.
	packageRef = regexp.MustCompile("`([a-z][a-z0-9]*)\\.([A-Z][A-Za-z0-9]*)")
)

// TestDocsNameExistingMembers: a field or method the documents name in code type, as
// `Config.MemberWait`, `nio.Config.MaxFrameSize` or `Stats.ConnsRefused`, exists on a
// type of that name in the repository, and a package's name, as `delta.ErrNoQuorum`,
// in a package of that name (names of other code, Java's or the standard library's, are
// left alone), so that a renamed field, error or function leaves no stale name.
func TestDocsNameExistingMembers(t *testing.T) {
	root := repoRoot(t)
	tm := repoTypes(t, root)
	checked := 0
	for _, f := range docFiles(t, root) {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, m := range memberRef.FindAllStringSubmatch(line, -1) {
				typ, member := m[1], m[2]
				if !tm.known(typ) {
					continue // not the repository's
				}
				checked++
				if !tm.has(typ, member) {
					t.Errorf("%s:%d: %s.%s: the repository's %s has no such field or method", f, i+1, typ, member, typ)
				}
			}
			for _, m := range packageRef.FindAllStringSubmatch(line, -1) {
				pkg, name := m[1], m[2]
				if pkg == "main" || tm.members["package "+pkg] == nil {
					continue // not one of the repository's packages
				}
				checked++
				if gone := goneNames[pkg+"."+name]; gone != "" {
					if tm.members["package "+pkg][name] {
						t.Errorf("%s:%d: %s.%s, which %s gives as gone, exists", f, i+1, pkg, name, gone)
					}
					continue
				}
				if !tm.members["package "+pkg][name] {
					t.Errorf("%s:%d: %s.%s: the repository's package %s declares no %s", f, i+1, pkg, name, pkg, name)
				}
			}
		}
	}
	if checked < 200 {
		t.Fatalf("%d names checked: the pattern no longer finds them", checked)
	}
}
