package ondemand_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/ondemand"
)

func TestNewRefusesIncompleteOptions(t *testing.T) {
	r := newRig(t, nil)
	valid := func() ondemand.Options {
		return ondemand.Options{Monitor: r.mon, Adhoc: fakeAdhoc{}, Auth: ondemand.AuthToken, Token: config.Secret(token)}
	}
	tests := []struct {
		name   string
		adjust func(*ondemand.Options)
		want   string // "" means New succeeds
	}{
		{"token auth without a token", func(o *ondemand.Options) { o.Token = "" }, config.EnvHTTPToken},
		{"default auth is token", func(o *ondemand.Options) { o.Auth, o.Token = "", "" }, config.EnvHTTPToken},
		{"function auth needs no token", func(o *ondemand.Options) { o.Auth, o.Token = ondemand.AuthFunction, "" }, ""},
		{"unknown auth", func(o *ondemand.Options) { o.Auth = "basic" }, `unknown auth "basic"`},
		{"no monitor", func(o *ondemand.Options) { o.Monitor = nil }, "Monitor is required"},
		{"no ad-hoc checker", func(o *ondemand.Options) { o.Adhoc = nil }, "Adhoc is required"},
		{"store defaults to the monitor's", func(o *ondemand.Options) { o.Store = nil }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid()
			tt.adjust(&o)
			_, err := ondemand.New(o)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New: error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

type fakeAdhoc struct{}

func (fakeAdhoc) Check(context.Context, health.Target) (*cams.Result, error) {
	return &cams.Result{Overall: health.Available}, nil
}

func TestHealthzNeedsNoTokenAndNoUpstream(t *testing.T) {
	r := newRig(t, nil)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		res := r.do(t, method, "/healthz", nil)
		if res.status != http.StatusOK {
			t.Fatalf("%s /healthz: %d %s", method, res.status, res.body)
		}
		if method == http.MethodGet {
			var body map[string]string
			decode(t, res, &body)
			if d := cmp.Diff(map[string]string{"status": "ok"}, body); d != "" {
				t.Errorf("body (-want +got):\n%s", d)
			}
		}
	}
	if res := r.do(t, http.MethodPost, "/healthz", nil); res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /healthz: %d, Allow %q", res.status, res.header.Get("Allow"))
	}
	if n := r.sim.Stats().Calls; n != 0 {
		t.Errorf("/healthz called CAMS %d times", n)
	}
}

func TestEveryEndpointButHealthzNeedsTheToken(t *testing.T) {
	r := newRig(t, nil)
	endpoints := []struct{ method, path string }{
		{http.MethodGet, "/status"},
		{http.MethodGet, "/status?format=html"},
		{http.MethodGet, "/badge.svg?entity=PHONE_NUMBER:8613800000001"},
		{http.MethodPost, "/check"},
		{http.MethodGet, "/check?nodeType=phone&phoneNumber=8613800000001"},
		{http.MethodGet, "/no-such-path"},
		{http.MethodDelete, "/status"},
		{http.MethodPost, "/test-notify"},
		{http.MethodGet, "/silences"},
		{http.MethodPost, "/silences"},
		{http.MethodGet, "/silences/api-00000000"},
		{http.MethodDelete, "/silences/api-00000000"},
	}
	creds := []struct {
		name      string
		header    []string
		challenge string
		message   string
	}{
		{"no header", nil, `Bearer realm="wahealth"`, "missing credentials"},
		{"wrong token", []string{"Authorization", "Bearer not-the-token"}, `Bearer realm="wahealth", error="invalid_token"`, "invalid token"},
		{"token with a suffix", []string{"Authorization", "Bearer " + token + "x"}, `Bearer realm="wahealth", error="invalid_token"`, "invalid token"},
		{"token prefix", []string{"Authorization", "Bearer " + token[:10]}, `Bearer realm="wahealth", error="invalid_token"`, "invalid token"},
		{"other scheme", []string{"Authorization", "Token " + token}, `Bearer realm="wahealth"`, "missing credentials"},
	}
	for _, ep := range endpoints {
		for _, c := range creds {
			t.Run(ep.method+" "+ep.path+" "+c.name, func(t *testing.T) {
				res := r.do(t, ep.method, ep.path, nil, c.header...)
				e := errorOf(t, res, http.StatusUnauthorized)
				if e.Code != "unauthorized" || !strings.Contains(e.Message, c.message) {
					t.Errorf("error %+v, want unauthorized: %s", e, c.message)
				}
				if got := res.header.Values("WWW-Authenticate"); len(got) == 0 || got[0] != c.challenge {
					t.Errorf("WWW-Authenticate %q, want first %q", got, c.challenge)
				}
			})
		}
	}
	if n := r.sim.Stats().Calls; n != 0 {
		t.Errorf("unauthenticated requests made %d CAMS calls", n)
	}
	wrongBasic := []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("me:nope"))}
	if e := errorOf(t, r.do(t, http.MethodGet, "/status", nil, wrongBasic...), http.StatusUnauthorized); e.Message != "invalid token" {
		t.Errorf("wrong Basic password: %+v", e)
	}

	// A browser that asks for the page is also offered Basic, and may send the token as its
	// password; the scheme's case does not matter.
	res := r.do(t, http.MethodGet, "/status?format=html", nil)
	if got := res.header.Values("WWW-Authenticate"); len(got) != 2 || !strings.HasPrefix(got[1], "Basic ") {
		t.Errorf("page challenge %q, want Bearer then Basic", got)
	}
	basic := []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("anyone:"+token))}
	for _, h := range [][]string{bearer, {"Authorization", "bearer " + token}, basic} {
		for _, path := range []string{"/status", "/status?format=html", "/badge.svg?entity=WABA:1", "/silences"} {
			if res := r.do(t, http.MethodGet, path, nil, h...); res.status == http.StatusUnauthorized {
				t.Errorf("%s %s: %d %s", h[1][:6], path, res.status, res.body)
			}
		}
	}
	// Basic is for reading only: what acts needs Bearer, which a browser never sends by itself.
	for _, ep := range []struct{ method, path string }{{http.MethodPost, "/check"}, {http.MethodGet, "/check?nodeType=waba&wabaId=1"},
		{http.MethodPost, "/test-notify"}, {http.MethodPost, "/silences"}, {http.MethodDelete, "/silences/api-00000000"}} {
		res := r.do(t, ep.method, ep.path, nil, basic...)
		if e := errorOf(t, res, http.StatusUnauthorized); !strings.Contains(e.Message, "Bearer") {
			t.Errorf("Basic on %s %s: %+v", ep.method, ep.path, e)
		}
	}
}

