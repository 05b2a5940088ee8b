package notify

import (
	"slices"

	"github.com/wahealth/wahealth/pkg/health"
)

// Filter selects what one notifier receives. An empty field selects everything.
type Filter struct {
	// Severities keeps alerts of these severities (a failing check counts as warning, one that
	// works again as resolved).
	Severities []health.Severity
	// EntityTypes keeps alerts about these entity types.
	EntityTypes []health.EntityType
	// Labels keeps alerts about entities (and failures of targets) carrying all these labels.
	Labels map[string]string
}

// Empty reports whether f selects everything.
func (f Filter) Empty() bool {
	return len(f.Severities) == 0 && len(f.EntityTypes) == 0 && len(f.Labels) == 0
}

func (f Filter) labels(l map[string]string) bool {
	for k, v := range f.Labels {
		if l[k] != v {
			return false
		}
	}
	return true
}

func (f Filter) severity(s health.Severity) bool {
	return len(f.Severities) == 0 || slices.Contains(f.Severities, s)
}

func (f Filter) entity(e health.Entity) bool {
	return (len(f.EntityTypes) == 0 || slices.Contains(f.EntityTypes, e.Type)) && f.labels(e.Labels)
}

// Apply returns the part of m that f selects, sealed anew, or nil when nothing is left. A
// baseline summary always goes out (listing only the selected entities); test messages are
// never filtered. m itself is not modified.
func (f Filter) Apply(m *Message) *Message {
	if f.Empty() || m.Kind == KindTest {
		return m
	}
	out := *m
	out.Alerts = nil
	for _, a := range m.Alerts {
		if f.severity(a.Severity) && f.entity(a.Entity) {
			out.Alerts = append(out.Alerts, a)
		}
	}
	out.Failures = nil
	for _, x := range m.Failures {
		sev := health.Warning
		if x.Recovered {
			sev = health.Resolved
		}
		if f.severity(sev) && f.labels(x.Target.Labels) {
			out.Failures = append(out.Failures, x)
		}
	}
	if m.Baseline != nil {
		b := *m.Baseline
		b.NotAvailable = nil
		for _, e := range m.Baseline.NotAvailable {
			if f.entity(e) {
				b.NotAvailable = append(b.NotAvailable, e)
			}
		}
		out.Baseline = &b
	}
	if out.Empty() {
		return nil
	}
	out.Seal()
	return &out
}
