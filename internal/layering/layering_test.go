// Package layering checks the module's import layering (README, "Layout"):
// which packages may depend on which, transitively, not counting tests.
//
//   - The relay (relay and relay/...) never depends on the client
//     (internal/transport, internal/participant, internal/meetingnet,
//     internal/call), the crypto core (crypto/...), media (media/...) or the
//     GUI (app/...): it cannot hold keys or decode media even by accident.
//     What client and relay share lives in relay/signal.
//   - The client transport and the relay command keep the same distance
//     from crypto, media and the GUI (the command also from the client).
//   - Only the GUI (app/...) and the root main package, which builds the
//     window, depend on Fyne.
//   - The crypto core depends only on the standard library,
//     golang.org/x/crypto (with the golang.org/x/sys it needs) and other
//     crypto packages of this module.
//
// The rules run on the output of "go list -deps -json ./..." from the
// module root; TestRulesCatchViolations shows on a made-up graph that each
// rule fails when broken.
package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// pkg is the part of "go list -json" output the rules read.
type pkg struct {
	ImportPath string
	Standard   bool
	Imports    []string // direct, not counting tests
	Deps       []string // transitive, not counting tests
	Module     *struct{ Path string }
}

// rule forbids the packages it applies to (by path relative to the module
// root; "" is the root package) to depend on a package it does not allow.
type rule struct {
	name    string
	applies func(rel string) bool
	allowed func(dep dependency) bool
}

// dependency is one package a module package depends on.
type dependency struct {
	path     string
	standard bool
	rel      string // path relative to the module root; valid if inModule
	inModule bool
}

// under reports whether rel is dir or inside it.
func under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// underAny reports whether rel is under one of dirs.
func underAny(rel string, dirs ...string) bool {
	return slices.ContainsFunc(dirs, func(d string) bool { return under(rel, d) })
}

// hasPathPrefix reports whether p is prefix or a package below it.
func hasPathPrefix(p, prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }

// notInModule allows every dependency outside the module's dirs.
func notInModule(dirs ...string) func(dependency) bool {
	return func(d dependency) bool { return !d.inModule || !underAny(d.rel, dirs...) }
}

// client are the client's packages: the relay connection, the media
// engine, the protocol driver and the meeting that composes them.
var client = []string{"internal/transport", "internal/participant", "internal/meetingnet", "internal/call"}

// clientDirs returns the client's packages and dirs.
func clientDirs(dirs ...string) []string { return append(slices.Clone(client), dirs...) }

var rules = []rule{
	{
		name:    "the relay never depends on the client, crypto, media or the GUI",
		applies: func(rel string) bool { return under(rel, "relay") },
		allowed: notInModule(clientDirs("crypto", "media", "app")...),
	},
	{
		name:    "the client transport never depends on crypto, media or the GUI",
		applies: func(rel string) bool { return under(rel, "internal/transport") },
		allowed: notInModule("crypto", "media", "app"),
	},
	{
		name:    "the relay command never depends on the client, crypto, media or the GUI",
		applies: func(rel string) bool { return rel == "cmd/sotto-relay" },
		allowed: notInModule(clientDirs("crypto", "media", "app")...),
	},
	{
		name:    "only the GUI and the root main package depend on Fyne",
		applies: func(rel string) bool { return rel != "" && !under(rel, "app") },
		allowed: func(d dependency) bool { return !hasPathPrefix(d.path, "fyne.io") },
	},
	{
		name:    "the crypto core depends only on the standard library, x/crypto and itself",
		applies: func(rel string) bool { return under(rel, "crypto") },
		allowed: func(d dependency) bool {
			switch {
			case d.standard:
				return true
			case d.inModule:
				return under(d.rel, "crypto")
			default:
				return hasPathPrefix(d.path, "golang.org/x/crypto") || hasPathPrefix(d.path, "golang.org/x/sys")
			}
		},
	},
}

