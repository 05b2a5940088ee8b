package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wahealth/wahealth/pkg/app"
	"github.com/wahealth/wahealth/pkg/cams/camssim"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func runChecker(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("HOME", t.TempDir()) // no CLI credential profile to fall back to
	var out, errb bytes.Buffer
	code = app.CheckerMain(context.Background(), args, &out, &errb, envMap(env))
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDemo(t *testing.T) {
	code, out, errOut := runChecker(t, nil, "-demo")
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		"── cycle 1 of 5 ──", "monitoring 6 entities: all can send",
		"AVAILABLE → LIMITED",
		"LIMITED → BLOCKED", "new error 141006", "fix: There was an error with your payment method.",
		"recovered: BLOCKED → AVAILABLE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// Cycle 4 (still blocked) sends nothing: four alert headers in five cycles.
	if n := strings.Count(out, "\n== "); n != 4 {
		t.Errorf("%d alert messages, want 4 (baseline, limited, blocked, recovered):\n%s", n, out)
	}
}

const scenario = `
targets:
  - nodeType: phone
    phoneNumber: "8613800000001"
    wabaId: "w1"
    businessId: "b1"
    steps:
      - {}
      - phone: {status: BLOCKED, errors: [{code: "141006", description: "There is an error with the payment method.", solution: "Add a new payment method."}]}
  - nodeType: phone
    phoneNumber: "8613800000009"
    steps: [{fault: denied}]
`

const cfgYAML = `
custSpaceId: cs-1
cams: {maxRetries: -1}
state: {path: %STATE%}
targets:
  - {nodeType: phone, phoneNumber: "8613800000001"}
  - {nodeType: phone, phoneNumber: "8613800000009"}
`

func TestJSONReportShape(t *testing.T) {
	sc := writeFile(t, "scenario.yaml", scenario)
	cfg := writeFile(t, "config.yaml", strings.ReplaceAll(cfgYAML, "%STATE%", filepath.Join(t.TempDir(), "s.json")))
	// -simulate keeps the scenario's step cursors per process: both cycles run in one process.
	code, out, errOut := runChecker(t, nil, "-config", cfg, "-simulate", sc, "-json", "-every", "1ms", "-cycles", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var report map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	n := 0
	for dec.More() {
		report = nil // keep the last (second) report
		if err := dec.Decode(&report); err != nil {
			t.Fatalf("stdout is not a stream of JSON reports: %v\n%s", err, out)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d reports, want 2", n)
	}
	for _, k := range []string{"cycleId", "startedAt", "finishedAt", "checked", "failed", "entities", "changes", "failures"} {
		if _, ok := report[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	if report["checked"] != 1.0 || report["failed"] != 1.0 {
		t.Errorf("checked %v failed %v, want 1 and 1", report["checked"], report["failed"])
	}
	var phone map[string]any
	for _, e := range report["entities"].([]any) {
		e := e.(map[string]any)
		if e["type"] == "PHONE_NUMBER" && e["id"] == "8613800000001" {
			phone = e
		}
	}
	if phone == nil || phone["canSendMessage"] != "BLOCKED" {
		t.Fatalf("phone entity: %v", phone)
	}
	errs := phone["errors"].([]any)
	e0 := errs[0].(map[string]any)
	if e0["code"] != "141006" || e0["description"] != "There is an error with the payment method." || e0["solution"] != "Add a new payment method." {
		t.Errorf("error: %v", e0)
	}
	var kinds []string
	for _, c := range report["changes"].([]any) {
		c := c.(map[string]any)
		ent := c["entity"].(map[string]any)
		kinds = append(kinds, c["kind"].(string)+" "+ent["type"].(string)+":"+ent["id"].(string))
		if c["kind"] == "status" && (c["from"] != "AVAILABLE" || c["to"] != "BLOCKED") {
			t.Errorf("status change: %v", c)
		}
		if c["kind"] == "error_added" && c["errorCode"] != "141006" {
			t.Errorf("error change: %v", c)
		}
	}
	if strings.Join(kinds, ", ") != "status PHONE_NUMBER:8613800000001, error_added PHONE_NUMBER:8613800000001" {
		t.Errorf("changes: %v", kinds)
	}
	f := report["failures"].([]any)
	if len(f) != 1 {
		t.Fatalf("failures: %v", f)
	}
	f0 := f[0].(map[string]any)
	target := f0["target"].(map[string]any)
	if target["phoneNumber"] != "8613800000009" || !strings.Contains(f0["error"].(string), "Forbidden.AccessDenied") {
		t.Errorf("failure: %v", f0)
	}
}

func TestConfigErrorsExit2(t *testing.T) {
	cfg := writeFile(t, "bad.yaml", "custSpaceId: cs\ntargets:\n  - {nodeType: template, templateCode: t1}\n  - {nodeType: phon, phoneNumber: '1'}\ncams: {qsp: 5}\n")
	code, _, errOut := runChecker(t, nil, "-config", cfg)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"targets[0].language: required when nodeType is template", `targets[1].nodeType: must be one of waba, phone, template`, `cams.qsp: unknown key (did you mean "qps"?)`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	code, _, errOut = runChecker(t, nil)
	if code != 2 || !strings.Contains(errOut, "WAHEALTH_CONFIG") {
		t.Errorf("no config: exit %d, stderr %s", code, errOut)
	}
}

func TestMissingCredentialsFailBeforeAnyCall(t *testing.T) {
	sim := camssim.New(camssim.Options{AccessKeyID: "k", AccessKeySecret: "s"})
	u, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cfg := writeFile(t, "c.yaml", "custSpaceId: cs\ncams: {endpoint: "+u+"}\nstate: {path: "+filepath.Join(t.TempDir(), "s.json")+"}\ntargets: [{nodeType: waba, wabaId: w1}]\n")
	code, _, errOut := runChecker(t, nil, "-config", cfg)
	if code != 2 || !strings.Contains(errOut, "ALIBABA_CLOUD_ACCESS_KEY_ID") {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
	if sim.Stats().Calls != 0 {
		t.Errorf("%d CAMS calls without credentials", sim.Stats().Calls)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	sim := camssim.New(camssim.Options{AccessKeyID: "right-id", AccessKeySecret: "right-secret"})
	u, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cfg := writeFile(t, "c.yaml", "custSpaceId: cs\ncams: {endpoint: "+u+", maxRetries: -1}\nstate: {path: "+filepath.Join(t.TempDir(), "s.json")+"}\ntargets: [{nodeType: waba, wabaId: w1}]\ncheckFailureThreshold: 1\n")
	env := map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     "LTAIwrongkeyid123456",
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "super-secret-value-1",
		"ALIBABA_CLOUD_SECURITY_TOKEN":    "sts-token-value-abcdef",
	}
	for _, args := range [][]string{{"-config", cfg}, {"-config", cfg, "-json"}} {
		code, out, errOut := runChecker(t, env, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		if !strings.Contains(out+errOut, "InvalidAccessKeyId") {
			t.Errorf("%v: the failure is not reported:\n%s\n%s", args, out, errOut)
		}
		for _, secret := range env {
			if strings.Contains(out, secret) || strings.Contains(errOut, secret) {
				t.Errorf("%v: output contains a credential %q", args, secret)
			}
		}
	}
}

func TestTestNotify(t *testing.T) {
	cfg := writeFile(t, "c.yaml", "custSpaceId: cs\ncams: {endpoint: 'http://127.0.0.1:1'}\nstate: {path: "+filepath.Join(t.TempDir(), "s.json")+"}\ntargets: [{nodeType: waba, wabaId: w1}]\nnotifiers:\n  - {type: console, name: terminal}\n")
	env := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret"}
	code, out, errOut := runChecker(t, env, "-config", cfg, "-test-notify")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "[TEST] wahealth test alert") || !strings.Contains(out, "test alert -> terminal (console): ok") {
		t.Errorf("output:\n%s", out)
	}
}
