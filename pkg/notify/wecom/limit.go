package wecom

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// WeCom accepts 20 messages a minute per robot and refuses more with errcode 45009 until the
// minute is over. The client-side limit is a token bucket of limitBurst messages refilled
// one every limitEvery: any 60-second window holds at most
// limitBurst + 60s/limitEvery = 10 + 9 = 19 messages.
const (
	limitBurst = 10
	limitEvery = 6500 * time.Millisecond
	// throttlePause is how long a robot is left alone after WeCom said it was too fast.
	throttlePause = time.Minute
)

// limiter keeps one robot under WeCom's rate limit. It takes explicit times so that tests
// can drive it with a fake clock.
type limiter struct {
	mu     sync.Mutex
	bucket *rate.Limiter
	paused time.Time // no message before this time: the robot said it was throttled
}

func newLimiter() *limiter {
	return &limiter{bucket: rate.NewLimiter(rate.Every(limitEvery), limitBurst)}
}

// reserve takes a slot for one message at now. It returns how long to wait before sending,
// and a function that gives the slot back (when the wait is abandoned). It refuses, with a
// retryable error, when the robot is paused or when the wait would outlast ctx's deadline.
func (l *limiter) reserve(ctx context.Context, now time.Time) (time.Duration, func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.paused) {
		return 0, nil, fmt.Errorf("wecom robot is throttled (it said it was sent too much) until %s UTC: not sending before then; the alert stays in the outbox",
			l.paused.UTC().Format("15:04:05"))
	}
	r := l.bucket.ReserveN(now, 1)
	if !r.OK() {
		return 0, nil, fmt.Errorf("wecom robot rate limit refused the message")
	}
	d := r.DelayFrom(now)
	if dl, ok := ctx.Deadline(); ok && d > 0 && d > time.Until(dl) {
		r.CancelAt(now)
		return 0, nil, fmt.Errorf("wecom robot rate limit (%d messages a minute at most): next slot in %s, after this delivery's deadline; the alert stays in the outbox",
			limitBurst+int(time.Minute/limitEvery), d.Round(100*time.Millisecond))
	}
	return d, func() { r.CancelAt(now) }, nil
}

// pause stops all messages to the robot until until.
func (l *limiter) pause(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.paused) {
		l.paused = until
	}
}

// limiters holds one limiter per robot, shared by every Notifier of the process that posts to
// it. The key is a hash of the robot's key: the key itself is not kept here.
var limiters = struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*limiter
}{m: map[[sha256.Size]byte]*limiter{}}

// limiterFor returns the process-wide limiter of the robot identified by robot.
func limiterFor(robot string) *limiter {
	k := sha256.Sum256([]byte("wecom\x00" + robot))
	limiters.mu.Lock()
	defer limiters.mu.Unlock()
	l, ok := limiters.m[k]
	if !ok {
		l = newLimiter()
		limiters.m[k] = l
	}
	return l
}
