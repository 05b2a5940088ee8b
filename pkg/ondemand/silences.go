package ondemand

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	mathrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/policy"
	"github.com/wahealth/wahealth/pkg/state"
)

// silencePrefix starts the path of one silence: /silences/{id}.
const silencePrefix = "/silences/"

// The sources of a silence, as SilenceView.Source shows them.
const (
	// SourceConfig marks a silence of the configuration: read-only here.
	SourceConfig = "config"
	// SourceAPI marks a silence created through POST /silences, kept in the stored state.
	SourceAPI = "api"
)

// Limits of POST /silences.
const (
	// MinSilence is the shortest window of a silence created through the API.
	MinSilence = time.Minute
	// MaxSilence is the longest window of a silence created through the API, and how far
	// ahead its start may be.
	MaxSilence = 30 * 24 * time.Hour
	// MaxAPISilences bounds how many API silences may be in force (running or scheduled) at once,
	// so that the stored state stays small.
	MaxAPISilences = 100

	maxCommentLen   = 500
	maxCreatedByLen = 100
	maxMatchLen     = 128
	maxLabels       = 20
	// saveAttempts bounds the compare-and-swap loop of a silences change.
	saveAttempts = 5
)

// SilenceRequest is the JSON body of POST /silences.
type SilenceRequest struct {
	// Match selects the entities by type, id and labels (all that are given must match).
	Match policy.Matcher `json:"match"`
	// All must be true, with no match, to silence every entity: an empty match is refused
	// otherwise, so that nobody mutes all alerts by accident.
	All bool `json:"all,omitempty"`
	// Duration is how long the silence lasts from Start ("90m", "2h", "3d"; 1m to 30 days).
	// Give Duration or End, not both.
	Duration string `json:"duration,omitempty"`
	// Start (RFC 3339) is when the silence begins; now when empty.
	Start string `json:"start,omitempty"`
	// End (RFC 3339, e.g. 2026-12-01T06:00:00+08:00) is when the silence ends.
	End string `json:"end,omitempty"`
	// Comment says why.
	Comment string `json:"comment,omitempty"`
	// CreatedBy names who created it ("api" when empty).
	CreatedBy string `json:"createdBy,omitempty"`
}

// SilenceList is the answer of GET /silences.
type SilenceList struct {
	// Silences are the configured silences, then those created through the API (oldest
	// first); API silences that are over are left out.
	Silences []SilenceView `json:"silences"`
}

// SilenceView is one silence as the API shows it.
type SilenceView struct {
	// ID identifies the silence: its name in the configuration, or "api-" and 8 hex digits.
	ID string `json:"id"`
	// Source is SourceConfig or SourceAPI.
	Source string `json:"source"`
	// Comment says why.
	Comment string `json:"comment,omitempty"`
	// CreatedBy names who created an API silence.
	CreatedBy string `json:"createdBy,omitempty"`
	// Match selects the entities.
	Match policy.Matcher `json:"match"`
	// All is true when the silence matches every entity.
	All bool `json:"all,omitempty"`
	// Start and End bound a one-off window.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Recurring is a weekly window instead.
	Recurring *RecurringView `json:"recurring,omitempty"`
	// Active is true when the silence mutes alerts now.
	Active bool `json:"active"`
}

// RecurringView is a weekly window, its days named.
type RecurringView struct {
	// Weekdays are "mon" ... "sun"; none means every day.
	Weekdays []string `json:"weekdays,omitempty"`
	// From and To are HH:MM; a To not after From runs past midnight.
	From string `json:"from"`
	To   string `json:"to"`
	// Timezone is the IANA zone of From and To.
	Timezone string `json:"timezone,omitempty"`
}

// newSilenceView shows s from source at now.
func newSilenceView(s policy.Silence, source string, now time.Time) SilenceView {
	v := SilenceView{ID: s.ID, Source: source, Comment: s.Comment, CreatedBy: s.CreatedBy, Match: s.Match,
		All: matchesAll(s.Match), Start: s.Start, End: s.End, Active: s.Active(now)}
	if r := s.Recurring; r != nil {
		v.Recurring = &RecurringView{From: r.From, To: r.To, Timezone: r.Timezone}
		for _, d := range r.Weekdays {
			v.Recurring.Weekdays = append(v.Recurring.Weekdays, strings.ToLower(d.String()[:3]))
		}
	}
	return v
}

// matchesAll reports whether m selects every entity.
func matchesAll(m policy.Matcher) bool { return m.Type == "" && m.ID == "" && len(m.Labels) == 0 }

