package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
)

// Version is the payload's version. It changes only when a field is removed, renamed or
// changes meaning; new fields may appear within a version, so receivers must ignore fields
// they do not know.
const Version = "1"

// MaxBodyBytes caps a payload: a message that would be larger keeps its first (worst) alerts,
// then failures, then baseline entities, and counts the rest in Omitted ("… and N more").
const MaxBodyBytes = 1 << 20

// Payload is the JSON body of one delivery. Field names follow the cycle report (kind,
// entity{type,id}, from, to, errorCode); arrays are never null.
type Payload struct {
	// Version is the payload's version, "1".
	Version string `json:"version"`
	// ID identifies the message; a retried delivery carries the same ID (and the same
	// X-Wahealth-Delivery header), so receivers can drop duplicates.
	ID string `json:"id"`
	// Kind is changes, baseline (the first cycle), digest (a scheduled summary) or test (a
	// sample: nothing changed).
	Kind string `json:"kind"`
	// CycleID is the check cycle that found the changes.
	CycleID string `json:"cycleId"`
	// Time is when the cycle ran (RFC 3339, UTC).
	Time time.Time `json:"time"`
	// Severity is the worst severity in the message: critical, warning, resolved or info.
	Severity string `json:"severity"`
	// Title is a one-line summary.
	Title string `json:"title"`
	// Text is a plain-text rendering of the whole message (templates/webhook.tmpl).
	Text string `json:"text"`
	// Alerts are the changed entities, worst first: one entry per entity.
	Alerts []Alert `json:"alerts"`
	// Failures are targets that cannot be checked, or can be again.
	Failures []Failure `json:"failures"`
	// Baseline is the summary of a first cycle or a digest (kinds baseline and digest only).
	Baseline *Baseline `json:"baseline,omitempty"`
	// Omitted counts the alerts, failures and baseline entities left out to stay under
	// MaxBodyBytes.
	Omitted int `json:"omitted,omitempty"`
}

// Alert is one entity's changes.
type Alert struct {
	// Entity is the entity's state now.
	Entity Entity `json:"entity"`
	// Severity is the worst severity of the changes.
	Severity string `json:"severity"`
	// Changes are what changed, in order (empty for a reminder).
	Changes []Change `json:"changes"`
	// Reminder is true when nothing changed but the entity is still not available.
	Reminder bool `json:"reminder,omitempty"`
	// Since is when the entity became degraded (for a reminder or a recovery), if known.
	Since *time.Time `json:"since,omitempty"`
}

// Entity is a WhatsApp entity's health, as in the cycle report.
type Entity struct {
	// Type is PHONE_NUMBER, MESSAGE_TEMPLATE, WABA, BUSINESS, APP, or a value Meta added.
	Type string `json:"type"`
	// ID is the entity's id within its type (a phone number, "code:language", a WABA id, ...).
	ID string `json:"id"`
	// CanSendMessage is AVAILABLE, LIMITED, BLOCKED, or a value Meta added.
	CanSendMessage string `json:"canSendMessage"`
	// Errors are the entity's current errors, by code.
	Errors []Error `json:"errors"`
	// The identifiers CAMS returned with the entity.
	CustSpaceID  string `json:"custSpaceId,omitempty"`
	WabaID       string `json:"wabaId,omitempty"`
	BusinessID   string `json:"businessId,omitempty"`
	PhoneNumber  string `json:"phoneNumber,omitempty"`
	TemplateCode string `json:"templateCode,omitempty"`
	Language     string `json:"language,omitempty"`
	// Labels are the labels of the targets that saw the entity.
	Labels map[string]string `json:"labels,omitempty"`
	// Sources are the ids of the targets that saw the entity.
	Sources []string `json:"sources,omitempty"`
}

// Error is one of Meta's error entries: its code, Meta's description and possible solution,
// and wahealth's explanation of the code when it knows it.
type Error struct {
	Code        string       `json:"code"`
	Description string       `json:"description,omitempty"`
	Solution    string       `json:"solution,omitempty"`
	Explanation *Explanation `json:"explanation,omitempty"`
}

// Explanation is what wahealth knows about an error code (pkg/knowledge).
type Explanation struct {
	// Title names the problem.
	Title string `json:"title"`
	// Meaning says what it means for sending.
	Meaning string `json:"meaning"`
	// Fix says what to do.
	Fix string `json:"fix"`
	// Confidence is documented (by Meta), relayed (by a vendor citing Meta) or observed.
	Confidence string `json:"confidence,omitempty"`
}

// Key is an entity's identity.
type Key struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Change is one change, as in the cycle report.
type Change struct {
	// Kind is status, error_added, error_cleared, entity_added or entity_removed.
	Kind string `json:"kind"`
	// Entity is the changed entity's identity.
	Entity Key `json:"entity"`
	// From and To are the statuses before and after (status changes; To alone for an added
	// entity, From alone for a removed one).
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// ErrorCode and Error describe the error that appeared or cleared.
	ErrorCode string `json:"errorCode,omitempty"`
	Error     *Error `json:"error,omitempty"`
}

// Failure is a target that cannot be checked, or can be again.
type Failure struct {
	Target Target `json:"target"`
	// Error is the last failure.
	Error string `json:"error,omitempty"`
	// Failures counts the failed checks in a row.
	Failures int `json:"failures"`
	// Since is when the checks started failing.
	Since time.Time `json:"since"`
	// Recovered is true when checks succeed again.
	Recovered bool `json:"recovered"`
}

