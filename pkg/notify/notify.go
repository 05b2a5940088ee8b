// Package notify delivers wahealth's alerts. A Notifier sends one Message; the monitor builds
// one Message per cycle (all of a cycle's changes together), keeps it in the state's outbox
// until each notifier has delivered it, and never sends the same Message twice on purpose.
// Channels live in sub-packages; the console notifier, for local runs, lives here. Messages are
// rendered from Go text/template files (see the templates directory), embedded in the binaries
// and overridable.
package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wahealth/wahealth/pkg/health"
)

// Notifier sends one alert message to one channel.
type Notifier interface {
	// Notify delivers m. An error means it was not delivered (it will be retried from the
	// outbox); implementations return a *PermanentError when retrying cannot help.
	Notify(ctx context.Context, m *Message) error
}

// Kind says what a Message is about.
type Kind string

// The kinds of message.
const (
	// KindChanges reports the entity changes of a cycle (and check failures, if any).
	KindChanges Kind = "changes"
	// KindBaseline is the one summary sent when monitoring starts.
	KindBaseline Kind = "baseline"
	// KindTest is a clearly marked sample sent to check a channel.
	KindTest Kind = "test"
	// KindDigest is the scheduled summary of everything not available (in Baseline).
	KindDigest Kind = "digest"
)

// Message is one alert: everything a cycle has to say to one channel.
type Message struct {
	// ID is the message's stable idempotency key.
	ID string `json:"id"`
	// Kind says what the message is about.
	Kind Kind `json:"kind"`
	// CycleID identifies the check cycle that produced it.
	CycleID string `json:"cycleId"`
	// Time is when the cycle detected it.
	Time time.Time `json:"time"`
	// Severity is the worst severity among Alerts and Failures.
	Severity health.Severity `json:"severity"`
	// Alerts are the changed entities, one entry per entity, worst first.
	Alerts []Alert `json:"alerts,omitempty"`
	// Failures are targets that could not be checked for a while, or can be again.
	Failures []Failure `json:"failures,omitempty"`
	// Baseline is the summary of a first cycle (KindBaseline) or of a digest (KindDigest).
	Baseline *Baseline `json:"baseline,omitempty"`
}

// Alert is one entity's changes in a cycle.
type Alert struct {
	// Entity is the entity's state now (its last known state when it was removed).
	Entity health.Entity `json:"entity"`
	// Severity is the worst severity of Changes.
	Severity health.Severity `json:"severity"`
	// Changes are what changed, in order (empty for a reminder).
	Changes []health.Change `json:"changes"`
	// Reminder is true when the entity did not change but is still not available after the
	// repeat interval.
	Reminder bool `json:"reminder,omitempty"`
	// Since is when the entity became degraded: for a reminder, how long it has been going on;
	// for a recovery, how long it lasted.
	Since time.Time `json:"since,omitzero"`
	// For is how long the problem has been going on (a reminder) or lasted (a recovery): the
	// message's time minus Since; 0 when unknown.
	For time.Duration `json:"for,omitempty"`
}

// Failure reports a target whose checks keep failing, or recovered.
type Failure struct {
	// Target is the target that could not be checked.
	Target health.Target `json:"target"`
	// Error is the last failure (never holding a secret).
	Error string `json:"error,omitempty"`
	// Failures counts consecutive failed checks.
	Failures int `json:"failures"`
	// Since is when the checks started failing.
	Since time.Time `json:"since"`
	// Recovered is true when checks succeed again.
	Recovered bool `json:"recovered,omitempty"`
}

// Baseline summarises the first cycle.
type Baseline struct {
	// Monitored is the number of entities now watched.
	Monitored int `json:"monitored"`
	// Targets is the number of targets.
	Targets int `json:"targets"`
	// NotAvailable lists the entities that cannot send normally right now.
	NotAvailable []health.Entity `json:"notAvailable,omitempty"`
	// Digest is true for the scheduled digest (false for the first cycle's summary).
	Digest bool `json:"digest,omitempty"`
}

