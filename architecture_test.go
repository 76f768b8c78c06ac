package sluice_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is this repository's module path.
const module = "github.com/sluice-ml/sluice"

// importRule is one row of ARCHITECTURE.md's table of imports that are
// never allowed.
type importRule struct {
	from, forbidden []string
	deps            bool // every package reached, not only the direct imports
	line            int
}

// readImportRules reads the rules between the table's markers.
func readImportRules(t *testing.T) []importRule {
	t.Helper()
	f, err := os.Open("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rules []importRule
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.Contains(line, "import rules: begin"):
			in = true
			continue
		case strings.Contains(line, "import rules: end"):
			in = false
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			t.Fatalf("ARCHITECTURE.md:%d: want 3 cells, got %q", n, line)
		}
		how := strings.TrimSpace(cells[2])
		if how != "deps" && how != "direct" {
			t.Fatalf("ARCHITECTURE.md:%d: how is deps or direct, not %q", n, how)
		}
		rules = append(rules, importRule{from: patterns(cells[0]), forbidden: patterns(cells[1]), deps: how == "deps", line: n})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rules) < 5 {
		t.Fatalf("ARCHITECTURE.md holds %d import rules; the table's markers moved?", len(rules))
	}
	return rules
}

// patterns reads a cell's comma-separated `pattern`s.
func patterns(cell string) []string {
	var out []string
	for p := range strings.SplitSeq(cell, ",") {
		p = strings.Trim(strings.TrimSpace(p), "`")
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// matches says whether a package path matches a pattern: a bare name is a
// package of this module ("sluice/..." all of them), a name with a dot in
// its first element is an outside package, and "/..." covers a subtree.
func matches(pkg, pattern string) bool {
	full := pattern
	switch {
	case pattern == "sluice/...":
		full = module + "/..."
	case !strings.Contains(strings.SplitN(pattern, "/", 2)[0], "."):
		full = module + "/" + pattern
	}
	if prefix, ok := strings.CutSuffix(full, "/..."); ok {
		return pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
	}
	return pkg == full
}

// matchesAll applies a cell's patterns: any plain one matches and no
// !exemption does.
func matchesAll(pkg string, pats []string) bool {
	hit := false
	for _, p := range pats {
		if ex, ok := strings.CutPrefix(p, "!"); ok {
			if matches(pkg, ex) {
				return false
			}
			continue
		}
		hit = hit || matches(pkg, p)
	}
	return hit
}

type listedPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages lists the module's packages, tests' imports left out.
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestImportRules fails when a package imports what ARCHITECTURE.md's
// table forbids it.
func TestImportRules(t *testing.T) {
	rules := readImportRules(t)
	pkgs := listPackages(t)
	for _, r := range rules {
		covered := 0
		for _, p := range pkgs {
			if !matchesAll(p.ImportPath, r.from) {
				continue
			}
			covered++
			reached := p.Imports
			if r.deps {
				reached = p.Deps
			}
			for _, imp := range reached {
				if imp != p.ImportPath && matchesAll(imp, r.forbidden) {
					how := "imports"
					if r.deps {
						how = "reaches"
					}
					t.Errorf("ARCHITECTURE.md:%d: %s %s", r.line, strings.TrimPrefix(p.ImportPath, module+"/"), how+" "+imp)
				}
			}
		}
		if covered == 0 {
			t.Errorf("ARCHITECTURE.md:%d: the rule covers no package (%v)", r.line, r.from)
		}
	}
}

// TestImportRulesCatchAViolation checks the checker on a planted import.
func TestImportRulesCatchAViolation(t *testing.T) {
	p := listedPackage{ImportPath: module + "/workflows", Imports: []string{module + "/lakehouse", "fmt"}}
	r := importRule{from: []string{"workflows"}, forbidden: []string{"lakehouse", "registry"}}
	var hits []string
	for _, imp := range p.Imports {
		if matchesAll(p.ImportPath, r.from) && matchesAll(imp, r.forbidden) {
			hits = append(hits, imp)
		}
	}
	if !slices.Equal(hits, []string{module + "/lakehouse"}) {
		t.Errorf("hits %v, want the lakehouse import", hits)
	}
	if !matchesAll(module+"/ml/gbdt", []string{"sluice/...", "!gpu"}) || matchesAll(module+"/ml/gbdt", []string{"sluice/...", "!ml/..."}) {
		t.Error("exemptions do not apply")
	}
	if !matches("go.temporal.io/sdk/workflow", "go.temporal.io/...") || matches(module+"/mlx", "ml/...") {
		t.Error("subtree patterns match wrongly")
	}
}
