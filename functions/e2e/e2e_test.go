// Package e2e drives the real function binaries end to end: it builds them exactly as the
// deploy build does (GOOS=linux GOARCH=amd64 CGO_ENABLED=0, -trimpath), starts each as a
// process with FC_RUNTIME_API pointing at an in-test emulator of Function Compute's runtime
// API (pkg/fcrun/fctest), and invokes them with timer and HTTP trigger events against the
// CAMS simulator. The simulator accepts only the STS credentials the emulator hands each
// invocation, while the processes' own ALIBABA_CLOUD_* variables are wrong: every successful
// CAMS call proves that the invocation's credentials, security token included, signed it.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"github.com/wahealth/wahealth/pkg/cams/camssim"
	"github.com/wahealth/wahealth/pkg/fcrun/fctest"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/state"
)

// Credentials: the invocation's STS credentials (the only ones CAMS accepts), the process's
// environment (wrong), and the HTTP function's bearer token.
var (
	sts = fctest.Credentials{AccessKeyID: "STS.NUe2eInvocationKey", AccessKeySecret: "e2e-invocation-secret-5b1f", SecurityToken: "e2e-sts-token-CAIS9a7"}
	env = map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     "LTAIe2eWrongEnvKey",
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "e2e-wrong-env-secret-77c0",
		"ALIBABA_CLOUD_SECURITY_TOKEN":    "e2e-wrong-env-token",
	}
	httpToken = "e2e-http-token-9c41d0a2f7b84e15"
	secrets   = []string{sts.AccessKeySecret, sts.SecurityToken, env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], env["ALIBABA_CLOUD_SECURITY_TOKEN"], httpToken}
)

// scenario: the first phone number degrades on its second query; the second is always healthy.
const scenario = `
targets:
  - nodeType: phone
    phoneNumber: "8613800000001"
    wabaId: "1000001"
    businessId: "2000001"
    steps:
      - {}
      - phone:
          status: LIMITED
          errors:
            - code: "131048"
              description: Message failed to send because there are restrictions on how many messages can be sent from this phone number.
              solution: Check your quality status in WhatsApp Manager.
`

const (
	phone1 = "8613800000001"
	phone2 = "8613800000002"
)

// Limits of every wait.
const (
	buildTimeout  = 4 * time.Minute
	invokeTimeout = 20 * time.Second
)

var build struct {
	once sync.Once
	dir  string
	skip string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wahealth-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build.dir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// binary returns the path of a function binary, building both once per test run.
func binary(t *testing.T, name string) string {
	t.Helper()
	build.once.Do(func() {
		if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
			build.skip = "the function binaries are linux/amd64 (FC's go1 runtime); this host is " + runtime.GOOS + "/" + runtime.GOARCH
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			build.skip = "go is not on PATH: cannot build the function binaries"
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
		gomod := strings.TrimSpace(string(out))
		if err != nil || gomod == "" || gomod == os.DevNull {
			build.err = fmt.Errorf("cannot find the module root (go env GOMOD: %q, %v)", gomod, err)
			return
		}
		cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", build.dir+string(filepath.Separator),
			"./functions/checker", "./functions/ondemand")
		cmd.Dir = filepath.Dir(gomod)
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build the functions: %v\n%s", err, out)
		}
	})
	if build.skip != "" {
		t.Skip(build.skip)
	}
	if build.err != nil {
		t.Fatal(build.err)
	}
	return filepath.Join(build.dir, name)
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rig is one function process with its runtime API, CAMS simulator, configuration and state.
type rig struct {
	rt         *fctest.Runtime
	sim        *camssim.Server
	dir        string
	statePath  string
	stdout     *syncBuffer
	stderr     *syncBuffer
	configPath string
	// invoked counts the invocations of each request id.
	invoked map[string]int
}

// options adjust a rig.
type options struct {
	// config replaces the generated configuration file's content when set.
	config string
	// noToken leaves WAHEALTH_HTTP_TOKEN unset.
	noToken bool
}