// Seal sorts the message's parts, fills in how long problems have lasted, sets its Severity and
// derives its ID from its content and cycle, so that the same findings give the same ID.
func (m *Message) Seal() {
	for i := range m.Alerts {
		if a := &m.Alerts[i]; !a.Since.IsZero() && a.For == 0 && m.Time.After(a.Since) {
			a.For = m.Time.Sub(a.Since)
		}
	}
	if m.Kind == KindDigest && m.Baseline != nil {
		m.Baseline.Digest = true
	}
	sort.SliceStable(m.Alerts, func(i, j int) bool {
		a, b := m.Alerts[i], m.Alerts[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		return a.Entity.Key().Compare(b.Entity.Key()) < 0
	})
	sev := health.Info
	for _, a := range m.Alerts {
		if a.Severity.Rank() > sev.Rank() {
			sev = a.Severity
		}
	}
	for _, f := range m.Failures {
		s := health.Warning
		if f.Recovered {
			s = health.Resolved
		}
		if s.Rank() > sev.Rank() {
			sev = s
		}
	}
	if m.Baseline != nil {
		for _, e := range m.Baseline.NotAvailable {
			if s := health.StatusSeverity(e.CanSendMessage); s.Rank() > sev.Rank() {
				sev = s
			}
		}
	}
	m.Severity = sev
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|", m.Kind, m.CycleID)
	for _, a := range m.Alerts {
		for _, c := range a.Changes {
			fmt.Fprintf(h, "%s|%s|%s|%s|%s;", c.Kind, c.Entity, c.From, c.To, c.ErrorCode)
		}
	}
	for _, f := range m.Failures {
		fmt.Fprintf(h, "%s|%t;", f.Target.ID(), f.Recovered)
	}
	m.ID = m.CycleID + "/" + string(m.Kind) + "/" + hex.EncodeToString(h.Sum(nil))[:12]
}

// Empty reports whether the message has nothing to say.
func (m *Message) Empty() bool {
	return len(m.Alerts) == 0 && len(m.Failures) == 0 && m.Baseline == nil && m.Kind != KindTest
}

// Title is a one-line summary, used as a subject or fallback text.
func (m *Message) Title() string {
	switch m.Kind {
	case KindTest:
		return "[TEST] wahealth test alert: this channel receives wahealth alerts"
	case KindBaseline:
		b := m.Baseline
		if len(b.NotAvailable) == 0 {
			return fmt.Sprintf("wahealth is monitoring %d entities: all can send", b.Monitored)
		}
		return fmt.Sprintf("wahealth is monitoring %d entities: %d not available", b.Monitored, len(b.NotAvailable))
	case KindDigest:
		b := m.Baseline
		if len(b.NotAvailable) == 0 {
			return fmt.Sprintf("WhatsApp health digest: all %d entities can send", b.Monitored)
		}
		return fmt.Sprintf("WhatsApp health digest: %d of %d entities not available", len(b.NotAvailable), b.Monitored)
	}
	var parts []string
	count := map[health.Severity]int{}
	reminders := 0
	for _, a := range m.Alerts {
		if a.Reminder {
			reminders++
			continue
		}
		count[a.Severity]++
	}
	for _, s := range []health.Severity{health.Critical, health.Warning, health.Resolved, health.Info} {
		if n := count[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, severityWord(s, n)))
		}
	}
	if reminders > 0 {
		parts = append(parts, fmt.Sprintf("%d still not available", reminders))
	}
	failing, back := 0, 0
	for _, f := range m.Failures {
		if f.Recovered {
			back++
		} else {
			failing++
		}
	}
	if failing > 0 {
		parts = append(parts, fmt.Sprintf("%d cannot be checked", failing))
	}
	if back > 0 {
		parts = append(parts, fmt.Sprintf("%d can be checked again", back))
	}
	return "WhatsApp health: " + strings.Join(parts, ", ")
}

func severityWord(s health.Severity, n int) string {
	switch s {
	case health.Critical:
		return "blocked"
	case health.Warning:
		return "degraded"
	case health.Resolved:
		return "recovered"
	}
	return "update" + plural(n)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// PermanentError marks a delivery failure that retrying cannot fix (a revoked token, a
// deleted webhook). It is still kept in the outbox so the operator sees it.
type PermanentError struct{ Err error }

// Error returns the cause's text.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *PermanentError) Unwrap() error { return e.Err }
