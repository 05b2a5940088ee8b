package monitor_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wahealth/wahealth/examples"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/policy"
	"github.com/wahealth/wahealth/pkg/state"
)

const blockedScenario = `
targets:
  - nodeType: phone
    phoneNumber: "8613800000001"
    wabaId: w1
    steps:
      - {}
      - phone: {status: BLOCKED, errors: [{code: "141006", description: "There is an error with the payment method."}]}
`

func TestDigestIsSentOnceADayToDigestChannels(t *testing.T) {
	r := newRig(t, []byte(blockedScenario), demoTargets[:1])
	loud := &syncBuffer{}
	tpl, _ := notify.LoadTemplate("console", "", "")
	r.mon.Channels = append(r.mon.Channels, monitor.Channel{Name: "digest", Notifier: notify.NewConsole(loud, tpl), Digest: true})
	r.mon.Digest = &monitor.DigestSchedule{Hour: 9, Minute: 30, Location: time.UTC}
	r.now = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC) // cycles every 5 minutes from 09:05
	r.cycle(t)                                            // 09:05 baseline: records the next due time, sends no digest
	r.cycle(t)                                            // 09:10 BLOCKED
	loud.take()
	r.console.take()
	var digests int
	for i := 0; i < 8; i++ { // 09:15 … 09:50: the 09:30 digest goes out once
		rep := r.cycle(t)
		if rep.Digest != nil {
			digests++
			if !r.now.After(time.Date(2026, 11, 28, 9, 29, 0, 0, time.UTC)) {
				t.Errorf("digest sent at %s, before 09:30", r.now)
			}
		}
	}
	out := loud.take()
	if digests != 1 || strings.Count(out, "WhatsApp health digest: 1 of 4 entities not available") != 1 {
		t.Errorf("%d digests; digest channel got:\n%s", digests, out)
	}
	if strings.Contains(r.console.take(), "digest") {
		t.Error("a channel without digest: true got the digest")
	}
}

func TestSilencedEntityAlertsWhenTheSilenceEnds(t *testing.T) {
	r := newRig(t, []byte(blockedScenario), demoTargets[:1])
	start := r.now
	r.mon.Silences = []policy.Silence{{ID: "maintenance", Match: policy.Matcher{ID: "8613800000001"}, End: start.Add(12 * time.Minute)}}
	r.cycle(t) // +5m baseline
	r.console.take()
	rep := r.cycle(t) // +10m BLOCKED, silenced
	if len(rep.Suppressed) != 1 || rep.Suppressed[0].Reason != "silenced by maintenance" || rep.Message != nil {
		t.Fatalf("silenced cycle: suppressed %+v message %v", rep.Suppressed, rep.Message)
	}
	if len(rep.Changes) == 0 {
		t.Error("a silenced change must still be recorded in the report")
	}
	if out := r.console.take(); out != "" {
		t.Errorf("alerted during the silence:\n%s", out)
	}
	rep = r.cycle(t) // +15m: the silence ended, still blocked: the alert goes out now
	if out := r.console.take(); !strings.Contains(out, "AVAILABLE → BLOCKED") {
		t.Errorf("no alert after the silence ended:\n%s (suppressed %+v)", out, rep.Suppressed)
	}
}

func TestFailureThresholdHoldsAFlap(t *testing.T) {
	r := newRig(t, examples.DemoScenario, demoTargets[:1])
	r.mon.Policy = policy.Config{FailureThreshold: 3, SuccessThreshold: 1}
	r.cycle(t)        // baseline
	rep := r.cycle(t) // LIMITED: 1 of 3
	if rep.Message != nil || len(rep.Suppressed) != 1 || !strings.Contains(rep.Suppressed[0].Reason, "failureThreshold: 1 of 3") {
		t.Errorf("suppressed %+v message %v", rep.Suppressed, rep.Message)
	}
}

func TestSilencesFromAnotherStoreApply(t *testing.T) {
	r := newRig(t, []byte(blockedScenario), demoTargets[:1])
	shared, err := state.OpenFile(filepath.Join(t.TempDir(), "main.json"))
	if err != nil {
		t.Fatal(err)
	}
	st := state.New()
	st.Silences = []policy.Silence{{ID: "api-1", Match: policy.Matcher{ID: "8613800000001"}, End: r.now.Add(time.Hour)}}
	if err := shared.Save(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	r.mon.SilencesFrom = shared
	r.cycle(t) // baseline
	rep := r.cycle(t)
	if len(rep.Suppressed) != 1 || rep.Suppressed[0].Reason != "silenced by api-1" {
		t.Errorf("suppressed %+v", rep.Suppressed)
	}
}
