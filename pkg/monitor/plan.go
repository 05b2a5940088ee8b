package monitor

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/policy"
	"github.com/wahealth/wahealth/pkg/state"
)

// plan is what a cycle decided: the next state (with its outbox) and what to report.
type plan struct {
	next     *state.State
	snap     *health.Snapshot
	carried  map[health.Key]bool
	changes  []health.Change
	severity map[int]health.Severity
	alerted  map[int]bool
	baseline bool
	message  *notify.Message
	// decisions are the alert policy's verdicts (none for the baseline cycle).
	decisions []policy.Decision
	// digest is the scheduled digest this cycle sent, if it was due.
	digest   *notify.Message
	failures []FailureReport
	checked  int
}

// apply computes the next state from the previous one and this cycle's observations. It is
// pure apart from the clock readings passed in, so a conflict can re-run it on a fresh state.
func (m *Monitor) apply(prev *state.State, obs *observations, opts RunOptions, start time.Time) *plan {
	threshold := m.CheckFailureThreshold
	if threshold <= 0 {
		threshold = 3
	}
	p := &plan{snap: health.NewSnapshot(), severity: map[int]health.Severity{}, alerted: map[int]bool{}, carried: map[health.Key]bool{}}
	next := &state.State{
		Schema:     state.SchemaVersion,
		Version:    prev.Version,
		Baseline:   prev.Baseline,
		Targets:    make(map[string]*state.Target, len(prev.Targets)),
		Outbox:     slices.Clone(prev.Outbox),
		Delivered:  maps.Clone(prev.Delivered),
		Alerting:   make(map[string]*policy.Memory, len(prev.Alerting)),
		Silences:   slices.DeleteFunc(slices.Clone(prev.Silences), func(s policy.Silence) bool { return s.Expired(obs.at) }),
		LastDigest: prev.LastDigest,
		Sweep:      prev.Sweep,
	}
	if obs.sweep.Budget > 0 {
		next.Sweep = &state.Sweep{Cursor: obs.sweep.Cursor}
	}
	for k, v := range prev.Alerting {
		c := *v
		next.Alerting[k] = &c
	}
	for k, v := range prev.Targets {
		c := *v
		next.Targets[k] = &c
	}
	p.next = next

	msg := &notify.Message{CycleID: opts.CycleID, Time: obs.at, Kind: notify.KindChanges}
	checked := map[string]bool{}
	for i, t := range obs.targets {
		id := t.ID()
		ts := next.Targets[id]
		if ts == nil {
			ts = &state.Target{}
			next.Targets[id] = ts
		}
		ts.LastAttempt = obs.at
		if err := obs.errs[i]; err != nil {
			if ts.ConsecutiveFailures == 0 {
				ts.FailingSince = obs.at
			}
			ts.ConsecutiveFailures++
			ts.LastError = err.Error()
			p.failures = append(p.failures, FailureReport{Target: t, Error: err.Error(), ConsecutiveFailures: ts.ConsecutiveFailures})
			if ts.ConsecutiveFailures >= threshold && !ts.FailureAlerted {
				ts.FailureAlerted = true
				msg.Failures = append(msg.Failures, notify.Failure{Target: t, Error: ts.LastError, Failures: ts.ConsecutiveFailures, Since: ts.FailingSince})
			}
			continue
		}
		if ts.FailureAlerted {
			msg.Failures = append(msg.Failures, notify.Failure{Target: t, Failures: ts.ConsecutiveFailures, Since: ts.FailingSince, Recovered: true})
		}
		ts.ConsecutiveFailures, ts.LastError, ts.FailureAlerted, ts.FailingSince = 0, "", false, time.Time{}
		ts.LastChecked = obs.at
		checked[id] = true
		p.checked++
		for _, e := range obs.results[i].Entities {
			p.snap.Add(e)
		}
	}
	before := maps.Clone(p.snap.Entities)
	p.snap.CarryOver(prev.Snapshot, func(id string) bool { return checked[id] })
	for k := range p.snap.Entities {
		if _, ok := before[k]; !ok {
			p.carried[k] = true
		}
	}
	next.Snapshot = p.snap

	p.changes = health.Diff(prev.Snapshot, p.snap)
	if !prev.Baseline {
		if p.checked > 0 {
			// The first cycle records the baseline and says so once, not once per entity.
			p.baseline = true
			next.Baseline = true
			msg.Kind = notify.KindBaseline
			msg.Baseline = &notify.Baseline{Monitored: p.snap.Len(), Targets: len(obs.targets)}
			for _, e := range p.snap.NotAvailable() {
				msg.Baseline.NotAvailable = append(msg.Baseline.NotAvailable, *e)
			}
		}
		for i, c := range p.changes {
			p.severity[i] = c.Severity(p.snap.Get(c.Entity))
		}
		if p.baseline {
			policy.Baseline(next.Alerting, p.snap, obs.at)
		}
	} else {
		silences := append(append(slices.Clone(m.Silences), prev.Silences...), obs.silences...)
		p.decisions = policy.Evaluate(m.Policy, next.Alerting, p.snap, p.carried, silences, obs.at)
		alerted := map[health.Key]bool{}
		for _, d := range p.decisions {
			if !d.Alert {
				continue
			}
			alerted[d.Entity.Key()] = true
			msg.Alerts = append(msg.Alerts, notify.Alert{Entity: d.Entity, Severity: d.Severity, Changes: d.Changes, Reminder: d.Reminder, Since: d.Since})
		}
		for i, c := range p.changes {
			e := p.snap.Get(c.Entity)
			if e == nil {
				e = prev.Snapshot.Get(c.Entity)
			}
			p.severity[i] = c.Severity(e)
			p.alerted[i] = alerted[c.Entity] && p.severity[i] != health.Info
		}
	}

	var digest *notify.Message
	if m.Digest != nil && p.checked > 0 {
		due := m.Digest.due(obs.at)
		switch {
		case prev.LastDigest.IsZero():
			next.LastDigest = due // just enabled: the first digest is the next scheduled one
		case prev.LastDigest.Before(due):
			next.LastDigest = due
			digest = &notify.Message{Kind: notify.KindDigest, CycleID: opts.CycleID, Time: obs.at,
				Baseline: &notify.Baseline{Monitored: p.snap.Len(), Targets: len(m.Targets)}}
			for _, e := range p.snap.NotAvailable() {
				digest.Baseline.NotAvailable = append(digest.Baseline.NotAvailable, *e)
			}
			digest.Seal()
			p.digest = digest
		}
	}
	if digest != nil && !opts.DryRun {
		for _, ch := range m.Channels {
			if !ch.Digest {
				continue
			}
			if cm := ch.Filter.Apply(digest); cm != nil {
				if body, err := json.Marshal(cm); err == nil {
					next.Outbox = append(next.Outbox, state.Pending{ID: cm.ID, Notifier: ch.Name, Message: body, CreatedAt: obs.at})
				}
			}
		}
	}

	if !msg.Empty() {
		msg.Seal()
		p.message = msg
		if !opts.DryRun {
			for _, ch := range m.Channels {
				cm := ch.Filter.Apply(msg)
				if cm == nil {
					continue
				}
				body, err := json.Marshal(cm)
				if err != nil {
					continue // a Message always encodes; nothing to deliver otherwise
				}
				next.Outbox = append(next.Outbox, state.Pending{ID: cm.ID, Notifier: ch.Name, Message: body, CreatedAt: obs.at})
			}
		}
	}
	next.LastCycle = &state.Cycle{ID: opts.CycleID, StartedAt: start, FinishedAt: obs.at, Checked: p.checked, Failed: len(p.failures)}
	return p
}

