package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse feeds arbitrary documents to Parse: it must never panic; an error must be a
// non-empty *ValidationError that never shows the value of an environment variable; a
// configuration it accepts must pass ValidateAndSetDefaults again unchanged.
func FuzzParse(f *testing.F) {
	const secret = "fuzz-Secret-Value-7"
	vars := env(map[string]string{"SECRET": secret, "QPS": "3", "EMPTY": "", "CS": "cs-fuzz"})
	if data, err := os.ReadFile(filepath.Join("testdata", "example.yaml")); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"~",
		"- a",
		base,
		base + "---\n" + base,
		"custSpaceId: ${CS}\ncams: {qps: ${QPS}, timeout: 3s, maxRetries: -1, concurrency: 2, endpoint: 'http://[::1]:80'}\n" +
			"targets:\n  - {nodeType: phone, phoneNumber: '${SECRET}', labels: {a: b}}\n  - &t {nodeType: template, templateCode: x, language: en}\n  - *t\n",
		"custSpaceId: cs\ntargets: [{nodeType: waba, wabaId: '${EMPTY:-w}'}]\nstate: {type: ${SECRET}}\nnotifiers: [{type: console, name: n}, {type: console, name: n}]\n",
		"a: &a [*a]\ntargets: *a\n",
		"targets: [~, [], '', {nodeType: [x]}]\ncams: {qps: .inf, timeout: -1s}\ncheckFailureThreshold: 1e3\n",
		"? [a]\n: b\n<<: {c: d}\ncams: {<<: {qps: 1}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, vars)
		if err != nil {
			if c != nil {
				t.Errorf("config returned with error %v", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error %T %q, want a *ValidationError with problems", err, err)
			}
			for _, p := range ve.Problems {
				if p.Message == "" {
					t.Errorf("empty message for path %q", p.Path)
				}
			}
			if strings.Contains(err.Error(), "cannot decode the configuration") {
				t.Errorf("the walk let through a value yaml.v3 cannot decode:\n%v", err)
			}
			if !strings.Contains(string(data), secret) && strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the value of SECRET:\n%v", err)
			}
			return
		}
		if c == nil {
			t.Fatal("nil config without an error")
		}
		again := *c
		if err := again.ValidateAndSetDefaults(); err != nil {
			t.Fatalf("accepted configuration fails ValidateAndSetDefaults: %v", err)
		}
		if diff := cmp.Diff(c, &again); diff != "" {
			t.Errorf("ValidateAndSetDefaults changed an accepted configuration (-parsed +again):\n%s", diff)
		}
	})
}
