package ondemand

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/state"
)

// Status is the answer of GET /status: the stored state as callers see it. It never holds
// the outbox's messages or any secret.
type Status struct {
	// GeneratedAt is when the answer was made.
	GeneratedAt time.Time `json:"generatedAt"`
	// UpdatedAt is when the state was last saved (zero before the first cycle).
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	// Version is the store's revision of the state.
	Version int64 `json:"version"`
	// Baseline is true once a first cycle recorded the entities.
	Baseline bool `json:"baseline"`
	// LastCycle is the last cycle that saved the state (null before the first).
	LastCycle *state.Cycle `json:"lastCycle"`
	// Summary counts the entities by status.
	Summary Summary `json:"summary"`
	// Entities are the last known entities, ordered by key.
	Entities []EntityStatus `json:"entities"`
	// Targets are the check histories of the targets, ordered by id.
	Targets []TargetStatus `json:"targets"`
	// PendingAlerts counts alerts still waiting in the outbox.
	PendingAlerts int `json:"pendingAlerts"`
}

// Summary counts entities by status.
type Summary struct {
	// Worst is the worst entity status (empty when there are no entities).
	Worst     health.Status `json:"worst,omitempty"`
	Total     int           `json:"total"`
	Available int           `json:"available"`
	Limited   int           `json:"limited"`
	Blocked   int           `json:"blocked"`
	// Unknown counts statuses Meta has not documented (kept verbatim on the entity).
	Unknown int `json:"unknown"`
	// Stale counts entities whose targets' last checks failed.
	Stale int `json:"stale"`
}

// EntityStatus is one entity with when it was last seen.
type EntityStatus struct {
	health.Entity
	// LastChecked is the last successful check of a target that returns the entity.
	LastChecked time.Time `json:"lastChecked,omitzero"`
	// Stale is true when every target that returns the entity failed its last check: the
	// entity shows its state from before.
	Stale bool `json:"stale,omitempty"`
	// LastError is the failure of such a target, when Stale.
	LastError string `json:"lastError,omitempty"`
}

// TargetStatus is the check history of one target.
type TargetStatus struct {
	// ID is the target's identity (e.g. phone:cs-1:8613800000001).
	ID string `json:"id"`
	// Configured is the configured target; null for a target no longer in the configuration.
	Configured *health.Target `json:"target"`
	state.Target
}

// buildStatus turns the stored state into the answer.
func buildStatus(st *state.State, configured []health.Target, now time.Time) *Status {
	s := &Status{GeneratedAt: now, UpdatedAt: st.UpdatedAt, Version: st.Version, Baseline: st.Baseline,
		LastCycle: st.LastCycle, PendingAlerts: len(st.Outbox), Entities: []EntityStatus{}, Targets: []TargetStatus{}}
	byID := make(map[string]health.Target, len(configured))
	for _, t := range configured {
		byID[t.ID()] = t
	}
	for _, id := range slices.Sorted(maps.Keys(st.Targets)) {
		if st.Targets[id] == nil {
			continue
		}
		ts := TargetStatus{ID: id, Target: *st.Targets[id]}
		if t, ok := byID[id]; ok {
			ts.Configured = &t
		}
		s.Targets = append(s.Targets, ts)
	}
	for _, e := range st.Snapshot.Sorted() {
		es := EntityStatus{Entity: *e}
		fresh := false
		for _, src := range e.Sources {
			ts := st.Targets[src]
			if ts == nil {
				fresh = true // no history: nothing says it is stale
				continue
			}
			if ts.LastChecked.After(es.LastChecked) {
				es.LastChecked = ts.LastChecked
			}
			if ts.ConsecutiveFailures == 0 {
				fresh = true
			} else if es.LastError == "" {
				es.LastError = ts.LastError
			}
		}
		es.Stale = !fresh && len(e.Sources) > 0
		if !es.Stale {
			es.LastError = ""
		}
		s.Summary.add(es)
		s.Entities = append(s.Entities, es)
	}
	return s
}

func (s *Summary) add(e EntityStatus) {
	if s.Total == 0 {
		s.Worst = e.CanSendMessage
	} else {
		s.Worst = health.Worse(s.Worst, e.CanSendMessage)
	}
	s.Total++
	switch e.CanSendMessage {
	case health.Available:
		s.Available++
	case health.Limited:
		s.Limited++
	case health.Blocked:
		s.Blocked++
	default:
		s.Unknown++
	}
	if e.Stale {
		s.Stale++
	}
}

// status answers GET /status.
func (h *handler) status(w http.ResponseWriter, r *http.Request) error {
	html, err := formatHTML(r)
	if err != nil {
		return err
	}
	st, err := h.o.Store.Load(r.Context())
	if err != nil {
		return internal("cannot read the stored state; the log line with this request id has the cause", err)
	}
	s := buildStatus(st, h.o.Monitor.Targets, h.o.Now())
	w.Header().Set("Vary", "Accept")
	if !html {
		return writeJSON(w, http.StatusOK, s)
	}
	var b bytes.Buffer
	if err := h.page.Execute(&b, newPage(s, requestIDOf(r))); err != nil {
		return internal("cannot render the status page", err)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	// Self-contained: no scripts, no external resources, only the inline style sheet.
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
	return nil
}

// formatHTML reads ?format= (json or html) and, without it, the Accept header.
func formatHTML(r *http.Request) (bool, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "html":
		return true, nil
	case "json":
		return false, nil
	case "":
		return acceptsHTML(r.Header.Values("Accept")), nil
	default:
		return false, badParam("format", "must be json or html, got %q", truncate(f, 40))
	}
}

