package cams

import (
	"testing"
	"time"
)

func TestBudgetAdaptsToThrottling(t *testing.T) {
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	b := NewBudget(5)
	b.now = func() time.Time { return now }
	steps := []struct {
		do   func()
		want float64
	}{
		{b.Throttled, 2.5},
		{b.Throttled, 1.25},
		{b.Throttled, 0.625},
		{b.Throttled, 0.5}, // floor: a tenth of QPS
		{b.Succeeded, 0.5}, // less than a second later: no change
		{func() { now = now.Add(time.Second); b.Succeeded() }, 1.0},
		{func() { now = now.Add(3 * time.Second); b.Succeeded() }, 2.5},
		{func() { now = now.Add(time.Minute); b.Succeeded() }, 5}, // capped at QPS
		{func() { now = now.Add(time.Minute); b.Succeeded() }, 5},
	}
	for i, s := range steps {
		s.do()
		if got := b.Rate(); got < s.want-1e-9 || got > s.want+1e-9 {
			t.Fatalf("step %d: rate %v, want %v", i, got, s.want)
		}
		if got := float64(b.limiter.Limit()); got > b.Rate() {
			t.Fatalf("step %d: limiter at %v, faster than the rate %v", i, got, b.Rate())
		}
	}
}
