package dingtalk

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
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/notifytest"
)

func TestSign(t *testing.T) {
	// Computed independently:
	// printf '1577762344000\nSEC0123456789abcdef' | openssl dgst -sha256 -hmac 'SEC0123456789abcdef' -binary | base64
	got := Sign("SEC0123456789abcdef", 1577762344000)
	want := "8Vbfu3m4z53HR6mDnU6OvZkT5%2F6Uko%2B2HKq%2B2MfnL8I%3D"
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestNotifyWire(t *testing.T) {
	tests := []struct {
		name        string
		secret      string
		keyword     string
		cfg         config.Notifier
		msg         *notify.Message
		wantAt      *At
		wantInText  []string
		wantInTitle []string
	}{
		{name: "plain", msg: notifytest.Cycle(),
			wantInText:  []string{"### 🔴 [CRITICAL] WhatsApp health: 2 blocked, 1 degraded, 1 recovered", "**phone number 8613800000001**"},
			wantInTitle: []string{"[CRITICAL] WhatsApp health"}},
		{name: "signed", secret: "SECa1b2c3d4e5f60718293a4b5c6d7e8f9", msg: notifytest.Cycle()},
		{name: "keyword", keyword: "wahealth-alert", msg: notifytest.Cycle(),
			wantInText: []string{"wahealth-alert"}, wantInTitle: []string{"wahealth-alert"}},
		{name: "mentions on critical", secret: "SECmention", keyword: "告警", msg: notifytest.Cycle(),
			cfg:        config.Notifier{AtMobiles: []string{"13800000000"}, AtUserIDs: []string{"manager01"}, AtSeverities: []string{"critical"}},
			wantAt:     &At{AtMobiles: []string{"13800000000"}, AtUserIDs: []string{"manager01"}},
			wantInText: []string{"@13800000000 @manager01"}},
		{name: "no mention below the severity", msg: notifytest.Failures(),
			cfg: config.Notifier{AtMobiles: []string{"13800000000"}, AtSeverities: []string{"critical"}}},
		{name: "at all", msg: notifytest.Baseline(),
			cfg:    config.Notifier{AtAll: true, AtSeverities: []string{"critical", "warning"}},
			wantAt: &At{IsAtAll: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			r := newRobot(t, clock.Now)
			r.secret, r.keyword = tt.secret, tt.keyword
			nt := setup(t, r, clock, tt.cfg)
			if err := nt.Notify(context.Background(), tt.msg); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := r.requests()
			if len(got) != 1 {
				t.Fatalf("robot accepted %d messages, want 1", len(got))
			}
			p := got[0].Payload
			if d := cmp.Diff(tt.wantAt, p.At); d != "" {
				t.Errorf("at (-want +got):\n%s", d)
			}
			if len(got[0].Ignored) > 0 {
				t.Errorf("mentions %v are not in the text, DingTalk would ignore them", got[0].Ignored)
			}
			for _, s := range tt.wantInText {
				if !strings.Contains(p.Markdown.Text, s) {
					t.Errorf("text lacks %q:\n%s", s, p.Markdown.Text)
				}
			}
			for _, s := range tt.wantInTitle {
				if !strings.Contains(p.Markdown.Title, s) {
					t.Errorf("title %q lacks %q", p.Markdown.Title, s)
				}
			}
			if tt.wantAt == nil && strings.Contains(p.Markdown.Text, "@138") {
				t.Errorf("mention in a message below atSeverities:\n%s", p.Markdown.Text)
			}
			if tt.secret == "" && (got[0].Timestamp != "" || got[0].Sign != "") {
				t.Errorf("unsigned robot got timestamp %q sign %q", got[0].Timestamp, got[0].Sign)
			}
		})
	}
}

func TestFreshTimestampPerRequest(t *testing.T) {
	clock := newClock()
	r := newRobot(t, clock.Now)
	r.secret = "SECfresh0123456789"
	nt := setup(t, r, clock, config.Notifier{})
	for range 2 {
		if err := nt.Notify(context.Background(), notifytest.Cycle()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(1500 * time.Millisecond)
	}
	got := r.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	if got[0].Timestamp == got[1].Timestamp || got[0].Sign == got[1].Sign {
		t.Errorf("two requests share timestamp/sign: %q/%q and %q/%q", got[0].Timestamp, got[0].Sign, got[1].Timestamp, got[1].Sign)
	}
	if want := fmt.Sprint(notifytest.Time.UnixMilli()); got[0].Timestamp != want {
		t.Errorf("timestamp %s, want the clock's %s in milliseconds", got[0].Timestamp, want)
	}
}

func TestSignatureFailures(t *testing.T) {
	tests := []struct {
		name       string
		skew       time.Duration // the robot's clock minus the notifier's
		wrong      string        // the secret configured, when not the robot's
		noKeyword  bool
		wantInText string
	}{
		{name: "timestamp over an hour old", skew: 61 * time.Minute, wantInText: "clock"},
		{name: "wrong secret", wrong: "SECnotthisone", wantInText: "secret"},
		{name: "keyword missing", noKeyword: true, wantInText: "keyword"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			r := newRobot(t, func() time.Time { return clock.Now().Add(tt.skew) })
			r.secret = "SECright0123456789"
			r.keyword = "wahealth"
			cfg := config.Notifier{Name: "ops-dingtalk", Secret: config.Secret(tt.wrong)}
			if tt.noKeyword {
				cfg.Keyword = "unrelated"
			}
			nt := setup(t, r, clock, cfg)
			err := nt.Notify(context.Background(), notifytest.Cycle())
			var perm *notify.PermanentError
			if !errors.As(err, &perm) {
				t.Fatalf("got %v, want a *notify.PermanentError", err)
			}
			for _, s := range []string{"310000", "ops-dingtalk", tt.wantInText} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q: %v", s, err)
				}
			}
		})
	}
}