// listSilences answers GET /silences: the configured silences and the API's from the state.
func (h *handler) listSilences(w http.ResponseWriter, r *http.Request) error {
	st, err := h.o.Monitor.Store.Load(r.Context())
	if err != nil {
		return internal("cannot read the stored state; the log line with this request id has the cause", err)
	}
	now := h.o.Now()
	list := SilenceList{Silences: []SilenceView{}}
	for _, s := range h.o.Monitor.Silences {
		list.Silences = append(list.Silences, newSilenceView(s, SourceConfig, now))
	}
	for _, s := range st.Silences {
		if !s.Expired(now) {
			list.Silences = append(list.Silences, newSilenceView(s, SourceAPI, now))
		}
	}
	return writeJSON(w, http.StatusOK, list)
}

// getSilence answers GET /silences/{id}.
func (h *handler) getSilence(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	now := h.o.Now()
	if s, ok := h.configSilence(id); ok {
		return writeJSON(w, http.StatusOK, newSilenceView(s, SourceConfig, now))
	}
	st, err := h.o.Monitor.Store.Load(r.Context())
	if err != nil {
		return internal("cannot read the stored state; the log line with this request id has the cause", err)
	}
	i := liveSilence(st, id, now)
	if i < 0 {
		return unknownSilence(id)
	}
	return writeJSON(w, http.StatusOK, newSilenceView(st.Silences[i], SourceAPI, now))
}

// createSilence answers POST /silences: validate, store with compare-and-swap, answer 201.
func (h *handler) createSilence(w http.ResponseWriter, r *http.Request) error {
	req, err := decodeSilenceRequest(r.Body)
	if err != nil {
		return err
	}
	now := h.o.Now()
	s, err := newSilence(req, now)
	if err != nil {
		return err
	}
	err = h.updateSilences(r.Context(), func(st *state.State) error {
		live := 0
		for _, x := range st.Silences {
			if !x.Expired(now) {
				live++
			}
		}
		if live >= MaxAPISilences {
			return &httpError{status: http.StatusConflict, code: "too_many_silences",
				message: fmt.Sprintf("%d silences created through the API are in force, the most there can be: delete one first", live)}
		}
		s.ID = h.newSilenceID(st)
		st.Silences = append(st.Silences, s)
		return nil
	})
	if err != nil {
		return err
	}
	annotate(r, slog.String("silence", s.ID), slog.String("createdBy", truncate(s.CreatedBy, 100)), slog.Time("end", s.End))
	w.Header().Set("Location", silencePrefix+s.ID)
	return writeJSON(w, http.StatusCreated, newSilenceView(s, SourceAPI, now))
}

// deleteSilence answers DELETE /silences/{id}: 204, 404 for an unknown id, 409 for a silence
// of the configuration.
func (h *handler) deleteSilence(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, ok := h.configSilence(id); ok {
		return &httpError{status: http.StatusConflict, code: "config_silence",
			message: fmt.Sprintf("silence %q is part of the configuration: remove it from the configuration (silences[]) instead", truncate(id, 100))}
	}
	now := h.o.Now()
	err := h.updateSilences(r.Context(), func(st *state.State) error {
		i := liveSilence(st, id, now)
		if i < 0 {
			return unknownSilence(id)
		}
		st.Silences = slices.Delete(st.Silences, i, i+1)
		return nil
	})
	if err != nil {
		return err
	}
	annotate(r, slog.String("silence", id))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// configSilence returns the configured silence with id.
func (h *handler) configSilence(id string) (policy.Silence, bool) {
	for _, s := range h.o.Monitor.Silences {
		if s.ID == id {
			return s, true
		}
	}
	return policy.Silence{}, false
}

// liveSilence returns the index of the API silence with id that is not over yet, or -1.
func liveSilence(st *state.State, id string, now time.Time) int {
	return slices.IndexFunc(st.Silences, func(s policy.Silence) bool { return s.ID == id && !s.Expired(now) })
}

// unknownSilence is the 404 of a silence id that is neither configured nor in force.
func unknownSilence(id string) *httpError {
	return &httpError{status: http.StatusNotFound, code: "unknown_silence",
		message: fmt.Sprintf("no silence %q (it may have ended or been deleted; GET /silences lists them)", truncate(id, 100))}
}

// updateSilences applies change to the stored state and saves it with compare-and-swap. When
// another writer (a cycle) saved in between, it reads the fresh state and applies change again;
// a cycle that loses the race likewise re-reads, so neither loses the other's work. An
// *httpError from change aborts without saving.
func (h *handler) updateSilences(ctx context.Context, change func(*state.State) error) error {
	store := h.o.Monitor.Store
	var err error
	for attempt := 1; attempt <= saveAttempts; attempt++ {
		if attempt > 1 {
			// A little jitter, so that writers that collided do not collide again.
			d := time.Duration(attempt)*10*time.Millisecond + mathrand.N(20*time.Millisecond)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return internal("the request ended before the silences could be saved", ctx.Err())
			case <-t.C:
			}
		}
		st, lerr := store.Load(ctx)
		if lerr != nil {
			return internal("cannot read the stored state; the log line with this request id has the cause", lerr)
		}
		if cerr := change(st); cerr != nil {
			return cerr
		}
		if err = store.Save(ctx, st); err == nil {
			return nil
		}
		if !errors.Is(err, state.ErrConflict) {
			return internal("cannot save the silences; the log line with this request id has the cause", err)
		}
	}
	return &httpError{status: http.StatusConflict, code: "busy",
		message: fmt.Sprintf("the stored state changed under the request %d times in a row; try again", saveAttempts),
		header:  http.Header{"Retry-After": {"1"}}, cause: err}
}

