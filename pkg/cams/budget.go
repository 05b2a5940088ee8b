package cams

import (
	"context"
	"math"
	"sync"
	"time"

	smithytime "github.com/aws/smithy-go/time"
	"golang.org/x/time/rate"
)

// Budget is an account's request budget for one API: never more than QPS calls start in any
// one-second window. Share one Budget between all clients of the same account.
//
// It has two parts. A token bucket (golang.org/x/time/rate, burst 1) paces calls evenly at a
// rate 2% below QPS. A sliding window then checks the moment each request is actually
// written to the network: the n-th previous send must be more than a window (plus a small
// margin) ago. The pacing keeps calls evenly spread; the window absorbs the jitter between
// the pacing and the send (signing, connection set-up, scheduling), which would otherwise
// let the server see QPS+1 calls within one of its seconds.
//
// It adapts: a throttled answer halves the pacing rate (down to a tenth of QPS), and while
// calls succeed it recovers by a tenth of QPS per second, back to the full rate.
type Budget struct {
	qps     float64
	limiter *rate.Limiter

	amu      sync.Mutex
	current  float64   // the pacing rate now
	adjusted time.Time // when it last changed
	now      func() time.Time

	mu     sync.Mutex
	sends  []time.Time // ring of the last n send times (reserved, possibly in the future)
	next   int
	n      int
	period time.Duration
	margin time.Duration
}

// NewBudget returns the budget for qps calls per second (unlimited when qps <= 0).
func NewBudget(qps float64) *Budget {
	b := &Budget{qps: qps, margin: 15 * time.Millisecond, current: qps, now: time.Now}
	if qps <= 0 {
		b.limiter = rate.NewLimiter(rate.Inf, 1)
		return b
	}
	b.limiter = rate.NewLimiter(pace(qps), 1)
	b.n = max(1, int(math.Floor(qps)))
	b.period = time.Duration(float64(b.n) / qps * float64(time.Second))
	b.sends = make([]time.Time, b.n)
	return b
}

// pace is the limiter rate for r calls a second: 2% slower, so that the server's window never
// sees r+1.
func pace(r float64) rate.Limit {
	return rate.Every(time.Duration(float64(time.Second) / r * 1.02))
}

// QPS returns the budget's limit.
func (b *Budget) QPS() float64 { return b.qps }

// Rate returns the pacing rate now (QPS, or less after throttling).
func (b *Budget) Rate() float64 {
	b.amu.Lock()
	defer b.amu.Unlock()
	return b.current
}

// Throttled slows the pacing after the API answered Throttling*: half the current rate, at
// least a tenth of QPS.
func (b *Budget) Throttled() {
	if b.qps <= 0 {
		return
	}
	b.amu.Lock()
	defer b.amu.Unlock()
	b.current = max(b.current/2, b.qps/10)
	b.adjusted = b.now()
	b.limiter.SetLimit(pace(b.current))
}

// Succeeded lets the pacing recover after throttling: a tenth of QPS more per second since the
// last change, up to QPS.
func (b *Budget) Succeeded() {
	if b.qps <= 0 {
		return
	}
	b.amu.Lock()
	defer b.amu.Unlock()
	if b.current >= b.qps {
		return
	}
	now := b.now()
	steps := now.Sub(b.adjusted).Seconds()
	if steps < 1 {
		return
	}
	b.current = min(b.qps, b.current+b.qps/10*float64(int(steps)))
	b.adjusted = now
	b.limiter.SetLimit(pace(b.current))
}

// Wait blocks until the pacing allows another call or ctx ends.
func (b *Budget) Wait(ctx context.Context) error { return b.limiter.Wait(ctx) }

// send blocks until a request may be written to the network without exceeding the window,
// and records it.
func (b *Budget) send(ctx context.Context) error {
	if b.n == 0 {
		return nil
	}
	b.mu.Lock()
	now := time.Now()
	at := now
	if oldest := b.sends[b.next]; !oldest.IsZero() {
		if earliest := oldest.Add(b.period + b.margin); earliest.After(at) {
			at = earliest
		}
	}
	b.sends[b.next] = at
	b.next = (b.next + 1) % b.n
	b.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		return smithytime.SleepWithContext(ctx, d)
	}
	return nil
}
