package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/policy"
)

const policyBase = "custSpaceId: cs\ntargets: [{nodeType: waba, wabaId: w, failureThreshold: 3}]\n"

func TestPolicyKeys(t *testing.T) {
	c, err := Parse("t.yaml", []byte(policyBase+`
failureThreshold: 2
successThreshold: 2
sendResolved: false
repeatInterval: 0
silences:
  - name: db-migration
    match: {type: PHONE_NUMBER, id: "8613800000001"}
    start: 2026-12-01T22:00:00+08:00
    end: 2026-12-02T02:00:00+08:00
  - match: {labels: {customer: acme}}
    weekdays: [sat, Sunday]
    from: "22:00"
    to: "06:00"
    timezone: Asia/Shanghai
digest: {at: "09:30", timezone: Asia/Shanghai}
notifiers: [{type: console, digest: true}]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.FailureThreshold != 2 || c.SuccessThreshold != 2 || c.SendResolved || c.RepeatInterval != 0 || c.Targets[0].FailureThreshold != 3 {
		t.Errorf("policy keys: %+v", c)
	}
	s0, err := c.Silences[0].Policy()
	if err != nil {
		t.Fatal(err)
	}
	want := policy.Silence{ID: "db-migration", Match: policy.Matcher{Type: health.PhoneNumber, ID: "8613800000001"},
		Start: time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)}
	if d := cmp.Diff(want, s0, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("silence 0 (-want +got):\n%s", d)
	}
	s1, _ := c.Silences[1].Policy()
	if c.Silences[1].Name != "silence-1" || s1.Recurring == nil || len(s1.Recurring.Weekdays) != 2 || s1.Recurring.Weekdays[1] != time.Sunday {
		t.Errorf("silence 1: %+v %+v", c.Silences[1], s1.Recurring)
	}
	if c.Digest.At != "09:30" || !c.Notifiers[0].Digest {
		t.Errorf("digest: %+v", c.Digest)
	}
}

func TestPolicyProblems(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"thresholds", "failureThreshold: -1\nsuccessThreshold: 500\n", []string{"failureThreshold: must be between 1 and 100 (default 1)", "successThreshold: must be between 1 and 100 (default 1)"}},
		{"repeat interval", "repeatInterval: 10s\n", []string{"repeatInterval: must be at least 1m (or 0 to turn reminders off)"}},
		{"silence without end", "silences: [{name: x, match: {id: '1'}}]\n", []string{"silences[0]: end is required (RFC 3339, e.g. 2026-12-01T06:00:00+08:00), or give weekdays/from/to"}},
		{"silence bad end", "silences: [{name: x, end: tomorrow}]\n", []string{`silences[0]: end: want RFC 3339 like 2026-12-01T06:00:00+08:00, got "tomorrow"`}},
		{"silence both kinds", "silences: [{name: x, end: '2026-12-01T06:00:00Z', from: '22:00', to: '06:00'}]\n", []string{"silences[0]: give start/end (once) or weekdays/from/to (weekly), not both"}},
		{"silence bad weekday", "silences: [{name: x, weekdays: [funday], from: '22:00', to: '06:00'}]\n", []string{`silences[0]: weekdays: unknown weekday "funday" (use mon, tue, wed, thu, fri, sat, sun)`}},
		{"silence bad zone", "silences: [{name: x, from: '22:00', to: '06:00', timezone: Mars/Olympus}]\n", []string{`silences[0]: timezone "Mars/Olympus": unknown time zone Mars/Olympus`}},
		{"silence end before start", "silences: [{name: x, start: '2026-12-02T00:00:00Z', end: '2026-12-01T00:00:00Z'}]\n", []string{"silences[0]: end must be after start"}},
		{"digest nowhere", "digest: {at: '9am'}\n", []string{"digest: no notifier has digest: true, so the digest would go nowhere", `digest.at: want HH:MM (24-hour), got "9am"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(policyBase+tt.yaml), nil)
			var got []string
			if err != nil {
				for _, p := range err.(*ValidationError).Problems {
					got = append(got, p.String())
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestBudgetSplitWarningAndScaleKeys(t *testing.T) {
	c, err := Parse("t.yaml", []byte(policyBase+"cams: {qps: 5, skipCoveredWaba: false}\nhttp: {adhocQPS: 2}\ncycle: {maxDuration: 4m}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "cams.qps (5) + http.adhocQPS (2) exceed the account's limit of 5") {
		t.Errorf("warnings %q", c.Warnings)
	}
	if c.CAMS.SkipCoveredWaba || c.Cycle.MaxDuration.D() != 4*time.Minute {
		t.Errorf("cams %+v cycle %+v", c.CAMS, c.Cycle)
	}
	d, err := Parse("t.yaml", []byte(policyBase), nil)
	if err != nil || len(d.Warnings) != 0 || !d.CAMS.SkipCoveredWaba {
		t.Errorf("defaults: warnings %q skip %v err %v", d.Warnings, d.CAMS.SkipCoveredWaba, err)
	}
}
