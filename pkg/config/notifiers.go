package config

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Severities are the values of notifiers[].severities and atSeverities.
var Severities = []string{"critical", "warning", "resolved", "info"}

// notifierKeys lists, per notifier type, the type-specific keys it accepts. The common keys
// (type, name, severities, entityTypes, labels, template, timeout) apply to every type.
var notifierKeys = map[string][]string{
	"console":  {},
	"slack":    {"webhookURL", "token", "channel"},
	"dingtalk": {"webhookURL", "secret", "keyword", "atMobiles", "atUserIds", "atAll", "atSeverities"},
	"webhook":  {"webhookURL", "secret", "headers"},
	"feishu":   {"webhookURL", "secret", "keyword"},
	"wecom":    {"webhookURL", "atMobiles", "atUserIds", "atAll", "atSeverities"},
}

// notifier checks the type-specific settings of one notifier at path p.
func (v *validator) notifier(p string, n *Notifier) {
	allowed, ok := notifierKeys[n.Type]
	if !ok {
		return // the unknown type is reported already
	}
	set := map[string]bool{
		"webhookURL": n.WebhookURL != "", "secret": n.Secret != "", "token": n.Token != "",
		"channel": n.Channel != "", "keyword": n.Keyword != "", "atMobiles": len(n.AtMobiles) > 0,
		"atUserIds": len(n.AtUserIDs) > 0, "atAll": n.AtAll, "atSeverities": len(n.AtSeverities) > 0,
		"headers": len(n.Headers) > 0,
	}
	for _, k := range []string{"webhookURL", "secret", "token", "channel", "keyword", "atMobiles", "atUserIds", "atAll", "atSeverities", "headers"} {
		if set[k] && !slices.Contains(allowed, k) {
			v.add(p+"."+k, "not used by %s notifiers; remove it", n.Type)
		}
	}
	switch n.Type {
	case "slack":
		switch {
		case n.WebhookURL != "" && n.Token != "":
			v.add(p+".token", "give either webhookURL (incoming webhook) or token with channel (bot), not both")
		case n.WebhookURL == "" && n.Token == "":
			v.add(p+".webhookURL", "required: a Slack incoming webhook URL, or set token and channel for a bot")
		case n.Token != "" && n.Channel == "":
			v.add(p+".channel", "required with token: the channel id or #name to post to")
		case n.WebhookURL != "" && n.Channel != "":
			v.add(p+".channel", "only used with token; an incoming webhook posts to its own channel")
		}
		if n.Token != "" && !strings.HasPrefix(n.Token.Reveal(), "xox") {
			v.add(p+".token", "must be a Slack token (xoxb-...)")
		}
	case "dingtalk", "webhook", "feishu", "wecom":
		if n.WebhookURL == "" {
			v.add(p+".webhookURL", "required: the %s URL to post to", webhookWhat[n.Type])
		}
	}
	if n.WebhookURL != "" && slices.Contains(allowed, "webhookURL") {
		if msg := checkWebhookURL(n.WebhookURL.Reveal()); msg != "" {
			v.add(p+".webhookURL", "%s", msg)
		}
	}
	for i, s := range n.Severities {
		if !slices.Contains(Severities, s) {
			v.add(p+".severities["+itoa(i)+"]", "unknown %s (use %s)", v.quote(p+".severities", s), strings.Join(Severities, ", "))
		}
	}
	for i, s := range n.AtSeverities {
		if !slices.Contains(Severities, s) {
			v.add(p+".atSeverities["+itoa(i)+"]", "unknown %s (use %s)", v.quote(p+".atSeverities", s), strings.Join(Severities, ", "))
		}
	}
	if len(n.AtSeverities) == 0 && (len(n.AtMobiles) > 0 || len(n.AtUserIDs) > 0 || n.AtAll) {
		n.AtSeverities = []string{"critical"}
	}
	for i, s := range n.EntityTypes {
		if s == "" || strings.ToUpper(s) != s {
			v.add(p+".entityTypes["+itoa(i)+"]", "entity types are upper case, like PHONE_NUMBER, MESSAGE_TEMPLATE, WABA, BUSINESS, APP")
		}
	}
	for k := range n.Labels {
		if !isLabelKey(k) {
			v.add(p+".labels", "label key %q: use A-Z a-z 0-9 _ . -", k)
		}
	}
	switch {
	case n.Timeout < 0 || n.Timeout.D() > 5*time.Minute:
		v.add(p+".timeout", "must be greater than 0 and at most 5m (default 15s)")
	}
}

var webhookWhat = map[string]string{
	"dingtalk": "DingTalk custom robot webhook (https://oapi.dingtalk.com/robot/send?access_token=...)",
	"webhook":  "webhook",
	"feishu":   "Feishu/Lark custom bot webhook (https://open.feishu.cn/open-apis/bot/v2/hook/...)",
	"wecom":    "WeCom group robot webhook (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...)",
}

// checkWebhookURL returns what is wrong with a webhook URL, or "". Its messages never repeat
// the URL: webhook URLs carry their credentials.
func checkWebhookURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "not a URL (want https://host/path)"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "plain http is only allowed for loopback addresses (a local test receiver); use https"
		}
	default:
		return "must be an https:// URL"
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }
