package health_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/health"
)

var payment = health.Error{Code: "141006", Description: "There is an error with the payment method.", Solution: "Add a new payment method."}
var verification = health.Error{Code: "141010", Description: "The Business has not passed business verification."}

func phone(t *testing.T, num string) health.Target {
	t.Helper()
	return health.Target{NodeType: health.NodePhone, CustSpaceID: "cs", PhoneNumber: num, WabaID: "w1"}
}

// snap builds a snapshot from (target, rows) observations, as the monitor does.
func snap(obs ...func(*health.Snapshot)) *health.Snapshot {
	s := health.NewSnapshot()
	for _, o := range obs {
		o(s)
	}
	return s
}

func seen(t health.Target, rows ...health.Entity) func(*health.Snapshot) {
	return func(s *health.Snapshot) {
		for _, e := range rows {
			health.Identify(&e, t)
			s.Add(e)
		}
	}
}

func row(typ health.EntityType, st health.Status, errs ...health.Error) health.Entity {
	return health.Entity{Type: typ, CanSendMessage: st, Errors: errs, BusinessID: "b1"}
}

func TestDiff(t *testing.T) {
	p1 := phone(t, "8613800000001")
	p2 := phone(t, "+86 138 0000 0002")
	k := func(typ health.EntityType, id string) health.Key { return health.Key{Type: typ, ID: id} }
	tests := []struct {
		name       string
		prev, next *health.Snapshot
		want       []health.Change
	}{
		{
			name: "no change, no diff",
			prev: snap(seen(p1, row(health.PhoneNumber, health.Available), row(health.WABA, health.Available))),
			next: snap(seen(p1, row(health.PhoneNumber, health.Available), row(health.WABA, health.Available))),
			want: nil,
		},
		{
			name: "degrade to blocked with a new error",
			prev: snap(seen(p1, row(health.PhoneNumber, health.Limited))),
			next: snap(seen(p1, row(health.PhoneNumber, health.Blocked, payment))),
			want: []health.Change{
				{Kind: health.StatusChanged, Entity: k(health.PhoneNumber, "8613800000001"), From: health.Limited, To: health.Blocked},
				{Kind: health.ErrorAdded, Entity: k(health.PhoneNumber, "8613800000001"), ErrorCode: "141006", Error: &payment},
			},
		},
		{
			name: "recovery clears status and error",
			prev: snap(seen(p1, row(health.PhoneNumber, health.Blocked, payment))),
			next: snap(seen(p1, row(health.PhoneNumber, health.Available))),
			want: []health.Change{
				{Kind: health.StatusChanged, Entity: k(health.PhoneNumber, "8613800000001"), From: health.Blocked, To: health.Available},
				{Kind: health.ErrorCleared, Entity: k(health.PhoneNumber, "8613800000001"), ErrorCode: "141006", Error: &payment},
			},
		},
		{
			name: "shared WABA row seen by two phones is one change",
			prev: snap(seen(p1, row(health.PhoneNumber, health.Available), row(health.WABA, health.Available)),
				seen(p2, row(health.PhoneNumber, health.Available), row(health.WABA, health.Available))),
			next: snap(seen(p1, row(health.PhoneNumber, health.Available), row(health.WABA, health.Blocked, payment)),
				seen(p2, row(health.PhoneNumber, health.Available), row(health.WABA, health.Blocked, payment))),
			want: []health.Change{
				{Kind: health.StatusChanged, Entity: k(health.WABA, "w1"), From: health.Available, To: health.Blocked},
				{Kind: health.ErrorAdded, Entity: k(health.WABA, "w1"), ErrorCode: "141006", Error: &payment},
			},
		},
		{
			name: "error on a LIMITED entity without status change",
			prev: snap(seen(p1, row(health.Business, health.Limited))),
			next: snap(seen(p1, row(health.Business, health.Limited, verification))),
			want: []health.Change{
				{Kind: health.ErrorAdded, Entity: k(health.Business, "b1"), ErrorCode: "141010", Error: &verification},
			},
		},
		{
			name: "unknown status and type are kept",
			prev: snap(seen(p1, row("SOMETHING_NEW", health.Available))),
			next: snap(seen(p1, row("SOMETHING_NEW", "WEIRD"))),
			want: []health.Change{
				{Kind: health.StatusChanged, Entity: k("SOMETHING_NEW", "w1"), From: health.Available, To: "WEIRD"},
			},
		},
		{
			name: "entity appears and disappears",
			prev: snap(seen(p1, row(health.PhoneNumber, health.Available))),
			next: snap(seen(p2, row(health.PhoneNumber, health.Limited))),
			want: []health.Change{
				{Kind: health.EntityRemoved, Entity: k(health.PhoneNumber, "8613800000001"), From: health.Available},
				{Kind: health.EntityAdded, Entity: k(health.PhoneNumber, "8613800000002"), To: health.Limited},
			},
		},
		{
			name: "first snapshot: everything added, errors too",
			prev: nil,
			next: snap(seen(p1, row(health.PhoneNumber, health.Blocked, payment))),
			want: []health.Change{
				{Kind: health.EntityAdded, Entity: k(health.PhoneNumber, "8613800000001"), To: health.Blocked},
				{Kind: health.ErrorAdded, Entity: k(health.PhoneNumber, "8613800000001"), ErrorCode: "141006", Error: &payment},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := health.Diff(tt.prev, tt.next)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Diff (-want +got):\n%s", d)
			}
		})
	}
}

