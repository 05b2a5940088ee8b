package health

// Severity ranks how urgent a change is. Notifiers filter on it.
type Severity string

// The severities, from most to least urgent.
const (
	// Critical: an entity is BLOCKED, or gained an error while blocked.
	Critical Severity = "critical"
	// Warning: an entity is LIMITED or has an unknown status, or gained an error while it can
	// still send.
	Warning Severity = "warning"
	// Resolved: an entity recovered to AVAILABLE, or an error cleared.
	Resolved Severity = "resolved"
	// Info: recorded and reported, but not worth waking anyone: an entity that appeared healthy,
	// one that is no longer returned, a calling-only error code.
	Info Severity = "info"
)

// Rank orders severities for "worst of": info 0, resolved 1, warning 2, critical 3.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 3
	case Warning:
		return 2
	case Resolved:
		return 1
	}
	return 0
}

// CallingOnly reports whether an error code concerns WhatsApp calling over SIP only (Meta's
// 138024 and 138025): it makes the overall value BLOCKED while every entity can still send
// messages, so it is shown but never alerted as a messaging problem.
func CallingOnly(code string) bool { return code == "138024" || code == "138025" }

// StatusSeverity is the severity of an entity being in status s.
func StatusSeverity(s Status) Severity {
	switch s {
	case Available:
		return Resolved
	case Blocked:
		return Critical
	}
	return Warning
}

// Severity returns how urgent c is, given the entity's current state e (nil for a removed
// entity).
func (c Change) Severity(e *Entity) Severity {
	switch c.Kind {
	case StatusChanged:
		if c.To.OK() {
			return Resolved
		}
		return StatusSeverity(c.To)
	case EntityAdded:
		if c.To.OK() {
			return Info
		}
		return StatusSeverity(c.To)
	case ErrorAdded:
		if CallingOnly(c.ErrorCode) {
			return Info
		}
		if e != nil && e.CanSendMessage == Blocked {
			return Critical
		}
		return Warning
	case ErrorCleared:
		if CallingOnly(c.ErrorCode) {
			return Info
		}
		return Resolved
	}
	return Info
}