func TestFunctionAuthSkipsTheToken(t *testing.T) {
	r := newRig(t, func(_ *rig, o *ondemand.Options) { o.Auth, o.Token = ondemand.AuthFunction, "" })
	if res := r.do(t, http.MethodGet, "/status", nil); res.status != http.StatusOK {
		t.Fatalf("GET /status: %d %s", res.status, res.body)
	}
}

func TestUnknownPathAndWrongMethod(t *testing.T) {
	r := newRig(t, nil)
	tests := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{http.MethodGet, "/", http.StatusNotFound, "not_found", ""},
		{http.MethodGet, "/status/", http.StatusNotFound, "not_found", ""},
		{http.MethodGet, "/test-notify", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{http.MethodDelete, "/silences", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD, POST"},
		{http.MethodPost, "/silences/api-00000000", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD, DELETE"},
		{http.MethodDelete, "/silences/", http.StatusNotFound, "not_found", ""},
		{http.MethodDelete, "/silences/api-1/x", http.StatusNotFound, "not_found", ""},
		{http.MethodDelete, "/status", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{http.MethodPost, "/badge.svg", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{http.MethodPut, "/check", http.StatusMethodNotAllowed, "method_not_allowed", "GET, POST"},
		{http.MethodHead, "/check", http.StatusMethodNotAllowed, "method_not_allowed", "GET, POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := r.do(t, tt.method, tt.path, nil, bearer...)
			if tt.method == http.MethodHead {
				if res.status != tt.status || res.header.Get("Allow") != tt.allow {
					t.Errorf("HEAD: %d Allow %q", res.status, res.header.Get("Allow"))
				}
				return
			}
			e := errorOf(t, res, tt.status)
			if e.Code != tt.code {
				t.Errorf("code %q, want %q", e.Code, tt.code)
			}
			if got := res.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestErrorBodyShape(t *testing.T) {
	r := newRig(t, nil)
	res := r.do(t, http.MethodGet, "/check?nodeType=fax", nil, bearer...)
	var got map[string]map[string]string
	decode(t, res, &got)
	want := map[string]map[string]string{"error": {
		"code": "invalid_parameter", "message": "nodeType: must be one of waba, phone, template", "parameter": "nodeType"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("error body (-want +got):\n%s", d)
	}
	if res.status != http.StatusBadRequest || res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("status %d Cache-Control %q", res.status, res.header.Get("Cache-Control"))
	}
}

func TestRequestIDAndLogLine(t *testing.T) {
	r := newRig(t, nil)
	res := r.do(t, http.MethodGet, "/healthz", nil, "x-fc-request-id", "1-6751a2b3-deadbeef")
	if got := res.header.Get("X-Request-Id"); got != "1-6751a2b3-deadbeef" {
		t.Errorf("X-Request-Id %q, want FC's request id", got)
	}
	res = r.do(t, http.MethodGet, "/healthz", nil, "x-fc-request-id", "bad id\twith spaces")
	generated := res.header.Get("X-Request-Id")
	if strings.ContainsAny(generated, " \t") || len(generated) < 16 {
		t.Errorf("X-Request-Id %q, want a generated id", generated)
	}
	r.do(t, http.MethodGet, "/status", nil, bearer...)

	type line struct {
		Msg       string `json:"msg"`
		Method    string `json:"method"`
		Path      string `json:"path"`
		Status    int    `json:"status"`
		RequestID string `json:"requestId"`
		Duration  *int64 `json:"duration"`
	}
	var got []line
	for _, l := range strings.Split(strings.TrimSpace(r.logs.String()), "\n") {
		var x line
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if x.Msg != "http request" {
			continue
		}
		if x.Duration == nil {
			t.Errorf("log line without duration: %s", l)
		}
		x.Duration = nil
		got = append(got, x)
	}
	if len(got) != 3 {
		t.Fatalf("%d request log lines, want 3:\n%s", len(got), r.logs.String())
	}
	want := []line{
		{"http request", "GET", "/healthz", 200, "1-6751a2b3-deadbeef", nil},
		{"http request", "GET", "/healthz", 200, generated, nil},
		{"http request", "GET", "/status", 200, got[len(got)-1].RequestID, nil},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("log lines (-want +got):\n%s", d)
	}
	if strings.Contains(strings.ToLower(r.logs.String()), "authorization") || strings.Contains(r.logs.String(), "Bearer") {
		t.Errorf("the log mentions the Authorization header:\n%s", r.logs.String())
	}
}

// entityRow is what a test compares of an entity.
type entityRow struct {
	Key    string
	Status health.Status
	Codes  []string
	Stale  bool
}

func TestStatusAfterTwoCycles(t *testing.T) {
	r := newRig(t, nil)

	// Before any cycle: an empty state, not an error.
	var empty ondemand.Status
	decode(t, r.do(t, http.MethodGet, "/status", nil, bearer...), &empty)
	if empty.LastCycle != nil || len(empty.Entities) != 0 || empty.Version != 0 {
		t.Errorf("status before any cycle: %+v", empty)
	}

	r.cycle(t)
	rep := r.cycle(t)
	if rep.Checked != 4 || rep.Failed != 1 {
		t.Fatalf("second cycle: checked %d failed %d", rep.Checked, rep.Failed)
	}
	calls := r.sim.Stats().Calls

	res := r.do(t, http.MethodGet, "/status", nil, bearer...)
	if res.status != http.StatusOK || res.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /status: %d, Cache-Control %q", res.status, res.header.Get("Cache-Control"))
	}
	var st ondemand.Status
	decode(t, res, &st)
	if n := r.sim.Stats().Calls; n != calls {
		t.Errorf("GET /status made %d CAMS calls", n-calls)
	}

	var rows []entityRow
	for _, e := range st.Entities {
		rows = append(rows, entityRow{Key: e.Key().String(), Status: e.CanSendMessage, Codes: e.ErrorCodes(), Stale: e.Stale})
	}
	want := []entityRow{
		{"APP:cs-test", health.Available, []string{}, false},
		{"BUSINESS:2000001", health.Available, []string{}, false},
		{"BUSINESS:2000002", health.Limited, []string{"141010"}, false},
		{"BUSINESS:2000003", health.Available, []string{}, true},
		{"MESSAGE_TEMPLATE:order_shipped:en_US", health.Available, []string{}, false},
		{"PHONE_NUMBER:6281200000003", health.Limited, []string{}, false},
		{"PHONE_NUMBER:6281200000004", health.Available, []string{}, true},
		{"PHONE_NUMBER:8613800000001", health.Blocked, []string{"141006"}, false},
		{"PHONE_NUMBER:8613800000002", health.Available, []string{}, false},
		{"SOMETHING_NEW:1000002", "WEIRD_VALUE", []string{}, false},
		{"WABA:1000001", health.Blocked, []string{"141006"}, false},
		{"WABA:1000002", health.Available, []string{}, false},
		{"WABA:1000003", health.Available, []string{}, true},
	}
	if d := cmp.Diff(want, rows); d != "" {
		t.Errorf("entities (-want +got):\n%s", d)
	}
	wantSummary := ondemand.Summary{Worst: health.Blocked, Total: 13, Available: 8, Limited: 2, Blocked: 2, Unknown: 1, Stale: 3}
	if d := cmp.Diff(wantSummary, st.Summary); d != "" {
		t.Errorf("summary (-want +got):\n%s", d)
	}
	if st.LastCycle == nil || st.LastCycle.ID != rep.CycleID || st.LastCycle.Checked != 4 || st.LastCycle.Failed != 1 ||
		!st.LastCycle.StartedAt.Equal(rep.StartedAt) || st.LastCycle.FinishedAt.IsZero() {
		t.Errorf("lastCycle %+v, want cycle %s with 4 checked, 1 failed", st.LastCycle, rep.CycleID)
	}
	if st.Version < 2 || !st.Baseline || st.PendingAlerts != 0 {
		t.Errorf("version %d baseline %v pending %d", st.Version, st.Baseline, st.PendingAlerts)
	}

	blocked := st.Entities[7]
	wantErr := []health.Error{{Code: "141006", Description: "There is an error with the payment method.",
		Solution: "There was an error with your payment method. Please add a new payment method to the account."}}
	if d := cmp.Diff(wantErr, blocked.Errors); d != "" {
		t.Errorf("errors of %s (-want +got):\n%s", blocked.Key(), d)
	}
	if !blocked.LastChecked.Equal(r.clock.Now()) {
		t.Errorf("lastChecked %v, want %v", blocked.LastChecked, r.clock.Now())
	}
	stale := st.Entities[6]
	if !strings.Contains(stale.LastError, "ServiceUnavailable") || !stale.LastChecked.Equal(r.clock.Now().Add(-5*time.Minute)) {
		t.Errorf("stale entity: lastError %q lastChecked %v", stale.LastError, stale.LastChecked)
	}

	type targetRow struct {
		ID         string
		Configured bool
		Failures   int
	}
	var targets []targetRow
	for _, tg := range st.Targets {
		targets = append(targets, targetRow{tg.ID, tg.Configured != nil, tg.ConsecutiveFailures})
		if tg.LastAttempt.IsZero() {
			t.Errorf("target %s has no lastAttempt", tg.ID)
		}
	}
	wantTargets := []targetRow{
		{"phone:cs-test:6281200000003", true, 0},
		{"phone:cs-test:6281200000004", true, 1},
		{"phone:cs-test:8613800000001", true, 0},
		{"phone:cs-test:8613800000002", true, 0},
		{"template:cs-test:order_shipped:en_US", true, 0},
	}
	if d := cmp.Diff(wantTargets, targets); d != "" {
		t.Errorf("targets (-want +got):\n%s", d)
	}

	// The document never shows the outbox's messages.
	for _, field := range []string{`"outbox"`, `"delivered"`, `"message"`} {
		if strings.Contains(string(res.body), field) {
			t.Errorf("status shows %s", field)
		}
	}
}

func TestStatusPage(t *testing.T) {
	r := newRig(t, nil)
	r.cycle(t)
	r.cycle(t)
	for _, how := range []struct {
		name   string
		path   string
		header []string
	}{
		{"format=html", "/status?format=html", bearer},
		{"Accept", "/status", append([]string{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, bearer...)},
	} {
		t.Run(how.name, func(t *testing.T) {
			res := r.do(t, http.MethodGet, how.path, nil, how.header...)
			if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
				t.Fatalf("%d %s", res.status, res.header.Get("Content-Type"))
			}
			if csp := res.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			page := html.UnescapeString(string(res.body))
			for _, want := range []string{
				"WABA 1000001", "WABA 1000002", "WABA 1000003",
				`data-entity="PHONE_NUMBER:8613800000001" data-status="BLOCKED"`,
				`data-entity="PHONE_NUMBER:6281200000003" data-status="LIMITED"`,
				`data-entity="MESSAGE_TEMPLATE:order_shipped:en_US" data-status="AVAILABLE"`,
				`data-entity="SOMETHING_NEW:1000002" data-status="WEIRD_VALUE"`,
				"+8613800000001", "order_shipped (en_US)",
				"141006", "There is an error with the payment method.",
				"Please add a new payment method to the account.",
				"141010", "Visit business settings and start or resolve the business verification request.",
				`class="tag">stale`, "ServiceUnavailable", "Checks failing",
				"2026-11-28 09:10 UTC",
			} {
				if !strings.Contains(page, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
			for _, external := range []string{"http://", "https://", "<script", "<link", "src="} {
				if strings.Contains(page, external) {
					t.Errorf("the page is not self-contained: it has %q", external)
				}
			}
		})
	}
	// curl's Accept gets JSON; a bad format is a 400 naming it.
	if res := r.do(t, http.MethodGet, "/status", nil, append([]string{"Accept", "*/*"}, bearer...)...); !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
		t.Errorf("Accept */*: Content-Type %q", res.header.Get("Content-Type"))
	}
	e := errorOf(t, r.do(t, http.MethodGet, "/status?format=xml", nil, bearer...), http.StatusBadRequest)
	if e.Parameter != "format" || !strings.HasPrefix(e.Message, "format: ") {
		t.Errorf("error %+v, want one naming format", e)
	}
}

func TestStatusPageBeforeAnyCycle(t *testing.T) {
	r := newRig(t, nil)
	res := r.do(t, http.MethodGet, "/status?format=html", nil, bearer...)
	if res.status != http.StatusOK || !strings.Contains(string(res.body), "No check has run yet") {
		t.Errorf("%d\n%s", res.status, res.body)
	}
}

func TestBadge(t *testing.T) {
	r := newRig(t, nil)
	r.cycle(t)
	r.cycle(t)
	tests := []struct {
		query       string
		text, color string
	}{
		{"entity=PHONE_NUMBER:8613800000001", "BLOCKED", "#e05d44"},
		{"phoneNumber=%2B86%20138%200000%200001", "BLOCKED", "#e05d44"},
		{"entity=phone_number:8613800000002", "AVAILABLE", "#4c1"},
		{"entity=PHONE_NUMBER:6281200000003", "LIMITED", "#dfb317"},
		{"entity=MESSAGE_TEMPLATE:order_shipped:en_US", "AVAILABLE", "#4c1"},
		{"entity=WABA:1000001", "BLOCKED", "#e05d44"},
		{"entity=SOMETHING_NEW:1000002", "WEIRD_VALUE", "#9f9f9f"},
		{"phoneNumber=6281200000004", "AVAILABLE (stale)", "#4c1"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res := r.do(t, http.MethodGet, "/badge.svg?"+tt.query, nil, bearer...)
			if res.status != http.StatusOK {
				t.Fatalf("%d %s", res.status, res.body)
			}
			if ct, cc := res.header.Get("Content-Type"), res.header.Get("Cache-Control"); ct != "image/svg+xml; charset=utf-8" || cc != "no-cache" {
				t.Errorf("Content-Type %q Cache-Control %q", ct, cc)
			}
			svg := string(res.body)
			for _, want := range []string{`<svg xmlns="http://www.w3.org/2000/svg"`, ">whatsapp</text>", ">" + tt.text + "</text>",
				`aria-label="whatsapp: ` + tt.text + `"`, `fill="` + tt.color + `"`} {
				if !strings.Contains(svg, want) {
					t.Errorf("badge lacks %q:\n%s", want, svg)
				}
			}
		})
	}

	errs := []struct {
		query  string
		status int
		code   string
		param  string
	}{
		{"entity=PHONE_NUMBER:000", http.StatusNotFound, "unknown_entity", ""},
		{"phoneNumber=8613800000777", http.StatusNotFound, "unknown_entity", ""},
		{"", http.StatusBadRequest, "invalid_parameter", "entity"},
		{"entity=WABA", http.StatusBadRequest, "invalid_parameter", "entity"},
		{"phoneNumber=call-me", http.StatusBadRequest, "invalid_parameter", "phoneNumber"},
		{"entity=WABA:1&phoneNumber=1", http.StatusBadRequest, "invalid_parameter", "entity"},
	}
	for _, tt := range errs {
		t.Run("error "+tt.query, func(t *testing.T) {
			res := r.do(t, http.MethodGet, "/badge.svg?"+tt.query, nil, bearer...)
			e := errorOf(t, res, tt.status)
			if e.Code != tt.code || e.Parameter != tt.param {
				t.Errorf("error %+v, want code %s parameter %q", e, tt.code, tt.param)
			}
			if cc := res.header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control %q", cc)
			}
		})
	}
}

func TestPostCheck(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		checked     int
		dryRun      bool
		saved       bool
		wantConsole bool
	}{
		{"no body", "", 5, false, true, true},
		{"empty object", "{}", 5, false, true, true},
		{"labels select targets", `{"labels":{"customer":"acme"}}`, 2, false, true, true},
		{"labels must all match", `{"labels":{"customer":"globex","kind":"nope"}}`, 0, false, false, false},
		{"notify true", `{"notify":true}`, 5, false, true, true},
		{"notify false is a dry run", `{"notify":false}`, 5, true, false, false},
		{"dryRun", `{"dryRun":true,"labels":{"customer":"globex"}}`, 2, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			res := r.do(t, http.MethodPost, "/check", strings.NewReader(tt.body), append([]string{"Content-Type", "application/json"}, bearer...)...)
			if tt.checked == 0 {
				e := errorOf(t, res, http.StatusBadRequest)
				if e.Code != "no_matching_targets" || e.Parameter != "labels" {
					t.Errorf("error %+v", e)
				}
				if r.sim.Stats().Calls != 0 {
					t.Error("a refused cycle called CAMS")
				}
				return
			}
			if res.status != http.StatusOK {
				t.Fatalf("%d %s", res.status, res.body)
			}
			var rep monitor.Report
			decode(t, res, &rep)
			if rep.Checked+rep.Failed != tt.checked || rep.DryRun != tt.dryRun || rep.CycleID == "" {
				t.Errorf("report: checked %d failed %d dryRun %v cycle %q", rep.Checked, rep.Failed, rep.DryRun, rep.CycleID)
			}
			if saved := r.version(t) > 0; saved != tt.saved {
				t.Errorf("saved %v, want %v", saved, tt.saved)
			}
			if got := r.console.String() != ""; got != tt.wantConsole {
				t.Errorf("alerted %v, want %v:\n%s", got, tt.wantConsole, r.console.String())
			}
		})
	}
}

func TestPostCheckBadBodies(t *testing.T) {
	r := newRig(t, nil)
	tests := []struct {
		body, message string
	}{
		{`{"notfy":false}`, `body: unknown field "notfy"`},
		{`{"notify":"no"}`, "body: notify: want true or false"},
		{`{"labels":{"customer":1}}`, "body: labels: want an object of string values"},
		{`{"labels":["acme"]}`, "body: labels: want an object of string values"},
		{`{"dryRun":true`, "body: "},
		{`[1]`, "body: "},
		{`{} {}`, "body: want one JSON object"},
		{`nope`, "body: invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			e := errorOf(t, r.do(t, http.MethodPost, "/check", strings.NewReader(tt.body), bearer...), http.StatusBadRequest)
			if e.Code != "invalid_body" || !strings.HasPrefix(e.Message, tt.message) {
				t.Errorf("error %+v, want invalid_body %q", e, tt.message)
			}
		})
	}
	if r.sim.Stats().Calls != 0 || r.version(t) != 0 {
		t.Error("a refused body ran a cycle")
	}
}

func TestPostCheckWhileACycleHoldsTheState(t *testing.T) {
	r := newRig(t, nil)
	lease, err := r.store.Lock(context.Background(), "timer-cycle", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	res := r.do(t, http.MethodPost, "/check", nil, bearer...)
	e := errorOf(t, res, http.StatusConflict)
	if e.Code != "busy" || res.header.Get("Retry-After") == "" {
		t.Errorf("error %+v Retry-After %q", e, res.header.Get("Retry-After"))
	}
	// record=true runs a cycle too: also refused.
	e = errorOf(t, r.do(t, http.MethodGet, "/check?nodeType=phone&phoneNumber=8613800000001&record=true", nil, bearer...), http.StatusConflict)
	if e.Code != "busy" {
		t.Errorf("record while busy: %+v", e)
	}
	// A dry run takes no lease: it may run alongside.
	if res := r.do(t, http.MethodPost, "/check", strings.NewReader(`{"notify":false}`), bearer...); res.status != http.StatusOK {
		t.Errorf("dry run while busy: %d %s", res.status, res.body)
	}
	if err := lease.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res := r.do(t, http.MethodPost, "/check", nil, bearer...); res.status != http.StatusOK {
		t.Errorf("after release: %d %s", res.status, res.body)
	}
}

func TestBodyTooLarge(t *testing.T) {
	r := newRig(t, func(_ *rig, o *ondemand.Options) { o.MaxBodyBytes = 64 })
	big := `{"labels":{"customer":"` + strings.Repeat("a", 100) + `"}}`
	// Announced by Content-Length.
	e := errorOf(t, r.do(t, http.MethodPost, "/check", strings.NewReader(big), bearer...), http.StatusRequestEntityTooLarge)
	if e.Code != "body_too_large" || !strings.Contains(e.Message, "64 bytes") {
		t.Errorf("error %+v", e)
	}
	// Streamed without a length: caught while reading.
	e = errorOf(t, r.do(t, http.MethodPost, "/check", io.MultiReader(strings.NewReader(big)), bearer...), http.StatusRequestEntityTooLarge)
	if e.Code != "body_too_large" {
		t.Errorf("chunked: error %+v", e)
	}
	// Also on endpoints that read no body.
	errorOf(t, r.do(t, http.MethodGet, "/status", strings.NewReader(big), bearer...), http.StatusRequestEntityTooLarge)
	if r.sim.Stats().Calls != 0 {
		t.Error("a refused body called CAMS")
	}
	// Within the limit, fine.
	if res := r.do(t, http.MethodPost, "/check", strings.NewReader(`{"dryRun":true}`), bearer...); res.status != http.StatusOK {
		t.Errorf("small body: %d %s", res.status, res.body)
	}
}

func TestAdhocCheck(t *testing.T) {
	r := newRig(t, nil)
	r.cycle(t) // a baseline, to show the ad-hoc check leaves the state alone
	r.clock.advance(time.Minute)
	before := r.version(t)

	res := r.do(t, http.MethodGet, "/check?nodeType=phone&phoneNumber=%2B86+138+0000+0001", nil, bearer...)
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.body)
	}
	var got ondemand.AdhocResult
	decode(t, res, &got)
	// The scenario's second step for this number: BLOCKED with 141006 on the phone and WABA.
	if got.CanSendMessage != health.Blocked || got.CAMSRequestID == "" || got.Recorded || got.Cycle != nil || got.Attempts != 1 {
		t.Errorf("result %+v", got)
	}
	wantTarget := health.Target{NodeType: health.NodePhone, CustSpaceID: custSpace, PhoneNumber: "+86 138 0000 0001"}
	if d := cmp.Diff(wantTarget, got.Target); d != "" {
		t.Errorf("target (-want +got):\n%s", d)
	}
	var rows []entityRow
	for _, e := range got.Entities {
		rows = append(rows, entityRow{Key: e.Key().String(), Status: e.CanSendMessage, Codes: e.ErrorCodes()})
	}
	want := []entityRow{
		{"PHONE_NUMBER:8613800000001", health.Blocked, []string{"141006"}, false},
		{"WABA:1000001", health.Blocked, []string{"141006"}, false},
		{"BUSINESS:2000001", health.Available, []string{}, false},
		{"APP:cs-test", health.Available, []string{}, false},
	}
	if d := cmp.Diff(want, rows); d != "" {
		t.Errorf("entities (-want +got):\n%s", d)
	}
	if len(got.Errors) != 2 || got.Errors[0].Entity.String() != "PHONE_NUMBER:8613800000001" || got.Errors[0].Code != "141006" ||
		!strings.HasPrefix(got.Errors[0].Solution, "There was an error with your payment method.") {
		t.Errorf("errors %+v", got.Errors)
	}
	if !got.CheckedAt.Equal(r.clock.Now()) {
		t.Errorf("checkedAt %v", got.CheckedAt)
	}
	if v := r.version(t); v != before {
		t.Errorf("an ad-hoc check without record changed the state: version %d, was %d", v, before)
	}

	// Other node types and an explicit custSpaceId.
	for _, q := range []string{
		"nodeType=template&templateCode=order_shipped&language=en_US",
		"nodeType=waba&wabaId=1000002&custSpaceId=cs-other",
		"nodeType=PHONE&phoneNumber=6281200000003&wabaId=1000002",
	} {
		if res := r.do(t, http.MethodGet, "/check?"+q, nil, bearer...); res.status != http.StatusOK {
			t.Errorf("%s: %d %s", q, res.status, res.body)
		}
	}
}

func TestAdhocRecord(t *testing.T) {
	r := newRig(t, nil)
	r.cycle(t)
	r.clock.advance(5 * time.Minute)
	before := r.version(t)
	res := r.do(t, http.MethodGet, "/check?nodeType=phone&phoneNumber=8613800000001&record=true", nil, bearer...)
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.body)
	}
	var got ondemand.AdhocResult
	decode(t, res, &got)
	if !got.Recorded || got.Cycle == nil || got.Cycle.Checked != 1 || got.CanSendMessage != health.Blocked {
		t.Fatalf("result: recorded %v cycle %+v overall %s", got.Recorded, got.Cycle, got.CanSendMessage)
	}
	if got.Target.Labels["customer"] != "acme" {
		t.Errorf("a recorded check reports the configured target, got %+v", got.Target)
	}
	if v := r.version(t); v <= before {
		t.Errorf("version %d, was %d: not recorded", v, before)
	}
	// Recorded like any cycle: the change was alerted, and the status shows it.
	if !strings.Contains(r.console.String(), "BLOCKED") {
		t.Errorf("the recorded change was not alerted:\n%s", r.console.String())
	}
	var st ondemand.Status
	decode(t, r.do(t, http.MethodGet, "/status", nil, bearer...), &st)
	for _, e := range st.Entities {
		if e.Key().String() == "PHONE_NUMBER:8613800000001" && e.CanSendMessage != health.Blocked {
			t.Errorf("status shows %s", e.CanSendMessage)
		}
	}

	// Only configured targets can be recorded.
	e := errorOf(t, r.do(t, http.MethodGet, "/check?nodeType=phone&phoneNumber=8613800000099&record=true", nil, bearer...), http.StatusBadRequest)
	if e.Parameter != "record" || !strings.Contains(e.Message, "phone:cs-test:8613800000099") {
		t.Errorf("error %+v", e)
	}
}

