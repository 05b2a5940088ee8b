package feishu_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/feishu"
	"github.com/wahealth/wahealth/pkg/notify/notifytest"
)

const (
	hookPath = "/open-apis/bot/v2/hook/0d7b5c1e-TOKEN-a9f3-4c2b-8e6d-77aa"
	token    = "0d7b5c1e-TOKEN-a9f3-4c2b-8e6d-77aa"
	secret   = "SEC-feishu-signing-secret-93kd"
	success  = `{"code":0,"msg":"success","data":{}}`
)

// wire is the request body as the fake bot decodes it: its own types, so that a renamed
// field in the package shows up here.
type wire struct {
	Timestamp string `json:"timestamp"`
	Sign      string `json:"sign"`
	MsgType   string `json:"msg_type"`
	Card      struct {
		Header struct {
			Title struct {
				Tag     string `json:"tag"`
				Content string `json:"content"`
			} `json:"title"`
			Template string `json:"template"`
		} `json:"header"`
		Elements []struct {
			Tag  string `json:"tag"`
			Text *struct {
				Tag     string `json:"tag"`
				Content string `json:"content"`
			} `json:"text"`
			Elements []struct {
				Tag     string `json:"tag"`
				Content string `json:"content"`
			} `json:"elements"`
		} `json:"elements"`
	} `json:"card"`
}

// text is everything a person reads in the card.
func (w wire) text() string {
	parts := []string{w.Card.Header.Title.Content}
	for _, e := range w.Card.Elements {
		if e.Text != nil {
			parts = append(parts, e.Text.Content)
		}
		for _, x := range e.Elements {
			parts = append(parts, x.Content)
		}
	}
	return strings.Join(parts, "\n")
}

// note is the closing note's text.
func (w wire) note() string {
	for _, e := range w.Card.Elements {
		if e.Tag == "note" && len(e.Elements) > 0 {
			return e.Elements[0].Content
		}
	}
	return ""
}

type reply struct {
	status int
	body   string
	header map[string]string
}

// fakeBot speaks a custom bot's webhook: it checks the signature independently (and that the
// timestamp is within an hour of now), the keyword, the body size and the card, then answers
// the scripted replies in order and success after them.
type fakeBot struct {
	t       *testing.T
	secret  string
	keyword string
	now     time.Time

	mu       sync.Mutex
	replies  []reply
	requests []wire // every request
	accepted []wire // those answered with success
	signs    []string
	srv      *httptest.Server
}

func newBot(t *testing.T, secret, keyword string, replies ...reply) *fakeBot {
	t.Helper()
	b := &fakeBot{t: t, secret: secret, keyword: keyword, now: notifytest.Time, replies: replies}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *fakeBot) url() string { return b.srv.URL + hookPath }

func (b *fakeBot) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	answer := func(status int, s string, header map[string]string) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, s)
	}
	code := func(c int, msg string) {
		answer(http.StatusOK, fmt.Sprintf(`{"code":%d,"data":{},"msg":%q}`, c, msg), nil)
	}
	if r.Method != http.MethodPost || r.URL.Path != hookPath || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		b.t.Errorf("request %s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	if len(body) > feishu.MaxBodyBytes {
		b.t.Errorf("body of %d bytes, over Feishu's limit", len(body))
		code(9499, "Bad Request")
		return
	}
	var req wire
	if err := json.Unmarshal(body, &req); err != nil {
		b.t.Errorf("body is not JSON: %v", err)
		code(9499, "Bad Request")
		return
	}
	b.mu.Lock()
	b.requests = append(b.requests, req)
	b.signs = append(b.signs, req.Sign)
	b.mu.Unlock()
	if req.MsgType != "interactive" || req.Card.Header.Title.Content == "" || len(req.Card.Elements) == 0 {
		b.t.Errorf("not an interactive card: %s", body)
	}
	if b.secret != "" {
		ts, err := strconv.ParseInt(req.Timestamp, 10, 64)
		mac := hmac.New(sha256.New, []byte(req.Timestamp+"\n"+b.secret))
		want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		age := b.now.Sub(time.Unix(ts, 0))
		if err != nil || age > time.Hour || age < -time.Hour || !hmac.Equal([]byte(req.Sign), []byte(want)) {
			code(feishu.CodeSignMismatch, "sign match fail or timestamp is not within one hour from current time")
			return
		}
	} else if req.Sign != "" || req.Timestamp != "" {
		b.t.Errorf("signed without a secret")
	}
	if b.keyword != "" && !strings.Contains(req.text(), b.keyword) {
		code(feishu.CodeKeywordMissing, "Key Words Not Found")
		return
	}
	b.mu.Lock()
	var rp *reply
	if len(b.replies) > 0 {
		rp = &b.replies[0]
		b.replies = b.replies[1:]
	}
	if rp == nil || rp.body == success {
		b.accepted = append(b.accepted, req)
	}
	b.mu.Unlock()
	if rp == nil {
		answer(http.StatusOK, success, nil)
		return
	}
	answer(rp.status, rp.body, rp.header)
}