// wantsHTML reports whether the caller asks for a page, for the 401 challenge.
func wantsHTML(r *http.Request) bool {
	html, err := formatHTML(r)
	return err == nil && html
}

// acceptsHTML reports whether the Accept header prefers text/html to JSON: a browser's
// navigation does, curl's */* does not.
func acceptsHTML(values []string) bool {
	var htmlQ, jsonQ float64 = -1, -1
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					q = f
				}
			}
			switch mt {
			case "text/html", "application/xhtml+xml":
				htmlQ = max(htmlQ, q)
			case "application/json":
				jsonQ = max(jsonQ, q)
			}
		}
	}
	return htmlQ > 0 && htmlQ >= jsonQ
}

//go:embed status.html
var pageSource string

// parsePage parses the status page template.
func parsePage() (*template.Template, error) {
	t, err := template.New("status.html").Funcs(template.FuncMap{
		"statusClass": statusClass,
		"kind":        kind,
		"name":        displayName,
		"when":        func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"iso":         func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return one
			}
			return many
		},
	}).Parse(pageSource)
	if err != nil {
		return nil, fmt.Errorf("ondemand: parse status page: %w", err)
	}
	return t, nil
}

// page is what the status page template renders.
type page struct {
	*Status
	Groups    []group
	Failing   []failingTarget
	RequestID string
	ago       func(time.Time) string
}

// group is the entities of one WABA.
type group struct {
	WabaID   string
	Worst    health.Status
	Entities []pageEntity
}

// pageEntity is one row of the page.
type pageEntity struct {
	EntityStatus
	Ago string
}

// failingTarget is a target whose last check failed.
type failingTarget struct {
	Name     string
	Failures int
	Since    string
	Error    string
}

// Ago says how long before the page t was.
func (p *page) Ago(t time.Time) string { return p.ago(t) }

func newPage(s *Status, requestID string) *page {
	p := &page{Status: s, RequestID: requestID}
	p.ago = func(t time.Time) string { return ago(s.GeneratedAt, t) }
	byWaba := map[string]*group{}
	for _, e := range s.Entities {
		g := byWaba[e.WabaID]
		if g == nil {
			g = &group{WabaID: e.WabaID, Worst: e.CanSendMessage}
			byWaba[e.WabaID] = g
		}
		g.Worst = health.Worse(g.Worst, e.CanSendMessage)
		g.Entities = append(g.Entities, pageEntity{EntityStatus: e, Ago: p.ago(e.LastChecked)})
	}
	for _, g := range byWaba {
		slices.SortStableFunc(g.Entities, func(a, b pageEntity) int {
			return cmp.Or(cmp.Compare(typeOrder(a.Type), typeOrder(b.Type)), a.Key().Compare(b.Key()))
		})
		p.Groups = append(p.Groups, *g)
	}
	// WABAs in id order; entities without a WABA last.
	slices.SortFunc(p.Groups, func(a, b group) int {
		return cmp.Or(cmp.Compare(blank(a.WabaID), blank(b.WabaID)), strings.Compare(a.WabaID, b.WabaID))
	})
	for _, t := range s.Targets {
		if t.ConsecutiveFailures == 0 {
			continue
		}
		name := t.ID
		if t.Configured != nil {
			name = notify.TargetName(*t.Configured)
		}
		p.Failing = append(p.Failing, failingTarget{Name: name, Failures: t.ConsecutiveFailures,
			Since: t.FailingSince.UTC().Format("2006-01-02 15:04 UTC") + " (" + ago(s.GeneratedAt, t.FailingSince) + ")", Error: t.LastError})
	}
	return p
}

// blank is 1 for an empty string, else 0.
func blank(s string) int {
	if s == "" {
		return 1
	}
	return 0
}

// typeOrder puts what sends first: phone numbers and templates, then the WABA, business and
// app behind them, then types Meta has not documented.
func typeOrder(t health.EntityType) int {
	switch t {
	case health.PhoneNumber:
		return 0
	case health.Template:
		return 1
	case health.WABA:
		return 2
	case health.Business:
		return 3
	case health.App:
		return 4
	}
	return 5
}

// statusClass is the CSS class of a status.
func statusClass(s health.Status) string {
	switch s {
	case health.Available:
		return "available"
	case health.Limited:
		return "limited"
	case health.Blocked:
		return "blocked"
	}
	return "unknown"
}

// kind names an entity type for people.
func kind(t health.EntityType) string {
	switch t {
	case health.PhoneNumber:
		return "Phone number"
	case health.Template:
		return "Template"
	case health.WABA:
		return "WABA"
	case health.Business:
		return "Business"
	case health.App:
		return "App"
	}
	return string(t)
}

// displayName is an entity's identifier as people read it.
func displayName(e health.Entity) string {
	switch e.Type {
	case health.PhoneNumber:
		return "+" + e.ID
	case health.Template:
		if e.TemplateCode != "" {
			return e.TemplateCode + " (" + e.Language + ")"
		}
	case health.App:
		return "custSpace " + e.ID
	}
	return e.ID
}

// ago says how long before now t was, in a few words.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}
