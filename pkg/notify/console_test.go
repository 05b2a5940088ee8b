package notify_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/notifytest"
)

func TestConsoleGolden(t *testing.T) {
	tpl, err := notify.LoadTemplate("console", "", "")
	if err != nil {
		t.Fatal(err)
	}
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
			var b bytes.Buffer
			if err := notify.NewConsole(&b, tpl).Notify(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			notifytest.Golden(t, "console/"+name+".txt", b.Bytes())
		})
	}
}

func TestCycleShowsSharedWABAOnce(t *testing.T) {
	tpl, err := notify.LoadTemplate("console", "", "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := notify.Render(tpl, notifytest.Cycle())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "WABA 1000001"); n != 1 {
		t.Errorf("WABA shown %d times, want once:\n%s", n, out)
	}
	if !strings.HasPrefix(out, "== [CRITICAL]") {
		t.Errorf("worst severity not in the header:\n%s", out)
	}
}

func TestBrokenTemplateFailsAtLoad(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"syntax.tmpl":  "{{ if }}",
		"missing.tmpl": "{{ .NoSuchField }}",
	} {
		path := dir + "/" + name
		if err := writeFile(path, body); err != nil {
			t.Fatal(err)
		}
		if _, err := notify.LoadTemplate("console", "", path); err == nil {
			t.Errorf("%s: a broken template loaded", name)
		}
	}
}

func TestSealIsStable(t *testing.T) {
	a, b := notifytest.Cycle(), notifytest.Cycle()
	if a.ID != b.ID || !strings.HasPrefix(a.ID, a.CycleID+"/changes/") {
		t.Errorf("ids %q and %q", a.ID, b.ID)
	}
	other := notifytest.Cycle()
	other.Alerts = other.Alerts[:1]
	other.Seal()
	if other.ID == a.ID {
		t.Error("different content, same id")
	}
}

func TestConsoleWriteErrorIsReturned(t *testing.T) {
	tpl, _ := notify.LoadTemplate("console", "", "")
	err := notify.NewConsole(failWriter{}, tpl).Notify(context.Background(), notify.Sample(time.Unix(0, 0)))
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("got %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestTemplateOverrides(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(dir+"/console.tmpl", "custom: {{ .Title }}"); err != nil {
		t.Fatal(err)
	}
	tpl, err := notify.LoadTemplate("console", dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := notify.Render(tpl, notifytest.Cycle()); !strings.HasPrefix(out, "custom: WhatsApp health") {
		t.Errorf("templatesDir not used: %q", out)
	}
	// A directory without the channel's file keeps the built-in template.
	tpl, err = notify.LoadTemplate("console", t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := notify.Render(tpl, notifytest.Cycle()); !strings.HasPrefix(out, "== [CRITICAL]") {
		t.Errorf("built-in template not kept: %q", out)
	}
	// A per-notifier file wins over the directory.
	file := dir + "/mine.tmpl"
	if err := writeFile(file, "mine: {{ .Severity }}"); err != nil {
		t.Fatal(err)
	}
	tpl, err = notify.LoadTemplate("console", dir, file)
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := notify.Render(tpl, notifytest.Cycle()); out != "mine: critical" {
		t.Errorf("per-notifier template not used: %q", out)
	}
}
