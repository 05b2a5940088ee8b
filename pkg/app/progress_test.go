package app

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(0, 0)
	p := &progressBar{w: &b, now: func() time.Time { return now }}
	p.update(1, 4)
	p.update(2, 4) // within 100 ms: skipped
	now = now.Add(time.Second)
	p.update(3, 4)
	p.update(4, 4) // the last one always draws, then clears the line
	out := b.String()
	for _, want := range []string{"[#######-----------------------] 1/4", "[######################--------] 3/4", "4/4 targets\r\033[K"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "2/4") {
		t.Error("drew more than ten times a second")
	}
	if isTerminal(&b) {
		t.Error("a buffer is not a terminal")
	}
}
