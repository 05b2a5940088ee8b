package ondemand_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/webhook"
	"github.com/wahealth/wahealth/pkg/ondemand"
)

// failingWriter refuses every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestTestNotify(t *testing.T) {
	r := newRig(t, func(r *rig, _ *ondemand.Options) { r.mon.Channels[0].Type = "console" })
	res := r.do(t, http.MethodPost, "/test-notify", nil, bearer...)
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.body)
	}
	var got ondemand.TestNotifyResult
	decode(t, res, &got)
	want := ondemand.TestNotifyResult{OK: true, Results: []monitor.NotifyResult{{Notifier: "console", Type: "console", OK: true}}}
	if d := cmp.Diff(want, got, cmpopts.IgnoreFields(monitor.NotifyResult{}, "Took")); d != "" {
		t.Errorf("answer (-want +got):\n%s", d)
	}
	if got.Results[0].Took == "" {
		t.Error("no took")
	}
	if out := r.console.String(); !strings.Contains(out, "[TEST] wahealth test alert") {
		t.Errorf("the console did not get the sample alert:\n%s", out)
	}
	// Straight to the notifiers: nothing stored, no CAMS call.
	if r.version(t) != 0 || r.sim.Stats().Calls != 0 {
		t.Errorf("test-notify stored state (version %d) or called CAMS (%d)", r.version(t), r.sim.Stats().Calls)
	}
}

func TestTestNotifyFailures(t *testing.T) {
	// A webhook whose URL carries a credential, at an address that refuses connections: its
	// error must name neither the URL nor the credential.
	const hookSecret = "hook-credential-5d1e8c0b9a7f"
	dead := httptest.NewServer(http.NotFoundHandler())
	hookURL := dead.URL + "/hooks/" + hookSecret + "?token=" + hookSecret
	dead.Close()
	hook, err := webhook.New(config.Notifier{Type: "webhook", Name: "ops-hook", WebhookURL: config.Secret(hookURL)}, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := notify.LoadTemplate("console", "", "")
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, func(r *rig, _ *ondemand.Options) {
		r.mon.Channels = []monitor.Channel{
			{Name: "broken-console", Type: "console", Notifier: notify.NewConsole(failingWriter{}, tpl)},
			{Name: "ops-hook", Type: "webhook", Notifier: hook},
			{Name: "console", Type: "console", Notifier: notify.NewConsole(r.console, tpl)},
		}
	})
	res := r.do(t, http.MethodPost, "/test-notify", nil, bearer...)
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.body)
	}
	for _, secret := range []string{hookSecret, hookURL, dead.URL} {
		if strings.Contains(string(res.body), secret) || strings.Contains(r.logs.String(), secret) {
			t.Errorf("the answer or the log contains %q:\n%s", secret, res.body)
		}
	}
	var got ondemand.TestNotifyResult
	decode(t, res, &got)
	if got.OK || len(got.Results) != 3 {
		t.Fatalf("answer %+v, want ok false and three results", got)
	}
	want := []monitor.NotifyResult{
		{Notifier: "broken-console", Type: "console", OK: false, Error: "write console alert: disk full"},
		{Notifier: "ops-hook", Type: "webhook", OK: false},
		{Notifier: "console", Type: "console", OK: true},
	}
	if d := cmp.Diff(want, got.Results, cmpopts.IgnoreFields(monitor.NotifyResult{}, "Took", "Error")); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	if got.Results[0].Error != want[0].Error {
		t.Errorf("console error %q, want %q", got.Results[0].Error, want[0].Error)
	}
	if e := got.Results[1].Error; !strings.HasPrefix(e, "post to webhook: ") || !strings.Contains(e, "connection refused") {
		t.Errorf("webhook error %q, want the failed post, without its URL", e)
	}
	if got.Results[2].Error != "" || !strings.Contains(r.console.String(), "[TEST] wahealth test alert") {
		t.Errorf("the working notifier: %+v\n%s", got.Results[2], r.console.String())
	}
}