func TestAdhocParameters(t *testing.T) {
	r := newRig(t, nil)
	noDefault := newRig(t, func(_ *rig, o *ondemand.Options) { o.DefaultCustSpaceID = "" })
	tests := []struct {
		rig          *rig
		query, param string
		message      string
	}{
		{r, "", "nodeType", "nodeType: required: one of waba, phone, template"},
		{r, "nodeType=fax", "nodeType", "nodeType: must be one of waba, phone, template"},
		{r, "nodeType=phone", "phoneNumber", "phoneNumber: required when nodeType is phone"},
		{r, "nodeType=phone&phoneNumber=call-me", "phoneNumber", "phoneNumber: must be a phone number"},
		{r, "nodeType=phone&phoneNumber=1&language=en", "language", "language: only used when nodeType is template"},
		{r, "nodeType=template&templateCode=x", "language", "language: required when nodeType is template"},
		{r, "nodeType=template&language=en", "templateCode", "templateCode: required when nodeType is template"},
		{r, "nodeType=waba", "wabaId", "wabaId: required when nodeType is waba"},
		{r, "nodeType=waba&wabaId=1&phoneNumber=1", "phoneNumber", "phoneNumber: only used when nodeType is phone"},
		{r, "nodeType=phone&phone=1", "phone", "phone: unknown parameter"},
		{r, "nodeType=phone&phoneNumber=1&phoneNumber=2", "phoneNumber", "phoneNumber: give it once"},
		{r, "nodeType=phone&phoneNumber=1&record=maybe", "record", "record: must be true or false"},
		{r, "nodeType=waba&wabaId=" + strings.Repeat("9", 129), "wabaId", "wabaId: too long"},
		{noDefault, "nodeType=phone&phoneNumber=1", "custSpaceId", "custSpaceId: required"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			e := errorOf(t, tt.rig.do(t, http.MethodGet, "/check?"+tt.query, nil, bearer...), http.StatusBadRequest)
			if e.Code != "invalid_parameter" || e.Parameter != tt.param || !strings.HasPrefix(e.Message, tt.message) {
				t.Errorf("error %+v, want parameter %s: %q", e, tt.param, tt.message)
			}
		})
	}
	if n := r.sim.Stats().Calls + noDefault.sim.Stats().Calls; n != 0 {
		t.Errorf("bad parameters made %d CAMS calls", n)
	}
}

