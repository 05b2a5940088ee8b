package monitor

import (
	"context"
	"time"

	"github.com/wahealth/wahealth/pkg/notify"
)

// NotifyResult is the outcome of sending the test alert through one channel.
type NotifyResult struct {
	Notifier string `json:"notifier"`
	Type     string `json:"type"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
	Took     string `json:"took"`
}

// TestNotify sends a clearly marked sample alert through every channel, directly (not through
// the outbox: nothing is retried or recorded), and reports each one's result.
func (m *Monitor) TestNotify(ctx context.Context) []NotifyResult {
	msg := notify.Sample(m.now())
	out := []NotifyResult{}
	for _, ch := range m.Channels {
		timeout := ch.Timeout
		if timeout <= 0 {
			timeout = 15 * time.Second
		}
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := ch.Notifier.Notify(cctx, msg)
		cancel()
		r := NotifyResult{Notifier: ch.Name, Type: ch.Type, OK: err == nil, Took: time.Since(start).Round(time.Millisecond).String()}
		if err != nil {
			r.Error = err.Error()
		}
		out = append(out, r)
	}
	return out
}