// start runs a function binary under the emulated runtime.
func start(t *testing.T, name string, o options) *rig {
	t.Helper()
	bin := binary(t, name)
	sc, err := camssim.ParseScenario([]byte(scenario))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{dir: t.TempDir(), stdout: &syncBuffer{}, stderr: &syncBuffer{}, invoked: map[string]int{}}
	r.sim = camssim.New(camssim.Options{AccessKeyID: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret, SecurityToken: sts.SecurityToken, Scenario: sc})
	endpoint, err := r.sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.sim.Close)
	r.rt = fctest.New()
	t.Cleanup(r.rt.Close) // after the process is gone (cleanups run last first)

	r.statePath = filepath.Join(r.dir, "state", "state.json")
	r.configPath = filepath.Join(r.dir, "wahealth.yaml")
	cfg := o.config
	if cfg == "" {
		cfg = fmt.Sprintf(`
custSpaceId: cs-e2e
cams: {endpoint: %q, qps: 50, timeout: 3s, maxRetries: -1}
targets:
  - {nodeType: phone, phoneNumber: %q, wabaId: "1000001", labels: {team: a}}
  - {nodeType: phone, phoneNumber: %q, wabaId: "1000001", labels: {team: b}}
state: {type: file, path: %q}
notifiers: [{type: console}]
http: {maxBodyBytes: 1024, adhocQPS: 1}
`, endpoint, phone1, phone2, r.statePath)
	}
	if err := os.WriteFile(r.configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin)
	cmd.Dir = r.dir
	cmd.Env = []string{
		"FC_RUNTIME_API=" + r.rt.Addr(),
		"WAHEALTH_CONFIG=" + r.configPath,
		"HOME=" + r.dir,
		"TZ=UTC",
		"FC_REGION=ap-southeast-1",
		"FC_ACCOUNT_ID=" + fctest.DefaultAccountID,
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if !o.noToken {
		cmd.Env = append(cmd.Env, "WAHEALTH_HTTP_TOKEN="+httpToken)
	}
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, r.stdout, name, r.stderr)
		}
		if err := r.rt.Err(); err != nil {
			t.Errorf("the function broke the runtime API protocol: %v", err)
		}
		for _, s := range secrets {
			if strings.Contains(r.stdout.String(), s) || strings.Contains(r.stderr.String(), s) {
				t.Errorf("%s printed a secret (%.6s...)", name, s)
			}
		}
	})
	return r
}

// invoke sends one invocation and waits for its answer.
func (r *rig) invoke(t *testing.T, inv fctest.Invocation) fctest.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), invokeTimeout)
	defer cancel()
	res, err := r.rt.Invoke(ctx, inv)
	if err != nil {
		t.Fatalf("invoke %s: %v", inv.RequestID, err)
	}
	for _, s := range secrets {
		if bytes.Contains(res.Response, []byte(s)) || bytes.Contains(res.Error, []byte(s)) {
			t.Errorf("invoke %s: the answer shows a secret (%.6s...)", inv.RequestID, s)
		}
	}
	// The SDK prints "FC Invoke End RequestId: <id>" after the handler returned and before it
	// answers: once that line has come through the pipe, so has everything the invocation
	// printed before it.
	r.invoked[inv.RequestID]++
	for {
		out := r.stdout.String()
		end := "FC Invoke End RequestId: " + inv.RequestID
		if strings.Count(out, end+"\n")+strings.Count(out, end+", ") >= r.invoked[inv.RequestID] {
			return res
		}
		select {
		case <-ctx.Done():
			t.Fatalf("invoke %s: the function's output never showed %q", inv.RequestID, end)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// timerEvent is a timer trigger's event; payload nil leaves it out.
func timerEvent(payload *string) []byte {
	ev := map[string]any{"triggerTime": "2026-11-28T09:00:00Z", "triggerName": "check-timer"}
	if payload != nil {
		ev["payload"] = *payload
	}
	b, _ := json.Marshal(ev)
	return b
}

func ptr(s string) *string { return &s }

// report decodes a timer function's response.
func report(t *testing.T, res fctest.Result) *monitor.Report {
	t.Helper()
	if res.Status != fctest.StatusResponse {
		t.Fatalf("invocation failed: %s", res.Error)
	}
	var rep monitor.Report
	if err := json.Unmarshal(res.Response, &rep); err != nil {
		t.Fatalf("response %s: %v", res.Response, err)
	}
	return &rep
}

// logLines returns the JSON log records in out with the given msg.
func logLines(out, msg string) []map[string]any {
	var lines []map[string]any
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			lines = append(lines, m)
		}
	}
	return lines
}