func TestAdhocRateLimit(t *testing.T) {
	r := newRig(t, func(_ *rig, o *ondemand.Options) { o.AdhocQPS = 0.01 })
	q := "/check?nodeType=phone&phoneNumber=8613800000002"
	if res := r.do(t, http.MethodGet, q, nil, bearer...); res.status != http.StatusOK {
		t.Fatalf("first: %d %s", res.status, res.body)
	}
	res := r.do(t, http.MethodGet, q, nil, bearer...)
	e := errorOf(t, res, http.StatusTooManyRequests)
	if e.Code != "rate_limited" || !strings.Contains(e.Message, "http.adhocQPS") {
		t.Errorf("error %+v", e)
	}
	if s, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || s < 90 || s > 100 {
		t.Errorf("Retry-After %q, want about 100 s", res.header.Get("Retry-After"))
	}
	if n := r.sim.Stats().Calls; n != 1 {
		t.Errorf("%d CAMS calls, want 1", n)
	}
	// A refused request does not use the budget up: bad parameters are not admitted at all,
	// and the other endpoints are not limited.
	errorOf(t, r.do(t, http.MethodGet, "/check?nodeType=fax", nil, bearer...), http.StatusBadRequest)
	if res := r.do(t, http.MethodGet, "/status", nil, bearer...); res.status != http.StatusOK {
		t.Errorf("status: %d", res.status)
	}
}

