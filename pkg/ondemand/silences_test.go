package ondemand_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/ondemand"
	"github.com/wahealth/wahealth/pkg/policy"
	"github.com/wahealth/wahealth/pkg/state"
)

// configSilences are the rig's configured silences. The rig's clock starts on Saturday
// 2026-11-28 at 09:00 UTC (17:00 in Shanghai): the weekly window is not active, the
// migration window is.
var configSilences = []policy.Silence{
	{ID: "globex-nightly", Comment: "globex deploys at night", Match: policy.Matcher{Labels: map[string]string{"customer": "globex"}},
		Recurring: &policy.Recurring{Weekdays: []time.Weekday{time.Monday, time.Friday}, From: "22:00", To: "06:00", Timezone: "Asia/Shanghai"}},
	{ID: "migration", Match: policy.Matcher{Type: health.WABA, ID: "1000003"},
		Start: time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)},
}

// withConfigSilences gives the rig's monitor the configured silences.
func withConfigSilences(r *rig, _ *ondemand.Options) { r.mon.Silences = configSilences }

var silenceID = regexp.MustCompile(`^api-[0-9a-f]{8}$`)

// postSilence creates a silence, checking the 201 and its Location.
func (r *rig) postSilence(t *testing.T, body string) ondemand.SilenceView {
	t.Helper()
	res := r.do(t, http.MethodPost, "/silences", strings.NewReader(body), append([]string{"Content-Type", "application/json"}, bearer...)...)
	if res.status != http.StatusCreated {
		t.Fatalf("POST /silences %s: %d %s", body, res.status, res.body)
	}
	var v ondemand.SilenceView
	decode(t, res, &v)
	if !silenceID.MatchString(v.ID) {
		t.Errorf("id %q, want api- and 8 hex digits", v.ID)
	}
	if got := res.header.Get("Location"); got != "/silences/"+v.ID {
		t.Errorf("Location %q, want /silences/%s", got, v.ID)
	}
	return v
}

// silences lists the silences through GET /silences.
func (r *rig) silences(t *testing.T) []ondemand.SilenceView {
	t.Helper()
	res := r.do(t, http.MethodGet, "/silences", nil, bearer...)
	if res.status != http.StatusOK {
		t.Fatalf("GET /silences: %d %s", res.status, res.body)
	}
	var list ondemand.SilenceList
	decode(t, res, &list)
	return list.Silences
}

// silenceRow is what a test compares of a listed silence.
type silenceRow struct {
	ID, Source string
	Active     bool
}

func rows(vs []ondemand.SilenceView) []silenceRow {
	out := []silenceRow{}
	for _, v := range vs {
		out = append(out, silenceRow{v.ID, v.Source, v.Active})
	}
	return out
}

// alerted returns the keys of the entities in a cycle's alert.
func alerted(rep *monitor.Report) []string {
	var keys []string
	if rep.Message != nil {
		for _, a := range rep.Message.Alerts {
			keys = append(keys, a.Entity.Key().String())
		}
	}
	return keys
}

