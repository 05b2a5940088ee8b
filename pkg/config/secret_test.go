package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestSecret(t *testing.T) {
	const value = "https://hooks.example.com/T000/B000/XXXX"
	s := Secret(value)
	if s.Reveal() != value {
		t.Errorf("Reveal() = %q", s.Reveal())
	}
	type holder struct {
		URL Secret `json:"url" yaml:"url"`
	}
	var outputs []string
	for _, f := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		outputs = append(outputs, fmt.Sprintf(f, s), fmt.Sprintf(f, holder{s}), fmt.Sprintf(f, &holder{s}))
	}
	outputs = append(outputs, s.String(), fmt.Sprint(s), fmt.Sprintln([]Secret{s}))
	j, err := json.Marshal(holder{s})
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j))
	y, err := yaml.Marshal(holder{s})
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(y))
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	log.Info("posting", "url", s, "holder", holder{s})
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("posting", "url", s)
	outputs = append(outputs, logged.String())
	for _, o := range outputs {
		if strings.Contains(o, "hooks.example.com") || strings.Contains(o, "XXXX") {
			t.Errorf("output shows the secret: %s", o)
		}
	}
	if string(j) != `{"url":"[redacted]"}` {
		t.Errorf("JSON = %s", j)
	}
	if string(y) != "url: '[redacted]'\n" {
		t.Errorf("YAML = %q", y)
	}
	if got := fmt.Sprintf("%s|%v|%q", s, s, s); got != `[redacted]|[redacted]|"[redacted]"` {
		t.Errorf("fmt = %s", got)
	}

	var empty Secret
	if empty.String() != "" || fmt.Sprint(empty) != "" {
		t.Errorf("empty secret prints %q", empty.String())
	}
	if j, _ := json.Marshal(empty); string(j) != `""` {
		t.Errorf("empty secret JSON = %s", j)
	}

	// A secret decodes from YAML as a plain string.
	var h holder
	if err := yaml.Unmarshal([]byte("url: "+value+"\n"), &h); err != nil || h.URL.Reveal() != value {
		t.Errorf("decode: %q, %v", h.URL.Reveal(), err)
	}
}

func TestDuration(t *testing.T) {
	type holder struct {
		D Duration `yaml:"d"`
	}
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"d: 10s", 10 * time.Second, ""},
		{"d: 1m30s", 90 * time.Second, ""},
		{"d: 250ms", 250 * time.Millisecond, ""},
		{"d: 0", 0, ""},
		{"d: 10", 0, `want a duration like "10s" or "5m", got "10"`},
		{"d: ten", 0, `want a duration like "10s" or "5m", got "ten"`},
		{"d: [1s]", 0, `want a duration like "10s" or "5m", got a list`},
	} {
		var h holder
		err := yaml.Unmarshal([]byte(tc.in), &h)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || h.D.D() != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.in, h.D.D(), err, tc.want)
		}
	}
	out, err := yaml.Marshal(holder{Duration(90 * time.Second)})
	if err != nil || string(out) != "d: 1m30s\n" {
		t.Errorf("Marshal = %q, %v", out, err)
	}
	if Duration(time.Second).String() != "1s" {
		t.Errorf("String() = %q", Duration(time.Second).String())
	}
}
