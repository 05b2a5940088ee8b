package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNotifierSettings(t *testing.T) {
	const base = "custSpaceId: cs\ntargets: [{nodeType: waba, wabaId: w}]\nnotifiers:\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"slack webhook ok", "  - {type: slack, webhookURL: 'https://hooks.example.com/services/x'}", nil},
		{"slack bot ok", "  - {type: slack, token: xoxb-1, channel: '#ops'}", nil},
		{"slack needs a destination", "  - {type: slack}", []string{"notifiers[0].webhookURL: required: a Slack incoming webhook URL, or set token and channel for a bot"}},
		{"slack not both", "  - {type: slack, webhookURL: 'https://h.example.com/x', token: xoxb-1, channel: c}", []string{"notifiers[0].token: give either webhookURL (incoming webhook) or token with channel (bot), not both"}},
		{"slack bot needs channel", "  - {type: slack, token: xoxb-1}", []string{"notifiers[0].channel: required with token: the channel id or #name to post to"}},
		{"slack bad token", "  - {type: slack, token: abc, channel: c}", []string{"notifiers[0].token: must be a Slack token (xoxb-...)"}},
		{"dingtalk needs url", "  - {type: dingtalk, secret: SECx}", []string{"notifiers[0].webhookURL: required: the DingTalk custom robot webhook (https://oapi.dingtalk.com/robot/send?access_token=...) URL to post to"}},
		{"key of another type", "  - {type: wecom, webhookURL: 'https://q.example.com/x', secret: s, keyword: k}", []string{
			"notifiers[0].secret: not used by wecom notifiers; remove it",
			"notifiers[0].keyword: not used by wecom notifiers; remove it"}},
		{"plain http elsewhere", "  - {type: webhook, webhookURL: 'http://alerts.example.com/x'}", []string{"notifiers[0].webhookURL: plain http is only allowed for loopback addresses (a local test receiver); use https"}},
		{"http loopback ok", "  - {type: webhook, webhookURL: 'http://127.0.0.1:9/x'}", nil},
		{"bad severity", "  - {type: console, severities: [critical, blocked]}", []string{`notifiers[0].severities[1]: unknown "blocked" (use critical, warning, resolved, info)`}},
		{"bad entity type", "  - {type: console, entityTypes: [phone]}", []string{"notifiers[0].entityTypes[0]: entity types are upper case, like PHONE_NUMBER, MESSAGE_TEMPLATE, WABA, BUSINESS, APP"}},
		{"bad timeout", "  - {type: console, timeout: 10m}", []string{"notifiers[0].timeout: must be greater than 0 and at most 5m (default 15s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(base+tt.yaml+"\n"), func(string) (string, bool) { return "", false })
			var got []string
			if err != nil {
				for _, p := range err.(*ValidationError).Problems {
					got = append(got, p.String())
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}

func TestWebhookURLNeverInErrors(t *testing.T) {
	const url = "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef0123456789abcdef"
	_, err := Parse("t.yaml", []byte("custSpaceId: cs\ntargets: [{nodeType: waba, wabaId: w}]\nnotifiers:\n  - {type: console, webhookURL: '"+url+"'}\n"), nil)
	if err == nil || strings.Contains(err.Error(), "0123456789abcdef") {
		t.Fatalf("got %v", err)
	}
}

func TestAtSeveritiesDefault(t *testing.T) {
	c, err := Parse("t.yaml", []byte("custSpaceId: cs\ntargets: [{nodeType: waba, wabaId: w}]\nnotifiers:\n  - {type: dingtalk, webhookURL: 'https://oapi.dingtalk.com/robot/send?access_token=x', atMobiles: ['13800000000']}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"critical"}, c.Notifiers[0].AtSeverities); d != "" {
		t.Error(d)
	}
}
