package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAliasExpansionIsBounded makes sure a small document whose aliases expand to a huge one
// is refused quickly rather than walked in full.
func TestAliasExpansionIsBounded(t *testing.T) {
	defer func(n int) { maxNodes = n }(maxNodes)
	maxNodes = 20_000 // the real limit costs the same per node; this keeps -race quick
	var b strings.Builder
	b.WriteString("custSpaceId: cs\nx: &labels {")
	for i := range 2000 {
		fmt.Fprintf(&b, "k%d: v, ", i)
	}
	b.WriteString("}\ny: &unknown {")
	for i := range 2000 {
		fmt.Fprintf(&b, "u%d: v, ", i)
	}
	b.WriteString("}\ntargets:\n")
	for i := range 2000 {
		if i%2 == 0 {
			fmt.Fprintf(&b, "  - {nodeType: waba, wabaId: w%d, labels: *labels}\n", i)
		} else {
			b.WriteString("  - *unknown\n")
		}
	}
	start := time.Now()
	got := problems(t, b.String(), nil)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse took %v", d)
	}
	found := false
	for _, p := range got {
		found = found || strings.HasSuffix(p, "the document is too large or expands too many aliases")
	}
	if !found {
		t.Errorf("no problem about the size; first problems: %q", got[:min(len(got), 5)])
	}
	if len(got) != maxProblems+1 || !strings.HasPrefix(got[maxProblems], "and ") {
		t.Errorf("%d problems, want %d and a count of the rest (%q)", len(got), maxProblems+1, got[len(got)-1])
	}
}

func TestAliasesAreResolved(t *testing.T) {
	c := mustParse(t, `
custSpaceId: cs
targets:
  - {nodeType: phone, phoneNumber: "1", labels: &labels {team: a}}
  - {nodeType: waba, wabaId: w, labels: *labels}
`, nil)
	if c.Targets[0].Labels["team"] != "a" || c.Targets[1].Labels["team"] != "a" {
		t.Errorf("labels not resolved: %+v", c.Targets)
	}
	// An alias used where the anchored value does not fit is reported where it is used.
	got := problems(t, "custSpaceId: cs\nx: &s hello\ntargets:\n  - *s\n", nil)
	want := []string{
		"x: unknown key (known keys here: custSpaceId, cams, targets, state, notifiers, checkFailureThreshold, http, cycle, templatesDir, failureThreshold, successThreshold, sendResolved, repeatInterval, silences, digest)",
		`targets[0]: want a mapping (key: value lines), got "hello"`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("problems = %q, want %q", got, want)
	}
}