// Target is a configured health query.
type Target struct {
	NodeType     string            `json:"nodeType"`
	CustSpaceID  string            `json:"custSpaceId"`
	WabaID       string            `json:"wabaId,omitempty"`
	PhoneNumber  string            `json:"phoneNumber,omitempty"`
	TemplateCode string            `json:"templateCode,omitempty"`
	Language     string            `json:"language,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
}

// Baseline summarises the first cycle, or a digest.
type Baseline struct {
	// Monitored is the number of entities watched; Targets the number of targets.
	Monitored int `json:"monitored"`
	Targets   int `json:"targets"`
	// NotAvailable are the entities that cannot send normally.
	NotAvailable []Entity `json:"notAvailable"`
}

// BuildPayload renders m as the JSON body of a delivery, its "text" field from tpl
// (templates/webhook.tmpl). BuildPayload is pure.
func BuildPayload(m *notify.Message, tpl *template.Template) ([]byte, error) {
	total := len(m.Alerts) + len(m.Failures)
	if m.Baseline != nil {
		total += len(m.Baseline.NotAvailable)
	}
	body, err := build(m, tpl, total, total)
	if err != nil || len(body) <= MaxBodyBytes {
		return body, err
	}
	// Keep the longest prefix of the items that fits: lo fits, hi does not. The first probe is
	// proportional to the size, which lands close.
	lo, hi := -1, total
	mid := min(total*MaxBodyBytes/len(body), total-1)
	for lo < hi-1 {
		if mid <= lo || mid >= hi {
			mid = (lo + hi) / 2
		}
		b, err := build(m, tpl, mid, total)
		if err != nil {
			return nil, err
		}
		if len(b) <= MaxBodyBytes {
			lo, body = mid, b
		} else {
			hi = mid
		}
		mid = (lo + hi) / 2
	}
	if lo < 0 {
		return nil, fmt.Errorf("webhook payload of message %s exceeds %d bytes even without its alerts", m.ID, MaxBodyBytes)
	}
	return body, nil
}

// build encodes m keeping its first keep items (alerts, then failures, then baseline entities).
func build(m *notify.Message, tpl *template.Template, keep, total int) ([]byte, error) {
	t := *m
	n := keep
	take := func(l int) int { k := min(l, n); n -= k; return k }
	t.Alerts = m.Alerts[:take(len(m.Alerts))]
	t.Failures = m.Failures[:take(len(m.Failures))]
	if m.Baseline != nil {
		b := *m.Baseline
		b.NotAvailable = b.NotAvailable[:take(len(b.NotAvailable))]
		t.Baseline = &b
	}
	text, err := notify.Render(tpl, &t)
	if err != nil {
		return nil, err
	}
	text = strings.TrimSpace(text)
	if keep < total {
		text += fmt.Sprintf("\n… and %d more not included (the payload is limited to %d bytes)", total-keep, MaxBodyBytes)
	}
	p := Payload{
		Version:  Version,
		ID:       m.ID,
		Kind:     string(m.Kind),
		CycleID:  m.CycleID,
		Time:     m.Time.UTC(),
		Severity: string(m.Severity),
		Title:    m.Title(),
		Text:     text,
		Alerts:   make([]Alert, 0, len(t.Alerts)),
		Failures: make([]Failure, 0, len(t.Failures)),
		Omitted:  total - keep,
	}
	for _, a := range t.Alerts {
		p.Alerts = append(p.Alerts, alertOf(a))
	}
	for _, f := range t.Failures {
		p.Failures = append(p.Failures, Failure{Target: targetOf(f.Target), Error: f.Error, Failures: f.Failures, Since: f.Since.UTC(), Recovered: f.Recovered})
	}
	if t.Baseline != nil {
		p.Baseline = &Baseline{Monitored: t.Baseline.Monitored, Targets: t.Baseline.Targets, NotAvailable: make([]Entity, 0, len(t.Baseline.NotAvailable))}
		for _, e := range t.Baseline.NotAvailable {
			p.Baseline.NotAvailable = append(p.Baseline.NotAvailable, entityOf(e))
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encode webhook payload: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func alertOf(a notify.Alert) Alert {
	out := Alert{Entity: entityOf(a.Entity), Severity: string(a.Severity), Changes: make([]Change, 0, len(a.Changes)), Reminder: a.Reminder}
	if !a.Since.IsZero() {
		s := a.Since.UTC()
		out.Since = &s
	}
	for _, c := range a.Changes {
		out.Changes = append(out.Changes, Change{
			Kind: string(c.Kind), Entity: Key{Type: string(c.Entity.Type), ID: c.Entity.ID},
			From: string(c.From), To: string(c.To), ErrorCode: c.ErrorCode, Error: errorOf(c.Error),
		})
	}
	return out
}

func entityOf(e health.Entity) Entity {
	out := Entity{
		Type: string(e.Type), ID: e.ID, CanSendMessage: string(e.CanSendMessage), Errors: make([]Error, 0, len(e.Errors)),
		CustSpaceID: e.CustSpaceID, WabaID: e.WabaID, BusinessID: e.BusinessID, PhoneNumber: e.PhoneNumber,
		TemplateCode: e.TemplateCode, Language: e.Language, Labels: e.Labels, Sources: e.Sources,
	}
	for _, x := range e.Errors {
		out.Errors = append(out.Errors, *errorOf(&x))
	}
	return out
}

func errorOf(e *health.Error) *Error {
	if e == nil {
		return nil
	}
	out := &Error{Code: e.Code, Description: e.Description, Solution: e.Solution}
	if k := notify.Explain(e.Code); k != nil {
		out.Explanation = &Explanation{Title: k.Title, Meaning: k.Meaning, Fix: k.Fix, Confidence: k.Confidence}
	}
	return out
}

func targetOf(t health.Target) Target {
	return Target{NodeType: string(t.NodeType), CustSpaceID: t.CustSpaceID, WabaID: t.WabaID, PhoneNumber: t.PhoneNumber,
		TemplateCode: t.TemplateCode, Language: t.Language, Labels: t.Labels}
}
