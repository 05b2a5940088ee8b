package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validDoc = "custSpaceId: cs\ntargets:\n  - {nodeType: waba, wabaId: w1}\n"

// writeConfig writes doc to a file in a temporary directory and returns its path.
func writeConfig(t *testing.T, name, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	file := writeConfig(t, "wahealth.yaml", validDoc)
	other := writeConfig(t, "other.yaml", "custSpaceId: other\ntargets:\n  - {nodeType: waba, wabaId: w2}\n")
	for _, tc := range []struct {
		name    string
		path    string
		vars    map[string]string
		wantCS  string
		wantErr string // a substring of the error; "" when none is wanted
	}{
		{name: "path", path: file, wantCS: "cs"},
		{name: "env path", vars: map[string]string{"WAHEALTH_CONFIG": file}, wantCS: "cs"},
		{name: "env inline YAML", vars: map[string]string{"WAHEALTH_CONFIG": validDoc}, wantCS: "cs"},
		{name: "env inline flow YAML", vars: map[string]string{"WAHEALTH_CONFIG": "{custSpaceId: flow, targets: [{nodeType: waba, wabaId: w}]}"}, wantCS: "flow"},
		{name: "env inline YAML expands variables", vars: map[string]string{"WAHEALTH_CONFIG": "custSpaceId: ${CS}\ntargets: [{nodeType: waba, wabaId: w}]", "CS": "from-env"}, wantCS: "from-env"},
		{name: "path wins over env", path: file, vars: map[string]string{"WAHEALTH_CONFIG": other}, wantCS: "cs"},
		{name: "path wins over invalid env", path: file, vars: map[string]string{"WAHEALTH_CONFIG": "nonsense: ["}, wantCS: "cs"},
		{name: "missing file", path: "/nonexistent/wahealth.yaml", wantErr: "read configuration file: open /nonexistent/wahealth.yaml: no such file or directory"},
		{name: "env names a missing file", vars: map[string]string{"WAHEALTH_CONFIG": "missing.yaml"}, wantErr: "read configuration file named by WAHEALTH_CONFIG: open missing.yaml: no such file or directory"},
		{name: "env names a directory", vars: map[string]string{"WAHEALTH_CONFIG": t.TempDir()}, wantErr: "is a directory"},
		{name: "invalid inline YAML", vars: map[string]string{"WAHEALTH_CONFIG": "custSpaceId: cs\n"}, wantErr: "invalid configuration from WAHEALTH_CONFIG:\n  targets: at least one target is required"},
		{name: "invalid file names it", path: writeConfig(t, "bad.yaml", "custSpaceId: cs\n"), wantErr: "bad.yaml:\n  targets: at least one target is required"},
		{name: "no configuration", wantErr: "no configuration: pass -config FILE or set WAHEALTH_CONFIG"},
		{name: "blank env", vars: map[string]string{"WAHEALTH_CONFIG": " \n"}, wantErr: "no configuration: pass -config FILE or set WAHEALTH_CONFIG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.path, env(tc.vars))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load error = %v, want one containing %q", err, tc.wantErr)
				}
				if c != nil {
					t.Errorf("Load returned a config with its error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.CustSpaceID != tc.wantCS {
				t.Errorf("custSpaceId = %q, want %q", c.CustSpaceID, tc.wantCS)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load("", env(nil))
	if err == nil || err.Error() != "no configuration: pass -config FILE or set WAHEALTH_CONFIG" {
		t.Errorf("no configuration: error %v", err)
	}
	_, err = Load("/nonexistent/wahealth.yaml", env(nil))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v does not wrap os.ErrNotExist", err)
	}
	_, err = Load(writeConfig(t, "bad.yaml", "custSpaceId: cs\n"), env(nil))
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.HasSuffix(ve.Source, "bad.yaml") {
		t.Errorf("invalid file: error %#v, want a *ValidationError naming the file", err)
	}
}

func TestLoadDefaultsToProcessEnvironment(t *testing.T) {
	t.Setenv("WAHEALTH_CONFIG", writeConfig(t, "c.yaml", "custSpaceId: ${WAHEALTH_TEST_CS}\ntargets: [{nodeType: waba, wabaId: w}]\n"))
	t.Setenv("WAHEALTH_TEST_CS", "process-env")
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.CustSpaceID != "process-env" {
		t.Errorf("custSpaceId = %q, want process-env", c.CustSpaceID)
	}
}