func TestErrcodes(t *testing.T) {
	tests := []struct {
		name      string
		answers   []string
		wantErr   string // "" for success
		permanent bool
		wantHits  int
	}{
		{name: "ok", answers: []string{errcode(0, "ok")}, wantHits: 1},
		{name: "bad signature", answers: []string{errcode(310000, "sign not match")}, wantErr: "errcode 310000", permanent: true, wantHits: 1},
		{name: "too fast", answers: []string{errcode(130101, "send too fast, exceed 20 times per minute")}, wantErr: "errcode 130101", wantHits: 1},
		{name: "robot removed", answers: []string{errcode(400101, "robot not exist")}, wantErr: "errcode 400101", permanent: true, wantHits: 1},
		{name: "token unknown", answers: []string{errcode(300001, "token is not exist")}, wantErr: "errcode 300001", permanent: true, wantHits: 1},
		{name: "too long", answers: []string{errcode(460101, "message too long, exceed 20000 bytes")}, wantErr: "too long", permanent: true, wantHits: 1},
		{name: "unknown errcode", answers: []string{errcode(123456, "something else")}, wantErr: "errcode 123456: something else", wantHits: 1},
		{name: "5xx then ok", answers: []string{"500", errcode(0, "ok")}, wantHits: 2},
		{name: "5xx three times", answers: []string{"500", "500", "500"}, wantErr: "HTTP 500", wantHits: 3},
		{name: "system busy then ok", answers: []string{errcode(-1, "系统繁忙"), errcode(0, "ok")}, wantHits: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			r := newRobot(t, clock.Now)
			r.secret = "SECerrcodes"
			r.answer(tt.answers...)
			nt := setup(t, r, clock, config.Notifier{})
			err := nt.Notify(context.Background(), notifytest.Cycle())
			if hits := r.count(); hits != tt.wantHits {
				t.Errorf("robot got %d requests, want %d", hits, tt.wantHits)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Notify: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
			var perm *notify.PermanentError
			if got := errors.As(err, &perm); got != tt.permanent {
				t.Errorf("permanent = %t, want %t (%v)", got, tt.permanent, err)
			}
		})
	}
}

