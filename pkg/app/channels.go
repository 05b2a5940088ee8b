package app

import (
	"context"
	"fmt"
	"time"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/notify"
)

// Channels is the constructor switch for notifiers: one case per notifiers[].type. Templates
// are loaded (and checked) here, at start-up.
func Channels(cfg *config.Config, env Env) ([]monitor.Channel, error) {
	var out []monitor.Channel
	for i, n := range cfg.Notifiers {
		tpl, err := notify.LoadTemplate(n.Type, cfg.TemplatesDir, n.Template)
		if err != nil {
			return nil, fmt.Errorf("notifiers[%d] (%s): %w", i, n.Name, err)
		}
		opts := notify.Options{HTTPClient: env.HTTPClient, Template: tpl, Logger: env.Logger, Now: env.Now}
		var nt notify.Notifier
		switch n.Type {
		case "console":
			nt = notify.NewConsole(env.Console, tpl)
		default:
			err = fmt.Errorf("type %q is not supported", n.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("notifiers[%d] (%s): %w", i, n.Name, err)
		}
		_ = opts
		out = append(out, monitor.Channel{Name: n.Name, Notifier: nt, Filter: filterOf(n), Timeout: n.Timeout.D(), Digest: n.Digest})
	}
	return out, nil
}

// filterOf turns a notifier's filter settings into a notify.Filter.
func filterOf(n config.Notifier) notify.Filter {
	f := notify.Filter{Labels: n.Labels}
	for _, s := range n.Severities {
		f.Severities = append(f.Severities, health.Severity(s))
	}
	for _, t := range n.EntityTypes {
		f.EntityTypes = append(f.EntityTypes, health.EntityType(t))
	}
	return f
}

// NotifyResult is the outcome of sending the test alert through one notifier.
type NotifyResult struct {
	Notifier string `json:"notifier"`
	Type     string `json:"type"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
	Took     string `json:"took"`
}

// TestNotify sends a clearly marked sample alert through every channel, directly (not through
// the outbox), and reports each one's result.
func TestNotify(ctx context.Context, cfg *config.Config, channels []monitor.Channel, now time.Time) []NotifyResult {
	types := map[string]string{}
	for _, n := range cfg.Notifiers {
		types[n.Name] = n.Type
	}
	msg := notify.Sample(now)
	var out []NotifyResult
	for _, ch := range channels {
		timeout := ch.Timeout
		if timeout <= 0 {
			timeout = 15 * time.Second
		}
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := ch.Notifier.Notify(cctx, msg)
		cancel()
		r := NotifyResult{Notifier: ch.Name, Type: types[ch.Name], OK: err == nil, Took: time.Since(start).Round(time.Millisecond).String()}
		if err != nil {
			r.Error = err.Error()
		}
		out = append(out, r)
	}
	return out
}
