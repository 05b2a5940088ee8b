package webhook

import (
	"time"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
)

// samples returns one message of every shape a template meets (a test, a change with a new
// error, a reminder, a recovery, check failures, a baseline and a digest), so that a template
// is checked on all its branches at start-up rather than at alert time.
func samples() []*notify.Message {
	now := time.Unix(0, 0).UTC()
	test := notify.Sample(now)
	a := test.Alerts[0]
	e := a.Entity.Errors[0]
	changed := a
	changed.Changes = append(changed.Changes, health.Change{Kind: health.ErrorAdded, Entity: a.Entity.Key(), ErrorCode: e.Code, Error: &e})
	changed.Entity.Labels = map[string]string{"customer": "sample"}
	changed.Entity.Sources = []string{"phone:cs:0000000000", "phone:cs:0000000001"}
	reminder := notify.Alert{Entity: a.Entity, Severity: health.Critical, Reminder: true, Since: now.Add(-time.Hour)}
	recovered := notify.Alert{Entity: a.Entity, Severity: health.Resolved, Since: now.Add(-time.Hour), Changes: []health.Change{
		{Kind: health.StatusChanged, Entity: a.Entity.Key(), From: health.Blocked, To: health.Available},
		{Kind: health.ErrorCleared, Entity: a.Entity.Key(), ErrorCode: e.Code, Error: &e},
	}}
	recovered.Entity.CanSendMessage = health.Available
	target := health.Target{NodeType: health.NodePhone, CustSpaceID: "cs", PhoneNumber: "0000000000"}
	baseline := &notify.Baseline{Monitored: 2, Targets: 1, NotAvailable: []health.Entity{a.Entity}}
	out := []*notify.Message{
		test,
		{Kind: notify.KindChanges, CycleID: "sample", Time: now, Alerts: []notify.Alert{changed, reminder, recovered}, Failures: []notify.Failure{
			{Target: target, Error: "sample failure", Failures: 3, Since: now.Add(-time.Hour)},
			{Target: target, Failures: 3, Since: now.Add(-time.Hour), Recovered: true},
		}},
		{Kind: notify.KindBaseline, CycleID: "sample", Time: now, Baseline: baseline},
		{Kind: notify.KindDigest, CycleID: "sample", Time: now, Baseline: baseline},
	}
	for _, m := range out[1:] {
		m.Seal()
	}
	return out
}