func TestSilenceLifecycle(t *testing.T) {
	r := newRig(t, withConfigSilences)
	r.cycle(t) // the baseline: the scenario's first step, every phone number available

	now := r.clock.Now()
	v := r.postSilence(t, `{"match":{"type":"PHONE_NUMBER","id":"+86 138 0000 0001"},"duration":"2h",
		"comment":"payment method being replaced","createdBy":"alice"}`)
	want := ondemand.SilenceView{ID: v.ID, Source: ondemand.SourceAPI, Comment: "payment method being replaced", CreatedBy: "alice",
		Match: policy.Matcher{Type: health.PhoneNumber, ID: "8613800000001"}, Start: now, End: now.Add(2 * time.Hour), Active: true}
	if d := cmp.Diff(want, v); d != "" {
		t.Errorf("created silence (-want +got):\n%s", d)
	}

	list := r.silences(t)
	wantRows := []silenceRow{{"globex-nightly", "config", false}, {"migration", "config", true}, {v.ID, "api", true}}
	if d := cmp.Diff(wantRows, rows(list)); d != "" {
		t.Fatalf("GET /silences (-want +got):\n%s", d)
	}
	wantRecurring := &ondemand.RecurringView{Weekdays: []string{"mon", "fri"}, From: "22:00", To: "06:00", Timezone: "Asia/Shanghai"}
	if d := cmp.Diff(wantRecurring, list[0].Recurring); d != "" {
		t.Errorf("recurring window (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want, list[2]); d != "" {
		t.Errorf("listed silence (-want +got):\n%s", d)
	}
	var one ondemand.SilenceView
	decode(t, r.do(t, http.MethodGet, "/silences/"+v.ID, nil, bearer...), &one)
	if d := cmp.Diff(want, one); d != "" {
		t.Errorf("GET /silences/%s (-want +got):\n%s", v.ID, d)
	}

	// The next cycle sees the phone number BLOCKED: the silence holds its alert, not the
	// WABA's, and the report says why.
	rep := r.cycle(t)
	wantHeld := monitor.SuppressedReport{Entity: health.Key{Type: health.PhoneNumber, ID: "8613800000001"}, Reason: "silenced by " + v.ID}
	i := slices.IndexFunc(rep.Suppressed, func(s monitor.SuppressedReport) bool { return s.Entity == wantHeld.Entity })
	if i < 0 || rep.Suppressed[i].Reason != wantHeld.Reason || len(rep.Suppressed[i].Changes) == 0 {
		t.Errorf("suppressed %+v, want %+v with its changes", rep.Suppressed, wantHeld)
	}
	if keys := alerted(rep); slices.Contains(keys, "PHONE_NUMBER:8613800000001") || !slices.Contains(keys, "WABA:1000001") {
		t.Errorf("alerted %v, want WABA:1000001 and not the silenced phone number", keys)
	}

	res := r.do(t, http.MethodDelete, "/silences/"+v.ID, nil, bearer...)
	if res.status != http.StatusNoContent || len(res.body) != 0 {
		t.Fatalf("DELETE: %d %q", res.status, res.body)
	}
	if d := cmp.Diff(wantRows[:2], rows(r.silences(t))); d != "" {
		t.Errorf("after DELETE (-want +got):\n%s", d)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		e := errorOf(t, r.do(t, method, "/silences/"+v.ID, nil, bearer...), http.StatusNotFound)
		if e.Code != "unknown_silence" || !strings.Contains(e.Message, v.ID) {
			t.Errorf("%s after DELETE: %+v", method, e)
		}
	}

	// The silence is gone and the phone number still BLOCKED: the next cycle alerts it.
	rep = r.cycle(t)
	if keys := alerted(rep); !slices.Contains(keys, "PHONE_NUMBER:8613800000001") {
		t.Errorf("alerted %v after the silence was deleted, want PHONE_NUMBER:8613800000001", keys)
	}
	if len(rep.Suppressed) != 0 {
		t.Errorf("suppressed %+v after the silence was deleted", rep.Suppressed)
	}
}

func TestSilenceShapes(t *testing.T) {
	r := newRig(t, nil)
	now := r.clock.Now()
	tests := []struct {
		name, body string
		want       ondemand.SilenceView
	}{
		{"everything, explicitly", `{"all":true,"duration":"30m"}`,
			ondemand.SilenceView{Source: "api", CreatedBy: "api", All: true, Start: now, End: now.Add(30 * time.Minute), Active: true}},
		{"labels until an end with an offset", `{"match":{"labels":{"customer":"acme"}},"end":"2026-11-28T20:00:00+08:00"}`,
			ondemand.SilenceView{Source: "api", CreatedBy: "api", Match: policy.Matcher{Labels: map[string]string{"customer": "acme"}},
				Start: now, End: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), Active: true}},
		{"a later start, in days", `{"match":{"type":"WABA","id":"1000001"},"start":"2026-11-29T00:00:00Z","duration":"3d","comment":" move "}`,
			ondemand.SilenceView{Source: "api", CreatedBy: "api", Comment: "move", Match: policy.Matcher{Type: health.WABA, ID: "1000001"},
				Start: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}},
		{"an undocumented upper-case type", `{"match":{"type":"SOMETHING_NEW"},"duration":"1m"}`,
			ondemand.SilenceView{Source: "api", CreatedBy: "api", Match: policy.Matcher{Type: "SOMETHING_NEW"}, Start: now, End: now.Add(time.Minute), Active: true}},
		{"the longest", `{"match":{"id":"order_shipped:en_US"},"duration":"720h"}`,
			ondemand.SilenceView{Source: "api", CreatedBy: "api", Match: policy.Matcher{ID: "order_shipped:en_US"}, Start: now, End: now.Add(30 * 24 * time.Hour), Active: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := r.postSilence(t, tt.body)
			tt.want.ID = v.ID
			if d := cmp.Diff(tt.want, v); d != "" {
				t.Errorf("silence (-want +got):\n%s", d)
			}
		})
	}
	if n := len(r.silences(t)); n != len(tests) {
		t.Errorf("%d silences listed, want %d", n, len(tests))
	}
}

