package feishu_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"text/template"

	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/feishu"
	"github.com/wahealth/wahealth/pkg/notify/notifytest"
)

func loadTemplate(t *testing.T) *template.Template {
	t.Helper()
	tpl, err := notify.LoadTemplate("feishu", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o600) }

// preview flattens cards into what a person reads: the title, the blocks separated by "---",
// and the note.
func preview(parts []feishu.Payload) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString("\n======\n\n")
		}
		b.WriteString("# " + p.Card.Header.Title.Content + "   [" + p.Card.Header.Template + "]\n\n")
		for _, e := range p.Card.Elements {
			switch e.Tag {
			case "div":
				b.WriteString(e.Text.Content + "\n")
			case "hr":
				b.WriteString("---\n")
			case "note":
				b.WriteString("\n" + e.Elements[0].Content + "\n")
			}
		}
	}
	return b.String()
}

func references() map[string]*notify.Message {
	return map[string]*notify.Message{
		"cycle":    notifytest.Cycle(),
		"baseline": notifytest.Baseline(),
		"failures": notifytest.Failures(),
		"test":     notify.Sample(notifytest.Time),
		"reminder": notifytest.Reminder(),
		"recovery": notifytest.Recovery(),
		"digest":   notifytest.Digest(),
	}
}

// TestGolden pins, for each reference message, the request bodies (before signing) and a
// text preview of the card.
func TestGolden(t *testing.T) {
	tpl := loadTemplate(t)
	for name, m := range references() {
		t.Run(name, func(t *testing.T) {
			parts, err := feishu.BuildRequests(m, tpl, "")
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			for _, p := range parts {
				if err := enc.Encode(p); err != nil {
					t.Fatal(err)
				}
			}
			notifytest.Golden(t, name+".json", b.Bytes())
			notifytest.Golden(t, name+".md", []byte(preview(parts)))
		})
	}
}

func TestReferenceCards(t *testing.T) {
	tpl := loadTemplate(t)
	tests := []struct {
		name string
		msg  *notify.Message
		want []string
	}{
		{"reminder", notifytest.Reminder(), []string{"• still BLOCKED for 5h 10m (since 2026-11-27 21:54 UTC)", "• error 141006 (There is an error with the payment method.)\n  👉 There was an error"}},
		{"recovery", notifytest.Recovery(), []string{"• recovered: BLOCKED → AVAILABLE (lasted 2h 5m)", "• error cleared 141006"}},
		{"digest", notifytest.Digest(), []string{"Scheduled digest: wahealth watches **12 entities**", "💡 Meta cannot bill the WhatsApp Business Account"}},
		{"cycle", notifytest.Cycle(), []string{"💡 The business portfolio has not passed business verification."}},
		{"test", notify.Sample(notifytest.Time), []string{"**sample alert**", "• ongoing error 141006"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := feishu.BuildRequests(tt.msg, tpl, "")
			if err != nil {
				t.Fatal(err)
			}
			text := preview(parts)
			for _, s := range tt.want {
				if !strings.Contains(text, s) {
					t.Errorf("card lacks %q:\n%s", s, text)
				}
			}
			if tt.name == "cycle" && strings.Count(text, "WABA 1000001") != 1 {
				t.Errorf("WABA 1000001 not shown exactly once:\n%s", text)
			}
		})
	}
}
