package wecom

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

func TestNotifyWire(t *testing.T) {
	tests := []struct {
		name     string
		cfg      config.Notifier
		msg      *notify.Message
		wantText *Text    // the mention message, when one is due
		inMD     []string // in the markdown content
		notInMD  []string
	}{
		{name: "plain", msg: notifytest.Cycle(),
			inMD: []string{`### 🔴 <font color="warning">[CRITICAL]</font> WhatsApp health: 2 blocked, 1 degraded, 1 recovered`, "**phone number 8613800000001**"}},
		{name: "user ids in the markdown", msg: notifytest.Cycle(),
			cfg:  config.Notifier{AtUserIDs: []string{"zhangsan", "lisi"}},
			inMD: []string{"<@zhangsan> <@lisi>"}},
		{name: "mobiles in a text message", msg: notifytest.Cycle(),
			cfg:      config.Notifier{AtMobiles: []string{"13800000000"}, AtSeverities: []string{"critical"}},
			wantText: &Text{Content: "[CRITICAL] WhatsApp health: 2 blocked, 1 degraded, 1 recovered (details above)", MentionedMobileList: []string{"13800000000"}}},
		{name: "at all", msg: notifytest.Failures(),
			cfg:      config.Notifier{AtAll: true, AtSeverities: []string{"warning"}},
			wantText: &Text{Content: "[WARNING] WhatsApp health: 1 cannot be checked, 1 can be checked again (details above)", MentionedList: []string{"@all"}}},
		{name: "no mention below the severity", msg: notifytest.Failures(),
			cfg:     config.Notifier{AtMobiles: []string{"13800000000"}, AtUserIDs: []string{"zhangsan"}},
			notInMD: []string{"<@zhangsan>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			r := newRobot(t, clock.Now)
			nt := setup(t, r, clock, tt.cfg)
			if err := nt.Notify(context.Background(), tt.msg); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := r.requests()
			want := 1
			if tt.wantText != nil {
				want = 2
			}
			if len(got) != want {
				t.Fatalf("robot accepted %d messages, want %d", len(got), want)
			}
			md := got[0].Payload
			if md.MsgType != "markdown" || md.Markdown == nil {
				t.Fatalf("first message %+v, want markdown", md)
			}
			for _, s := range tt.inMD {
				if !strings.Contains(md.Markdown.Content, s) {
					t.Errorf("markdown lacks %q:\n%s", s, md.Markdown.Content)
				}
			}
			for _, s := range tt.notInMD {
				if strings.Contains(md.Markdown.Content, s) {
					t.Errorf("markdown has %q:\n%s", s, md.Markdown.Content)
				}
			}
			if tt.wantText != nil {
				p := got[1].Payload
				if p.MsgType != "text" {
					t.Fatalf("second message %q, want text", p.MsgType)
				}
				if d := cmp.Diff(tt.wantText, p.Text); d != "" {
					t.Errorf("mention message (-want +got):\n%s", d)
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
		{name: "invalid webhook", answers: []string{errcode(93000, "invalid webhook url")}, wantErr: "errcode 93000", permanent: true, wantHits: 1},
		{name: "too frequent", answers: []string{errcode(45009, "api freq out of limit")}, wantErr: "errcode 45009", wantHits: 1},
		{name: "too long", answers: []string{errcode(40058, "markdown.content exceed max length 4096")}, wantErr: "too long", permanent: true, wantHits: 1},
		{name: "other errcode", answers: []string{errcode(301002, "not allow operate another app")}, wantErr: "errcode 301002: not allow operate another app", wantHits: 1},
		{name: "system busy then ok", answers: []string{errcode(-1, "system busy"), errcode(0, "ok")}, wantHits: 2},
		{name: "5xx then ok", answers: []string{"500", errcode(0, "ok")}, wantHits: 2},
		{name: "5xx three times", answers: []string{"500", "500", "500"}, wantErr: "HTTP 500", wantHits: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			r := newRobot(t, clock.Now)
			r.set(tt.answers...)
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

func TestWrongKeyIsPermanent(t *testing.T) {
	clock := newClock()
	r := newRobot(t, clock.Now)
	nt := setup(t, r, clock, config.Notifier{Name: "ops-wecom", WebhookURL: config.Secret(r.srv.URL + "/cgi-bin/webhook/send?key=not-the-key")})
	err := nt.Notify(context.Background(), notifytest.Cycle())
	var perm *notify.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "93000") || !strings.Contains(err.Error(), "ops-wecom") {
		t.Fatalf("got %v, want a permanent 93000 error naming the notifier", err)
	}
	if strings.Contains(err.Error(), "not-the-key") {
		t.Errorf("error reveals the key: %v", err)
	}
}

func TestThrottledRobotIsPaused(t *testing.T) {
	clock := newClock()
	r := newRobot(t, clock.Now)
	r.set(errcode(45009, "api freq out of limit"))
	nt := setup(t, r, clock, config.Notifier{})
	ctx := context.Background()
	if err := nt.Notify(ctx, notifytest.Cycle()); err == nil {
		t.Fatal("45009 accepted")
	}
	clock.Advance(30 * time.Second)
	err := nt.Notify(ctx, notifytest.Cycle())
	var perm *notify.PermanentError
	if err == nil || errors.As(err, &perm) || !strings.Contains(err.Error(), "throttled") {
		t.Fatalf("during the pause: got %v, want a retryable 'throttled' error", err)
	}
	if hits := r.count(); hits != 1 {
		t.Errorf("robot got %d requests during the pause, want 1", hits)
	}
	clock.Advance(31 * time.Second)
	if err := nt.Notify(ctx, notifytest.Cycle()); err != nil {
		t.Fatalf("after the pause: %v", err)
	}
}

func TestLimiterKeepsUnder20AMinute(t *testing.T) {
	clock := newClock()
	r := newRobot(t, clock.Now)
	nt := setup(t, r, clock, config.Notifier{})
	for i := range 21 {
		m := manyAlerts(1)
		m.CycleID = fmt.Sprint("cycle-", i)
		m.Seal()
		if err := nt.Notify(context.Background(), m); err != nil {
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
		nt, err := New(config.Notifier{Type: "wecom", WebhookURL: config.Secret(u)}, notify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return nt
	}
	a := mk("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=shared-robot")
	b := mk("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=shared-robot")
	c := mk("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=other-robot")
	if a.lim != b.lim || a.lim == c.lim {
		t.Errorf("limiters: same robot shared %t, other robot shared %t", a.lim == b.lim, a.lim == c.lim)
	}
	if a.client == nil || a.client == http.DefaultClient || a.client.Timeout == 0 {
		t.Errorf("default client %+v", a.client)
	}
}

func builtin(t *testing.T) *template.Template {
	t.Helper()
	tpl, err := notify.LoadTemplate("wecom", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

var (
	phoneRE = regexp.MustCompile(`\*\*phone number (\d+)\*\*`)
	moreRE  = regexp.MustCompile(`… and (\d+) more`)
)

func TestSplitKeepsOrderWithinLimits(t *testing.T) {
	tpl := builtin(t)
	m := manyAlerts(200)
	tests := []struct {
		name     string
		s        Settings
		wantMore bool
	}{
		{name: "default limits", s: Settings{AtUserIDs: []string{"zhangsan"}, AtMobiles: []string{"13800000000"}}, wantMore: true},
		{name: "enough parts", s: Settings{MaxParts: 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := BuildRequests(m, tpl, tt.s)
			if err != nil {
				t.Fatal(err)
			}
			var md []Payload
			for _, p := range ps {
				if p.MsgType == "markdown" {
					md = append(md, p)
				}
			}
			if len(md) < 2 {
				t.Fatalf("%d markdown parts, want a split", len(md))
			}
			if mention := len(tt.s.AtMobiles) > 0; mention != (ps[len(ps)-1].MsgType == "text") {
				t.Errorf("last message %q, mention message expected %t", ps[len(ps)-1].MsgType, mention)
			}
			var seen []string
			more := 0
			for i, p := range md {
				c := p.Markdown.Content
				if len(c) > DefaultMaxContentBytes {
					t.Errorf("part %d is %d bytes, over %d", i+1, len(c), DefaultMaxContentBytes)
				}
				first, _, _ := strings.Cut(c, "\n")
				if marker := fmt.Sprintf("(%d/%d)", i+1, len(md)); !strings.HasSuffix(first, marker) {
					t.Errorf("part %d header %q lacks %s", i+1, first, marker)
				}
				if strings.Contains(c, "<@zhangsan>") != (i == 0 && len(tt.s.AtUserIDs) > 0) {
					t.Errorf("part %d: user mention misplaced", i+1)
				}
				for _, g := range phoneRE.FindAllStringSubmatch(c, -1) {
					seen = append(seen, g[1])
				}
				if g := moreRE.FindStringSubmatch(c); g != nil {
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
	m.Alerts[0].Changes[1].Error.Description = strings.Repeat("很长的描述 ", 1000)
	ps, err := BuildRequests(m, builtin(t), Settings{})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if len(p.Markdown.Content) > DefaultMaxContentBytes {
			t.Errorf("part %d is %d bytes", i+1, len(p.Markdown.Content))
		}
	}
	if !strings.Contains(ps[0].Markdown.Content, "…") || !strings.Contains(ps[len(ps)-1].Markdown.Content, m.Alerts[1].Entity.ID) {
		t.Errorf("huge block not cut, or the next alert lost")
	}
}

func TestPartialFailureDoesNotRepeatDeliveredParts(t *testing.T) {
	clock := newClock()
	r := newRobot(t, clock.Now)
	nt := setup(t, r, clock, config.Notifier{})
	m := manyAlerts(40)
	r.set(errcode(0, "ok"), errcode(301002, "try later"))
	if err := nt.Notify(context.Background(), m); err == nil || !strings.Contains(err.Error(), "message 2 of") {
		t.Fatalf("got %v, want a failure of message 2", err)
	}
	if err := nt.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range r.requests() {
		got = append(got, g.Payload.Markdown.Content)
	}
	ps, _ := BuildRequests(m, nt.tpl, nt.settings)
	var want []string
	for _, p := range ps {
		want = append(want, p.Markdown.Content)
	}
	if len(want) < 3 {
		t.Fatalf("%d parts, want 3 or more", len(want))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("delivered (-want +got):\n%s", d)
	}
}

func TestGolden(t *testing.T) {
	tpl := builtin(t)
	mention := Settings{AtUserIDs: []string{"zhangsan"}, AtMobiles: []string{"13800000000"}}
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
					fmt.Fprintf(&md, "<!-- message %d of %d: %s -->\n", i+1, len(ps), p.MsgType)
				}
				if p.Markdown != nil {
					md.WriteString(p.Markdown.Content + "\n")
				} else {
					fmt.Fprintf(&md, "%s\n<!-- mentioned_list %v, mentioned_mobile_list %v -->\n", p.Text.Content, p.Text.MentionedList, p.Text.MentionedMobileList)
				}
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
	c := ps[0].Markdown.Content
	if n := strings.Count(c, "WABA 1000001"); n != 1 {
		t.Errorf("WABA shown %d times, want once:\n%s", n, c)
	}
	if !strings.Contains(c, "seen by 3 monitored targets") {
		t.Errorf("shared WABA problem does not say it affects several targets:\n%s", c)
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
		if d := cmp.Diff(root, ps[0].Markdown.Content); d != "" {
			t.Errorf("%s: root template and blocks differ (-root +blocks):\n%s", m.CycleID, d)
		}
	}
}

func TestNewChecksTemplate(t *testing.T) {
	const secretURL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=verysecretkey"
	parse := func(src string) *template.Template {
		return template.Must(template.New("wecom.tmpl").Funcs(notify.Funcs()).Option("missingkey=error").Parse(src))
	}
	full := func(alert string) string {
		return `{{define "wecom.title"}}t{{end}}{{define "wecom.header"}}h{{end}}{{define "wecom.intro"}}{{end}}` +
			`{{define "wecom.alert"}}` + alert + `{{end}}{{define "wecom.failure"}}f{{end}}` +
			`{{define "wecom.entity"}}e{{end}}{{define "wecom.footer"}}x{{end}}root`
	}
	tests := []struct {
		name    string
		cfg     config.Notifier
		tpl     *template.Template
		wantErr string
	}{
		{name: "built-in", cfg: config.Notifier{WebhookURL: secretURL}},
		{name: "complete custom", cfg: config.Notifier{WebhookURL: secretURL}, tpl: parse(full("a {{ .Severity }}"))},
		{name: "missing blocks", cfg: config.Notifier{WebhookURL: secretURL}, tpl: parse(`{{define "wecom.title"}}t{{end}}root`), wantErr: "wecom.header, wecom.intro"},
		{name: "block fails on the sample", cfg: config.Notifier{WebhookURL: secretURL}, tpl: parse(full("{{ .NoSuchField }}")), wantErr: "wecom.alert"},
		{name: "no URL", wantErr: "webhookURL is required"},
		{name: "not a URL", cfg: config.Notifier{WebhookURL: "ftp://verysecretkey"}, wantErr: "not an http(s) URL"},
		{name: "no key", cfg: config.Notifier{WebhookURL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?verysecretkey"}, wantErr: "lacks its key"},
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
			if strings.Contains(err.Error(), "verysecretkey") {
				t.Errorf("error reveals the URL: %v", err)
			}
		})
	}
}

// No error or log record reveals the webhook URL or its key.
func TestSecretsNeverShown(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := newClock()
	var errs []error
	var secrets []string
	run := func(name, webhook, key string, client *http.Client, ctx context.Context, wantErr bool) {
		t.Helper()
		n := config.Notifier{Type: "wecom", Name: name, WebhookURL: config.Secret(webhook), AtMobiles: []string{"13800000000"}}
		nt, err := newNotifier(n, notify.Options{HTTPClient: client, Now: clock.Now, Logger: logger},
			withLimiter(newLimiter()), withSleep(clock.Sleep), withBackoff(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		err = nt.Notify(ctx, notifytest.Cycle())
		if (err != nil) != wantErr {
			t.Errorf("%s: error %v, want one: %t", name, err, wantErr)
		}
		if err != nil {
			errs = append(errs, err)
		}
		secrets = append(secrets, webhook, key)
		clock.Advance(2 * time.Minute)
	}
	r := newRobot(t, clock.Now)
	for _, a := range []string{errcode(0, "ok"), errcode(93000, "invalid webhook url"), errcode(45009, "api freq out of limit"), "500", errcode(301002, "other")} {
		r.set(a, a)
		run("answer", r.URL(), r.key, r.srv.Client(), context.Background(), a != errcode(0, "ok"))
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL + "/cgi-bin/webhook/send?key=key-gone-7a6b5c4d"
	gone.Close()
	run("gone", goneURL, "key-gone-7a6b5c4d", nil, context.Background(), true)
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
	run("hang", hang.URL+"/cgi-bin/webhook/send?key=key-hang-1f2e3d4c", "key-hang-1f2e3d4c", hang.Client(), ctx, true)
	if err := errs[len(errs)-1]; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout error %v does not unwrap to context.DeadlineExceeded", err)
	}
	var all strings.Builder
	for _, err := range errs {
		fmt.Fprintln(&all, err.Error())
	}
	all.Write(logs.Bytes())
	for _, s := range secrets {
		if strings.Contains(all.String(), s) {
			t.Errorf("output reveals %q:\n%s", s, all.String())
		}
	}
	if !strings.Contains(all.String(), "refused") {
		t.Errorf("transport error lost its cause:\n%s", all.String())
	}
	t.Logf("captured:\n%s", all.String())
}