func TestSilenceValidation(t *testing.T) {
	r := newRig(t, nil)
	tests := []struct {
		body, code, param, message string
	}{
		{``, "invalid_body", "", `body: required: a JSON object like {"match":`},
		{`nope`, "invalid_body", "", "body: invalid JSON at byte 2"},
		{`[1]`, "invalid_body", "", "body: want a JSON object like"},
		{`{} {}`, "invalid_body", "", "body: want one JSON object, found more after it"},
		{`{"mach":{"type":"WABA"},"duration":"2h"}`, "invalid_body", "", `body: unknown field "mach" (fields: match (type, id, labels), all,`},
		{`{"match":{"kind":"WABA"},"duration":"2h"}`, "invalid_body", "", `body: unknown field "kind"`},
		{`{"match":"WABA","duration":"2h"}`, "invalid_body", "", `body: match: want an object like {"type":"PHONE_NUMBER"`},
		{`{"match":{"type":1},"duration":"2h"}`, "invalid_body", "", "body: match.type: want a string"},
		{`{"match":{"labels":{"customer":1}},"duration":"2h"}`, "invalid_body", "", "body: match.labels"},
		{`{"all":"yes","duration":"2h"}`, "invalid_body", "", "body: all: want true or false"},
		{`{"match":{"type":"WABA"},"duration":7200}`, "invalid_body", "", `body: duration: want a string like "2h"`},
		{`{"match":{"type":"WABA"},"end":1}`, "invalid_body", "", "body: end: want an RFC 3339 string"},

		{`{"duration":"2h"}`, "invalid_parameter", "match", `match: required: give type, id or labels (to silence every entity, send "all": true instead)`},
		{`{"match":{"type":" ","labels":{}},"duration":"2h"}`, "invalid_parameter", "match", "match: required"},
		{`{"all":false,"match":{},"duration":"2h"}`, "invalid_parameter", "match", "match: required"},
		{`{"all":true,"match":{"type":"WABA"},"duration":"2h"}`, "invalid_parameter", "all", "all: true silences every entity: leave match out"},
		{`{"match":{"type":"phone_number"},"duration":"2h"}`, "invalid_parameter", "match.type", "match.type: must be upper case: PHONE_NUMBER"},
		{`{"match":{"type":"Phone"},"duration":"2h"}`, "invalid_parameter", "match.type", "match.type: must be an entity type in upper case: PHONE_NUMBER, MESSAGE_TEMPLATE, WABA, BUSINESS or APP"},
		{`{"match":{"type":"WABA-1"},"duration":"2h"}`, "invalid_parameter", "match.type", "match.type: must be an entity type in upper case"},
		{`{"match":{"type":"PHONE_NUMBER","id":"call-me"},"duration":"2h"}`, "invalid_parameter", "match.id", "match.id: must be a phone number with its country code"},
		{`{"match":{"id":"` + strings.Repeat("9", 129) + `"},"duration":"2h"}`, "invalid_parameter", "match.id", "match.id: too long (at most 128 characters)"},
		{`{"match":{"labels":{"":"x"}},"duration":"2h"}`, "invalid_parameter", "match.labels", "match.labels: names must not be empty"},
		{`{"match":{"labels":{"k":"` + strings.Repeat("v", 129) + `"}},"duration":"2h"}`, "invalid_parameter", "match.labels", `match.labels: "k": too long`},

		{`{"match":{"type":"WABA"}}`, "invalid_parameter", "duration", `duration: required: give duration (e.g. "2h") or end`},
		{`{"match":{"type":"WABA"},"duration":"2h","end":"2026-11-28T12:00:00Z"}`, "invalid_parameter", "duration", "duration: give duration or end, not both"},
		{`{"match":{"type":"WABA"},"duration":"soon"}`, "invalid_parameter", "duration", `duration: want a duration like "30m", "2h" or "3d", got "soon"`},
		{`{"match":{"type":"WABA"},"duration":"1.5d"}`, "invalid_parameter", "duration", `duration: want a duration like`},
		{`{"match":{"type":"WABA"},"duration":"59s"}`, "invalid_parameter", "duration", "duration: must be between 1m and 30 days (720h), got 59s"},
		{`{"match":{"type":"WABA"},"duration":"-2h"}`, "invalid_parameter", "duration", "duration: must be between 1m and 30 days"},
		{`{"match":{"type":"WABA"},"duration":"31d"}`, "invalid_parameter", "duration", "duration: must be between 1m and 30 days (720h), got 31d"},
		{`{"match":{"type":"WABA"},"start":"2026-11-28T06:00:00Z","duration":"2h"}`, "invalid_parameter", "duration",
			"duration: the silence would be over already: it ends at 2026-11-28T08:00:00Z, before now"},
		{`{"match":{"type":"WABA"},"end":"tomorrow"}`, "invalid_parameter", "end", `end: want RFC 3339 like 2026-12-01T06:00:00+08:00, got "tomorrow"`},
		{`{"match":{"type":"WABA"},"end":"2026-11-28 12:00"}`, "invalid_parameter", "end", "end: want RFC 3339"},
		{`{"match":{"type":"WABA"},"end":"2026-11-28T08:00:00Z"}`, "invalid_parameter", "end", "end: must be after start"},
		{`{"match":{"type":"WABA"},"start":"2026-11-28T07:00:00Z","end":"2026-11-28T08:00:00Z"}`, "invalid_parameter", "end", "end: the silence would be over already"},
		{`{"match":{"type":"WABA"},"end":"2026-11-28T09:00:30Z"}`, "invalid_parameter", "end", "end: must be at least 1m after start"},
		{`{"match":{"type":"WABA"},"end":"2027-01-01T00:00:00Z"}`, "invalid_parameter", "end", "end: must be at most 30 days (720h) after start"},
		{`{"match":{"type":"WABA"},"start":"now","duration":"2h"}`, "invalid_parameter", "start", `start: want RFC 3339 like 2026-12-01T22:00:00+08:00, got "now"`},
		{`{"match":{"type":"WABA"},"start":"2027-01-01T00:00:00Z","duration":"2h"}`, "invalid_parameter", "start", "start: must be within 30 days from now"},
		{`{"match":{"type":"WABA"},"duration":"2h","comment":"` + strings.Repeat("x", 501) + `"}`, "invalid_parameter", "comment", "comment: too long (at most 500 characters)"},
		{`{"match":{"type":"WABA"},"duration":"2h","createdBy":"` + strings.Repeat("x", 101) + `"}`, "invalid_parameter", "createdBy", "createdBy: too long (at most 100 characters)"},
	}
	for _, tt := range tests {
		t.Run(tt.body[:min(len(tt.body), 60)], func(t *testing.T) {
			e := errorOf(t, r.do(t, http.MethodPost, "/silences", strings.NewReader(tt.body), bearer...), http.StatusBadRequest)
			if e.Code != tt.code || e.Parameter != tt.param || !strings.HasPrefix(e.Message, tt.message) {
				t.Errorf("error %+v, want %s parameter %q: %q", e, tt.code, tt.param, tt.message)
			}
		})
	}
	if v := r.version(t); v != 0 {
		t.Errorf("refused silences changed the state: version %d", v)
	}
	// A body over the limit is refused before it is read.
	big := `{"all":true,"duration":"2h","comment":"` + strings.Repeat("x", 2000) + `"}`
	if e := errorOf(t, r.do(t, http.MethodPost, "/silences", strings.NewReader(big), bearer...), http.StatusRequestEntityTooLarge); e.Code != "body_too_large" {
		t.Errorf("large body: %+v", e)
	}
}

