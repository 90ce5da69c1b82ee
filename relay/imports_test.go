package relay_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/sottohq/sotto/"

// The relay and the client transport never import the project's crypto or
// media packages (nor the app), directly or through other packages of the
// module: the relay cannot hold keys or decode media even by accident.
func TestNoCryptoOrMediaImports(t *testing.T) {
	forbidden := []string{module + "crypto", module + "media", module + "app"}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var visit func(pkg, via string)
	visit = func(pkg, via string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		dir := filepath.Join(root, filepath.FromSlash(pkg))
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("read %s: %v", pkg, err)
		}
		for _, e := range entries {
			if e.IsDir() {
				if !strings.HasPrefix(e.Name(), ".") && e.Name() != "testdata" && strings.HasPrefix(pkg, "relay") {
					visit(pkg+"/"+e.Name(), via)
				}
				continue
			}
			if !strings.HasSuffix(e.Name(), ".go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatalf("parse %s/%s: %v", pkg, e.Name(), err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, bad := range forbidden {
					if path == bad || strings.HasPrefix(path, bad+"/") {
						t.Errorf("%s/%s imports %s (reached from %s)", pkg, e.Name(), path, via)
					}
				}
				if strings.HasPrefix(path, module) {
					visit(strings.TrimPrefix(path, module), pkg)
				}
			}
		}
	}
	visit("relay", "relay")
	visit("transport", "transport")
	visit("cmd/sotto-relay", "cmd/sotto-relay")
	for _, p := range []string{"relay", "relay/signal", "transport"} {
		if !seen[p] {
			t.Fatalf("package %s was not checked", p)
		}
	}
}