// violations checks every package of module in pkgs against rules. Each
// violation names the package, the forbidden dependency, the direct import
// it comes through, and the rule.
func violations(module string, pkgs map[string]*pkg, rules []rule) []string {
	relOf := func(p string) (string, bool) {
		if p == module {
			return "", true
		}
		if rel, ok := strings.CutPrefix(p, module+"/"); ok {
			return rel, true
		}
		return "", false
	}
	var out []string
	for _, p := range pkgs {
		rel, ok := relOf(p.ImportPath)
		if !ok {
			continue
		}
		for _, r := range rules {
			if !r.applies(rel) {
				continue
			}
			for _, d := range p.Deps {
				dep := dependency{path: d}
				if info := pkgs[d]; info != nil {
					dep.standard = info.Standard
				}
				dep.rel, dep.inModule = relOf(d)
				if r.allowed(dep) {
					continue
				}
				out = append(out, p.ImportPath+" depends on "+d+" (via "+via(pkgs, p, d)+"): "+r.name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// via returns the direct import of p through which p depends on dep.
func via(pkgs map[string]*pkg, p *pkg, dep string) string {
	for _, imp := range p.Imports {
		if imp == dep {
			return "direct import"
		}
		if i := pkgs[imp]; i != nil && slices.Contains(i.Deps, dep) {
			return imp
		}
	}
	return "?"
}

// moduleRoot returns the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" {
		t.Fatal("not inside a module")
	}
	return filepath.Dir(gomod)
}

// listPackages runs "go list -deps -json ./..." in root and returns the
// module path and every package listed, by import path.
func listPackages(t *testing.T, root string) (string, map[string]*pkg) {
	t.Helper()
	mod := exec.Command("go", "list", "-m")
	mod.Dir = root
	mb, err := mod.Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	module := strings.TrimSpace(string(mb))

	cmd := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,Standard,Imports,Deps,Module", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, stderr.String())
	}
	pkgs := make(map[string]*pkg)
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs[p.ImportPath] = &p
	}
	return module, pkgs
}

func TestModuleLayering(t *testing.T) {
	module, pkgs := listPackages(t, moduleRoot(t))
	// The rules must have something to check: the packages they are about
	// are in the listing.
	for _, rel := range []string{"relay", "relay/signal", "internal/transport", "cmd/sotto-relay", "crypto/sframe", "crypto/meeting", "app"} {
		if pkgs[module+"/"+rel] == nil {
			t.Fatalf("package %s not listed; the layering check would prove nothing", rel)
		}
	}
	for _, v := range violations(module, pkgs, rules) {
		t.Error(v)
	}
}

// Every rule fails on a graph that breaks it, through indirect
// dependencies too, and passes what it allows.
func TestRulesCatchViolations(t *testing.T) {
	const m = "example.com/mod"
	pkgs := map[string]*pkg{}
	add := func(path string, std bool, imports ...string) {
		p := &pkg{ImportPath: path, Standard: std, Imports: imports}
		pkgs[path] = p
	}
	add("fmt", true)
	add("crypto/sha256", true)
	add("golang.org/x/sys/cpu", false)
	add("golang.org/x/crypto/chacha20poly1305", false, "golang.org/x/sys/cpu", "crypto/sha256")
	add("github.com/pion/rtp", false)
	add("fyne.io/fyne/v2", false, "fmt")
	add(m+"/crypto/sframe", false, "golang.org/x/crypto/chacha20poly1305", "fmt")
	add(m+"/crypto/meeting", false, m+"/crypto/sframe", "github.com/pion/rtp")        // pion: not allowed
	add(m+"/media/framing", false, m+"/crypto/sframe", "github.com/pion/rtp")         // media may
	add(m+"/internal/transport", false, m+"/relay/signal", "github.com/pion/rtp")     // fine
	add(m+"/relay/signal", false, "fmt")                                              // fine
	add(m+"/relay/util", false, m+"/internal/transport")                              // the relay reaching the client
	add(m+"/relay", false, m+"/relay/signal", m+"/relay/util")                        // … and through it, indirectly
	add(m+"/relay/sfu", false, m+"/media/framing")                                    // media, and crypto through it
	add(m+"/cmd/sotto-relay", false, m+"/relay")                                      // the client through the relay
	add(m+"/internal/participant", false, "fyne.io/fyne/v2")                          // Fyne outside the GUI
	add(m+"/app", false, "fyne.io/fyne/v2", m+"/internal/transport")                  // fine
	add(m, false, m+"/app")                                                           // the root main package: fine
	add("example.com/other/relay", false, m+"/internal/transport", "fyne.io/fyne/v2") // another module: not checked

	// Deps as go list computes them: the transitive closure of Imports.
	var closure func(p string, seen map[string]bool)
	closure = func(p string, seen map[string]bool) {
		for _, i := range pkgs[p].Imports {
			if !seen[i] {
				seen[i] = true
				closure(i, seen)
			}
		}
	}
	for path, p := range pkgs {
		seen := map[string]bool{}
		closure(path, seen)
		for d := range seen {
			p.Deps = append(p.Deps, d)
		}
		slices.Sort(p.Deps)
	}

	got := violations(m, pkgs, rules)
	want := []string{
		m + "/cmd/sotto-relay depends on " + m + "/internal/transport (via " + m + "/relay): " + rules[2].name,
		m + "/crypto/meeting depends on github.com/pion/rtp (via direct import): " + rules[4].name,
		m + "/internal/participant depends on fyne.io/fyne/v2 (via direct import): " + rules[3].name,
		m + "/relay depends on " + m + "/internal/transport (via " + m + "/relay/util): " + rules[0].name,
		m + "/relay/sfu depends on " + m + "/crypto/sframe (via " + m + "/media/framing): " + rules[0].name,
		m + "/relay/sfu depends on " + m + "/media/framing (via direct import): " + rules[0].name,
		m + "/relay/util depends on " + m + "/internal/transport (via direct import): " + rules[0].name,
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