// cycleLog returns the one "wahealth cycle" record of a request id.
func cycleLog(t *testing.T, r *rig, requestID string, n int) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, l := range logLines(r.stdout.String(), "wahealth cycle") {
		if l["request_id"] == requestID {
			found = append(found, l)
		}
	}
	if len(found) != n {
		t.Fatalf("%d \"wahealth cycle\" log lines for %s, want %d", len(found), requestID, n)
	}
	return found[n-1]
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTimerFunction: a cycle per timer event, signed with the invocation's credentials; a
// baseline, then one alert; a retried request id replays without alerting; invalid payloads
// fail the invocation and touch nothing.
func TestTimerFunction(t *testing.T) {
	r := start(t, "checker", options{})

	// (a) The first cycle: the JSON report, the state saved, the baseline summary printed once.
	res := r.invoke(t, fctest.Invocation{RequestID: "req-1", Event: timerEvent(nil), Credentials: sts, Timeout: 30 * time.Second})
	rep := report(t, res)
	if rep.CycleID != "req-1" || !rep.Baseline || rep.Checked != 2 || rep.Failed != 0 || len(rep.Entities) == 0 {
		t.Fatalf("first cycle: id %q baseline %v checked %d failed %d failures %+v", rep.CycleID, rep.Baseline, rep.Checked, rep.Failed, rep.Failures)
	}
	st, err := state.Decode(r.statePath, readFile(t, r.statePath))
	if err != nil || st.LastCycle == nil || st.LastCycle.ID != "req-1" || !st.Baseline {
		t.Fatalf("state after the first cycle: %+v, %v", st, err)
	}
	if n := strings.Count(r.stdout.String(), "== wahealth is monitoring"); n != 1 {
		t.Errorf("baseline summaries printed: %d, want 1", n)
	}
	l := cycleLog(t, r, "req-1", 1)
	for k, v := range map[string]any{"level": "INFO", "outcome": "ok", "cycle": "req-1", "credentials": "invocation",
		"checked": 2.0, "failed": 0.0, "alerted": 0.0, "pending": 0.0, "retry_count": 0.0, "baseline": true, "trigger": "check-timer"} {
		if l[k] != v {
			t.Errorf("cycle log line %s = %v, want %v", k, l[k], v)
		}
	}
	if r.sim.Stats().OK != 2 || r.sim.Stats().Rejected != 0 {
		t.Errorf("simulator stats %+v, want 2 accepted calls", r.sim.Stats())
	}

	// (c) Invalid payloads fail the invocation through /error, naming the problem, and touch
	// nothing: no CAMS call, no state change, no alert.
	stateBefore, outBefore, calls := readFile(t, r.statePath), r.stdout.String(), r.sim.Stats().Calls
	for _, tc := range []struct {
		name  string
		event []byte
		typ   string
		want  []string
	}{
		{"unknown field", timerEvent(ptr(`{"labelz":{}}`)), "PayloadError", []string{`invalid timer payload: unknown field "labelz"`, `"labels"`, `"dryRun"`}},
		{"payload not JSON", timerEvent(ptr(`every 5m`)), "PayloadError", []string{"invalid timer payload: not valid JSON", `"labels"`}},
		{"labels selecting nothing", timerEvent(ptr(`{"labels":{"team":"c"}}`)), "PayloadError",
			[]string{`labels {"team":"c"} select none of the 2 configured targets`, "team=a, team=b"}},
		{"event not JSON", []byte(`not json`), "SyntaxError", []string{"invalid character 'o' in literal null"}},
	} {
		res := r.invoke(t, fctest.Invocation{RequestID: "req-bad-" + strings.ReplaceAll(tc.name, " ", "-"), Event: tc.event, Credentials: sts})
		fe, ok := res.FunctionError()
		if !ok {
			t.Errorf("%s: status %s %s, want an error", tc.name, res.Status, res.Response)
			continue
		}
		if fe.Type != tc.typ {
			t.Errorf("%s: errorType %q, want %q", tc.name, fe.Type, tc.typ)
		}
		for _, w := range tc.want {
			if !strings.Contains(fe.Message, w) {
				t.Errorf("%s: errorMessage %q does not contain %q", tc.name, fe.Message, w)
			}
		}
	}
	if !bytes.Equal(stateBefore, readFile(t, r.statePath)) {
		t.Errorf("an invalid payload changed the state file")
	}
	if got := r.sim.Stats().Calls; got != calls {
		t.Errorf("invalid payloads made %d CAMS calls", got-calls)
	}
	if strings.Contains(strings.TrimPrefix(r.stdout.String(), outBefore), "== ") {
		t.Errorf("an invalid payload alerted:\n%s", strings.TrimPrefix(r.stdout.String(), outBefore))
	}
	cycleLog(t, r, "req-bad-unknown-field", 1)

	// A valid payload narrows the cycle; dryRun neither saves nor alerts.
	rep = report(t, r.invoke(t, fctest.Invocation{RequestID: "req-dry", Event: timerEvent(ptr(`{"labels":{"team":"b"},"dryRun":true}`)), Credentials: sts}))
	if !rep.DryRun || rep.Checked != 1 || rep.Failed != 0 {
		t.Errorf("dry run of team b: dryRun %v checked %d failed %d", rep.DryRun, rep.Checked, rep.Failed)
	}
	if !bytes.Equal(stateBefore, readFile(t, r.statePath)) {
		t.Errorf("a dry run changed the state file")
	}

	// (a) The scenario degrades: a new request id prints exactly one alert.
	outBefore = r.stdout.String()
	rep = report(t, r.invoke(t, fctest.Invocation{RequestID: "req-2", Event: timerEvent(ptr(`{}`)), Credentials: sts, Timeout: 30 * time.Second}))
	alerted := 0
	for _, c := range rep.Changes {
		if c.Alerted {
			alerted++
		}
	}
	if rep.Baseline || alerted == 0 || rep.Message == nil || rep.Pending != 0 {
		t.Fatalf("second cycle: baseline %v, %d alerted changes %+v, message %v, pending %d", rep.Baseline, alerted, rep.Changes, rep.Message != nil, rep.Pending)
	}
	newOut := strings.TrimPrefix(r.stdout.String(), outBefore)
	if n := strings.Count(newOut, "(cycle req-2,"); n != 1 || !strings.Contains(newOut, "131048") {
		t.Errorf("alerts printed by req-2: %d, want 1 naming 131048:\n%s", n, newOut)
	}
	if l := cycleLog(t, r, "req-2", 1); l["alerted"] != float64(alerted) || l["replayed"] != false {
		t.Errorf("req-2 log line %v", l)
	}

	// (b) FC retries req-2: replayed, no new alert, no CAMS call.
	outBefore, calls = r.stdout.String(), r.sim.Stats().Calls
	rep = report(t, r.invoke(t, fctest.Invocation{RequestID: "req-2", RetryCount: 1, Event: timerEvent(ptr(`{}`)), Credentials: sts}))
	if !rep.Replayed || rep.CycleID != "req-2" {
		t.Errorf("retry of req-2: replayed %v cycle %q, want a replay", rep.Replayed, rep.CycleID)
	}
	if newOut := strings.TrimPrefix(r.stdout.String(), outBefore); strings.Contains(newOut, "== ") || strings.Contains(newOut, "(cycle req-2,") {
		t.Errorf("the retry alerted again:\n%s", newOut)
	}
	if got := r.sim.Stats().Calls; got != calls {
		t.Errorf("the retry made %d CAMS calls", got-calls)
	}
	if l := cycleLog(t, r, "req-2", 2); l["retry_count"] != 1.0 || l["replayed"] != true || l["outcome"] != "ok" {
		t.Errorf("retry log line %v", l)
	}
}

