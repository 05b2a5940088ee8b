package policy

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/wahealth/wahealth/pkg/health"
)

// Config holds the alerting rules.
type Config struct {
	// FailureThreshold is how many consecutive cycles an entity must be observed worse than
	// what was last said about it before the alert goes out (at least 1).
	FailureThreshold int
	// SuccessThreshold is how many consecutive cycles it must be observed better before
	// "recovered" goes out (at least 1).
	SuccessThreshold int
	// SkipResolved records recoveries (and cleared errors) without sending them (the
	// configuration's sendResolved: false). The zero value sends them.
	SkipResolved bool
	// RepeatInterval re-alerts entities still not available after this long (0: never).
	RepeatInterval time.Duration
	// Thresholds, when set, gives an entity's own thresholds (per-target settings); zero values
	// fall back to the global ones.
	Thresholds func(e *health.Entity) (failure, success int)
}

// Memory is what the policy remembers about one entity between cycles.
type Memory struct {
	// Notified is the entity as last told to people (by an alert or the baseline).
	Notified *health.Entity `json:"notified,omitempty"`
	// NotifiedAt is when it was last told (alert, recovery or reminder).
	NotifiedAt time.Time `json:"notifiedAt,omitzero"`
	// DegradedSince is when the told state stopped being AVAILABLE without errors.
	DegradedSince time.Time `json:"degradedSince,omitzero"`
	// Pending counts consecutive cycles observed different from Notified in one direction.
	Pending int `json:"pending,omitempty"`
	// Direction is "worse" or "better": the direction Pending counts.
	Direction string `json:"direction,omitempty"`
	// PendingSince is when the current run of Pending began.
	PendingSince time.Time `json:"pendingSince,omitzero"`
}

// Decision is the policy's verdict about one entity in one cycle.
type Decision struct {
	// Entity is the observed entity (its last known state when removed).
	Entity health.Entity
	// Changes are the differences between what people were told and what is observed.
	Changes []health.Change
	// Severity is the worst severity of Changes (for reminders, of the status).
	Severity health.Severity
	// Alert is true when the decision goes into the cycle's message.
	Alert bool
	// Reminder is true for a re-alert of an unchanged, still degraded entity.
	Reminder bool
	// Since is when the entity became degraded (for reminders and recoveries).
	Since time.Time
	// Suppressed says why differences were not alerted ("" when alerted or nothing to say).
	Suppressed string
	// Silence is the silence that muted it, if any.
	Silence string
}

// healthy is the state an entity is assumed to have had before it was first seen.
func healthy(e *health.Entity) *health.Entity {
	return &health.Entity{Type: e.Type, ID: e.ID, CanSendMessage: health.Available}
}

// ok reports whether e needs no attention: AVAILABLE, or only calling-only errors.
func ok(e *health.Entity) bool {
	if e == nil || !e.CanSendMessage.OK() {
		return false
	}
	for _, x := range e.Errors {
		if !health.CallingOnly(x.Code) {
			return false
		}
	}
	return true
}

// Baseline records every observed entity as told (the first cycle's summary tells them all).
func Baseline(mem map[string]*Memory, observed *health.Snapshot, now time.Time) {
	for _, e := range observed.Sorted() {
		m := &Memory{Notified: cloneEntity(e), NotifiedAt: now}
		if !ok(e) {
			m.DegradedSince = now
		}
		mem[e.Key().String()] = m
	}
}

// Evaluate decides, for every entity, what to say this cycle, and updates mem. stale holds
// the entities that were not observed this cycle (their targets failed or were not selected):
// nothing is decided about them. Decisions are ordered by entity key.
func Evaluate(cfg Config, mem map[string]*Memory, observed *health.Snapshot, stale map[health.Key]bool, silences []Silence, now time.Time) []Decision {
	var out []Decision
	for _, e := range observed.Sorted() {
		k := e.Key()
		if stale[k] {
			continue
		}
		m := mem[k.String()]
		if m == nil {
			m = &Memory{}
			mem[k.String()] = m
		}
		if d, some := decide(cfg, m, e, silences, now); some {
			out = append(out, d)
		}
	}
	// Entities no longer returned by a query that succeeded: forget them; the report shows the
	// removal, but it is not worth waking anyone.
	for _, key := range slices.Sorted(maps.Keys(mem)) {
		var k health.Key
		if err := parseKey(key, &k); err != nil || observed.Get(k) != nil {
			continue
		}
		if stale[k] {
			continue
		}
		m := mem[key]
		delete(mem, key)
		if m.Notified != nil {
			out = append(out, Decision{Entity: *m.Notified, Severity: health.Info,
				Changes: []health.Change{{Kind: health.EntityRemoved, Entity: k, From: m.Notified.CanSendMessage}}})
		}
	}
	slices.SortStableFunc(out, func(a, b Decision) int { return a.Entity.Key().Compare(b.Entity.Key()) })
	return out
}