func (b *fakeBot) got() (requests, accepted []wire) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]wire(nil), b.requests...), append([]wire(nil), b.accepted...)
}

// newNotifier returns a notifier for the bot with short waits, logging into log.
func newNotifier(t *testing.T, b *fakeBot, n config.Notifier, clock time.Time, log *bytes.Buffer) *feishu.Notifier {
	t.Helper()
	tpl, err := notify.LoadTemplate("feishu", "", "")
	if err != nil {
		t.Fatal(err)
	}
	n.Type = "feishu"
	if n.WebhookURL == "" {
		n.WebhookURL = config.Secret(b.url())
	}
	o := notify.Options{HTTPClient: b.srv.Client(), Template: tpl, Now: func() time.Time { return clock }}
	if log != nil {
		o.Logger = slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	nt, err := feishu.New(n, o)
	if err != nil {
		t.Fatal(err)
	}
	feishu.SetTiming(nt, 10*time.Millisecond, time.Millisecond)
	return nt
}

func codeReply(c int, msg string) reply {
	return reply{status: http.StatusOK, body: fmt.Sprintf(`{"code":%d,"data":{},"msg":%q}`, c, msg)}
}

func TestNotifyAnswers(t *testing.T) {
	tests := []struct {
		name      string
		cfg       config.Notifier
		botSecret string
		keyword   string
		clock     time.Time
		replies   []reply
		wantErr   string // "" for success
		permanent bool
		requests  int
	}{
		{name: "signed", cfg: config.Notifier{Secret: secret}, botSecret: secret, requests: 1},
		{name: "unsigned", requests: 1},
		{name: "older answer shape", replies: []reply{{status: 200, body: `{"Extra":null,"StatusCode":0,"StatusMessage":"success"}`}}, requests: 1},
		{name: "keyword", cfg: config.Notifier{Keyword: "WA-alert"}, keyword: "WA-alert", requests: 1},
		{name: "wrong secret", cfg: config.Notifier{Secret: "not-the-bot-secret"}, botSecret: secret, wantErr: "code 19021", permanent: true, requests: 1},
		{name: "secret missing", botSecret: secret, wantErr: "signing secret", permanent: true, requests: 1},
		{name: "stale timestamp", cfg: config.Notifier{Secret: secret}, botSecret: secret, clock: notifytest.Time.Add(-2 * time.Hour), wantErr: "clock", permanent: true, requests: 1},
		{name: "keyword missing", keyword: "WA-alert", wantErr: "set keyword", permanent: true, requests: 1},
		{name: "hook removed", replies: []reply{codeReply(feishu.CodeInvalidHook, "param invalid: incoming webhook access token invalid")}, wantErr: "code 19001", permanent: true, requests: 1},
		{name: "ip not allowed", replies: []reply{codeReply(feishu.CodeIPNotAllowed, "ip not allowed")}, wantErr: "allowlist", permanent: true, requests: 1},
		{name: "rate limited then ok", replies: []reply{codeReply(feishu.CodeRateLimited, "frequency limited")}, requests: 2},
		{name: "9499 retried", replies: []reply{codeReply(feishu.CodeBadRequest, "Bad Request"), codeReply(feishu.CodeBadRequest, "Bad Request"), codeReply(feishu.CodeBadRequest, "Bad Request")}, wantErr: "rate limiting", requests: 3},
		{name: "5xx then ok", replies: []reply{{status: 502, body: "bad gateway"}}, requests: 2},
		{name: "5xx thrice", replies: []reply{{status: 500}, {status: 503}, {status: 500}}, wantErr: "HTTP 500", requests: 3},
		{name: "404", replies: []reply{{status: 404, body: "404 page not found"}}, wantErr: "HTTP 404 Not Found: check webhookURL", permanent: true, requests: 1},
		{name: "unknown code not retried now", replies: []reply{codeReply(230001, "something new")}, wantErr: "code 230001: something new", requests: 1},
		{name: "200 without a code", replies: []reply{{status: 200, body: "<html>proxy</html>"}}, wantErr: "without a result code", requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bot := newBot(t, tt.botSecret, tt.keyword, tt.replies...)
			clock := tt.clock
			if clock.IsZero() {
				clock = notifytest.Time
			}
			n := newNotifier(t, bot, tt.cfg, clock, nil)
			err := n.Notify(context.Background(), notifytest.Cycle())
			checkErr(t, err, tt.wantErr, tt.permanent)
			requests, _ := bot.got()
			if len(requests) != tt.requests {
				t.Errorf("%d requests, want %d", len(requests), tt.requests)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string, permanent bool) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("Notify: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one containing %q", err, want)
	}
	var perm *notify.PermanentError
	if errors.As(err, &perm) != permanent {
		t.Errorf("permanent = %t, want %t: %v", !permanent, permanent, err)
	}
}

func TestCardOnTheWire(t *testing.T) {
	bot := newBot(t, secret, "WA-alert")
	n := newNotifier(t, bot, config.Notifier{Secret: secret, Keyword: "WA-alert"}, notifytest.Time, nil)
	if err := n.Notify(context.Background(), notifytest.Cycle()); err != nil {
		t.Fatal(err)
	}
	_, accepted := bot.got()
	if len(accepted) != 1 {
		t.Fatalf("%d cards accepted, want 1", len(accepted))
	}
	c := accepted[0]
	got := struct{ Title, Colour, Note string }{c.Card.Header.Title.Content, c.Card.Header.Template, c.note()}
	want := struct{ Title, Colour, Note string }{
		"[CRITICAL] WhatsApp health: 2 blocked, 1 degraded, 1 recovered", "red",
		"wahealth · cycle 20261128T030405Z-abc123 · 2026-11-28 03:04 UTC · WA-alert",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("card (-want +got):\n%s", d)
	}
	var tags []string
	for _, e := range c.Card.Elements {
		tags = append(tags, e.Tag)
		if e.Text != nil && e.Text.Tag != "lark_md" {
			t.Errorf("text block tagged %q", e.Text.Tag)
		}
	}
	if d := cmp.Diff([]string{"div", "hr", "div", "hr", "div", "hr", "div", "note"}, tags); d != "" {
		t.Errorf("elements (-want +got):\n%s", d)
	}
	text := c.text()
	for _, s := range []string{
		"phone number 8613800000001", "AVAILABLE → BLOCKED", "141000", "141006", "141010",
		"Register and finish the OTP authentication process for your phone number.",
		"Please add a new payment method to the account.",
		"Visit business settings and start or resolve the business verification request.",
		"recovered: LIMITED → AVAILABLE", "seen through 3 monitored targets", "customer=acme",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("card lacks %q:\n%s", s, text)
		}
	}
	if n := strings.Count(text, "WABA 1000001"); n != 1 {
		t.Errorf("WABA 1000001 shown %d times, want once", n)
	}
}

func TestColours(t *testing.T) {
	tests := []struct {
		msg  *notify.Message
		want string
	}{
		{notifytest.Cycle(), "red"},
		{notifytest.Failures(), "orange"},
		{notify.Sample(notifytest.Time), "blue"},
		{withSeverity(health.Resolved), "green"},
		{withSeverity(health.Info), "grey"},
	}
	for _, tt := range tests {
		if got := feishu.Colour(tt.msg); got != tt.want {
			t.Errorf("%s/%s: colour %q, want %q", tt.msg.Kind, tt.msg.Severity, got, tt.want)
		}
	}
}

func withSeverity(s health.Severity) *notify.Message {
	return &notify.Message{Kind: notify.KindChanges, Severity: s}
}

// manyAlerts returns a message with n alerts, each with a long error text, in a known order.
func manyAlerts(n int) (*notify.Message, []string) {
	m := &notify.Message{Kind: notify.KindChanges, CycleID: "20261128T030405Z-many", Time: notifytest.Time}
	var ids []string
	for i := range n {
		id := fmt.Sprintf("86138%08d", i)
		e := health.Error{Code: "141006", Description: strings.Repeat("There is an error with the payment method. ", 4), Solution: strings.Repeat("Add a new payment method to the account. ", 4)}
		m.Alerts = append(m.Alerts, notify.Alert{
			Entity:   health.Entity{Type: health.PhoneNumber, ID: id, PhoneNumber: id, CanSendMessage: health.Blocked, Errors: []health.Error{e}},
			Severity: health.Critical,
			Changes:  []health.Change{{Kind: health.ErrorAdded, Entity: health.Key{Type: health.PhoneNumber, ID: id}, ErrorCode: "141006", Error: &e}},
		})
		ids = append(ids, id)
	}
	m.Seal()
	return m, ids
}

func TestSplitKeepsOrder(t *testing.T) {
	m, ids := manyAlerts(200)
	bot := newBot(t, secret, "WA-alert")
	n := newNotifier(t, bot, config.Notifier{Secret: secret, Keyword: "WA-alert"}, notifytest.Time, nil)
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	_, accepted := bot.got()
	if len(accepted) < 3 || len(accepted) > feishu.MaxParts {
		t.Fatalf("%d parts for 200 alerts", len(accepted))
	}
	var seen []string
	for i, c := range accepted {
		suffix := fmt.Sprintf(" (%d/%d)", i+1, len(accepted))
		if !strings.HasSuffix(c.Card.Header.Title.Content, suffix) || c.Card.Header.Template != "red" {
			t.Errorf("part %d: header %q %q", i+1, c.Card.Header.Title.Content, c.Card.Header.Template)
		}
		if !strings.Contains(c.note(), "WA-alert") {
			t.Errorf("part %d lacks the keyword", i+1)
		}
		for _, e := range c.Card.Elements {
			if e.Text != nil {
				seen = append(seen, strings.TrimPrefix(strings.Fields(e.Text.Content)[3], "86138")) // "🔴 **phone number 86138…**"
			}
		}
	}
	want := make([]string, len(ids))
	for i, id := range ids {
		want[i] = strings.TrimPrefix(id, "86138") + "**"
	}
	if d := cmp.Diff(want, seen); d != "" {
		t.Errorf("alerts out of order or missing (-want +got):\n%s", d)
	}
}

func TestSplitIsCapped(t *testing.T) {
	m, ids := manyAlerts(2000)
	parts, err := feishu.BuildRequests(m, loadTemplate(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != feishu.MaxParts {
		t.Fatalf("%d parts, want %d", len(parts), feishu.MaxParts)
	}
	shown := 0
	for _, p := range parts {
		for _, e := range p.Card.Elements {
			if e.Text != nil && strings.Contains(e.Text.Content, "phone number") {
				shown++
			}
		}
	}
	last := parts[len(parts)-1].Card.Elements
	more := last[len(last)-2].Text.Content // before the note
	if want := fmt.Sprintf("… and %d more not shown here", len(ids)-shown); !strings.HasPrefix(more, want) {
		t.Errorf("last block %q, want it to start with %q", more, want)
	}
}

func TestHugeBlockIsCut(t *testing.T) {
	m, _ := manyAlerts(1)
	m.Alerts[0].Changes[0].Error.Solution = strings.Repeat("long solution ", 5000)
	parts, err := feishu.BuildRequests(m, loadTemplate(t), "")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(parts[0])
	if len(parts) != 1 || len(body) > feishu.MaxBodyBytes || !strings.Contains(string(body), "(cut: too long") {
		t.Errorf("%d parts, %d bytes", len(parts), len(body))
	}
}

// TestSplitResumes: a part that fails stops the message; the next attempt sends only the
// parts that did not go through.
func TestSplitResumes(t *testing.T) {
	m, _ := manyAlerts(200)
	fail := []reply{{status: 500}, {status: 500}, {status: 500}}
	bot := newBot(t, "", "", append([]reply{{status: 200, body: success}}, fail...)...)
	n := newNotifier(t, bot, config.Notifier{}, notifytest.Time, nil)
	err := n.Notify(context.Background(), m)
	checkErr(t, err, "part 2 of", false)
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	_, accepted := bot.got()
	parts, _ := feishu.BuildRequests(m, loadTemplate(t), "")
	var titles []string
	for _, c := range accepted {
		titles = append(titles, c.Card.Header.Title.Content)
	}
	var want []string
	for _, p := range parts {
		want = append(want, p.Card.Header.Title.Content)
	}
	if d := cmp.Diff(want, titles); d != "" {
		t.Errorf("parts delivered (-want +got):\n%s", d)
	}
	// Delivered in full, the message is forgotten: sending it again sends it all again.
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if _, accepted = bot.got(); len(accepted) != 2*len(parts) {
		t.Errorf("%d parts accepted, want %d", len(accepted), 2*len(parts))
	}
}

func TestRetryRespectsDeadline(t *testing.T) {
	bot := newBot(t, "", "", reply{status: 429, body: "slow down", header: map[string]string{"Retry-After": "30"}})
	n := newNotifier(t, bot, config.Notifier{}, notifytest.Time, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err := n.Notify(ctx, notifytest.Cycle())
	checkErr(t, err, "HTTP 429", false)
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %s: waited for a retry that could not fit the deadline", took)
	}
}

// TestSecretsNeverShown sends through failures of every kind and checks that the errors and
// the log never hold the webhook's token, the secret or a signature.
func TestSecretsNeverShown(t *testing.T) {
	var log bytes.Buffer
	var errs []string
	bot := newBot(t, secret, "", reply{status: 500, body: "oops " + token}, codeReply(feishu.CodeRateLimited, "limited"), codeReply(feishu.CodeRateLimited, "limited"))
	n := newNotifier(t, bot, config.Notifier{Name: "ops", Secret: secret}, notifytest.Time, &log)
	if err := n.Notify(context.Background(), notifytest.Cycle()); err != nil {
		errs = append(errs, err.Error())
	}
	wrong := newNotifier(t, bot, config.Notifier{Secret: "wrong-secret-value-1"}, notifytest.Time, &log)
	if err := wrong.Notify(context.Background(), notifytest.Cycle()); err != nil {
		errs = append(errs, err.Error())
	}
	// A transport error: net/http's *url.Error holds the whole URL.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	down := newNotifier(t, bot, config.Notifier{WebhookURL: config.Secret(closed.URL + hookPath), Secret: secret}, notifytest.Time, &log)
	err := down.Notify(context.Background(), notifytest.Cycle())
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("transport error: %v", err)
	}
	errs = append(errs, err.Error())
	// A bad URL in the configuration.
	_, err = feishu.New(config.Notifier{Type: "feishu", WebhookURL: config.Secret("ht!tp://" + token)}, notify.Options{})
	if err == nil {
		t.Fatal("a bad URL was accepted")
	}
	errs = append(errs, err.Error())

	bot.mu.Lock()
	signs := append([]string(nil), bot.signs...)
	bot.mu.Unlock()
	all := strings.Join(errs, "\n") + "\n" + log.String()
	if !strings.Contains(log.String(), "retrying") {
		t.Errorf("no retry was logged:\n%s", log.String())
	}
	for _, s := range append([]string{token, secret, "wrong-secret-value-1", hookPath}, signs...) {
		if s != "" && strings.Contains(all, s) {
			t.Errorf("%q shown in:\n%s", s, all)
		}
	}
}

func TestTemplateChecks(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"root only":     `{{ .Title }}`,
		"missing field": `{{ define "title" }}{{ .Title }}{{ end }}{{ define "alert" }}{{ if .Reminder }}{{ .Nope }}{{ end }}{{ end }}{{ define "failure" }}{{ end }}{{ define "baseline" }}{{ end }}{{ define "entity" }}{{ end }}{{ define "test" }}{{ end }}{{ define "footer" }}{{ end }}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := dir + "/" + strings.ReplaceAll(name, " ", "-") + ".tmpl"
			if err := writeFile(path, body); err != nil {
				t.Fatal(err)
			}
			tpl, err := notify.LoadTemplate("feishu", "", path)
			if err == nil {
				_, err = feishu.New(config.Notifier{Type: "feishu", WebhookURL: "https://open.feishu.cn/open-apis/bot/v2/hook/x"}, notify.Options{Template: tpl})
			}
			if err == nil {
				t.Fatal("a broken template was accepted")
			}
			t.Log(err)
		})
	}
}

func TestSign(t *testing.T) {
	// Computed independently: HMAC-SHA256 keyed with "1599360473\nsecret" over nothing.
	mac := hmac.New(sha256.New, []byte("1599360473\nsecret"))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	got, err := feishu.Sign("secret", 1599360473)
	if err != nil || got != want {
		t.Errorf("Sign = %q, %v; want %q", got, err, want)
	}
}
