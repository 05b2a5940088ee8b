package health_test

import (
	"fmt"
	"testing"

	"github.com/wahealth/wahealth/pkg/health"
)

// fleet builds a snapshot of n phone entities, every tenth one blocked when degraded.
func fleet(n int, degraded bool) *health.Snapshot {
	s := health.NewSnapshot()
	for i := range n {
		e := health.Entity{Type: health.PhoneNumber, PhoneNumber: fmt.Sprintf("86138%08d", i), CanSendMessage: health.Available}
		if degraded && i%10 == 0 {
			e.CanSendMessage = health.Blocked
			e.Errors = []health.Error{{Code: "141006", Description: "There is an error with the payment method."}}
		}
		health.Identify(&e, health.Target{NodeType: health.NodePhone, CustSpaceID: "cs", PhoneNumber: e.PhoneNumber})
		s.Add(e)
	}
	return s
}

// BenchmarkDiff10k measures diffing 10,000 entities of which 1,000 changed.
func BenchmarkDiff10k(b *testing.B) {
	prev, next := fleet(10000, false), fleet(10000, true)
	b.ReportAllocs()
	b.ResetTimer()
	var n int
	for b.Loop() {
		n = len(health.Diff(prev, next))
	}
	if n != 2000 {
		b.Fatalf("changes = %d, want 2000", n)
	}
}