func parseKey(s string, k *health.Key) error {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			k.Type, k.ID = health.EntityType(s[:i]), s[i+1:]
			return nil
		}
	}
	return fmt.Errorf("bad key %q", s)
}

// decide evaluates one observed entity against its memory.
func decide(cfg Config, m *Memory, e *health.Entity, silences []Silence, now time.Time) (Decision, bool) {
	told := m.Notified
	isNew := told == nil
	if isNew {
		told = healthy(e)
	}
	changes := health.Diff(snapshotOf(told), snapshotOf(e))
	if isNew {
		changes = health.Diff(nil, snapshotOf(e))
	}
	d := Decision{Entity: *e, Since: m.DegradedSince}

	if len(changes) == 0 || (!isNew && sameAsTold(told, e)) {
		m.Pending, m.Direction = 0, ""
		// Unchanged: a reminder when it is still bad and the repeat interval has passed.
		if !ok(e) && cfg.RepeatInterval > 0 && now.Sub(m.NotifiedAt) >= cfg.RepeatInterval {
			d.Reminder, d.Severity = true, health.StatusSeverity(e.CanSendMessage)
			if d.Severity == health.Resolved { // available but carrying errors
				d.Severity = health.Warning
			}
			if s := Silenced(silences, e, now); s != nil {
				d.Suppressed, d.Silence = "reminder silenced by "+s.ID, s.ID
				return d, true
			}
			d.Alert = true
			m.NotifiedAt = now
			return d, true
		}
		return d, false
	}

	sev := health.Info
	for _, c := range changes {
		if s := c.Severity(e); s.Rank() > sev.Rank() {
			sev = s
		}
	}
	d.Changes, d.Severity = changes, sev
	if sev == health.Info {
		// Nothing worth saying (a healthy new entity, a calling-only code): take note silently.
		m.Notified, m.Pending, m.Direction = cloneEntity(e), 0, ""
		return d, true
	}

	direction, threshold := "worse", cfg.FailureThreshold
	fail, succ := 0, 0
	if cfg.Thresholds != nil {
		fail, succ = cfg.Thresholds(e)
	}
	if fail > 0 {
		threshold = fail
	}
	if sev == health.Resolved {
		direction, threshold = "better", cfg.SuccessThreshold
		if succ > 0 {
			threshold = succ
		}
	}
	threshold = max(threshold, 1)
	if m.Direction == direction {
		m.Pending++
	} else {
		m.Direction, m.Pending, m.PendingSince = direction, 1, now
	}
	if m.Pending < threshold {
		name := "failureThreshold"
		if direction == "better" {
			name = "successThreshold"
		}
		d.Suppressed = fmt.Sprintf("%s: %d of %d cycles", name, m.Pending, threshold)
		return d, true
	}
	if s := Silenced(silences, e, now); s != nil {
		d.Suppressed, d.Silence = "silenced by "+s.ID, s.ID
		return d, true
	}
	if direction == "better" && cfg.SkipResolved {
		d.Suppressed = "sendResolved is off"
	} else {
		d.Alert = true
	}
	wasOK := ok(told)
	m.Notified, m.NotifiedAt, m.Pending, m.Direction = cloneEntity(e), now, 0, ""
	switch {
	case wasOK && !ok(e):
		m.DegradedSince = m.PendingSince
		d.Since = m.DegradedSince
	case ok(e):
		m.DegradedSince = time.Time{}
	}
	return d, true
}

// sameAsTold reports whether nothing people care about differs between told and e.
func sameAsTold(told, e *health.Entity) bool {
	if told.CanSendMessage != e.CanSendMessage || len(told.Errors) != len(e.Errors) {
		return false
	}
	for i := range told.Errors {
		if told.Errors[i].Code != e.Errors[i].Code {
			return false
		}
	}
	return true
}

func snapshotOf(e *health.Entity) *health.Snapshot {
	s := health.NewSnapshot()
	s.Entities[e.Key()] = e
	return s
}

func cloneEntity(e *health.Entity) *health.Entity {
	c := *e
	c.Errors = slices.Clone(e.Errors)
	c.Sources = nil // the told state needs no provenance
	c.Labels = maps.Clone(e.Labels)
	return &c
}
