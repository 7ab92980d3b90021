package nsinit

import (
	"os"
	"strings"
	"testing"
)

// TestStepTable: every step of the table is in the file it names, and
// docs/design.md lists it with that file, so that the layout and the
// docs lead to each step.
func TestStepTable(t *testing.T) {
	design, err := os.ReadFile("../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, l := range strings.Split(string(design), "\n") {
		if cells := strings.Split(l, "|"); len(cells) > 3 && strings.HasPrefix(l, "| ") {
			rows[strings.TrimSpace(cells[1])] = cells[2]
		}
	}
	seen := map[string]bool{}
	for _, s := range steps {
		if seen[s.name] {
			t.Errorf("step %q twice in the table", s.name)
		}
		seen[s.name] = true
		if _, err := os.Stat(s.file); err != nil {
			t.Errorf("step %q: its file: %v", s.name, err)
		}
		found := false
		for first, child := range rows {
			if (first == s.name || strings.HasPrefix(first, s.name+" ") || strings.HasPrefix(first, s.name+":")) && strings.Contains(child, "`"+s.file+"`") {
				found = true
			}
		}
		if !found {
			t.Errorf("docs/design.md lists no step %q with the file %s", s.name, s.file)
		}
	}
}