// TestTimerFunctionFallsBackToTheEnvironment: an invocation without credentials signs with the
// process's ALIBABA_CLOUD_* variables, which CAMS refuses here: failed checks, not a failed
// invocation, and no status change.
func TestTimerFunctionFallsBackToTheEnvironment(t *testing.T) {
	r := start(t, "checker", options{})
	rep := report(t, r.invoke(t, fctest.Invocation{RequestID: "req-env", Event: timerEvent(nil)}))
	if rep.Checked != 0 || rep.Failed != 2 || !strings.Contains(rep.Failures[0].Error, "InvalidAccessKeyId.NotFound") {
		t.Errorf("with the environment's credentials: checked %d failed %d %+v", rep.Checked, rep.Failed, rep.Failures)
	}
	if l := cycleLog(t, r, "req-env", 1); l["credentials"] != "environment" || l["level"] != "WARN" {
		t.Errorf("log line %v", l)
	}
}

// TestFunctionsThatCannotStart: a broken configuration (or the HTTP function without its
// token) does not crash-loop: every invocation fails with the cause, which is also logged.
func TestFunctionsThatCannotStart(t *testing.T) {
	checker := start(t, "checker", options{config: "targets: []\nstate: {type: nosuch}\n"})
	ondemand := start(t, "ondemand", options{noToken: true})
	for _, tc := range []struct {
		r     *rig
		event []byte
		want  string
	}{
		{checker, timerEvent(nil), "wahealth could not start: "},
		{ondemand, httpEvent(httpRequest{method: "GET", path: "/healthz"}), "wahealth could not start: http function: ondemand: http.auth is \"token\" but WAHEALTH_HTTP_TOKEN is not set"},
	} {
		for i := range 2 { // the process stays up and keeps answering
			res := tc.r.invoke(t, fctest.Invocation{RequestID: fmt.Sprintf("req-start-%d", i), Event: tc.event, Credentials: sts})
			fe, ok := res.FunctionError()
			if !ok || fe.Type != "StartError" || !strings.HasPrefix(fe.Message, tc.want) {
				t.Errorf("invocation %d: %+v (%s), want a StartError starting %q", i, res, res.Error, tc.want)
			}
		}
		if lines := logLines(tc.r.stdout.String(), "wahealth cannot start: every invocation fails until this is fixed"); len(lines) != 1 ||
			!strings.HasPrefix(lines[0]["error"].(string), tc.want) {
			t.Errorf("start-up log lines %v", lines)
		}
	}
}