// newSilenceID returns "api-" and 8 random hex digits, unused by st and the configuration.
func (h *handler) newSilenceID(st *state.State) string {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:]) // crypto/rand does not fail on Linux
		id := "api-" + hex.EncodeToString(b[:])
		_, configured := h.configSilence(id)
		if !configured && !slices.ContainsFunc(st.Silences, func(s policy.Silence) bool { return s.ID == id }) {
			return id
		}
	}
}

// newSilence checks req at now and returns the silence it asks for (without its id), or a 400
// naming the first bad field.
func newSilence(req *SilenceRequest, now time.Time) (policy.Silence, error) {
	m, err := checkMatch(req.Match)
	if err != nil {
		return policy.Silence{}, err
	}
	switch empty := matchesAll(m); {
	case req.All && !empty:
		return policy.Silence{}, badParam("all", "true silences every entity: leave match out, or drop all to silence what match selects")
	case !req.All && empty:
		return policy.Silence{}, badParam("match", `required: give type, id or labels (to silence every entity, send "all": true instead)`)
	}
	s := policy.Silence{Match: m}

	start := now.Truncate(time.Second)
	if req.Start != "" {
		if start, err = time.Parse(time.RFC3339, strings.TrimSpace(req.Start)); err != nil {
			return s, badParam("start", "want RFC 3339 like 2026-12-01T22:00:00+08:00, got %q", truncate(req.Start, 60))
		}
		if start.After(now.Add(MaxSilence)) {
			return s, badParam("start", "must be within 30 days from now")
		}
	}
	var end time.Time
	field := "end"
	switch {
	case req.Duration != "" && req.End != "":
		return s, badParam("duration", "give duration or end, not both")
	case req.Duration == "" && req.End == "":
		return s, badParam("duration", `required: give duration (e.g. "2h") or end (e.g. "2026-12-01T06:00:00+08:00")`)
	case req.Duration != "":
		field = "duration"
		d, err := parseSilenceDuration(req.Duration)
		if err != nil {
			return s, badParam("duration", `want a duration like "30m", "2h" or "3d", got %q`, truncate(req.Duration, 40))
		}
		if d < MinSilence || d > MaxSilence {
			return s, badParam("duration", "must be between 1m and 30 days (720h), got %s", truncate(req.Duration, 40))
		}
		end = start.Add(d)
	default:
		if end, err = time.Parse(time.RFC3339, strings.TrimSpace(req.End)); err != nil {
			return s, badParam("end", "want RFC 3339 like 2026-12-01T06:00:00+08:00, got %q", truncate(req.End, 60))
		}
		switch d := end.Sub(start); {
		case d <= 0:
			return s, badParam("end", "must be after start")
		case d < MinSilence:
			return s, badParam("end", "must be at least 1m after start")
		case d > MaxSilence:
			return s, badParam("end", "must be at most 30 days (720h) after start")
		}
	}
	if !end.After(now) {
		return s, badParam(field, "the silence would be over already: it ends at %s, before now", end.Format(time.RFC3339))
	}
	s.Start, s.End = start, end

	s.Comment = strings.TrimSpace(req.Comment)
	if utf8.RuneCountInString(s.Comment) > maxCommentLen {
		return s, badParam("comment", "too long (at most %d characters)", maxCommentLen)
	}
	s.CreatedBy = strings.TrimSpace(req.CreatedBy)
	if s.CreatedBy == "" {
		s.CreatedBy = SourceAPI
	}
	if utf8.RuneCountInString(s.CreatedBy) > maxCreatedByLen {
		return s, badParam("createdBy", "too long (at most %d characters)", maxCreatedByLen)
	}
	if err := s.Validate(); err != nil {
		return s, badParam("end", "%s", strings.TrimPrefix(err.Error(), `silence "": `))
	}
	return s, nil
}