func TestMergeWorstStatusAndUnionOfErrors(t *testing.T) {
	p1 := phone(t, "1")
	p2 := phone(t, "2")
	s := snap(seen(p1, row(health.WABA, health.Limited, verification)), seen(p2, row(health.WABA, health.Blocked, payment)))
	if s.Len() != 1 {
		t.Fatalf("want one WABA entity, got %d", s.Len())
	}
	w := s.Get(health.Key{Type: health.WABA, ID: "w1"})
	if w.CanSendMessage != health.Blocked {
		t.Errorf("status = %s, want the worse BLOCKED", w.CanSendMessage)
	}
	if d := cmp.Diff([]string{"141006", "141010"}, w.ErrorCodes()); d != "" {
		t.Errorf("error codes (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{p1.ID(), p2.ID()}, w.Sources); d != "" {
		t.Errorf("sources (-want +got):\n%s", d)
	}
}

func TestIdentify(t *testing.T) {
	tpl := health.Target{NodeType: health.NodeTemplate, CustSpaceID: "cs", TemplateCode: "welcome", Language: "en", WabaID: "w9"}
	tests := []struct {
		name   string
		target health.Target
		row    health.Entity
		want   health.Key
	}{
		{"phone falls back to the query and is normalised", phone(t, "+86 138-0000-0001"), health.Entity{Type: health.PhoneNumber}, health.Key{Type: health.PhoneNumber, ID: "8613800000001"}},
		{"phone from the row", phone(t, "x"), health.Entity{Type: health.PhoneNumber, PhoneNumber: "8613800000009"}, health.Key{Type: health.PhoneNumber, ID: "8613800000009"}},
		{"template code and language", tpl, health.Entity{Type: health.Template}, health.Key{Type: health.Template, ID: "welcome:en"}},
		{"waba from the row", tpl, health.Entity{Type: health.WABA, WabaID: "w1"}, health.Key{Type: health.WABA, ID: "w1"}},
		{"waba from the query", tpl, health.Entity{Type: health.WABA}, health.Key{Type: health.WABA, ID: "w9"}},
		{"business", tpl, health.Entity{Type: health.Business, BusinessID: "b7"}, health.Key{Type: health.Business, ID: "b7"}},
		{"business without id", tpl, health.Entity{Type: health.Business}, health.Key{Type: health.Business, ID: "waba/w9"}},
		{"app per customer space", tpl, health.Entity{Type: health.App}, health.Key{Type: health.App, ID: "cs"}},
		{"unknown type keeps its type", tpl, health.Entity{Type: "FLOW", TemplateCode: "f1", Language: "pt_BR"}, health.Key{Type: "FLOW", ID: "f1:pt_BR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.row
			health.Identify(&e, tt.target)
			if d := cmp.Diff(tt.want, e.Key()); d != "" {
				t.Errorf("key (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]string{tt.target.ID()}, e.Sources); d != "" {
				t.Errorf("sources (-want +got):\n%s", d)
			}
		})
	}
}

func TestCarryOverKeepsEntitiesOfFailedTargets(t *testing.T) {
	p1, p2 := phone(t, "1"), phone(t, "2")
	prev := snap(seen(p1, row(health.PhoneNumber, health.Blocked, payment), row(health.WABA, health.Available)),
		seen(p2, row(health.PhoneNumber, health.Available), row(health.WABA, health.Available)))
	// p1 failed this cycle; p2 succeeded and no longer returns... nothing changed for it.
	next := snap(seen(p2, row(health.PhoneNumber, health.Available), row(health.WABA, health.Available)))
	n := next.CarryOver(prev, func(id string) bool { return id == p2.ID() })
	if n != 1 {
		t.Fatalf("carried %d entities, want 1 (phone 1)", n)
	}
	if changes := health.Diff(prev, next); len(changes) != 0 {
		t.Errorf("a failed fetch produced changes: %+v", changes)
	}
	// Now p1 succeeded without its phone row: that is a removal.
	next2 := snap(seen(p1, row(health.WABA, health.Available)), seen(p2, row(health.PhoneNumber, health.Available), row(health.WABA, health.Available)))
	next2.CarryOver(prev, func(string) bool { return true })
	got := health.Diff(prev, next2)
	if len(got) != 1 || got[0].Kind != health.EntityRemoved || got[0].Entity.ID != "1" {
		t.Errorf("want one removal of phone 1, got %+v", got)
	}
}

func TestSnapshotJSONRoundTrip(t *testing.T) {
	s := snap(seen(phone(t, "1"), row(health.PhoneNumber, "WEIRD", payment), row("NEW_TYPE", health.Limited)))
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back health.Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(s.Entities, back.Entities); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
}

func TestSeverity(t *testing.T) {
	blocked := &health.Entity{CanSendMessage: health.Blocked}
	avail := &health.Entity{CanSendMessage: health.Available}
	tests := []struct {
		c    health.Change
		e    *health.Entity
		want health.Severity
	}{
		{health.Change{Kind: health.StatusChanged, From: health.Available, To: health.Blocked}, blocked, health.Critical},
		{health.Change{Kind: health.StatusChanged, From: health.Available, To: health.Limited}, nil, health.Warning},
		{health.Change{Kind: health.StatusChanged, From: health.Available, To: "WEIRD"}, nil, health.Warning},
		{health.Change{Kind: health.StatusChanged, From: health.Blocked, To: health.Available}, avail, health.Resolved},
		{health.Change{Kind: health.ErrorAdded, ErrorCode: "141006"}, blocked, health.Critical},
		{health.Change{Kind: health.ErrorAdded, ErrorCode: "141010"}, avail, health.Warning},
		{health.Change{Kind: health.ErrorAdded, ErrorCode: "138024"}, blocked, health.Info},
		{health.Change{Kind: health.ErrorCleared, ErrorCode: "141006"}, avail, health.Resolved},
		{health.Change{Kind: health.EntityAdded, To: health.Available}, avail, health.Info},
		{health.Change{Kind: health.EntityAdded, To: health.Blocked}, blocked, health.Critical},
		{health.Change{Kind: health.EntityRemoved, From: health.Blocked}, nil, health.Info},
	}
	for _, tt := range tests {
		if got := tt.c.Severity(tt.e); got != tt.want {
			t.Errorf("%+v: severity %s, want %s", tt.c, got, tt.want)
		}
	}
}
