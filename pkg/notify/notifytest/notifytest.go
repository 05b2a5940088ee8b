// Package notifytest holds what every notifier's tests share: the reference cycle message that
// golden files are rendered from, and the golden-file helper with its -update flag.
package notifytest

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
)

var update = flag.Bool("update", false, "rewrite golden files with the current output")

// Golden compares got with testdata/<name> and rewrites the file instead when -update is set.
func Golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run the test with -update to create it): %v", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs from the golden file (-want +got; rerun with -update if intended):\n%s", path, d)
	}
}

// Time is the reference cycle's time.
var Time = time.Date(2026, 11, 28, 3, 4, 5, 0, time.UTC)

var (
	payment      = health.Error{Code: "141006", Description: "There is an error with the payment method.", Solution: "There was an error with your payment method. Please add a new payment method to the account."}
	notLinked    = health.Error{Code: "141000", Description: "The phone number you are trying to send messages from is not linked to your WhatsApp account.", Solution: "Register and finish the OTP authentication process for your phone number."}
	verification = health.Error{Code: "141010", Description: "The Business has not passed business verification.", Solution: "Visit business settings and start or resolve the business verification request."}
)

func key(t health.EntityType, id string) health.Key { return health.Key{Type: t, ID: id} }

// Cycle returns the reference message: a phone number that became BLOCKED with two error codes,
// a new error code on a LIMITED business, a template that recovered, and a WABA-level payment
// problem seen through several phone numbers (one entity, shown once).
func Cycle() *notify.Message {
	m := &notify.Message{Kind: notify.KindChanges, CycleID: "20261128T030405Z-abc123", Time: Time}
	m.Alerts = []notify.Alert{
		{
			Entity: health.Entity{Type: health.PhoneNumber, ID: "8613800000001", PhoneNumber: "8613800000001", WabaID: "1000001",
				CanSendMessage: health.Blocked, Errors: []health.Error{notLinked, payment}, Labels: map[string]string{"customer": "acme"}},
			Severity: health.Critical,
			Changes: []health.Change{
				{Kind: health.StatusChanged, Entity: key(health.PhoneNumber, "8613800000001"), From: health.Available, To: health.Blocked},
				{Kind: health.ErrorAdded, Entity: key(health.PhoneNumber, "8613800000001"), ErrorCode: "141000", Error: &notLinked},
				{Kind: health.ErrorAdded, Entity: key(health.PhoneNumber, "8613800000001"), ErrorCode: "141006", Error: &payment},
			},
		},
		{
			Entity: health.Entity{Type: health.WABA, ID: "1000001", WabaID: "1000001", CanSendMessage: health.Blocked, Errors: []health.Error{payment},
				Sources: []string{"phone:cs:8613800000001", "phone:cs:8613800000002", "phone:cs:8613800000003"}},
			Severity: health.Critical,
			Changes: []health.Change{
				{Kind: health.StatusChanged, Entity: key(health.WABA, "1000001"), From: health.Available, To: health.Blocked},
				{Kind: health.ErrorAdded, Entity: key(health.WABA, "1000001"), ErrorCode: "141006", Error: &payment},
			},
		},
		{
			Entity:   health.Entity{Type: health.Business, ID: "2000001", BusinessID: "2000001", CanSendMessage: health.Limited, Errors: []health.Error{verification}},
			Severity: health.Warning,
			Changes:  []health.Change{{Kind: health.ErrorAdded, Entity: key(health.Business, "2000001"), ErrorCode: "141010", Error: &verification}},
		},
		{
			Entity:   health.Entity{Type: health.Template, ID: "order_shipped:en", TemplateCode: "order_shipped", Language: "en", CanSendMessage: health.Available},
			Severity: health.Resolved,
			Changes:  []health.Change{{Kind: health.StatusChanged, Entity: key(health.Template, "order_shipped:en"), From: health.Limited, To: health.Available}},
		},
	}
	m.Seal()
	return m
}

// Baseline returns a first-cycle summary with two entities not available.
func Baseline() *notify.Message {
	m := &notify.Message{Kind: notify.KindBaseline, CycleID: "20261128T030405Z-first", Time: Time}
	m.Baseline = &notify.Baseline{Monitored: 12, Targets: 5, NotAvailable: []health.Entity{
		{Type: health.PhoneNumber, ID: "8613800000001", CanSendMessage: health.Blocked, Errors: []health.Error{payment}},
		{Type: health.Business, ID: "2000001", CanSendMessage: health.Limited, Errors: []health.Error{verification}},
	}}
	m.Seal()
	return m
}

// Failures returns a message about a target that cannot be checked and one that recovered.
func Failures() *notify.Message {
	m := &notify.Message{Kind: notify.KindChanges, CycleID: "20261128T030405Z-fail", Time: Time}
	m.Failures = []notify.Failure{
		{Target: health.Target{NodeType: health.NodePhone, CustSpaceID: "cs", PhoneNumber: "8613800000004"},
			Error: "cams GetWhatsappHealthStatus: Forbidden.AccessDenied (HTTP 200, request id 5E1F-22): access denied", Failures: 3, Since: Time.Add(-15 * time.Minute)},
		{Target: health.Target{NodeType: health.NodeWABA, CustSpaceID: "cs", WabaID: "1000002"}, Failures: 4, Since: Time.Add(-2 * time.Hour), Recovered: true},
	}
	m.Seal()
	return m
}

// Reminder returns a reminder about a phone number still blocked for five hours.
func Reminder() *notify.Message {
	m := &notify.Message{Kind: notify.KindChanges, CycleID: "20261128T030405Z-remind", Time: Time}
	m.Alerts = []notify.Alert{{
		Entity:   health.Entity{Type: health.PhoneNumber, ID: "8613800000001", PhoneNumber: "8613800000001", CanSendMessage: health.Blocked, Errors: []health.Error{payment}},
		Severity: health.Critical, Reminder: true, Since: Time.Add(-5*time.Hour - 10*time.Minute),
	}}
	m.Seal()
	return m
}

// Recovery returns a recovery of a phone number blocked for 2 hours 5 minutes.
func Recovery() *notify.Message {
	m := &notify.Message{Kind: notify.KindChanges, CycleID: "20261128T030405Z-recover", Time: Time}
	m.Alerts = []notify.Alert{{
		Entity:   health.Entity{Type: health.PhoneNumber, ID: "8613800000001", PhoneNumber: "8613800000001", CanSendMessage: health.Available},
		Severity: health.Resolved, Since: Time.Add(-2*time.Hour - 5*time.Minute),
		Changes: []health.Change{
			{Kind: health.StatusChanged, Entity: key(health.PhoneNumber, "8613800000001"), From: health.Blocked, To: health.Available},
			{Kind: health.ErrorCleared, Entity: key(health.PhoneNumber, "8613800000001"), ErrorCode: "141006", Error: &payment},
		},
	}}
	m.Seal()
	return m
}

// Digest returns a scheduled digest listing two entities not available.
func Digest() *notify.Message {
	m := Baseline()
	m.Kind, m.CycleID = notify.KindDigest, "20261128T010000Z-digest"
	m.Seal()
	return m
}