// checkMatch checks and normalises a matcher: types are upper case, phone numbers are digits.
func checkMatch(m policy.Matcher) (policy.Matcher, error) {
	out := policy.Matcher{Type: health.EntityType(strings.TrimSpace(string(m.Type))), ID: strings.TrimSpace(m.ID)}
	if t := string(out.Type); t != "" {
		switch up := strings.ToUpper(t); {
		case len(t) > 64:
			return out, badParam("match.type", "too long (at most 64 characters)")
		case !upperName(t) && health.EntityType(up).Known():
			return out, badParam("match.type", "must be upper case: %s", up)
		case !upperName(t):
			return out, badParam("match.type", "must be an entity type in upper case: PHONE_NUMBER, MESSAGE_TEMPLATE, WABA, BUSINESS or APP (or another type Meta reports, in upper case)")
		}
	}
	if len(out.ID) > maxMatchLen {
		return out, badParam("match.id", "too long (at most %d characters)", maxMatchLen)
	}
	if out.Type == health.PhoneNumber && out.ID != "" {
		out.ID = health.NormalizePhone(out.ID)
		if !digits(out.ID) {
			return out, badParam("match.id", "must be a phone number with its country code, e.g. 8613800000001")
		}
	}
	if len(m.Labels) > maxLabels {
		return out, badParam("match.labels", "too many (at most %d)", maxLabels)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
		v := m.Labels[k]
		switch {
		case strings.TrimSpace(k) == "":
			return out, badParam("match.labels", "names must not be empty")
		case len(k) > maxMatchLen || len(v) > maxMatchLen:
			return out, badParam("match.labels", "%s: too long (at most %d characters a name or value)", strconv.Quote(truncate(k, 40)), maxMatchLen)
		}
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
		out.Labels[k] = v
	}
	return out, nil
}

// upperName reports whether s looks like Meta's entity types: A-Z, 0-9 and _, starting with a
// letter.
func upperName(s string) bool {
	for i, c := range s {
		switch {
		case c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_'):
		default:
			return false
		}
	}
	return s != ""
}

// parseSilenceDuration reads a Go duration ("90m", "2h30m") or whole days ("3d").
func parseSilenceDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 366 {
			return 0, fmt.Errorf("duration %q: want whole days like 3d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	return d, nil
}

// silenceFields lists the fields of a SilenceRequest, for error messages.
const silenceFields = "match (type, id, labels), all, duration, start, end, comment, createdBy"

// silenceExample is a body of POST /silences, for error messages.
const silenceExample = `{"match":{"type":"PHONE_NUMBER","id":"8613800000001"},"duration":"2h","comment":"..."}`

// decodeSilenceRequest reads the body of POST /silences: one JSON object with no unknown
// fields (a misspelt "mach" must not silence everything).
func decodeSilenceRequest(body io.Reader) (*SilenceRequest, error) {
	b, err := io.ReadAll(body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(mbe.Limit)
	}
	if err != nil {
		return nil, &httpError{status: http.StatusBadRequest, code: "invalid_body", message: "cannot read the request body", cause: err}
	}
	bad := func(format string, args ...any) error {
		return &httpError{status: http.StatusBadRequest, code: "invalid_body", message: "body: " + fmt.Sprintf(format, args...)}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, bad("required: a JSON object like %s", silenceExample)
	}
	req := &SilenceRequest{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return nil, bad("%s: want %s", te.Field, silenceWant(te.Field))
		case errors.As(err, &se):
			return nil, bad("invalid JSON at byte %d", se.Offset)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return nil, bad("unknown field %s (fields: %s)", truncate(strings.TrimPrefix(err.Error(), "json: unknown field "), 60), silenceFields)
		}
		return nil, bad("want a JSON object like %s", silenceExample)
	}
	if dec.More() {
		return nil, bad("want one JSON object, found more after it")
	}
	return req, nil
}

// silenceWant says what type a field of SilenceRequest takes.
func silenceWant(field string) string {
	switch {
	case field == "match":
		return `an object like {"type":"PHONE_NUMBER","id":"8613800000001","labels":{"customer":"acme"}}`
	case strings.HasPrefix(field, "match.labels"):
		return "an object of string values"
	case field == "all":
		return "true or false"
	case field == "duration":
		return `a string like "2h"`
	case field == "start" || field == "end":
		return `an RFC 3339 string like "2026-12-01T06:00:00+08:00"`
	}
	return "a string"
}