func TestThrottledRobotIsPaused(t *testing.T) {
	clock := newClock()
	r := newRobot(t, clock.Now)
	r.answer(errcode(130101, "send too fast, exceed 20 times per minute"))
	lim := newLimiter()
	nt := setup(t, r, clock, config.Notifier{}, withLimiter(lim))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := nt.Notify(ctx, notifytest.Cycle()); err == nil {
		t.Fatal("130101 accepted")
	}
	// The next cycle, 5 minutes later: the robot is left alone, the error is retryable.
	clock.Advance(5 * time.Minute)
	err := nt.Notify(ctx, notifytest.Cycle())
	var perm *notify.PermanentError
	if err == nil || errors.As(err, &perm) || !strings.Contains(err.Error(), "throttled") {
		t.Fatalf("during the pause: got %v, want a retryable 'throttled' error", err)
	}
	if hits := r.count(); hits != 1 {
		t.Errorf("robot got %d requests during the pause, want 1 (the throttled one)", hits)
	}
	clock.Advance(6 * time.Minute)
	if err := nt.Notify(ctx, notifytest.Cycle()); err != nil {
		t.Fatalf("after the pause: %v", err)
	}
}

func TestLimiterKeepsUnder20AMinute(t *testing.T) {
	clock := newClock()
	r := newRobot(t, clock.Now)
	nt := setup(t, r, clock, config.Notifier{})
	ctx := context.Background()
	for i := range 21 {
		m := manyAlerts(1)
		m.CycleID = fmt.Sprint("cycle-", i)
		m.Seal()
		if err := nt.Notify(ctx, m); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	got := r.requests()
	if len(got) != 21 {
		t.Fatalf("%d requests, want 21", len(got))
	}
	for i := 20; i < len(got); i++ {
		if span := got[i].At.Sub(got[i-20].At); span <= time.Minute {
			t.Errorf("messages %d..%d (21 of them) went out within %s", i-19, i+1, span)
		}
	}
	// The 21st waited for the limiter (the fake clock moved), the first burst did not.
	if got[9].At != notifytest.Time || !got[20].At.After(notifytest.Time.Add(time.Minute)) {
		t.Errorf("sent at %v (1st..10th) and %v (21st)", got[9].At, got[20].At)
	}
}

func TestLimiterRefusesBeyondDeadline(t *testing.T) {
	clock := newClock()
	r := newRobot(t, clock.Now)
	lim := newLimiter()
	a := setup(t, r, clock, config.Notifier{Name: "a"}, withLimiter(lim))
	b := setup(t, r, clock, config.Notifier{Name: "b"}, withLimiter(lim)) // same robot
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var err error
	sent := 0
	for i := range 21 {
		nt := a
		if i%2 == 1 {
			nt = b
		}
		m := manyAlerts(1)
		m.CycleID = fmt.Sprint("cycle-", i)
		m.Seal()
		if err = nt.Notify(ctx, m); err != nil {
			break
		}
		sent++
	}
	if sent != limitBurst {
		t.Errorf("%d messages went out at once, want the burst of %d", sent, limitBurst)
	}
	var perm *notify.PermanentError
	if err == nil || errors.As(err, &perm) || !strings.Contains(err.Error(), "rate limit") {
		t.Errorf("got %v, want a retryable rate limit error", err)
	}
	if hits := r.count(); hits != limitBurst {
		t.Errorf("robot got %d requests, want %d", hits, limitBurst)
	}
}

func TestLimiterSharedPerRobot(t *testing.T) {
	mk := func(u string) *Notifier {
		t.Helper()
		nt, err := New(config.Notifier{Type: "dingtalk", WebhookURL: config.Secret(u)}, notify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return nt
	}
	a := mk("https://oapi.dingtalk.com/robot/send?access_token=shared-robot")
	b := mk("https://oapi.dingtalk.com/robot/send?access_token=shared-robot")
	c := mk("https://oapi.dingtalk.com/robot/send?access_token=other-robot")
	if a.lim != b.lim || a.lim == c.lim {
		t.Errorf("limiters: same robot shared %t, other robot shared %t", a.lim == b.lim, a.lim == c.lim)
	}
	if a.client == nil || a.client == http.DefaultClient || a.client.Timeout == 0 {
		t.Errorf("default client %+v", a.client)
	}
}

func builtin(t *testing.T) *template.Template {
	t.Helper()
	tpl, err := notify.LoadTemplate("dingtalk", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

var phoneRE = regexp.MustCompile(`\*\*phone number (\d+)\*\*`)

func TestSplitKeepsOrderWithinLimits(t *testing.T) {
	tpl := builtin(t)
	m := manyAlerts(200)
	tests := []struct {
		name     string
		s        Settings
		wantMore bool
	}{
		{name: "default limits", s: Settings{AtMobiles: []string{"13800000000"}, Keyword: "wahealth"}},
		{name: "capped parts", s: Settings{MaxBodyBytes: 4000, MaxParts: 3}, wantMore: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := BuildRequests(m, tpl, tt.s)
			if err != nil {
				t.Fatal(err)
			}
			limit := tt.s.MaxBodyBytes
			if limit == 0 {
				limit = DefaultMaxBodyBytes
			}
			if len(ps) < 2 {
				t.Fatalf("%d parts, want a split", len(ps))
			}
			var seen []string
			more := 0
			for i, p := range ps {
				b, _ := p.Encode()
				if len(b) > limit {
					t.Errorf("part %d is %d bytes, over %d", i+1, len(b), limit)
				}
				marker := fmt.Sprintf("(%d/%d)", i+1, len(ps))
				first, _, _ := strings.Cut(p.Markdown.Text, "\n")
				if !strings.Contains(p.Markdown.Title, marker) || !strings.Contains(first, marker) {
					t.Errorf("part %d: title %q / header %q lack %s", i+1, p.Markdown.Title, first, marker)
				}
				if (p.At != nil) != (i == 0 && len(tt.s.AtMobiles) > 0) {
					t.Errorf("part %d: at = %+v", i+1, p.At)
				}
				if tt.s.Keyword != "" && (!strings.Contains(p.Markdown.Title, tt.s.Keyword) || !strings.Contains(p.Markdown.Text, tt.s.Keyword)) {
					t.Errorf("part %d lacks the keyword", i+1)
				}
				for _, g := range phoneRE.FindAllStringSubmatch(p.Markdown.Text, -1) {
					seen = append(seen, g[1])
				}
				if g := regexp.MustCompile(`… and (\d+) more`).FindStringSubmatch(p.Markdown.Text); g != nil {
					fmt.Sscan(g[1], &more)
				}
			}
			var want []string
			for _, a := range m.Alerts[:len(seen)] {
				want = append(want, a.Entity.ID)
			}
			if d := cmp.Diff(want, seen); d != "" {
				t.Errorf("alerts out of order (-want +got):\n%s", d)
			}
			if len(seen)+more != len(m.Alerts) || (more > 0) != tt.wantMore {
				t.Errorf("%d shown + %d more, want %d (more expected: %t)", len(seen), more, len(m.Alerts), tt.wantMore)
			}
		})
	}
}

func TestSplitShrinksAHugeBlock(t *testing.T) {
	m := manyAlerts(2)
	big := strings.Repeat("very long description ", 2000)
	m.Alerts[0].Changes[1].Error.Description = big
	ps, err := BuildRequests(m, builtin(t), Settings{})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if b, _ := p.Encode(); len(b) > DefaultMaxBodyBytes {
			t.Errorf("part %d is %d bytes", i+1, len(b))
		}
	}
	if !strings.Contains(ps[0].Markdown.Text, "…") || !strings.Contains(ps[len(ps)-1].Markdown.Text, m.Alerts[1].Entity.ID) {
		t.Errorf("huge block not cut, or the next alert lost")
	}
}

func TestPartialFailureDoesNotRepeatDeliveredParts(t *testing.T) {
	clock := newClock()
	r := newRobot(t, clock.Now)
	nt := setup(t, r, clock, config.Notifier{})
	nt.settings.MaxBodyBytes = 6000
	m := manyAlerts(30)
	r.answer(errcode(0, "ok"), errcode(123, "try later"))
	if err := nt.Notify(context.Background(), m); err == nil || !strings.Contains(err.Error(), "message 2 of") {
		t.Fatalf("got %v, want a failure of message 2", err)
	}
	if err := nt.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, g := range r.requests() {
		titles = append(titles, g.Payload.Markdown.Title)
	}
	ps, _ := BuildRequests(m, nt.tpl, nt.settings)
	var want []string
	for _, p := range ps {
		want = append(want, p.Markdown.Title)
	}
	if d := cmp.Diff(want, titles); d != "" {
		t.Errorf("delivered titles (-want +got):\n%s", d)
	}
}

func TestGolden(t *testing.T) {
	tpl := builtin(t)
	mention := Settings{Keyword: "wahealth", AtMobiles: []string{"13800000000"}, AtSeverities: nil}
	for _, tt := range []struct {
		name string
		m    *notify.Message
		s    Settings
	}{
		{"cycle", notifytest.Cycle(), Settings{}},
		{"cycle-mention", notifytest.Cycle(), mention},
		{"baseline", notifytest.Baseline(), Settings{}},
		{"failures", notifytest.Failures(), Settings{}},
		{"reminder", notifytest.Reminder(), Settings{}},
		{"recovery", notifytest.Recovery(), Settings{}},
		{"digest", notifytest.Digest(), Settings{}},
		{"test", notify.Sample(notifytest.Time), Settings{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := BuildRequests(tt.m, tpl, tt.s)
			if err != nil {
				t.Fatal(err)
			}
			var js, md bytes.Buffer
			for i, p := range ps {
				b, _ := p.Encode()
				if err := json.Indent(&js, b, "", "  "); err != nil {
					t.Fatal(err)
				}
				js.WriteString("\n")
				if len(ps) > 1 {
					fmt.Fprintf(&md, "<!-- message %d of %d -->\n", i+1, len(ps))
				}
				fmt.Fprintf(&md, "<!-- title: %s -->\n%s\n", p.Markdown.Title, p.Markdown.Text)
			}
			notifytest.Golden(t, tt.name+".json", js.Bytes())
			notifytest.Golden(t, tt.name+".md", md.Bytes())
		})
	}
}

func TestCycleShowsWABAOnce(t *testing.T) {
	ps, err := BuildRequests(notifytest.Cycle(), builtin(t), Settings{})
	if err != nil {
		t.Fatal(err)
	}
	text := ps[0].Markdown.Text
	if n := strings.Count(text, "WABA 1000001"); n != 1 {
		t.Errorf("WABA shown %d times, want once:\n%s", n, text)
	}
	if !strings.Contains(text, "seen by 3 monitored targets") {
		t.Errorf("shared WABA problem does not say it affects several targets:\n%s", text)
	}
}

// The root template renders the same text as the blocks, for a message that fits.
func TestRootMatchesBlocks(t *testing.T) {
	tpl := builtin(t)
	for _, m := range []*notify.Message{notifytest.Cycle(), notifytest.Baseline(), notifytest.Failures(), notifytest.Reminder(),
		notifytest.Recovery(), notifytest.Digest(), notify.Sample(notifytest.Time)} {
		root, err := notify.Render(tpl, m)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := BuildRequests(m, tpl, Settings{})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(root, ps[0].Markdown.Text); d != "" {
			t.Errorf("%s: root template and blocks differ (-root +blocks):\n%s", m.CycleID, d)
		}
	}
}

func TestNewChecksTemplate(t *testing.T) {
	const secretURL = "https://oapi.dingtalk.com/robot/send?access_token=verysecrettoken"
	parse := func(src string) *template.Template {
		return template.Must(template.New("dingtalk.tmpl").Funcs(notify.Funcs()).Option("missingkey=error").Parse(src))
	}
	full := func(alert string) string {
		return `{{define "dingtalk.title"}}t{{end}}{{define "dingtalk.header"}}h{{end}}{{define "dingtalk.intro"}}{{end}}` +
			`{{define "dingtalk.alert"}}` + alert + `{{end}}{{define "dingtalk.failure"}}f{{end}}` +
			`{{define "dingtalk.entity"}}e{{end}}{{define "dingtalk.footer"}}x{{end}}root`
	}
	tests := []struct {
		name    string
		cfg     config.Notifier
		tpl     *template.Template
		wantErr string
	}{
		{name: "built-in", cfg: config.Notifier{WebhookURL: secretURL}},
		{name: "complete custom", cfg: config.Notifier{WebhookURL: secretURL}, tpl: parse(full("a {{ .Severity }}"))},
		{name: "missing blocks", cfg: config.Notifier{WebhookURL: secretURL}, tpl: parse(`{{define "dingtalk.title"}}t{{end}}root`), wantErr: "dingtalk.header, dingtalk.intro"},
		{name: "block fails on the sample", cfg: config.Notifier{WebhookURL: secretURL}, tpl: parse(full("{{ .NoSuchField }}")), wantErr: "dingtalk.alert"},
		{name: "no URL", wantErr: "webhookURL is required"},
		{name: "not a URL", cfg: config.Notifier{WebhookURL: "ftp://verysecrettoken"}, wantErr: "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, notify.Options{Template: tt.tpl})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "verysecrettoken") {
				t.Errorf("error reveals the URL: %v", err)
			}
		})
	}
}

