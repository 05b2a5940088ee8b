package policy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/policy"
)

var t0 = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)

// obs is one cycle's observation of the phone entity: a status and error codes ("" = none).
type obs struct {
	status health.Status
	errs   string
}

func phone(o obs) *health.Snapshot {
	s := health.NewSnapshot()
	e := health.Entity{Type: health.PhoneNumber, ID: "861", CanSendMessage: o.status, Labels: map[string]string{"customer": "acme"}}
	for _, c := range strings.Fields(o.errs) {
		e.Errors = append(e.Errors, health.Error{Code: c})
	}
	s.Add(e)
	return s
}

// run evaluates a sequence of cycles five minutes apart, after a healthy baseline, and returns
// one line per cycle: what was alerted ("-" for nothing), or why it was suppressed.
func run(t *testing.T, cfg policy.Config, silences []policy.Silence, seq []obs) []string {
	t.Helper()
	mem := map[string]*policy.Memory{}
	policy.Baseline(mem, phone(obs{status: health.Available}), t0)
	var out []string
	for i, o := range seq {
		now := t0.Add(time.Duration(i+1) * 5 * time.Minute)
		ds := policy.Evaluate(cfg, mem, phone(o), nil, silences, now)
		line := "-"
		for _, d := range ds {
			switch {
			case d.Alert && d.Reminder:
				line = fmt.Sprintf("reminder %s since %s", d.Entity.CanSendMessage, d.Since.Sub(t0))
			case d.Alert:
				var parts []string
				for _, c := range d.Changes {
					switch c.Kind {
					case health.StatusChanged:
						parts = append(parts, string(c.From)+">"+string(c.To))
					case health.ErrorAdded:
						parts = append(parts, "+"+c.ErrorCode)
					case health.ErrorCleared:
						parts = append(parts, "-"+c.ErrorCode)
					}
				}
				line = string(d.Severity) + " " + strings.Join(parts, " ")
				if d.Severity == health.Resolved && !d.Since.IsZero() {
					line += fmt.Sprintf(" lasted %s", now.Sub(d.Since))
				}
			case d.Suppressed != "":
				line = "held: " + d.Suppressed
			}
		}
		out = append(out, line)
	}
	return out
}

var (
	A = obs{status: health.Available}
	L = obs{status: health.Limited}
	B = obs{status: health.Blocked, errs: "141006"}
)