// fill copies the plan into the report.
func (p *plan) fill(r *Report, deliveries []Delivery) {
	r.Checked = p.checked
	r.Failed = len(p.failures)
	r.Baseline = p.baseline
	r.Entities = make([]EntityReport, 0, p.snap.Len())
	for _, e := range p.snap.Sorted() {
		r.Entities = append(r.Entities, EntityReport{Entity: *e, Stale: p.carried[e.Key()]})
	}
	r.Changes = make([]ChangeReport, 0, len(p.changes))
	for i, c := range p.changes {
		r.Changes = append(r.Changes, ChangeReport{Change: c, Severity: p.severity[i], Alerted: p.alerted[i]})
	}
	r.Failures = p.failures
	if r.Failures == nil {
		r.Failures = []FailureReport{}
	}
	if p.message != nil {
		r.Message = p.message
	}
	r.Digest = p.digest
	for _, d := range p.decisions {
		switch {
		case d.Suppressed != "":
			r.Suppressed = append(r.Suppressed, SuppressedReport{Entity: d.Entity.Key(), Reason: d.Suppressed, Changes: d.Changes, Reminder: d.Reminder})
		case d.Reminder && d.Alert:
			r.Reminders = append(r.Reminders, ReminderReport{Entity: d.Entity.Key(), Status: d.Entity.CanSendMessage, Since: d.Since})
		}
	}
	r.Deliveries = deliveries
	r.Pending = len(p.next.Outbox)
}