// No error or log record reveals the webhook URL, the access token, the secret or a signature.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "SECsupersecret0123456789abcdef"
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := newClock()
	var errs []error
	var secrets []string
	run := func(name string, webhook, token string, client *http.Client, ctx context.Context, answers ...string) {
		t.Helper()
		n := config.Notifier{Type: "dingtalk", Name: name, WebhookURL: config.Secret(webhook), Secret: secret, Keyword: "wahealth"}
		nt, err := newNotifier(n, notify.Options{HTTPClient: client, Now: clock.Now, Logger: logger},
			withLimiter(newLimiter()), withSleep(clock.Sleep), withBackoff(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		err = nt.Notify(ctx, notifytest.Cycle())
		if err == nil && len(answers) > 0 && answers[0] != errcode(0, "ok") {
			t.Errorf("%s: no error", name)
		}
		if err != nil {
			errs = append(errs, err)
		}
		sign := Sign(secret, clock.Now().UnixMilli())
		secrets = append(secrets, webhook, token, sign, mustUnescape(sign))
		clock.Advance(time.Second)
	}
	r := newRobot(t, clock.Now)
	r.secret, r.keyword = secret, "wahealth"
	for _, a := range []string{errcode(0, "ok"), errcode(310000, "sign not match"), errcode(130101, "send too fast"), "500", errcode(300001, "token is not exist")} {
		r.set(a, a)
		run("answer", r.URL(), r.token, r.srv.Client(), context.Background(), a)
	}
	// A robot that is gone: the transport error (a *url.Error) embeds the whole URL.
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL + "/robot/send?access_token=tok-gone-7a6b5c4d"
	gone.Close()
	run("gone", goneURL, "tok-gone-7a6b5c4d", nil, context.Background())
	// A robot that hangs past the deadline.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	run("hang", hang.URL+"/robot/send?access_token=tok-hang-1f2e3d4c", "tok-hang-1f2e3d4c", hang.Client(), ctx)
	if err := errs[len(errs)-1]; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout error %v does not unwrap to context.DeadlineExceeded", err)
	}

	if len(errs) < 6 {
		t.Fatalf("only %d errors captured", len(errs))
	}
	var all strings.Builder
	for _, err := range errs {
		fmt.Fprintln(&all, err.Error())
	}
	all.Write(logs.Bytes())
	for _, s := range append(secrets, secret, strings.TrimPrefix(secret, "SEC")) {
		if strings.Contains(all.String(), s) {
			t.Errorf("output reveals %q:\n%s", s, all.String())
		}
	}
	if !strings.Contains(all.String(), "connect") && !strings.Contains(all.String(), "refused") {
		t.Errorf("transport error lost its cause:\n%s", all.String())
	}
	t.Logf("captured:\n%s", all.String())
}
