package notify_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/notifytest"
)

func TestFilter(t *testing.T) {
	names := func(m *notify.Message) []string {
		if m == nil {
			return nil
		}
		var out []string
		for _, a := range m.Alerts {
			out = append(out, a.Entity.Key().String())
		}
		for _, f := range m.Failures {
			out = append(out, "failure:"+f.Target.ID())
		}
		return out
	}
	tests := []struct {
		name string
		f    notify.Filter
		msg  *notify.Message
		want []string
	}{
		{"empty keeps all", notify.Filter{}, notifytest.Cycle(), []string{"PHONE_NUMBER:8613800000001", "WABA:1000001", "BUSINESS:2000001", "MESSAGE_TEMPLATE:order_shipped:en"}},
		{"critical only", notify.Filter{Severities: []health.Severity{health.Critical}}, notifytest.Cycle(), []string{"PHONE_NUMBER:8613800000001", "WABA:1000001"}},
		{"recoveries only", notify.Filter{Severities: []health.Severity{health.Resolved}}, notifytest.Cycle(), []string{"MESSAGE_TEMPLATE:order_shipped:en"}},
		{"entity type", notify.Filter{EntityTypes: []health.EntityType{health.WABA, health.Business}}, notifytest.Cycle(), []string{"WABA:1000001", "BUSINESS:2000001"}},
		{"labels route a customer", notify.Filter{Labels: map[string]string{"customer": "acme"}}, notifytest.Cycle(), []string{"PHONE_NUMBER:8613800000001"}},
		{"nothing left is nil", notify.Filter{Labels: map[string]string{"customer": "other"}}, notifytest.Cycle(), nil},
		{"failures count as warning", notify.Filter{Severities: []health.Severity{health.Warning}}, notifytest.Failures(), []string{"failure:phone:cs:8613800000004"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.f.Apply(tt.msg)
			if d := cmp.Diff(tt.want, names(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if got != nil && !tt.f.Empty() && got.ID == tt.msg.ID && len(got.Alerts) != len(tt.msg.Alerts) {
				t.Error("a filtered message kept the unfiltered id")
			}
		})
	}
	// The baseline is always sent, listing only what the filter selects.
	b := notify.Filter{EntityTypes: []health.EntityType{health.Business}}.Apply(notifytest.Baseline())
	if b == nil || len(b.Baseline.NotAvailable) != 1 || b.Baseline.NotAvailable[0].Type != health.Business {
		t.Errorf("baseline: %+v", b)
	}
}
