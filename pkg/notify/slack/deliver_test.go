package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/notifytest"
	"github.com/wahealth/wahealth/pkg/notify/slack"
)

const (
	hookPath = "/services/T0001/B0001/s3cr3tWebhookPath0123"
	token    = "xoxb-1234-5678-s3cr3tBotToken"
)

// reply is one scripted answer of a fake Slack endpoint.
type reply struct {
	status int
	body   string
	header map[string]string
}

// request is what a fake Slack endpoint received.
type request struct {
	at     time.Time
	method string
	path   string
	header http.Header
	body   []byte
}

// fakeSlack answers with its replies in order (the last one repeats) and records requests.
type fakeSlack struct {
	mu      sync.Mutex
	replies []reply
	reqs    []request
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, request{at: time.Now(), method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
	rep := f.replies[min(n, len(f.replies)-1)]
	f.mu.Unlock()
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (f *fakeSlack) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

func serve(t *testing.T, replies ...reply) (*fakeSlack, *httptest.Server) {
	t.Helper()
	f := &fakeSlack{replies: replies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// logs captures a notifier's log records.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func options(t *testing.T, l *logs) notify.Options {
	t.Helper()
	return notify.Options{
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
		Template:   builtin(t),
		Logger:     slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func webhookNotifier(t *testing.T, base string, l *logs) *slack.Notifier {
	t.Helper()
	n := config.Notifier{Type: "slack", Name: "ops-slack", WebhookURL: config.Secret(base + hookPath)}
	s, err := slack.New(n, options(t, l))
	if err != nil {
		t.Fatal(err)
	}
	s.SetBackoff(10 * time.Millisecond)
	return s
}

func botNotifier(t *testing.T, base string, l *logs) *slack.Notifier {
	t.Helper()
	n := config.Notifier{Type: "slack", Name: "ops-bot", Token: token, Channel: "#ops"}
	s, err := slack.NewWithAPIURL(n, options(t, l), base+"/api/")
	if err != nil {
		t.Fatal(err)
	}
	s.SetBackoff(10 * time.Millisecond)
	return s
}

// noSecret fails if text holds the webhook URL's secret part or the token.
func noSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, secret := range []string{hookPath, "s3cr3t", token, url.PathEscape(hookPath)} {
		if strings.Contains(text, secret) {
			t.Errorf("%s reveals a secret (%q): %s", what, secret, text)
		}
	}
}

func notify1(t *testing.T, s *slack.Notifier, m *notify.Message, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.Notify(ctx, m)
}

func isPermanent(err error) bool {
	var perm *notify.PermanentError
	return errors.As(err, &perm)
}

// webhookView decodes a webhook request body.
func webhookView(t *testing.T, r request) view {
	t.Helper()
	return decode(t, r.body)
}

// botView decodes a chat.postMessage form.
func botView(t *testing.T, r request) (view, url.Values) {
	t.Helper()
	form, err := url.ParseQuery(string(r.body))
	if err != nil {
		t.Fatalf("parse form %q: %v", r.body, err)
	}
	var blocks goslack.Blocks
	if err := json.Unmarshal([]byte(form.Get("blocks")), &blocks); err != nil {
		t.Fatalf("decode blocks %q: %v", form.Get("blocks"), err)
	}
	return toView(t, form.Get("text"), blocks.BlockSet), form
}

func TestWebhookDelivers(t *testing.T) {
	t.Parallel()
	f, srv := serve(t, reply{status: 200, body: "ok"})
	var l logs
	m := notifytest.Cycle()
	if err := notify1(t, webhookNotifier(t, srv.URL, &l), m, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != hookPath {
		t.Errorf("%s %s", r.method, r.path)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	v := webhookView(t, r)
	want := viewOf(t, build(t, m)[0])
	if v.Header != want.Header || v.Text != m.Title() || len(v.Blocks) != 5 {
		t.Errorf("got header %q, text %q, %d blocks after the header", v.Header, v.Text, len(v.Blocks))
	}
	if strings.Join(v.Blocks, "\n") != strings.Join(want.Blocks, "\n") {
		t.Errorf("sections differ from BuildMessages:\n%s", strings.Join(v.Blocks, "\n"))
	}
	noSecret(t, "log", l.String())
}

func TestWebhookFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		replies   []reply
		timeout   time.Duration
		requests  int
		permanent bool
		wantErr   string // "" means delivered
		minGap    time.Duration
	}{
		{name: "deleted webhook", replies: []reply{{status: 404, body: "no_service"}}, requests: 1, permanent: true,
			wantErr: "slack: no_service (HTTP 404): the incoming webhook no longer exists"},
		{name: "gone", replies: []reply{{status: 410, body: "channel_is_archived"}}, requests: 1, permanent: true,
			wantErr: "slack: channel_is_archived (HTTP 410): the channel is archived"},
		{name: "invalid payload", replies: []reply{{status: 400, body: "invalid_payload"}}, requests: 1, permanent: true,
			wantErr: "slack: invalid_payload (HTTP 400): Slack rejected the message itself"},
		{name: "forbidden", replies: []reply{{status: 403, body: "invalid_token"}}, requests: 1, permanent: true,
			wantErr: "slack: invalid_token (HTTP 403): Slack no longer accepts this webhook"},
		{name: "404 with an html page", replies: []reply{{status: 404, body: "<html>" + hookPath + "</html>"}}, requests: 1, permanent: true,
			wantErr: "slack: no_service (HTTP 404)"},
		{name: "rate limited then ok", replies: []reply{{status: 429, body: "rate_limited", header: map[string]string{"Retry-After": "1"}}, {status: 200, body: "ok"}},
			requests: 2, minGap: time.Second},
		{name: "retry after past the deadline", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "30"}}},
			timeout: 2 * time.Second, requests: 1, wantErr: "slack: rate limited by Slack (HTTP 429); retrying after 30s would pass the delivery's deadline"},
		{name: "5xx then ok", replies: []reply{{status: 500}, {status: 503}, {status: 200, body: "ok"}}, requests: 3},
		{name: "5xx for good", replies: []reply{{status: 502, body: "rollup_error"}}, requests: 3,
			wantErr: "slack: webhook answered HTTP 502: rollup_error (gave up after 3 tries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, srv := serve(t, tc.replies...)
			var l logs
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			err := notify1(t, webhookNotifier(t, srv.URL, &l), notifytest.Cycle(), timeout)
			checkOutcome(t, err, tc.wantErr, tc.permanent)
			reqs := f.requests()
			if len(reqs) != tc.requests {
				t.Errorf("%d requests, want %d", len(reqs), tc.requests)
			}
			if tc.minGap > 0 && len(reqs) == 2 {
				if gap := reqs[1].at.Sub(reqs[0].at); gap < tc.minGap {
					t.Errorf("retried after %s, before Retry-After %s", gap, tc.minGap)
				}
			}
			noSecret(t, "log", l.String())
		})
	}
}