// httpRequest is what a test sends through the HTTP trigger.
type httpRequest struct {
	method, path string
	query        map[string]string
	headers      map[string]string
	body         string
	base64       bool
}

// httpEvent builds the event FC 3.0 passes for an HTTP trigger request.
func httpEvent(hr httpRequest) []byte {
	headers := map[string]string{"user-agent": "e2e/1.0", "x-forwarded-proto": "https"}
	for k, v := range hr.headers {
		headers[strings.ToLower(k)] = v
	}
	body := hr.body
	if hr.base64 {
		body = base64.StdEncoding.EncodeToString([]byte(hr.body))
	}
	ev := map[string]any{
		"version":         "v1",
		"rawPath":         hr.path,
		"body":            body,
		"isBase64Encoded": hr.base64,
		"headers":         headers,
		"queryParameters": hr.query,
		"requestContext": map[string]any{
			"accountId":    fctest.DefaultAccountID,
			"domainName":   "e2e.ap-southeast-1.fcapp.run",
			"domainPrefix": "e2e",
			"http": map[string]any{"method": hr.method, "path": hr.path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9",
				"userAgent": "e2e/1.0"},
			"requestId": "1-e2e",
			"time":      "2026-11-28T09:00:00Z",
			"timeEpoch": "1795856400000",
		},
	}
	if hr.query == nil {
		delete(ev, "queryParameters")
	}
	b, _ := json.Marshal(ev)
	return b
}

// serve sends one HTTP trigger event and returns the response event.
func (r *rig) serve(t *testing.T, requestID string, creds fctest.Credentials, hr httpRequest) events.HTTPTriggerResponse {
	t.Helper()
	res := r.invoke(t, fctest.Invocation{RequestID: requestID, Event: httpEvent(hr), Credentials: creds})
	if res.Status != fctest.StatusResponse {
		t.Fatalf("%s %s: the invocation failed: %s", hr.method, hr.path, res.Error)
	}
	var resp events.HTTPTriggerResponse
	if err := json.Unmarshal(res.Response, &resp); err != nil {
		t.Fatalf("%s %s: response %s: %v", hr.method, hr.path, res.Response, err)
	}
	return resp
}

// body returns a response's body, decoded from base64 when it is.
func body(t *testing.T, resp events.HTTPTriggerResponse) string {
	t.Helper()
	if !resp.IsBase64Encoded {
		return resp.Body
	}
	b, err := base64.StdEncoding.DecodeString(resp.Body)
	if err != nil {
		t.Fatalf("base64 body: %v", err)
	}
	return string(b)
}

// apiError is the JSON error body of the on-demand API.
type apiError struct {
	Error struct {
		Code          string `json:"code"`
		Message       string `json:"message"`
		Parameter     string `json:"parameter"`
		CAMSCode      string `json:"camsCode"`
		CAMSRequestID string `json:"camsRequestId"`
	} `json:"error"`
}

func decodeError(t *testing.T, resp events.HTTPTriggerResponse) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(body(t, resp)), &e); err != nil || e.Error.Code == "" {
		t.Fatalf("status %d: body %q is not a JSON error: %v", resp.StatusCode, body(t, resp), err)
	}
	return e
}