func TestSilenceExpiresFromTheList(t *testing.T) {
	r := newRig(t, nil)
	v := r.postSilence(t, `{"match":{"type":"WABA","id":"1000001"},"duration":"1m"}`)
	r.clock.advance(time.Minute)
	if got := r.silences(t); len(got) != 0 {
		t.Errorf("an expired silence is listed: %+v", got)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		if e := errorOf(t, r.do(t, method, "/silences/"+v.ID, nil, bearer...), http.StatusNotFound); e.Code != "unknown_silence" {
			t.Errorf("%s of an expired silence: %+v", method, e)
		}
	}
	// The next cycle prunes it from the state.
	r.cycle(t)
	st, err := r.store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Silences) != 0 {
		t.Errorf("state keeps %+v after a cycle", st.Silences)
	}
}

func TestDeleteSilenceErrors(t *testing.T) {
	r := newRig(t, withConfigSilences)
	e := errorOf(t, r.do(t, http.MethodDelete, "/silences/api-00000000", nil, bearer...), http.StatusNotFound)
	if e.Code != "unknown_silence" || e.Message != `no silence "api-00000000" (it may have ended or been deleted; GET /silences lists them)` {
		t.Errorf("unknown: %+v", e)
	}
	e = errorOf(t, r.do(t, http.MethodDelete, "/silences/migration", nil, bearer...), http.StatusConflict)
	if e.Code != "config_silence" || !strings.Contains(e.Message, "remove it from the configuration") {
		t.Errorf("config silence: %+v", e)
	}
	if v := r.version(t); v != 0 {
		t.Errorf("refused deletes changed the state: version %d", v)
	}
	// A configured silence can be read one by one too.
	var one ondemand.SilenceView
	decode(t, r.do(t, http.MethodGet, "/silences/migration", nil, bearer...), &one)
	if one.Source != "config" || !one.Active || one.Match.Type != health.WABA {
		t.Errorf("GET /silences/migration: %+v", one)
	}
}

