package fcrun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/wahealth/wahealth/pkg/app"
	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/cams/camssim"
	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/fcrun"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/state"
)

// The invocation's STS credentials, which the simulator requires, and the environment's,
// which it refuses: a successful check proves the invocation's were used.
var (
	stsCreds = cams.Credentials{AccessKeyID: "STS.invocation-key", AccessKeySecret: "invocation-secret", SecurityToken: "invocation-token"}
	envCreds = map[string]string{
		cams.EnvAccessKeyID:     "LTAI-wrong-env-key",
		cams.EnvAccessKeySecret: "wrong-env-secret",
		cams.EnvSecurityToken:   "wrong-env-token",
	}
)

const validPayload = `the payload is a JSON object with the optional fields "labels" (an object of label names to ` +
	`string values), "dryRun" (true or false) and "shard" ("i/n"), e.g. {"labels":{"team":"support"},"dryRun":true}`

func TestParsePayload(t *testing.T) {
	ok := []struct {
		in   string
		want fcrun.Payload
	}{
		{"", fcrun.Payload{}},
		{"  \n", fcrun.Payload{}},
		{"null", fcrun.Payload{}},
		{"{}", fcrun.Payload{}},
		{`{"dryRun":true}`, fcrun.Payload{DryRun: true}},
		{`{"shard":"2/4"}`, fcrun.Payload{Shard: "2/4"}},
		{` {"labels":{"team":"a","country":"id"},"dryRun":false} `, fcrun.Payload{Labels: map[string]string{"team": "a", "country": "id"}}},
	}
	for _, tc := range ok {
		got, err := fcrun.ParsePayload(tc.in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ParsePayload(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}

	bad := []struct {
		in, field, problem string
	}{
		{`{"labelz":{}}`, "labelz", `unknown field "labelz"`},
		{`{"labels":{},"notify":false}`, "notify", `unknown field "notify"`},
		{`{"dryRun":"yes"}`, "dryRun", `field "dryRun" must be true or false, not a string`},
		{`{"dryRun":1}`, "dryRun", `field "dryRun" must be true or false, not a number`},
		{`{"labels":["team"]}`, "labels", `field "labels" must be an object of label names to string values, not an array`},
		{`{"labels":"team=a"}`, "labels", `field "labels" must be an object of label names to string values, not a string`},
		{`{"labels":{"team":1}}`, "labels", `field "labels" must map label names to strings, not to a number`},
		{`{"labels":{"":"a"}}`, "labels", `field "labels" has an empty label name`},
		{`{"shard":"5/4"}`, "shard", `field "shard" must be "i/n" with 1 <= i <= n, like "2/4", not "5/4"`},
		{`{"shard":"0/4"}`, "shard", `field "shard" must be "i/n" with 1 <= i <= n, like "2/4", not "0/4"`},
		{`{"shard":"1 of 4"}`, "shard", `field "shard" must be "i/n" with 1 <= i <= n, like "2/4", not "1 of 4"`},
		{`every 5m`, "", `not valid JSON (invalid character 'e' looking for beginning of value at byte 1)`},
		{`{"dryRun":true`, "", `not valid JSON (it ends too early)`},
		{`{"dryRun":tru}`, "", `not valid JSON (invalid character '}' in literal true (expecting 'e') at byte 14)`},
		{`[{"dryRun":true}]`, "", `it must be a JSON object, not an array`},
		{`"dryRun"`, "", `it must be a JSON object, not a string`},
		{`true`, "", `it must be a JSON object, not a boolean`},
		{`42`, "", `it must be a JSON object, not a number`},
		{`{"dryRun":true} {}`, "", `unexpected data after the JSON object`},
	}
	for _, tc := range bad {
		_, err := fcrun.ParsePayload(tc.in)
		var pe *fcrun.PayloadError
		if !errors.As(err, &pe) {
			t.Errorf("ParsePayload(%q) err = %v, want a *PayloadError", tc.in, err)
			continue
		}
		want := "invalid timer payload: " + tc.problem + "; " + validPayload
		if pe.Field != tc.field || err.Error() != want {
			t.Errorf("ParsePayload(%q):\n got field %q, %s\nwant field %q, %s", tc.in, pe.Field, err, tc.field, want)
		}
	}
}

// syncBuffer is a goroutine-safe buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// take returns and clears what was written.
func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// rig is an App over the CAMS simulator, a file store and a console notifier, built with the
// wrong environment credentials.
type rig struct {
	app       *app.App
	sim       *camssim.Server
	statePath string
	console   *syncBuffer
	logs      *syncBuffer
	handler   func(context.Context, events.TimerEvent) (*monitor.Report, error)
}

const scenario = `
targets:
  - nodeType: phone
    phoneNumber: "8613800000001"
    steps:
      - {}
      - phone: {status: LIMITED, errors: [{code: "131048", description: Spam rate limit hit.}]}
`

func newRig(t *testing.T) *rig {
	t.Helper()
	sc, err := camssim.ParseScenario([]byte(scenario))
	if err != nil {
		t.Fatal(err)
	}
	sim := camssim.New(camssim.Options{AccessKeyID: stsCreds.AccessKeyID, AccessKeySecret: stsCreds.AccessKeySecret,
		SecurityToken: stsCreds.SecurityToken, Scenario: sc})
	endpoint, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	statePath := filepath.Join(t.TempDir(), "state.json")
	yaml := fmt.Sprintf(`
custSpaceId: cs-test
cams: {endpoint: %q, qps: 100, timeout: 2s, maxRetries: -1}
targets:
  - {nodeType: phone, phoneNumber: "8613800000001", labels: {team: a}}
  - {nodeType: phone, phoneNumber: "8613800000002", labels: {team: b, country: id}}
state: {type: file, path: %q}
notifiers: [{type: console}]
`, endpoint, statePath)
	getenv := func(k string) (string, bool) { v, ok := envCreds[k]; return v, ok }
	cfg, err := config.Parse("test", []byte(yaml), getenv)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{sim: sim, statePath: statePath, console: &syncBuffer{}, logs: &syncBuffer{}}
	r.app, err = app.New(cfg, app.Env{Getenv: getenv, Console: r.console})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.app.Close() })
	r.handler = fcrun.TimerHandler(r.app, fcrun.NewLogger(r.logs, 0))
	return r
}

