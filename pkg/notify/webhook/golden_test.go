package webhook_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"text/template"

	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/notifytest"
	"github.com/wahealth/wahealth/pkg/notify/webhook"
)

func loadTemplate(t *testing.T) *template.Template {
	t.Helper()
	tpl, err := notify.LoadTemplate("webhook", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// TestGolden pins, for each reference message, the payload (indented here; sent compact) and
// its text field.
func TestGolden(t *testing.T) {
	tpl := loadTemplate(t)
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
			body, err := webhook.BuildPayload(m, tpl)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := json.Indent(&b, body, "", "  "); err != nil {
				t.Fatal(err)
			}
			b.WriteByte('\n')
			notifytest.Golden(t, name+".json", b.Bytes())
			var p webhook.Payload
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			notifytest.Golden(t, name+".txt", []byte(p.Text+"\n"))
		})
	}
}