func TestPolicySequences(t *testing.T) {
	tests := []struct {
		name     string
		cfg      policy.Config
		silences []policy.Silence
		seq      []obs
		want     []string
	}{
		{
			name: "thresholds of 1 alert every change once, recovery says how long",
			cfg:  policy.Config{FailureThreshold: 1, SuccessThreshold: 1},
			seq:  []obs{L, B, B, A},
			want: []string{"warning AVAILABLE>LIMITED", "critical LIMITED>BLOCKED +141006", "-", "resolved BLOCKED>AVAILABLE -141006 lasted 15m0s"},
		},
		{
			name: "flapping inside the failure threshold never alerts",
			cfg:  policy.Config{FailureThreshold: 3, SuccessThreshold: 1},
			seq:  []obs{L, A, L, L, A, B, A},
			want: []string{"held: failureThreshold: 1 of 3 cycles", "-", "held: failureThreshold: 1 of 3 cycles", "held: failureThreshold: 2 of 3 cycles", "-", "held: failureThreshold: 1 of 3 cycles", "-"},
		},
		{
			name: "degraded for the threshold alerts the current state once",
			cfg:  policy.Config{FailureThreshold: 3, SuccessThreshold: 1},
			seq:  []obs{L, B, B, B},
			want: []string{"held: failureThreshold: 1 of 3 cycles", "held: failureThreshold: 2 of 3 cycles", "critical AVAILABLE>BLOCKED +141006", "-"},
		},
		{
			name: "a recovery below the success threshold is not announced",
			cfg:  policy.Config{FailureThreshold: 1, SuccessThreshold: 2},
			seq:  []obs{B, A, B, A, A},
			want: []string{"critical AVAILABLE>BLOCKED +141006", "held: successThreshold: 1 of 2 cycles", "-", "held: successThreshold: 1 of 2 cycles", "resolved BLOCKED>AVAILABLE -141006 lasted 20m0s"},
		},
		{
			name: "sendResolved off records the recovery silently",
			cfg:  policy.Config{FailureThreshold: 1, SuccessThreshold: 1, SkipResolved: true},
			seq:  []obs{B, A, A},
			want: []string{"critical AVAILABLE>BLOCKED +141006", "held: sendResolved is off", "-"},
		},
		{
			name: "reminders every repeat interval while still bad",
			cfg:  policy.Config{FailureThreshold: 1, SuccessThreshold: 1, RepeatInterval: 10 * time.Minute},
			seq:  []obs{B, B, B, B, B, A},
			want: []string{"critical AVAILABLE>BLOCKED +141006", "-", "reminder BLOCKED since 5m0s", "-", "reminder BLOCKED since 5m0s", "resolved BLOCKED>AVAILABLE -141006 lasted 25m0s"},
		},
		{
			name: "a silence holds the alert; it fires when the silence ends if still bad",
			cfg:  policy.Config{FailureThreshold: 1, SuccessThreshold: 1},
			silences: []policy.Silence{{ID: "maint", Match: policy.Matcher{Labels: map[string]string{"customer": "acme"}},
				Start: t0, End: t0.Add(12 * time.Minute)}},
			seq:  []obs{B, B, B},
			want: []string{"held: silenced by maint", "held: silenced by maint", "critical AVAILABLE>BLOCKED +141006"},
		},
		{
			name: "a silence that ends after recovery leaves nothing to say",
			cfg:  policy.Config{FailureThreshold: 1, SuccessThreshold: 1},
			silences: []policy.Silence{{ID: "maint", Match: policy.Matcher{Type: health.PhoneNumber, ID: "861"},
				End: t0.Add(12 * time.Minute)}},
			seq:  []obs{B, A, A},
			want: []string{"held: silenced by maint", "-", "-"},
		},
		{
			name: "a reminder across a silence is held, then resumes",
			cfg:  policy.Config{FailureThreshold: 1, SuccessThreshold: 1, RepeatInterval: 10 * time.Minute},
			silences: []policy.Silence{{ID: "night", Match: policy.Matcher{Type: health.PhoneNumber},
				Start: t0.Add(12 * time.Minute), End: t0.Add(22 * time.Minute)}},
			seq:  []obs{B, B, B, B, B},
			want: []string{"critical AVAILABLE>BLOCKED +141006", "-", "held: reminder silenced by night", "held: reminder silenced by night", "reminder BLOCKED since 5m0s"},
		},
		{
			name: "a new error on a limited entity is a warning; calling-only codes are noted silently",
			cfg:  policy.Config{FailureThreshold: 1, SuccessThreshold: 1},
			seq:  []obs{L, {status: health.Limited, errs: "141010"}, {status: health.Limited, errs: "138024 141010"}},
			want: []string{"warning AVAILABLE>LIMITED", "warning +141010", "-"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, tt.cfg, tt.silences, tt.seq)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestPerEntityThresholds(t *testing.T) {
	cfg := policy.Config{FailureThreshold: 1, SuccessThreshold: 1,
		Thresholds: func(e *health.Entity) (int, int) { return 2, 0 }}
	got := run(t, cfg, nil, []obs{B, B, A})
	want := []string{"held: failureThreshold: 1 of 2 cycles", "critical AVAILABLE>BLOCKED +141006", "resolved BLOCKED>AVAILABLE -141006 lasted 10m0s"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestStaleEntitiesAreLeftAlone(t *testing.T) {
	mem := map[string]*policy.Memory{}
	policy.Baseline(mem, phone(A), t0)
	k := health.Key{Type: health.PhoneNumber, ID: "861"}
	ds := policy.Evaluate(policy.Config{}, mem, phone(B), map[health.Key]bool{k: true}, nil, t0.Add(time.Minute))
	if len(ds) != 0 || mem[k.String()].Notified.CanSendMessage != health.Available {
		t.Errorf("a stale entity was evaluated: %+v", ds)
	}
	// Gone from a successful query: forgotten, reported as info.
	ds = policy.Evaluate(policy.Config{}, mem, health.NewSnapshot(), nil, nil, t0.Add(2*time.Minute))
	if len(ds) != 1 || ds[0].Alert || ds[0].Changes[0].Kind != health.EntityRemoved || len(mem) != 0 {
		t.Errorf("removal: %+v, memory %v", ds, mem)
	}
}

func TestRecurringSilence(t *testing.T) {
	s := policy.Silence{ID: "weekend-night", Recurring: &policy.Recurring{Weekdays: []time.Weekday{time.Saturday}, From: "22:00", To: "06:00", Timezone: "Asia/Shanghai"}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	tests := []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 11, 28, 23, 0, 0, 0, sh), true},  // Saturday 23:00
		{time.Date(2026, 11, 29, 5, 59, 0, 0, sh), true},  // Sunday 05:59, the window that began Saturday
		{time.Date(2026, 11, 29, 6, 0, 0, 0, sh), false},  // Sunday 06:00
		{time.Date(2026, 11, 29, 23, 0, 0, 0, sh), false}, // Sunday 23:00
		{time.Date(2026, 11, 28, 21, 59, 0, 0, sh), false},
		{time.Date(2026, 11, 28, 14, 30, 0, 0, time.UTC), true}, // = Saturday 22:30 in Shanghai
	}
	for _, tt := range tests {
		if got := s.Active(tt.at); got != tt.want {
			t.Errorf("Active(%s) = %v, want %v", tt.at, got, tt.want)
		}
	}
	bad := policy.Silence{ID: "x", Recurring: &policy.Recurring{From: "25:00", To: "06:00"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "HH:MM") {
		t.Errorf("bad window: %v", err)
	}
	if err := (policy.Silence{ID: "y"}).Validate(); err == nil || !strings.Contains(err.Error(), "end is required") {
		t.Errorf("no end: %v", err)
	}
}
