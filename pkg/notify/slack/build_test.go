package slack_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
	goslack "github.com/slack-go/slack"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/notifytest"
	"github.com/wahealth/wahealth/pkg/notify/slack"
)

// builtin loads the built-in slack template the way the application does.
func builtin(t *testing.T) *template.Template {
	t.Helper()
	tpl, err := notify.LoadTemplate("slack", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func build(t *testing.T, m *notify.Message) []slack.Payload {
	t.Helper()
	msgs, err := slack.BuildMessages(m, builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func indent(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	for name, m := range map[string]*notify.Message{
		"cycle":    notifytest.Cycle(),
		"baseline": notifytest.Baseline(),
		"failures": notifytest.Failures(),
		"test":     notify.Sample(notifytest.Time),
		"reminder": notifytest.Reminder(),
		"recovery": notifytest.Recovery(),
		"digest":   notifytest.Digest(),
	} {
		t.Run(name, func(t *testing.T) {
			msgs := build(t, m)
			for _, p := range msgs {
				checkLimits(t, p)
			}
			notifytest.Golden(t, name+".json", indent(t, msgs))
		})
	}
}

// view is what a person sees of one message: its fallback text and the text of each block.
type view struct {
	Text   string
	Header string
	Blocks []string // "section: ...", "context: ..."
}

// decode reads a message as Slack would (from JSON), so that the tests check the wire form.
func decode(t *testing.T, raw []byte) view {
	t.Helper()
	var m struct {
		Text   string         `json:"text"`
		Blocks goslack.Blocks `json:"blocks"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return toView(t, m.Text, m.Blocks.BlockSet)
}

func toView(t *testing.T, text string, blocks []goslack.Block) view {
	t.Helper()
	v := view{Text: text}
	for i, b := range blocks {
		switch b := b.(type) {
		case *goslack.HeaderBlock:
			if i != 0 {
				t.Errorf("header block at %d", i)
			}
			if b.Text.Type != goslack.PlainTextType {
				t.Errorf("header text type %q", b.Text.Type)
			}
			v.Header = b.Text.Text
		case *goslack.SectionBlock:
			if b.Text.Type != goslack.MarkdownType {
				t.Errorf("section text type %q", b.Text.Type)
			}
			v.Blocks = append(v.Blocks, "section: "+b.Text.Text)
		case *goslack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				v.Blocks = append(v.Blocks, "context: "+e.(*goslack.TextBlockObject).Text)
			}
		default:
			t.Errorf("unexpected block %T", b)
		}
	}
	return v
}

func viewOf(t *testing.T, p slack.Payload) view {
	t.Helper()
	return decode(t, indent(t, p))
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// checkLimits fails unless p is within Slack's limits.
func checkLimits(t *testing.T, p slack.Payload) {
	t.Helper()
	if n := len(p.Blocks); n > slack.MaxBlocks || n < 2 {
		t.Errorf("%d blocks", n)
	}
	v := viewOf(t, p)
	if n := utf16Len(v.Header); n == 0 || n > slack.MaxHeaderText {
		t.Errorf("header of %d characters: %q", n, v.Header)
	}
	total := utf16Len(v.Header)
	for _, b := range v.Blocks {
		if n := utf16Len(b) - len("section: "); n > slack.MaxSectionText || strings.TrimSpace(b[strings.Index(b, ":")+1:]) == "" {
			t.Errorf("block of %d characters: %.80q", n, b)
		}
		total += utf16Len(b)
	}
	if total > slack.MaxMessageText+100 {
		t.Errorf("message text of %d characters", total)
	}
	if p.Text == "" {
		t.Error("no fallback text")
	}
}

func TestCycleMessage(t *testing.T) {
	m := notifytest.Cycle()
	msgs := build(t, m)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	v := viewOf(t, msgs[0])
	if want := "🔴 CRITICAL — WhatsApp health: 2 blocked, 1 degraded, 1 recovered"; v.Header != want {
		t.Errorf("header %q, want %q", v.Header, want)
	}
	if v.Text != m.Title() {
		t.Errorf("fallback text %q, want the title %q", v.Text, m.Title())
	}
	// header, 4 alerts, context
	if len(msgs[0].Blocks) != 6 {
		t.Errorf("%d blocks, want 6:\n%s", len(msgs[0].Blocks), indent(t, msgs[0]))
	}
	all := strings.Join(v.Blocks, "\n")
	if n := strings.Count(all, "WABA 1000001"); n != 1 {
		t.Errorf("the shared WABA is shown %d times, want once:\n%s", n, all)
	}
	for _, want := range []string{
		"*AVAILABLE → BLOCKED*",
		"New error `141000`: The phone number you are trying to send messages from is not linked to your WhatsApp account.",
		"_Fix:_ Register and finish the OTP authentication process for your phone number.",
		"New error `141010`",
		"*LIMITED → AVAILABLE* (recovered)",
		"`customer=acme`",
		"Reported through 3 monitored targets",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("sections lack %q:\n%s", want, all)
		}
	}
	if last := v.Blocks[len(v.Blocks)-1]; last != "context: wahealth · cycle `20261128T030405Z-abc123` · 2026-11-28 03:04 UTC" {
		t.Errorf("context %q", last)
	}
}

func TestTestMessageIsMarked(t *testing.T) {
	msgs := build(t, notify.Sample(notifytest.Time))
	v := viewOf(t, msgs[0])
	for what, s := range map[string]string{"header": v.Header, "text": v.Text, "context": v.Blocks[len(v.Blocks)-1]} {
		if !strings.Contains(s, "[TEST]") && !strings.Contains(s, "test-notify") {
			t.Errorf("%s not marked as a test: %q", what, s)
		}
	}

	// A custom template that forgets the marker still gets it.
	tpl := parse(t, strings.Replace(readBuiltin(t), "🧪 [TEST] wahealth test alert", "wahealth alert", 1))
	msgs, err := slack.BuildMessages(notify.Sample(notifytest.Time), tpl)
	if err != nil {
		t.Fatal(err)
	}
	if h := viewOf(t, msgs[0]).Header; !strings.HasPrefix(h, "[TEST] ") {
		t.Errorf("header %q lacks [TEST]", h)
	}
}

// manyAlerts returns a message with n blocked phone numbers, in order.
func manyAlerts(n int) *notify.Message {
	m := &notify.Message{Kind: notify.KindChanges, CycleID: "many", Time: notifytest.Time}
	for i := range n {
		id := fmt.Sprintf("86138%08d", i)
		m.Alerts = append(m.Alerts, notify.Alert{
			Entity:   health.Entity{Type: health.PhoneNumber, ID: id, PhoneNumber: id, CanSendMessage: health.Blocked},
			Severity: health.Critical,
			Changes:  []health.Change{{Kind: health.StatusChanged, Entity: health.Key{Type: health.PhoneNumber, ID: id}, From: health.Available, To: health.Blocked}},
		})
	}
	m.Seal()
	return m
}

// phones returns the phone numbers in the sections of msgs, in order.
func phones(t *testing.T, msgs []slack.Payload) []string {
	t.Helper()
	var out []string
	for _, p := range msgs {
		for _, b := range viewOf(t, p).Blocks {
			if _, rest, ok := strings.Cut(b, "*phone number "); ok {
				out = append(out, rest[:strings.IndexByte(rest, '*')])
			}
		}
	}
	return out
}

func TestSplitBlocks(t *testing.T) {
	m := manyAlerts(60)
	msgs := build(t, m)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	for _, p := range msgs {
		checkLimits(t, p)
	}
	first, second := viewOf(t, msgs[0]), viewOf(t, msgs[1])
	if len(msgs[0].Blocks) != slack.MaxBlocks {
		t.Errorf("first message has %d blocks, want %d", len(msgs[0].Blocks), slack.MaxBlocks)
	}
	more := first.Blocks[len(first.Blocks)-2]
	if want := "section: _…and 13 more, continued in message 2/2._"; more != want {
		t.Errorf("first message ends with %q, want %q", more, want)
	}
	if !strings.HasSuffix(first.Header, " (1/2)") || !strings.HasSuffix(second.Header, " (2/2)") {
		t.Errorf("headers %q and %q lack (i/n)", first.Header, second.Header)
	}
	if !strings.HasSuffix(first.Text, " (1/2)") || !strings.HasSuffix(second.Text, " (2/2)") {
		t.Errorf("fallback texts %q and %q lack (i/n)", first.Text, second.Text)
	}
	if strings.Contains(strings.Join(second.Blocks, "\n"), "…and") {
		t.Error("the last message says there is more")
	}
	var want []string
	for _, a := range m.Alerts {
		want = append(want, a.Entity.ID)
	}
	if d := cmp.Diff(want, phones(t, msgs)); d != "" {
		t.Errorf("alerts lost or out of order (-want +got):\n%s", d)
	}
}

func TestSplitLimits(t *testing.T) {
	long := strings.Repeat("x<&>", 1000) // 4,000 characters, 9,000 escaped
	for _, tc := range []struct {
		name   string
		alerts int
		errors int    // errors per alert
		desc   string // error description
		want   int    // messages
	}{
		{"fits", 48, 0, "", 1},
		{"one over", 49, 0, "", 2},
		{"three messages", 140, 0, "", 3},
		{"long sections are cut", 5, 1, long, 2},
		{"text budget splits", 30, 2, strings.Repeat("word ", 120), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := manyAlerts(tc.alerts)
			for i := range m.Alerts {
				for j := range tc.errors {
					e := health.Error{Code: fmt.Sprint(131000 + j), Description: tc.desc, Solution: "Do something."}
					m.Alerts[i].Entity.Errors = append(m.Alerts[i].Entity.Errors, e)
					m.Alerts[i].Changes = append(m.Alerts[i].Changes, health.Change{Kind: health.ErrorAdded, Entity: m.Alerts[i].Entity.Key(), ErrorCode: e.Code, Error: &e})
				}
			}
			msgs := build(t, m)
			if len(msgs) != tc.want {
				t.Errorf("%d messages, want %d", len(msgs), tc.want)
			}
			for _, p := range msgs {
				checkLimits(t, p)
			}
			if got := phones(t, msgs); len(got) != tc.alerts {
				t.Errorf("%d alerts shown, want %d", len(got), tc.alerts)
			}
			if tc.desc == long {
				s := viewOf(t, msgs[0]).Blocks[0]
				if !strings.HasSuffix(s, "…") || strings.Contains(s[len(s)-8:], "&") && !strings.Contains(s[len(s)-8:], ";") {
					t.Errorf("cut section ends %q", s[len(s)-20:])
				}
			}
		})
	}
}

func TestMrkdwnIsEscaped(t *testing.T) {
	m := manyAlerts(1)
	m.Alerts[0].Entity.Labels = map[string]string{"team": "<!channel> & co"}
	e := health.Error{Code: "1", Description: "use <https://evil|this> & that", Solution: "a > b"}
	m.Alerts[0].Changes = append(m.Alerts[0].Changes, health.Change{Kind: health.ErrorAdded, ErrorCode: "1", Error: &e})
	v := viewOf(t, build(t, m)[0])
	all := strings.Join(v.Blocks, "\n")
	for _, want := range []string{"`team=&lt;!channel&gt; &amp; co`", "use &lt;https://evil|this&gt; &amp; that", "a &gt; b"} {
		if !strings.Contains(all, want) {
			t.Errorf("lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "<!channel>") {
		t.Error("a mention from the data reached Slack")
	}
}

func readBuiltin(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "templates", "slack.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parse(t *testing.T, src string) *template.Template {
	t.Helper()
	tpl, err := template.New("slack.tmpl").Funcs(notify.Funcs()).Option("missingkey=error").Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestBrokenTemplateFailsAtStart(t *testing.T) {
	src := readBuiltin(t)
	for name, body := range map[string]string{
		"missing define":   strings.Replace(src, `define "slack.failure"`, `define "slack.failures"`, 1),
		"bad field":        strings.Replace(src, "{{ .Failures }} failed checks since", "{{ .NoSuchField }} failed checks since", 1),
		"bad entity field": strings.Replace(src, "{{ entityName . }}", "{{ .Nope }}", 1),
	} {
		t.Run(name, func(t *testing.T) {
			if body == src {
				t.Fatal("the replacement did not apply")
			}
			tpl := parse(t, body)
			// The root template still renders (notify.LoadTemplate would accept it) ...
			if _, err := notify.Render(tpl, notify.Sample(notifytest.Time)); err != nil {
				t.Fatalf("root template: %v", err)
			}
			// ... but New refuses it.
			n := config.Notifier{Type: "slack", WebhookURL: "https://hooks.slack.com/services/T0/B0/x"}
			if _, err := slack.New(n, notify.Options{Template: tpl}); err == nil {
				t.Error("New accepted a broken template")
			}
		})
	}
	n := config.Notifier{Type: "slack", WebhookURL: "https://hooks.slack.com/services/T0/B0/x"}
	if _, err := slack.New(n, notify.Options{}); err != nil {
		t.Errorf("New with the built-in template: %v", err)
	}
}