func TestSilencesWithBasicAreReadOnly(t *testing.T) {
	r := newRig(t, withConfigSilences)
	basic := []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("phone:"+token))}
	for _, path := range []string{"/silences", "/silences/migration"} {
		if res := r.do(t, http.MethodGet, path, nil, basic...); res.status != http.StatusOK {
			t.Errorf("GET %s with Basic: %d %s", path, res.status, res.body)
		}
	}
	// A browser opening the list is offered Basic.
	res := r.do(t, http.MethodGet, "/silences", nil, "Accept", "text/html")
	if got := res.header.Values("WWW-Authenticate"); len(got) != 2 || !strings.HasPrefix(got[1], "Basic ") {
		t.Errorf("challenge %q, want Bearer then Basic", got)
	}
	for _, ep := range []struct{ method, path, body string }{
		{http.MethodPost, "/silences", `{"all":true,"duration":"2h"}`},
		{http.MethodDelete, "/silences/migration", ""},
	} {
		e := errorOf(t, r.do(t, ep.method, ep.path, strings.NewReader(ep.body), basic...), http.StatusUnauthorized)
		if !strings.Contains(e.Message, "Bearer") {
			t.Errorf("Basic on %s %s: %+v", ep.method, ep.path, e)
		}
	}
	if v := r.version(t); v != 0 {
		t.Errorf("Basic changed the state: version %d", v)
	}
}

// gatedSource holds a cycle's fetch until released, after telling that it started.
type gatedSource struct {
	monitor.HealthSource
	once             sync.Once
	started, release chan struct{}
}

func (g *gatedSource) CheckAll(ctx context.Context, targets []health.Target, fn func(int, cams.Outcome)) {
	g.once.Do(func() {
		close(g.started)
		<-g.release
	})
	g.HealthSource.CheckAll(ctx, targets, fn)
}

// gatedStore runs hold once before the first Save that wants it, and counts conflicts.
type gatedStore struct {
	state.Store
	want      func(*state.State) bool
	hold      func()
	once      sync.Once
	conflicts atomic.Int32
}

func (g *gatedStore) Save(ctx context.Context, st *state.State) error {
	if g.want != nil && g.want(st) {
		g.once.Do(g.hold)
	}
	err := g.Store.Save(ctx, st)
	if errors.Is(err, state.ErrConflict) {
		g.conflicts.Add(1)
	}
	return err
}

// checkKept checks that the stored state holds both the cycle and the silence.
func checkKept(t *testing.T, r *rig, rep *monitor.Report, id string) {
	t.Helper()
	if rows := rows(r.silences(t)); len(rows) != 1 || rows[0].ID != id {
		t.Errorf("GET /silences: %+v, want %s", rows, id)
	}
	st, err := r.store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.LastCycle == nil || st.LastCycle.ID != rep.CycleID || rep.Checked == 0 {
		t.Errorf("the stored state's last cycle is %+v, want %s", st.LastCycle, rep.CycleID)
	}
	if len(st.Silences) != 1 || st.Silences[0].ID != id {
		t.Errorf("stored silences %+v, want %s", st.Silences, id)
	}
}

