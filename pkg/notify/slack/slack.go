// Package slack delivers wahealth's alerts to Slack, through an incoming webhook or a bot token
// (chat.postMessage), as Block Kit messages rendered from templates/slack.tmpl: a header with the
// worst severity, one section per changed entity, the failures or the baseline summary, a context
// line with the time and the cycle id, and the fallback text.
//
// Messages stay within Slack's limits: 50 blocks, 3,000 characters a section, 150 a header; a
// cycle with more to say is split, in order, into further messages. A 429 waits Retry-After
// within the delivery's deadline; errors retrying cannot fix (a deleted webhook, a revoked token,
// a channel the bot is not in) are returned as *notify.PermanentError. The webhook URL and the
// token never appear in errors or logs.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"text/template"
	"time"

	"github.com/slack-go/slack"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
)

// DefaultTimeout bounds one HTTP request when Options.HTTPClient is nil and the notifier sets
// no timeout.
const DefaultTimeout = 15 * time.Second

// Notifier sends alerts to one Slack channel, through an incoming webhook or a bot token.
type Notifier struct {
	name    string
	tpl     *template.Template
	log     *slog.Logger
	client  *http.Client
	webhook config.Secret // incoming webhook URL, or ""
	token   config.Secret // bot token, or ""
	channel string        // the bot's channel
	api     *slack.Client // the bot's Web API client
	secrets []string      // what redact removes from error texts

	// Retries: tries per request, and the first backoff after a 5xx or transport error.
	tries   int
	backoff time.Duration
	maxWait time.Duration // the longest Retry-After honoured when ctx has no deadline

	mu   sync.Mutex
	sent map[string]int // parts of a split message already delivered, by message
	keys []string       // sent's keys, oldest first
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Slack notifier: an incoming webhook (n.WebhookURL) or a bot token (n.Token +
// n.Channel, through chat.postMessage). It checks that o.Template (the built-in slack template
// when nil) defines every template in Templates and renders sample messages, so that a broken
// template fails at start-up.
func New(n config.Notifier, o notify.Options) (*Notifier, error) {
	return newNotifier(n, o, "")
}

// newNotifier is New with the Web API's base URL (slack.APIURL when empty), for tests.
func newNotifier(n config.Notifier, o notify.Options, apiURL string) (*Notifier, error) {
	name := n.Name
	if name == "" {
		name = "slack"
	}
	s := &Notifier{
		name: name, tpl: o.Template, log: o.Log().With(slog.String("notifier", name)), client: o.HTTPClient,
		webhook: n.WebhookURL, token: n.Token, channel: n.Channel,
		tries: 3, backoff: 500 * time.Millisecond, maxWait: time.Minute,
		sent: map[string]int{},
	}
	switch {
	case n.WebhookURL != "" && n.Token != "":
		return nil, fmt.Errorf("slack: give either webhookURL or token with channel, not both")
	case n.WebhookURL != "":
		u, err := url.Parse(n.WebhookURL.Reveal())
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			// Never wrap the parse error: it quotes the URL.
			return nil, fmt.Errorf("slack: webhookURL is not an http(s) URL")
		}
		s.secrets = append(s.secrets, n.WebhookURL.Reveal(), u.RawQuery)
		if u.Path != "" && u.Path != "/" {
			s.secrets = append(s.secrets, u.EscapedPath())
		}
		if u.User != nil {
			s.secrets = append(s.secrets, u.User.String())
		}
	case n.Token != "":
		if n.Channel == "" {
			return nil, fmt.Errorf("slack: channel is required with token")
		}
		s.secrets = append(s.secrets, n.Token.Reveal())
	default:
		return nil, fmt.Errorf("slack: webhookURL or token is required")
	}
	if s.client == nil {
		timeout := n.Timeout.D()
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		s.client = &http.Client{Timeout: timeout}
	}
	if n.Token != "" {
		opts := []slack.Option{slack.OptionHTTPClient(s.client)}
		if apiURL != "" {
			opts = append(opts, slack.OptionAPIURL(apiURL))
		}
		s.api = slack.New(n.Token.Reveal(), opts...)
	}
	if s.tpl == nil {
		tpl, err := notify.LoadTemplate("slack", "", "")
		if err != nil {
			return nil, fmt.Errorf("slack: %w", err)
		}
		s.tpl = tpl
	}
	if err := CheckTemplate(s.tpl); err != nil {
		return nil, err
	}
	return s, nil
}

// CheckTemplate reports an error unless tpl defines every template in Templates and builds
// messages for samples of every kind: a test alert, failures and a baseline.
func CheckTemplate(tpl *template.Template) error {
	for _, name := range Templates {
		if tpl.Lookup(name) == nil {
			return fmt.Errorf("slack template %s: no {{define %q}}", tpl.Name(), name)
		}
	}
	for _, m := range samples() {
		if _, err := BuildMessages(m, tpl); err != nil {
			return fmt.Errorf("slack template %s: %w", tpl.Name(), err)
		}
	}
	return nil
}

// samples are messages that together execute every named template.
func samples() []*notify.Message {
	t0 := time.Unix(0, 0).UTC()
	test := notify.Sample(t0)
	failures := &notify.Message{Kind: notify.KindChanges, CycleID: "check", Time: t0, Alerts: test.Alerts, Failures: []notify.Failure{
		{Target: health.Target{NodeType: health.NodePhone, CustSpaceID: "cs", PhoneNumber: "0000000000", Labels: map[string]string{"k": "v"}}, Error: "sample error", Failures: 3, Since: t0},
		{Target: health.Target{NodeType: health.NodeWABA, CustSpaceID: "cs", WabaID: "0"}, Failures: 3, Since: t0, Recovered: true},
	}}
	failures.Seal()
	entity := test.Alerts[0].Entity
	entity.Labels = map[string]string{"k": "v"}
	baseline := &notify.Message{Kind: notify.KindBaseline, CycleID: "check", Time: t0, Baseline: &notify.Baseline{Monitored: 1, Targets: 1, NotAvailable: []health.Entity{entity}}}
	baseline.Seal()
	return []*notify.Message{test, failures, baseline}
}

// Notify builds m's messages and posts them in order. A message split in several parts that
// fails halfway resumes, on the outbox's next try, after the parts already delivered.
func (s *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	msgs, err := BuildMessages(m, s.tpl)
	if err != nil {
		return &notify.PermanentError{Err: fmt.Errorf("slack: %w", err)}
	}
	key := fmt.Sprintf("%s|%d", m.ID, len(msgs))
	for i := s.delivered(key); i < len(msgs); i++ {
		if err := s.post(ctx, msgs[i]); err != nil {
			part := ""
			if len(msgs) > 1 {
				part = fmt.Sprintf(" (message %d/%d)", i+1, len(msgs))
			}
			var f *failure
			if errors.As(err, &f) && f.permanent {
				return &notify.PermanentError{Err: fmt.Errorf("slack%s: %w", part, err)}
			}
			return fmt.Errorf("slack%s: %w", part, err)
		}
		s.record(key, i+1, len(msgs))
		s.log.DebugContext(ctx, "slack message delivered", slog.String("message", m.ID), slog.Int("part", i+1), slog.Int("parts", len(msgs)))
	}
	return nil
}

// maxRemembered bounds how many partly delivered messages are remembered.
const maxRemembered = 64

// delivered returns how many parts of the message with key were delivered already.
func (s *Notifier) delivered(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[key]
}

// record notes that n of total parts were delivered (and forgets the message once all were).
func (s *Notifier) record(key string, n, total int) {
	if total == 1 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n == total {
		delete(s.sent, key)
		s.keys = slices.DeleteFunc(s.keys, func(k string) bool { return k == key })
		return
	}
	if _, ok := s.sent[key]; !ok {
		s.keys = append(s.keys, key)
	}
	s.sent[key] = n
	for len(s.keys) > maxRemembered {
		delete(s.sent, s.keys[0])
		s.keys = s.keys[1:]
	}
}