// TestHTTPFunction sends HTTP trigger events for every endpoint, without a token, with a
// wrong one and with the right one, and checks status codes and bodies.
func TestHTTPFunction(t *testing.T) {
	r := start(t, "ondemand", options{})
	bearer := map[string]string{"authorization": "Bearer " + httpToken}
	n := 0
	id := func() string { n++; return fmt.Sprintf("req-http-%02d", n) }

	// Authentication: every endpoint but /healthz refuses a missing or wrong token with 401.
	authCases := []httpRequest{
		{method: "GET", path: "/status"},
		{method: "GET", path: "/status", query: map[string]string{"format": "html"}},
		{method: "GET", path: "/badge.svg", query: map[string]string{"entity": "PHONE_NUMBER:" + phone1}},
		{method: "POST", path: "/check", body: `{}`},
		{method: "GET", path: "/check", query: map[string]string{"nodeType": "phone", "phoneNumber": phone1}},
		{method: "GET", path: "/nowhere"},
		{method: "DELETE", path: "/status"},
	}
	for _, hr := range authCases {
		for _, tc := range []struct {
			auth, message string
		}{
			{"", "missing credentials: send the header Authorization: Bearer <token>"},
			{"Bearer not-the-token", "invalid token"},
			{"Basic " + base64.StdEncoding.EncodeToString([]byte("user:wrong")), ""}, // the message depends on the endpoint
		} {
			hr := hr
			hr.headers = map[string]string{}
			if tc.auth != "" {
				hr.headers["authorization"] = tc.auth
			}
			resp := r.serve(t, id(), sts, hr)
			e := decodeError(t, resp)
			if resp.StatusCode != 401 || e.Error.Code != "unauthorized" || (tc.message != "" && e.Error.Message != tc.message) ||
				!strings.HasPrefix(resp.Headers["Www-Authenticate"], `Bearer realm="wahealth"`) {
				t.Errorf("%s %s with %q: %d %+v %v, want 401 unauthorized %q", hr.method, hr.path, tc.auth, resp.StatusCode, e, resp.Headers, tc.message)
			}
		}
	}
	if r.sim.Stats().Calls != 0 {
		t.Errorf("unauthenticated requests made %d CAMS calls", r.sim.Stats().Calls)
	}

	// GET /healthz: no token needed, no upstream call; the request id is FC's.
	resp := r.serve(t, "req-healthz", fctest.Credentials{}, httpRequest{method: "GET", path: "/healthz"})
	if resp.StatusCode != 200 || strings.TrimSpace(body(t, resp)) != `{
  "status": "ok"
}` || resp.Headers["X-Request-Id"] != "req-healthz" || !strings.HasPrefix(resp.Headers["Content-Type"], "application/json") {
		t.Errorf("GET /healthz: %d %v %q", resp.StatusCode, resp.Headers, body(t, resp))
	}
	if resp := r.serve(t, id(), sts, httpRequest{method: "HEAD", path: "/healthz"}); resp.StatusCode != 200 || resp.Body != "" {
		t.Errorf("HEAD /healthz: %d %q, want 200 without a body", resp.StatusCode, resp.Body)
	}

	// GET /status before any cycle: an empty state.
	resp = r.serve(t, id(), sts, httpRequest{method: "GET", path: "/status", headers: bearer})
	var status struct {
		Baseline  bool `json:"baseline"`
		LastCycle *struct {
			ID string `json:"id"`
		} `json:"lastCycle"`
		Summary struct {
			Total, Available, Limited int
		} `json:"summary"`
		Entities []struct {
			Type           string `json:"type"`
			ID             string `json:"id"`
			CanSendMessage string `json:"canSendMessage"`
		} `json:"entities"`
	}
	if err := json.Unmarshal([]byte(body(t, resp)), &status); err != nil || resp.StatusCode != 200 || status.Baseline || status.LastCycle != nil {
		t.Errorf("GET /status before a cycle: %d %s %v", resp.StatusCode, body(t, resp), err)
	}

	// POST /check: a full cycle, signed with the invocation's credentials, returns the report;
	// the body may come base64-encoded.
	resp = r.serve(t, "req-check", sts, httpRequest{method: "POST", path: "/check", headers: map[string]string{
		"authorization": "Bearer " + httpToken, "content-type": "application/json"}, body: `{"notify":true}`, base64: true})
	var rep monitor.Report
	if err := json.Unmarshal([]byte(body(t, resp)), &rep); err != nil || resp.StatusCode != 200 || !rep.Baseline || rep.Checked != 2 || rep.Failed != 0 {
		t.Fatalf("POST /check: %d %s (%v)", resp.StatusCode, body(t, resp), err)
	}
	if n := strings.Count(r.stdout.String(), "== wahealth is monitoring"); n != 1 {
		t.Errorf("baseline summaries printed: %d, want 1", n)
	}
	if _, err := os.Stat(r.statePath); err != nil {
		t.Errorf("POST /check saved no state: %v", err)
	}

	// GET /status: JSON from the store, no CAMS call.
	calls := r.sim.Stats().Calls
	resp = r.serve(t, id(), sts, httpRequest{method: "GET", path: "/status", headers: bearer})
	status.Entities = nil
	if err := json.Unmarshal([]byte(body(t, resp)), &status); err != nil || resp.StatusCode != 200 || !status.Baseline ||
		status.LastCycle == nil || status.Summary.Total == 0 || status.Summary.Total != status.Summary.Available {
		t.Errorf("GET /status: %d %s (%v)", resp.StatusCode, body(t, resp), err)
	}
	found := false
	for _, e := range status.Entities {
		found = found || (e.Type == "PHONE_NUMBER" && e.ID == phone1 && e.CanSendMessage == "AVAILABLE")
	}
	if !found {
		t.Errorf("GET /status: no AVAILABLE PHONE_NUMBER %s in %+v", phone1, status.Entities)
	}

	// The status page, by ?format=html and by Accept.
	for _, hr := range []httpRequest{
		{method: "GET", path: "/status", query: map[string]string{"format": "html"}, headers: bearer},
		{method: "GET", path: "/status", headers: map[string]string{"authorization": "Bearer " + httpToken, "accept": "text/html,application/xhtml+xml"}},
	} {
		resp = r.serve(t, id(), sts, hr)
		page := body(t, resp)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Headers["Content-Type"], "text/html") || resp.IsBase64Encoded ||
			!strings.Contains(strings.ToLower(page), "<!doctype html>") || !strings.Contains(page, phone1) || !strings.Contains(page, "AVAILABLE") {
			t.Errorf("status page %v: %d %v\n%.300s", hr.query, resp.StatusCode, resp.Headers, page)
		}
	}

	// The badge: SVG, sent as text.
	resp = r.serve(t, id(), sts, httpRequest{method: "GET", path: "/badge.svg", query: map[string]string{"entity": "PHONE_NUMBER:" + phone1}, headers: bearer})
	if svg := body(t, resp); resp.StatusCode != 200 || resp.IsBase64Encoded || !strings.HasPrefix(resp.Headers["Content-Type"], "image/svg+xml") ||
		!strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "AVAILABLE") {
		t.Errorf("GET /badge.svg: %d %v %.200s", resp.StatusCode, resp.Headers, svg)
	}
	if got := r.sim.Stats().Calls; got != calls {
		t.Errorf("/status and /badge.svg made %d CAMS calls", got-calls)
	}

	// Errors, each with its status and JSON code.
	for _, tc := range []struct {
		hr                    httpRequest
		status                int
		code, param, contains string
	}{
		{httpRequest{method: "GET", path: "/badge.svg", query: map[string]string{"entity": "PHONE_NUMBER:999"}}, 404, "unknown_entity", "", "PHONE_NUMBER:999"},
		{httpRequest{method: "GET", path: "/badge.svg"}, 400, "invalid_parameter", "entity", "entity: required"},
		{httpRequest{method: "GET", path: "/check", query: map[string]string{"nodeType": "phone"}}, 400, "invalid_parameter", "phoneNumber", "phoneNumber: required"},
		{httpRequest{method: "GET", path: "/check", query: map[string]string{"nodeType": "fax", "phoneNumber": phone1}}, 400, "invalid_parameter", "nodeType", "nodeType: must be one of"},
		{httpRequest{method: "POST", path: "/check", body: `{"notfy":false}`}, 400, "invalid_body", "", `unknown field "notfy"`},
		{httpRequest{method: "POST", path: "/check", body: `{"labels":` + strings.Repeat(" ", 2000) + `{}}`}, 413, "body_too_large", "", "larger than 1024 bytes"},
		{httpRequest{method: "GET", path: "/nowhere"}, 404, "not_found", "", "no endpoint /nowhere"},
		{httpRequest{method: "DELETE", path: "/status"}, 405, "method_not_allowed", "", "allowed: GET, HEAD"},
		{httpRequest{method: "PUT", path: "/check"}, 405, "method_not_allowed", "", "allowed: GET, POST"},
	} {
		tc.hr.headers = bearer
		resp := r.serve(t, id(), sts, tc.hr)
		e := decodeError(t, resp)
		if resp.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Parameter != tc.param || !strings.Contains(e.Error.Message, tc.contains) {
			t.Errorf("%s %s %v: %d %+v, want %d %s (parameter %q) containing %q", tc.hr.method, tc.hr.path, tc.hr.query,
				resp.StatusCode, e.Error, tc.status, tc.code, tc.param, tc.contains)
		}
		if tc.status == 405 && resp.Headers["Allow"] == "" {
			t.Errorf("%s %s: 405 without Allow", tc.hr.method, tc.hr.path)
		}
	}

	// A malformed event is answered 400 by the adapter, not failed.
	res := r.invoke(t, fctest.Invocation{RequestID: id(), Event: []byte(`{"rawPath":"/status","requestContext":{"http":{}}}`), Credentials: sts})
	var bad events.HTTPTriggerResponse
	if res.Status != fctest.StatusResponse || json.Unmarshal(res.Response, &bad) != nil || bad.StatusCode != 400 ||
		decodeError(t, bad).Error.Code != "invalid_event" {
		t.Errorf("malformed event: %+v %s", res, res.Response)
	}

	// 409 while another cycle holds the state.
	store, err := state.OpenFile(r.statePath)
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lease, err := store.Lock(lctx, "e2e-test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp = r.serve(t, id(), sts, httpRequest{method: "POST", path: "/check", headers: bearer})
	if e := decodeError(t, resp); resp.StatusCode != 409 || e.Error.Code != "busy" || resp.Headers["Retry-After"] == "" {
		t.Errorf("POST /check while the state is held: %d %+v %v", resp.StatusCode, e, resp.Headers)
	}
	if err := lease.Release(lctx); err != nil {
		t.Fatal(err)
	}

	// GET /check: an ad-hoc check straight through CAMS with the invocation's credentials
	// (the scenario's second answer: LIMITED), not stored.
	stateBefore := readFile(t, r.statePath)
	resp = r.serve(t, id(), sts, httpRequest{method: "GET", path: "/check", headers: bearer,
		query: map[string]string{"nodeType": "phone", "phoneNumber": phone1, "custSpaceId": "cs-e2e"}})
	var adhoc struct {
		CanSendMessage string `json:"canSendMessage"`
		Recorded       bool   `json:"recorded"`
		CAMSRequestID  string `json:"camsRequestId"`
		Errors         []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body(t, resp)), &adhoc); err != nil || resp.StatusCode != 200 || adhoc.CanSendMessage != "LIMITED" ||
		adhoc.Recorded || adhoc.CAMSRequestID == "" || len(adhoc.Errors) != 1 || adhoc.Errors[0].Code != "131048" {
		t.Errorf("GET /check ad hoc: %d %s (%v)", resp.StatusCode, body(t, resp), err)
	}
	if !bytes.Equal(stateBefore, readFile(t, r.statePath)) {
		t.Errorf("an ad-hoc check without record=true changed the state")
	}

	// 429: ad-hoc checks beyond http.adhocQPS (1/s) are refused at once.
	resp = r.serve(t, id(), sts, httpRequest{method: "GET", path: "/check", headers: bearer, query: map[string]string{"nodeType": "phone", "phoneNumber": phone2}})
	if e := decodeError(t, resp); resp.StatusCode != 429 || e.Error.Code != "rate_limited" || resp.Headers["Retry-After"] == "" {
		t.Errorf("second ad-hoc check within a second: %d %+v %v", resp.StatusCode, e, resp.Headers)
	}

	// 502: without the invocation's credentials the process's (wrong) ones are refused by
	// CAMS; the answer carries CAMS's code and request id, never a credential.
	time.Sleep(1100 * time.Millisecond) // the ad-hoc budget refills
	resp = r.serve(t, id(), fctest.Credentials{}, httpRequest{method: "GET", path: "/check", headers: bearer, query: map[string]string{"nodeType": "phone", "phoneNumber": phone2}})
	if e := decodeError(t, resp); resp.StatusCode != 502 || e.Error.Code != "cams_error" || e.Error.CAMSCode != "InvalidAccessKeyId.NotFound" || e.Error.CAMSRequestID == "" {
		t.Errorf("ad-hoc check with the environment's credentials: %d %+v", resp.StatusCode, e)
	}

	// Every request logged one line with FC's request id.
	if lines := logLines(r.stdout.String(), "http request"); len(lines) < n || lines[0]["requestId"] != "req-http-01" {
		t.Errorf("%d \"http request\" log lines (first %v), want one per request", len(lines), lines[0])
	}
}