func TestSilenceCreatedWhileACycleRuns(t *testing.T) {
	// The silence is saved while the cycle fetches: the cycle's save conflicts, and it
	// re-reads the state and keeps the silence.
	var src *gatedSource
	r := newRig(t, func(r *rig, _ *ondemand.Options) {
		src = &gatedSource{HealthSource: r.mon.Source, started: make(chan struct{}), release: make(chan struct{})}
		r.mon.Source = src
	})
	done := make(chan *response)
	go func() { done <- r.do(t, http.MethodPost, "/check", nil, bearer...) }()
	<-src.started
	v := r.postSilence(t, `{"match":{"type":"PHONE_NUMBER","id":"8613800000001"},"duration":"2h"}`)
	close(src.release)
	res := <-done
	if res.status != http.StatusOK {
		t.Fatalf("POST /check: %d %s", res.status, res.body)
	}
	var rep monitor.Report
	decode(t, res, &rep)
	checkKept(t, r, &rep, v.ID)
	if !strings.Contains(r.logs.String(), "state changed under the cycle, re-reading") {
		t.Error("the cycle's save did not conflict: the test did not interleave")
	}
}

func TestSilenceSavedAfterACycleSaved(t *testing.T) {
	// The silence handler read the state before a cycle saved: its save conflicts, and it
	// re-reads the state and adds the silence to what the cycle saved.
	loaded, release := make(chan struct{}), make(chan struct{})
	var store *gatedStore
	r := newRig(t, func(r *rig, _ *ondemand.Options) {
		store = &gatedStore{Store: r.store,
			want: func(st *state.State) bool { return len(st.Silences) > 0 && st.LastCycle == nil },
			hold: func() { close(loaded); <-release }}
		r.mon.Store = store
	})
	done := make(chan *response)
	go func() {
		done <- r.do(t, http.MethodPost, "/silences", strings.NewReader(`{"match":{"type":"WABA","id":"1000001"},"duration":"2h"}`), bearer...)
	}()
	<-loaded
	rep := r.cycle(t)
	close(release)
	res := <-done
	if res.status != http.StatusCreated {
		t.Fatalf("POST /silences: %d %s", res.status, res.body)
	}
	var v ondemand.SilenceView
	decode(t, res, &v)
	checkKept(t, r, rep, v.ID)
	if n := store.conflicts.Load(); n != 1 {
		t.Errorf("%d conflicts, want the silence's save to conflict once", n)
	}
}

func TestSilenceAndCycleInParallel(t *testing.T) {
	for i := range 5 {
		r := newRig(t, nil)
		var wg sync.WaitGroup
		var cycle, silence *response
		wg.Go(func() { cycle = r.do(t, http.MethodPost, "/check", nil, bearer...) })
		wg.Go(func() {
			silence = r.do(t, http.MethodPost, "/silences", strings.NewReader(`{"match":{"type":"WABA","id":"1000001"},"duration":"2h"}`), bearer...)
		})
		wg.Wait()
		if cycle.status != http.StatusOK || silence.status != http.StatusCreated {
			t.Fatalf("run %d: cycle %d %s; silence %d %s", i, cycle.status, cycle.body, silence.status, silence.body)
		}
		var rep monitor.Report
		decode(t, cycle, &rep)
		var v ondemand.SilenceView
		decode(t, silence, &v)
		checkKept(t, r, &rep, v.ID)
	}
}

func TestSilenceSaveGivesUp(t *testing.T) {
	r := newRig(t, func(r *rig, _ *ondemand.Options) { r.mon.Store = wrapConflict{r.store} })
	res := r.do(t, http.MethodPost, "/silences", strings.NewReader(`{"all":true,"duration":"2h"}`), bearer...)
	e := errorOf(t, res, http.StatusConflict)
	if e.Code != "busy" || !strings.Contains(e.Message, "changed under the request 5 times") || res.header.Get("Retry-After") != "1" {
		t.Errorf("error %+v Retry-After %q", e, res.header.Get("Retry-After"))
	}
	if v := r.version(t); v != 0 {
		t.Errorf("version %d", v)
	}
}

// wrapConflict loses every compare-and-swap.
type wrapConflict struct{ state.Store }

func (wrapConflict) Save(context.Context, *state.State) error {
	return fmt.Errorf("save state: expected version 0, found 1: %w", state.ErrConflict)
}