func checkOutcome(t *testing.T, err error, wantErr string, permanent bool) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("not delivered: %v", err)
	case wantErr != "" && err == nil:
		t.Fatalf("delivered, want error %q", wantErr)
	case err != nil:
		if !strings.HasPrefix(err.Error(), wantErr) {
			t.Errorf("error %q, want it to start with %q", err, wantErr)
		}
		if got := isPermanent(err); got != permanent {
			t.Errorf("permanent %t, want %t: %v", got, permanent, err)
		}
		noSecret(t, "error", fmt.Sprintf("%v | %+v | %#v", err, err, err))
		for e := err; e != nil; e = errors.Unwrap(e) {
			noSecret(t, "wrapped error", e.Error())
		}
	}
}

func TestBotDelivers(t *testing.T) {
	t.Parallel()
	f, srv := serve(t, reply{status: 200, body: `{"ok":true,"channel":"C0123","ts":"1764298245.000100","message":{"text":"x"}}`, header: map[string]string{"Content-Type": "application/json"}})
	var l logs
	m := notifytest.Cycle()
	if err := notify1(t, botNotifier(t, srv.URL, &l), m, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/api/chat.postMessage" {
		t.Errorf("%s %s", r.method, r.path)
	}
	// slack-go v0.35.0 sends chat.postMessage as a form with the token in it, not in an
	// Authorization header.
	if ct := r.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", ct)
	}
	v, form := botView(t, r)
	if auth := r.header.Get("Authorization"); form.Get("token") != token && auth != "Bearer "+token {
		t.Errorf("token neither in the form nor in Authorization (%q)", auth)
	}
	if form.Get("channel") != "#ops" {
		t.Errorf("channel %q", form.Get("channel"))
	}
	want := viewOf(t, build(t, m)[0])
	if v.Header != want.Header || v.Text != m.Title() || strings.Join(v.Blocks, "\n") != strings.Join(want.Blocks, "\n") {
		t.Errorf("got header %q, text %q, blocks:\n%s", v.Header, v.Text, strings.Join(v.Blocks, "\n"))
	}
	noSecret(t, "log", l.String())
}

