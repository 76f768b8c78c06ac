package spec_test

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluice-ml/sluice/spec"
)

// specFields lists the YAML paths of every field of the spec's types:
// maps of structs as .<name>, lists of structs as [], anything else a leaf.
func specFields(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		path := tag
		if prefix != "" {
			path = prefix + "." + tag
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft.NumField() > 0 && ft.Field(0).Tag.Get("yaml") != "":
			*out = append(*out, path)
			specFields(ft, path, out)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			*out = append(*out, path)
			specFields(ft.Elem(), path+".<name>", out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			*out = append(*out, path)
			specFields(ft.Elem(), path+"[]", out)
		default:
			*out = append(*out, path)
		}
	}
}

var (
	docRow  = regexp.MustCompile("^\\| `([a-z_.<>\\[\\]]+)` \\|")
	docCell = regexp.MustCompile("`([^`]*)`")
)

// TestDocumentHasEveryField checks docs/spec.md against the spec's Go
// types, both ways: every field is documented, and every documented field
// exists. Fields whose row is implied by their children (a section such
// as label or search) need no row of their own.
func TestDocumentHasEveryField(t *testing.T) {
	doc, err := os.ReadFile("../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	specFields(reflect.TypeFor[spec.Spec](), "", &fields)
	documented := map[string]bool{}
	for line := range strings.SplitSeq(string(doc), "\n") {
		if m := docRow.FindStringSubmatch(line); m != nil {
			documented[m[1]] = true
		}
	}
	for _, f := range fields {
		if documented[f] {
			continue
		}
		hasChild := slices.ContainsFunc(fields, func(c string) bool { return strings.HasPrefix(c, f+".") && documented[c] })
		if !hasChild {
			t.Errorf("docs/spec.md does not document %s", f)
		}
	}
	for f := range documented {
		if !slices.Contains(fields, f) {
			t.Errorf("docs/spec.md documents %s, which the spec does not have", f)
		}
	}
	if len(documented) < 60 {
		t.Errorf("only %d fields found in docs/spec.md: did the table format change?", len(documented))
	}
}

// TestDocumentExamplesParse parses every example: each field's example
// cell as YAML, and each yaml block as a whole spec that validates.
func TestDocumentExamplesParse(t *testing.T) {
	doc, err := os.ReadFile("../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	examples := 0
	for line := range strings.SplitSeq(text, "\n") {
		if docRow.MatchString(line) {
			cells := strings.Split(line, " | ")
			if len(cells) < 5 {
				t.Errorf("row without an example: %s", line)
				continue
			}
			m := docCell.FindStringSubmatch(cells[3])
			if m == nil {
				t.Errorf("row without an example: %s", line)
				continue
			}
			var v any
			if err := yaml.Unmarshal([]byte(m[1]), &v); err != nil {
				t.Errorf("example %q does not parse: %v", m[1], err)
			}
			examples++
		}
	}
	blocks := strings.Split(text, "```yaml\n")
	for i, b := range blocks[1:] {
		body, _, _ := strings.Cut(b, "```")
		if _, err := spec.Parse("docs/spec.md block "+string(rune('1'+i)), []byte(body)); err != nil {
			t.Errorf("a yaml block does not validate: %v", err)
		}
	}
	if examples < 60 || len(blocks) < 2 {
		t.Errorf("found %d field examples and %d blocks", examples, len(blocks)-1)
	}
}
