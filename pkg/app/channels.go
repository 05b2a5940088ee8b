package app

import (
	"fmt"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/dingtalk"
	"github.com/wahealth/wahealth/pkg/notify/feishu"
	"github.com/wahealth/wahealth/pkg/notify/slack"
	"github.com/wahealth/wahealth/pkg/notify/webhook"
	"github.com/wahealth/wahealth/pkg/notify/wecom"
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
		case "slack":
			nt, err = slack.New(n, opts)
		case "dingtalk":
			nt, err = dingtalk.New(n, opts)
		case "wecom":
			nt, err = wecom.New(n, opts)
		case "feishu":
			nt, err = feishu.New(n, opts)
		case "webhook":
			nt, err = webhook.New(n, opts)
		default:
			err = fmt.Errorf("type %q is not supported", n.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("notifiers[%d] (%s): %w", i, n.Name, err)
		}
		out = append(out, monitor.Channel{Name: n.Name, Type: n.Type, Notifier: nt, Filter: filterOf(n), Timeout: n.Timeout.D(), Digest: n.Digest})
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