func TestAdhocCAMSFailures(t *testing.T) {
	r := newRig(t, nil)
	// The scenario answers this number with Code Forbidden.AccessDenied in a 2xx answer.
	e := errorOf(t, r.do(t, http.MethodGet, "/check?nodeType=phone&phoneNumber=8613800000099", nil, bearer...), http.StatusBadGateway)
	if e.Code != "cams_error" || e.CAMSCode != "Forbidden.AccessDenied" || e.CAMSRequestID == "" || !strings.Contains(e.Message, e.CAMSRequestID) {
		t.Errorf("denied: %+v", e)
	}

	wrongSecret := newRig(t, func(r *rig, o *ondemand.Options) {
		o.Adhoc = r.client(t, cams.Credentials{AccessKeyID: keyID, AccessKeySecret: "not-the-" + keySecret}, r.simURL, nil)
	})
	e = errorOf(t, wrongSecret.do(t, http.MethodGet, "/check?nodeType=phone&phoneNumber=8613800000001", nil, bearer...), http.StatusBadGateway)
	if e.Code != "cams_error" || e.CAMSCode != "SignatureDoesNotMatch" || e.CAMSRequestID == "" {
		t.Errorf("wrong secret: %+v", e)
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	unreachable := newRig(t, func(r *rig, o *ondemand.Options) {
		o.Adhoc = r.client(t, cams.Credentials{AccessKeyID: keyID, AccessKeySecret: keySecret}, deadURL, nil)
	})
	e = errorOf(t, unreachable.do(t, http.MethodGet, "/check?nodeType=phone&phoneNumber=8613800000001", nil, bearer...), http.StatusBadGateway)
	if e.Code != "cams_unreachable" || e.CAMSCode != "" {
		t.Errorf("unreachable: %+v", e)
	}
}

func TestAdhocUsesTheRequestsCredentials(t *testing.T) {
	// Function Compute's adapter puts each invocation's credentials into the request context;
	// the ad-hoc call must sign with them, not with the client's own.
	r := newRig(t, func(r *rig, o *ondemand.Options) {
		o.Adhoc = r.client(t, cams.Credentials{AccessKeyID: keyID, AccessKeySecret: "stale-" + keySecret}, r.simURL, nil)
	}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			ctx := cams.WithCredentials(req.Context(), cams.Credentials{AccessKeyID: keyID, AccessKeySecret: keySecret})
			h.ServeHTTP(w, req.WithContext(ctx))
		})
	})
	if res := r.do(t, http.MethodGet, "/check?nodeType=phone&phoneNumber=8613800000002", nil, bearer...); res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.body)
	}
}