// invocation is what a test sets of an FC invocation.
type invocation struct {
	requestID string
	retry     int
	creds     cams.Credentials
	timeout   time.Duration
}

// fcContext returns a context like the one fc.Start passes a handler.
func fcContext(t *testing.T, inv invocation) context.Context {
	t.Helper()
	if inv.timeout == 0 {
		inv.timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), inv.timeout)
	t.Cleanup(cancel)
	return fccontext.NewContext(ctx, &fccontext.FcContext{
		RequestID:  inv.requestID,
		RetryCount: inv.retry,
		Credentials: fccontext.Credentials{
			AccessKeyId: inv.creds.AccessKeyID, AccessKeySecret: inv.creds.AccessKeySecret, SecurityToken: inv.creds.SecurityToken,
		},
		Function: fccontext.Function{Name: "checker", Timeout: int(inv.timeout / time.Second)},
	})
}

func timerEvent(payload *string) events.TimerEvent {
	name, at := "every-5m", "2026-11-28T09:00:00Z"
	return events.TimerEvent{TriggerName: &name, TriggerTime: &at, Payload: payload}
}

func ptr(s string) *string { return &s }

// logLines decodes the JSON lines of a log.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestTimerHandlerRunsACycleWithTheInvocationsCredentials(t *testing.T) {
	r := newRig(t)

	rep, err := r.handler(fcContext(t, invocation{requestID: "req-1", creds: stsCreds}), timerEvent(nil))
	if err != nil {
		t.Fatal(err)
	}
	if rep.CycleID != "req-1" || !rep.Baseline || rep.Checked != 2 || rep.Failed != 0 {
		t.Fatalf("first cycle: id %q baseline %v checked %d failed %d (failures %+v); want req-1, a baseline, 2 checked",
			rep.CycleID, rep.Baseline, rep.Checked, rep.Failed, rep.Failures)
	}
	if out := r.console.take(); strings.Count(out, "== wahealth is monitoring") != 1 {
		t.Errorf("console after the baseline:\n%s\nwant one summary", out)
	}
	lines := logLines(t, r.logs.take())
	if len(lines) != 1 {
		t.Fatalf("log lines = %v, want exactly one", lines)
	}
	want := map[string]any{
		"level": "INFO", "msg": "wahealth cycle", "request_id": "req-1", "cycle": "req-1", "retry_count": 0.0,
		"trigger": "every-5m", "outcome": "ok", "credentials": "invocation", "targets": 2.0, "dry_run": false,
		"checked": 2.0, "failed": 0.0, "alerted": 0.0, "pending": 0.0, "baseline": true, "replayed": false,
	}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("log field %s = %v, want %v", k, lines[0][k], v)
		}
	}
	if _, ok := lines[0]["duration_ms"].(float64); !ok {
		t.Errorf("log line has no duration_ms: %v", lines[0])
	}

	// The scenario degrades: one alert.
	rep, err = r.handler(fcContext(t, invocation{requestID: "req-2", creds: stsCreds}), timerEvent(ptr("")))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes) == 0 || rep.Baseline {
		t.Fatalf("second cycle: changes %+v, want the phone's degradation", rep.Changes)
	}
	if out := r.console.take(); strings.Count(out, "(cycle req-2,") != 1 {
		t.Errorf("console after the degradation:\n%s\nwant exactly one alert", out)
	}
	stateBefore := readFile(t, r.statePath)

	// FC retries the same request: the report is replayed, nothing is alerted again.
	rep, err = r.handler(fcContext(t, invocation{requestID: "req-2", retry: 1, creds: stsCreds}), timerEvent(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Replayed {
		t.Errorf("retried cycle: replayed = false, want true")
	}
	if out := r.console.take(); out != "" {
		t.Errorf("a retry alerted again:\n%s", out)
	}
	logs := r.logs.take()
	lines = logLines(t, logs)
	if len(lines) != 2 || lines[1]["replayed"] != true || lines[1]["retry_count"] != 1.0 {
		t.Errorf("log lines of the degradation and the retry = %v", lines)
	}
	if strings.Contains(logs, stsCreds.AccessKeySecret) || strings.Contains(logs, stsCreds.SecurityToken) {
		t.Errorf("the log shows a credential: %s", logs)
	}
	if !bytes.Equal(stateBefore, readFile(t, r.statePath)) {
		t.Errorf("the replay changed the state file")
	}
}

func TestTimerHandlerFallsBackToTheEnvironmentsCredentials(t *testing.T) {
	r := newRig(t)
	// No credentials in the invocation (a function without a role), and no FC context at all.
	for _, ctx := range []context.Context{fcContext(t, invocation{requestID: "req-nocreds"}), context.Background()} {
		rep, err := r.handler(ctx, timerEvent(ptr(`{"dryRun":true}`)))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Checked != 0 || rep.Failed != 2 || !strings.Contains(rep.Failures[0].Error, "InvalidAccessKeyId.NotFound") {
			t.Errorf("with the (wrong) environment credentials: checked %d failed %d %+v; want both refused by CAMS",
				rep.Checked, rep.Failed, rep.Failures)
		}
	}
	lines := logLines(t, r.logs.take())
	if len(lines) != 2 || lines[0]["credentials"] != "environment" || lines[0]["level"] != "WARN" || lines[1]["request_id"] != "" {
		t.Errorf("log lines = %v", lines)
	}
}

func TestTimerHandlerRefusesAnInvalidPayloadBeforeTouchingAnything(t *testing.T) {
	r := newRig(t)
	if _, err := r.handler(fcContext(t, invocation{requestID: "req-1", creds: stsCreds}), timerEvent(nil)); err != nil {
		t.Fatal(err)
	}
	r.console.take()
	r.logs.take()
	before := readFile(t, r.statePath)
	calls := r.sim.Stats().Calls

	for _, tc := range []struct{ payload, want string }{
		{`{"labelz":{}}`, `invalid timer payload: unknown field "labelz"; ` + validPayload},
		{`not json`, `invalid timer payload: not valid JSON`},
		{`{"labels":{"team":"c"}}`, `invalid timer payload: labels {"team":"c"} select none of the 2 configured targets ` +
			`(the targets' labels are country=id, team=a, team=b); ` + validPayload},
	} {
		rep, err := r.handler(fcContext(t, invocation{requestID: "req-bad", creds: stsCreds}), timerEvent(ptr(tc.payload)))
		var pe *fcrun.PayloadError
		if rep != nil || !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("payload %s: %v, %v; want an error starting %q", tc.payload, rep, err, tc.want)
		}
		lines := logLines(t, r.logs.take())
		if len(lines) != 1 || lines[0]["outcome"] != "invalid_payload" || lines[0]["level"] != "ERROR" || lines[0]["error"] != err.Error() {
			t.Errorf("payload %s: log lines %v", tc.payload, lines)
		}
	}
	if got := r.sim.Stats().Calls; got != calls {
		t.Errorf("invalid payloads made %d CAMS calls", got-calls)
	}
	if !bytes.Equal(before, readFile(t, r.statePath)) || r.console.take() != "" {
		t.Errorf("an invalid payload changed the state or alerted")
	}
}

