package monitor_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/examples"
	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/cams/camssim"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/state"
)

const (
	keyID  = "test-key-id"
	secret = "test-key-secret-0001"
)

// rig is a monitor wired to the simulator, a file store and a console notifier writing into
// a buffer: every part is the real code.
type rig struct {
	sim     *camssim.Server
	mon     *monitor.Monitor
	store   state.Store
	console *syncBuffer
	now     time.Time
}

type syncBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	fail bool
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return 0, errors.New("console is down")
	}
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

func newRig(t *testing.T, scenario []byte, targets []health.Target) *rig {
	t.Helper()
	sc, err := camssim.ParseScenario(scenario)
	if err != nil {
		t.Fatal(err)
	}
	sim := camssim.New(camssim.Options{AccessKeyID: keyID, AccessKeySecret: secret, Scenario: sc})
	u, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	client, err := cams.New(cams.Options{Endpoint: u, Credentials: cams.Credentials{AccessKeyID: keyID, AccessKeySecret: secret},
		QPS: 50, MaxRetries: 1, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, ThrottleBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.OpenFile(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := notify.LoadTemplate("console", "", "")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{sim: sim, store: store, console: &syncBuffer{}, now: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	r.mon = &monitor.Monitor{
		Source:   client,
		Store:    store,
		Channels: []monitor.Channel{{Name: "console", Notifier: notify.NewConsole(r.console, tpl)}},
		Targets:  targets,
		Now:      func() time.Time { return r.now },
	}
	return r
}

func (r *rig) cycle(t *testing.T) *monitor.Report {
	t.Helper()
	r.now = r.now.Add(5 * time.Minute)
	rep, err := r.mon.Run(context.Background(), monitor.RunOptions{})
	if err != nil {
		t.Fatalf("cycle: %v", err)
	}
	return rep
}

var demoTargets = []health.Target{
	{NodeType: health.NodePhone, CustSpaceID: "cs-demo", PhoneNumber: "+86 138 0000 0001"},
	{NodeType: health.NodePhone, CustSpaceID: "cs-demo", PhoneNumber: "8613800000002"},
	{NodeType: health.NodeTemplate, CustSpaceID: "cs-demo", TemplateCode: "welcome_v2", Language: "en"},
}

type change struct {
	Kind      health.ChangeKind
	Entity    string
	From, To  health.Status
	ErrorCode string
	Alerted   bool
}

func changes(r *monitor.Report) []change {
	var out []change
	for _, c := range r.Changes {
		out = append(out, change{c.Kind, c.Entity.String(), c.From, c.To, c.ErrorCode, c.Alerted})
	}
	return out
}

// TestDemoScenarioTwice runs the demo scenario's five cycles, twice over (the second pass
// against a fresh store), and checks what changed and what was alerted each time.
func TestDemoScenarioTwice(t *testing.T) {
	for pass := 1; pass <= 2; pass++ {
		r := newRig(t, examples.DemoScenario, demoTargets)

		rep := r.cycle(t)
		if !rep.Baseline || rep.Checked != 3 || rep.Failed != 0 {
			t.Fatalf("cycle 1: baseline %v checked %d failed %d", rep.Baseline, rep.Checked, rep.Failed)
		}
		// 2 phones + 1 template + the shared WABA, BUSINESS and APP rows = 6 entities.
		if len(rep.Entities) != 6 {
			t.Fatalf("cycle 1: %d entities, want 6: %+v", len(rep.Entities), rep.Entities)
		}
		out := r.console.take()
		if strings.Count(out, "==") != 2 || !strings.Contains(out, "monitoring 6 entities: all can send") {
			t.Errorf("cycle 1: want one baseline summary, got:\n%s", out)
		}

		rep = r.cycle(t)
		want := []change{{health.StatusChanged, "PHONE_NUMBER:8613800000001", health.Available, health.Limited, "", true}}
		if d := cmp.Diff(want, changes(rep)); d != "" {
			t.Errorf("cycle 2 changes (-want +got):\n%s", d)
		}
		out = r.console.take()
		if !strings.Contains(out, "AVAILABLE → LIMITED") || strings.Count(out, "== [") != 1 {
			t.Errorf("cycle 2 alert:\n%s", out)
		}

		rep = r.cycle(t)
		want = []change{
			{health.StatusChanged, "PHONE_NUMBER:8613800000001", health.Limited, health.Blocked, "", true},
			{health.ErrorAdded, "PHONE_NUMBER:8613800000001", "", "", "141006", true},
			{health.StatusChanged, "WABA:1000001", health.Available, health.Blocked, "", true},
			{health.ErrorAdded, "WABA:1000001", "", "", "141006", true},
		}
		if d := cmp.Diff(want, changes(rep)); d != "" {
			t.Errorf("cycle 3 changes (-want +got):\n%s", d)
		}
		out = r.console.take()
		if strings.Count(out, "== [CRITICAL]") != 1 || strings.Count(out, "WABA 1000001") != 1 || !strings.Contains(out, "new error 141006") {
			t.Errorf("cycle 3: want one critical message naming the WABA once:\n%s", out)
		}
		if !strings.Contains(out, "fix: There was an error with your payment method.") {
			t.Errorf("cycle 3: the possible solution is missing:\n%s", out)
		}

		rep = r.cycle(t)
		if len(rep.Changes) != 0 || rep.Message != nil {
			t.Errorf("cycle 4 (still blocked): changes %+v message %v", rep.Changes, rep.Message)
		}
		if out := r.console.take(); out != "" {
			t.Errorf("cycle 4 alerted:\n%s", out)
		}

		rep = r.cycle(t)
		for _, c := range rep.Changes {
			if !c.Recovery() || c.Severity != health.Resolved {
				t.Errorf("cycle 5: %+v is not a recovery", c)
			}
		}
		if len(rep.Changes) != 4 {
			t.Errorf("cycle 5: %d changes, want 4 (2 statuses, 2 errors cleared)", len(rep.Changes))
		}
		out = r.console.take()
		if strings.Count(out, "== [RESOLVED]") != 1 || !strings.Contains(out, "recovered: BLOCKED → AVAILABLE") {
			t.Errorf("cycle 5 recovery message:\n%s", out)
		}
		if rep.Pending != 0 {
			t.Errorf("pending alerts: %d", rep.Pending)
		}
	}
}

const flakyScenario = `
targets:
  - nodeType: phone
    phoneNumber: "8613800000001"
    wabaId: w1
    steps:
      - phone: LIMITED
      - {fault: server_error, times: 6}
      - phone: LIMITED
`

func TestFailedFetchChangesNothingAndIsAlertedAfterThreshold(t *testing.T) {
	targets := []health.Target{{NodeType: health.NodePhone, CustSpaceID: "cs", PhoneNumber: "8613800000001"}}
	r := newRig(t, []byte(flakyScenario), targets)
	r.mon.CheckFailureThreshold = 3
	r.cycle(t) // baseline: LIMITED
	r.console.take()
	// Each failing cycle costs two calls (one retry): three cycles use the six faults.
	for i := 1; i <= 3; i++ {
		rep := r.cycle(t)
		if rep.Failed != 1 || len(rep.Changes) != 0 {
			t.Fatalf("failing cycle %d: failed %d changes %+v", i, rep.Failed, rep.Changes)
		}
		for _, e := range rep.Entities {
			if !e.Stale || (e.Type == health.PhoneNumber && e.CanSendMessage != health.Limited) {
				t.Errorf("failing cycle %d: entity %+v should keep its previous state, marked stale", i, e)
			}
		}
		out := r.console.take()
		if i < 3 && out != "" {
			t.Errorf("failing cycle %d alerted before the threshold:\n%s", i, out)
		}
		if i == 3 && (!strings.Contains(out, "cannot check phone 8613800000001") || !strings.Contains(out, "ServiceUnavailable")) {
			t.Errorf("failing cycle 3: want one cannot-check alert naming the cause:\n%s", out)
		}
	}
	rep := r.cycle(t)
	if rep.Failed != 0 || len(rep.Changes) != 0 {
		t.Fatalf("recovered cycle: failed %d changes %+v", rep.Failed, rep.Changes)
	}
	if out := r.console.take(); !strings.Contains(out, "checks succeed again") {
		t.Errorf("want a checks-succeed-again message:\n%s", out)
	}
}

func TestUndeliveredAlertStaysInOutboxUntilDelivered(t *testing.T) {
	targets := demoTargets[:1]
	r := newRig(t, examples.DemoScenario, targets)
	r.cycle(t) // baseline
	r.console.take()
	r.console.fail = true
	rep := r.cycle(t) // LIMITED: delivery fails
	if rep.Pending != 1 || len(rep.Deliveries) != 1 || rep.Deliveries[0].Status != "failed" {
		t.Fatalf("failed delivery: pending %d deliveries %+v", rep.Pending, rep.Deliveries)
	}
	r.console.fail = false
	rep = r.cycle(t) // BLOCKED: the pending alert goes first, then the new one
	if rep.Pending != 0 || len(rep.Deliveries) != 2 {
		t.Fatalf("after recovery: pending %d deliveries %+v", rep.Pending, rep.Deliveries)
	}
	out := r.console.take()
	first, second := strings.Index(out, "AVAILABLE → LIMITED"), strings.Index(out, "LIMITED → BLOCKED")
	if first < 0 || second < 0 || first > second {
		t.Errorf("want the old alert, then the new one:\n%s", out)
	}
	rep = r.cycle(t) // still blocked: nothing more
	if len(rep.Deliveries) != 0 || r.console.take() != "" {
		t.Errorf("an alert was delivered twice: %+v", rep.Deliveries)
	}
}

func TestOverlappingCycleIsBusy(t *testing.T) {
	r := newRig(t, examples.DemoScenario, demoTargets)
	lease, err := r.store.Lock(context.Background(), "other", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.mon.Run(context.Background(), monitor.RunOptions{})
	if !errors.Is(err, monitor.ErrBusy) {
		t.Fatalf("got %v, want ErrBusy", err)
	}
	if r.sim.Stats().Calls != 0 {
		t.Error("a busy cycle spent CAMS calls")
	}
	_ = lease.Release(context.Background())
	if _, err := r.mon.Run(context.Background(), monitor.RunOptions{}); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestDryRunSavesAndSendsNothing(t *testing.T) {
	r := newRig(t, examples.DemoScenario, demoTargets)
	rep, err := r.mon.Run(context.Background(), monitor.RunOptions{DryRun: true})
	if err != nil || !rep.DryRun || len(rep.Entities) != 6 {
		t.Fatalf("dry run: %v %+v", err, rep)
	}
	st, err := r.store.Load(context.Background())
	if err != nil || st.Version != 0 {
		t.Errorf("dry run saved state: version %d err %v", st.Version, err)
	}
	if out := r.console.take(); out != "" {
		t.Errorf("dry run alerted:\n%s", out)
	}
}

func TestRetriedCycleIDDoesNotAlertTwice(t *testing.T) {
	r := newRig(t, examples.DemoScenario, demoTargets)
	r.cycle(t) // baseline
	r.console.take()
	run := func() *monitor.Report {
		rep, err := r.mon.Run(context.Background(), monitor.RunOptions{CycleID: "fc-request-1"})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	first := run()
	if len(first.Changes) != 1 || !strings.Contains(r.console.take(), "AVAILABLE → LIMITED") {
		t.Fatalf("first attempt: %+v", first.Changes)
	}
	calls := r.sim.Stats().Calls
	again := run()
	if !again.Replayed || len(again.Deliveries) != 0 || r.console.take() != "" {
		t.Errorf("retry alerted again: %+v", again)
	}
	if r.sim.Stats().Calls != calls {
		t.Error("retry called CAMS again")
	}
}