func TestBotFailures(t *testing.T) {
	t.Parallel()
	okReply := reply{status: 200, body: `{"ok":true,"channel":"C0123","ts":"1.2"}`}
	apiErr := func(code string) reply { return reply{status: 200, body: `{"ok":false,"error":"` + code + `"}`} }
	for _, tc := range []struct {
		name      string
		replies   []reply
		timeout   time.Duration
		requests  int
		permanent bool
		wantErr   string
		minGap    time.Duration
	}{
		{name: "channel not found", replies: []reply{apiErr("channel_not_found")}, requests: 1, permanent: true,
			wantErr: "slack: channel_not_found: the bot cannot see channel #ops: invite the bot to #ops (/invite @your-app) or fix notifiers[].channel of notifier \"ops-bot\""},
		{name: "not in channel", replies: []reply{apiErr("not_in_channel")}, requests: 1, permanent: true,
			wantErr: "slack: not_in_channel: the bot is not a member of #ops"},
		{name: "invalid auth", replies: []reply{apiErr("invalid_auth")}, requests: 1, permanent: true,
			wantErr: "slack: invalid_auth: the token does not work"},
		{name: "token revoked", replies: []reply{apiErr("token_revoked")}, requests: 1, permanent: true,
			wantErr: "slack: token_revoked: the token does not work"},
		{name: "account inactive", replies: []reply{apiErr("account_inactive")}, requests: 1, permanent: true,
			wantErr: "slack: account_inactive: the token does not work"},
		{name: "invalid blocks", replies: []reply{apiErr("invalid_blocks")}, requests: 1, permanent: true,
			wantErr: "slack: invalid_blocks: Slack rejected the message itself"},
		{name: "unknown error", replies: []reply{apiErr("something_new")}, requests: 1,
			wantErr: "slack: chat.postMessage failed: something_new"},
		{name: "internal error then ok", replies: []reply{apiErr("internal_error"), okReply}, requests: 2},
		{name: "rate limited then ok", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "1"}}, okReply},
			requests: 2, minGap: time.Second},
		{name: "rate limited past the deadline", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "60"}}},
			timeout: 2 * time.Second, requests: 1, wantErr: "slack: rate limited by Slack (HTTP 429); retrying after 1m0s would pass the delivery's deadline"},
		{name: "5xx for good", replies: []reply{{status: 503, body: "<html>down</html>"}}, requests: 3,
			wantErr: "slack: chat.postMessage answered HTTP 503 (gave up after 3 tries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, srv := serve(t, tc.replies...)
			var l logs
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			err := notify1(t, botNotifier(t, srv.URL, &l), notifytest.Cycle(), timeout)
			checkOutcome(t, err, tc.wantErr, tc.permanent)
			reqs := f.requests()
			if len(reqs) != tc.requests {
				t.Errorf("%d requests, want %d", len(reqs), tc.requests)
			}
			if tc.minGap > 0 && len(reqs) == 2 {
				if gap := reqs[1].at.Sub(reqs[0].at); gap < tc.minGap {
					t.Errorf("retried after %s, before Retry-After %s", gap, tc.minGap)
				}
			}
			for _, r := range reqs {
				if _, form := botView(t, r); form.Get("channel") != "#ops" {
					t.Errorf("channel %q", form.Get("channel"))
				}
			}
			noSecret(t, "log", l.String())
		})
	}
}