func TestTimerHandlerSelectsTargetsByLabel(t *testing.T) {
	r := newRig(t)
	rep, err := r.handler(fcContext(t, invocation{requestID: "req-sel", creds: stsCreds}), timerEvent(ptr(`{"labels":{"country":"id"}}`)))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 1 || r.sim.Stats().Calls != 1 {
		t.Errorf("checked %d targets with %d calls, want the one labelled country=id", rep.Checked, r.sim.Stats().Calls)
	}
	if lines := logLines(t, r.logs.take()); len(lines) != 1 || lines[0]["targets"] != 1.0 {
		t.Errorf("log lines = %v", lines)
	}
}

func TestTimerHandlerReportsABusyState(t *testing.T) {
	r := newRig(t)
	store, err := state.OpenFile(r.statePath)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := store.Lock(context.Background(), "someone-else", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(context.Background())
	_, err = r.handler(fcContext(t, invocation{requestID: "req-busy", creds: stsCreds}), timerEvent(nil))
	if !errors.Is(err, monitor.ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	if lines := logLines(t, r.logs.take()); len(lines) != 1 || lines[0]["outcome"] != "busy" {
		t.Errorf("log lines = %v", lines)
	}
}

// TestTimerHandlerStopsFetchingBeforeTheDeadline: a CAMS slower than the invocation's time
// leaves failed checks, not a lost cycle: the state is still saved before the deadline.
func TestTimerHandlerStopsFetchingBeforeTheDeadline(t *testing.T) {
	r := newRig(t)
	sc, err := camssim.ParseScenario([]byte(`
targets:
  - {nodeType: phone, phoneNumber: "8613800000001", steps: [{latency: 10s}]}
  - {nodeType: phone, phoneNumber: "8613800000002", steps: [{latency: 10s}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	slow := camssim.New(camssim.Options{AccessKeyID: stsCreds.AccessKeyID, AccessKeySecret: stsCreds.AccessKeySecret,
		SecurityToken: stsCreds.SecurityToken, Scenario: sc})
	endpoint, err := slow.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	cfg := *r.app.Config
	cfg.CAMS.Endpoint = endpoint
	cfg.CAMS.Timeout = config.Duration(time.Minute)
	a, err := app.New(&cfg, app.Env{Getenv: func(k string) (string, bool) { v, ok := envCreds[k]; return v, ok }, Console: r.console})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h := fcrun.TimerHandler(a, nil)

	start := time.Now()
	ctx := fcContext(t, invocation{requestID: "req-slow", creds: stsCreds, timeout: 2 * time.Second})
	rep, err := h(ctx, timerEvent(nil))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("cycle: %v (after %v)", err, took)
	}
	if rep.Failed != 2 || took >= 2*time.Second {
		t.Errorf("failed %d after %v; want both checks cut off before the 2s deadline", rep.Failed, took)
	}
	if _, err := os.Stat(r.statePath); err != nil {
		t.Errorf("state not saved: %v", err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRunningIn(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{fcrun.EnvRuntimeAPI: ""}, false},
		{map[string]string{fcrun.EnvRuntimeAPI: "127.0.0.1:9000"}, true},
	} {
		got := fcrun.RunningIn(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		if got != tc.want {
			t.Errorf("RunningIn(%v) = %v, want %v", tc.env, got, tc.want)
		}
	}
}

func TestInvocationFromContext(t *testing.T) {
	if inv, ok := fcrun.InvocationFromContext(context.Background()); ok || inv != (fcrun.Invocation{}) {
		t.Errorf("outside FC: %+v, %v", inv, ok)
	}
	ctx := fcContext(t, invocation{requestID: "r", retry: 3, creds: stsCreds, timeout: 7 * time.Second})
	inv, ok := fcrun.InvocationFromContext(ctx)
	if !ok || inv.RequestID != "r" || inv.RetryCount != 3 || inv.Credentials != stsCreds || inv.Timeout != 7*time.Second ||
		inv.Deadline.IsZero() || inv.FunctionName != "checker" {
		t.Errorf("InvocationFromContext = %+v, %v", inv, ok)
	}
}

// panicSource is a health source that panics.
type panicSource struct{}

func (panicSource) CheckAll(context.Context, []health.Target, func(int, cams.Outcome)) {
	panic("source exploded")
}

func TestTimerHandlerTurnsAPanicIntoAFailedInvocation(t *testing.T) {
	r := newRig(t)
	r.app.Monitor.Source = panicSource{}
	h := fcrun.TimerHandler(r.app, fcrun.NewLogger(r.logs, 0))
	rep, err := h(fcContext(t, invocation{requestID: "req-panic", creds: stsCreds}), timerEvent(nil))
	if rep != nil || err == nil || err.Error() != "check cycle panicked: source exploded" {
		t.Fatalf("= %v, %v; want the panic as an error", rep, err)
	}
	if lines := logLines(t, r.logs.take()); len(lines) != 1 || lines[0]["outcome"] != "panic" {
		t.Errorf("log lines = %v", lines)
	}
	// The lease was released: the next cycle runs.
	r.app.Monitor.Source = r.app.Client
	if _, err := fcrun.TimerHandler(r.app, nil)(fcContext(t, invocation{requestID: "req-after", creds: stsCreds}), timerEvent(nil)); err != nil {
		t.Errorf("cycle after the panic: %v", err)
	}
}