// TestUnreachable checks that transport errors, which quote the URL, reveal no secret.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	for name, s := range map[string]func(*logs) *slack.Notifier{
		"webhook": func(l *logs) *slack.Notifier { return webhookNotifier(t, base, l) },
		"bot":     func(l *logs) *slack.Notifier { return botNotifier(t, base, l) },
	} {
		t.Run(name, func(t *testing.T) {
			var l logs
			err := notify1(t, s(&l), notifytest.Cycle(), 5*time.Second)
			checkOutcome(t, err, "slack: request failed: ", false)
			if !strings.Contains(err.Error(), "gave up after 3 tries") {
				t.Errorf("not retried: %v", err)
			}
			noSecret(t, "log", l.String())
		})
	}
	// A deadline that passes during a request: the context's error is kept for errors.Is.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client going away
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(hang.Close)
	var l logs
	err := notify1(t, webhookNotifier(t, hang.URL, &l), notifytest.Cycle(), 200*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || isPermanent(err) {
		t.Errorf("got %v, want a deadline error", err)
	}
	noSecret(t, "error", fmt.Sprint(err))
}

func TestSplitDelivery(t *testing.T) {
	t.Parallel()
	// The second part fails once: the outbox's retry sends only what is missing.
	f, srv := serve(t, reply{status: 200, body: "ok"}, reply{status: 404, body: "no_service"}, reply{status: 200, body: "ok"})
	var l logs
	s := webhookNotifier(t, srv.URL, &l)
	m := manyAlerts(60)
	err := notify1(t, s, m, 5*time.Second)
	if !isPermanent(err) || !strings.HasPrefix(err.Error(), "slack (message 2/2): no_service") {
		t.Fatalf("got %v", err)
	}
	if err := notify1(t, s, m, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	var headers []string
	var got []slack.Payload
	for _, r := range reqs {
		headers = append(headers, webhookView(t, r).Header)
		got = append(got, payloadOf(t, r.body))
	}
	title := m.Title()
	want := []string{"🔴 CRITICAL — " + title + " (1/2)", "🔴 CRITICAL — " + title + " (2/2)", "🔴 CRITICAL — " + title + " (2/2)"}
	if strings.Join(headers, "\n") != strings.Join(want, "\n") {
		t.Errorf("headers:\n%s\nwant:\n%s", strings.Join(headers, "\n"), strings.Join(want, "\n"))
	}
	if n := len(phones(t, got[:1])) + len(phones(t, got[2:])); n != 60 {
		t.Errorf("%d alerts delivered, want 60", n)
	}
}

// payloadOf decodes a webhook request body.
func payloadOf(t *testing.T, body []byte) slack.Payload {
	t.Helper()
	var m struct {
		Text   string         `json:"text"`
		Blocks goslack.Blocks `json:"blocks"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return slack.Payload{Text: m.Text, Blocks: m.Blocks.BlockSet}
}

func TestNewChecksSettings(t *testing.T) {
	t.Parallel()
	for name, n := range map[string]config.Notifier{
		"nothing":    {Type: "slack"},
		"both":       {Type: "slack", WebhookURL: "https://hooks.slack.com" + hookPath, Token: token, Channel: "#ops"},
		"token only": {Type: "slack", Token: token},
		"not a url":  {Type: "slack", WebhookURL: "::" + hookPath},
		"not http":   {Type: "slack", WebhookURL: "ftp://hooks.slack.com" + hookPath},
	} {
		_, err := slack.New(n, notify.Options{})
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		noSecret(t, name, err.Error())
	}
}
