package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/wahealth/wahealth/pkg/config"
)

// failure is a delivery failure whose text never holds the webhook URL or the token: it is
// built from status codes, Slack's error codes and unwrapped transport errors, then redacted.
type failure struct {
	msg         string
	permanent   bool          // retrying cannot help
	rateLimited bool          // Slack answered 429: wait retryAfter, then retry
	transient   bool          // a 5xx or transport error: retry after a short backoff
	retryAfter  time.Duration // Slack's Retry-After (0: not given)
	cause       error         // a context error, or nil; never an error quoting a secret
}

func (f *failure) Error() string { return f.msg }

func (f *failure) Unwrap() error { return f.cause }

// post sends one message: up to s.tries times when Slack rate-limits it (after Retry-After) or
// fails transiently (after a short backoff), always within ctx's deadline.
func (s *Notifier) post(ctx context.Context, p Payload) error {
	for try := 1; ; try++ {
		var f *failure
		if s.api != nil {
			f = s.postAPI(ctx, p)
		} else {
			f = s.postWebhook(ctx, p)
		}
		if f == nil {
			return nil
		}
		if f.permanent || (!f.rateLimited && !f.transient) {
			return f
		}
		if try >= s.tries {
			g := *f
			g.msg = fmt.Sprintf("%s (gave up after %d tries; the outbox retries later)", f.msg, try)
			return &g
		}
		wait := s.backoff << (try - 1)
		wait += time.Duration(rand.Int64N(int64(wait)/5 + 1)) // up to 20% jitter
		if f.rateLimited {
			wait = f.retryAfter
			if wait <= 0 {
				wait = time.Second
			}
		}
		dl, ok := ctx.Deadline()
		if (ok && time.Until(dl) < wait) || (!ok && wait > s.maxWait) {
			g := *f
			g.msg = fmt.Sprintf("%s; retrying after %s would pass the delivery's deadline (the outbox retries later)", f.msg, wait)
			return &g
		}
		s.log.InfoContext(ctx, "slack delivery retried", slog.String("reason", f.msg), slog.Duration("wait", wait), slog.Int("try", try))
		if err := sleep(ctx, wait); err != nil {
			return &failure{msg: fmt.Sprintf("%s; stopped waiting to retry: %v", f.msg, err), cause: err}
		}
	}
}

// postWebhook posts p to the incoming webhook. It builds the request itself (the same JSON
// as slack.PostWebhookCustomHTTPContext) because slack-go drops the answer's body, which
// holds Slack's reason (no_service, invalid_payload, channel_is_archived, ...).
func (s *Notifier) postWebhook(ctx context.Context, p Payload) *failure {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(slack.WebhookMessage{Text: p.Text, Blocks: &slack.Blocks{BlockSet: p.Blocks}}); err != nil {
		return &failure{msg: "encode message: " + s.redact(err.Error()), permanent: true}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.webhook.Reveal(), &body)
	if err != nil {
		// The error quotes the URL: never keep it.
		return &failure{msg: "webhookURL is not a valid URL", permanent: true}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return s.transportFailure(ctx, err)
	}
	defer drain(resp.Body)
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	code := slackCode(answer)
	status := resp.StatusCode
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusTooManyRequests:
		return &failure{msg: "rate limited by Slack (HTTP 429)", rateLimited: true, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	case status >= 500 || status == http.StatusRequestTimeout:
		return &failure{msg: withCode(fmt.Sprintf("webhook answered HTTP %d", status), code), transient: true}
	}
	if code == "" {
		switch status {
		case http.StatusNotFound, http.StatusGone:
			code = "no_service"
		case http.StatusBadRequest:
			code = "invalid_payload"
		case http.StatusUnauthorized, http.StatusForbidden:
			code = "invalid_token"
		}
	}
	if advice := s.advice(code); advice != "" {
		return &failure{msg: fmt.Sprintf("%s (HTTP %d): %s", code, status, advice), permanent: true}
	}
	return &failure{msg: withCode(fmt.Sprintf("webhook refused the message with HTTP %d", status), code), permanent: true}
}

// postAPI posts p with chat.postMessage through slack-go (which sends a form with the token,
// the channel, the text and the blocks as JSON).
func (s *Notifier) postAPI(ctx context.Context, p Payload) *failure {
	_, _, err := s.api.PostMessageContext(ctx, s.channel, slack.MsgOptionBlocks(p.Blocks...), slack.MsgOptionText(p.Text, false))
	if err == nil {
		return nil
	}
	var (
		limited *slack.RateLimitedError
		api     slack.SlackErrorResponse
		status  slack.StatusCodeError
		num     *strconv.NumError
	)
	switch {
	case errors.As(err, &limited):
		return &failure{msg: "rate limited by Slack (HTTP 429)", rateLimited: true, retryAfter: limited.RetryAfter}
	case errors.As(err, &api):
		return s.apiFailure(api.Err)
	case errors.As(err, &status):
		switch {
		case status.Code == http.StatusTooManyRequests:
			return &failure{msg: "rate limited by Slack (HTTP 429)", rateLimited: true}
		case status.Code >= 500 || status.Code == http.StatusRequestTimeout:
			return &failure{msg: fmt.Sprintf("chat.postMessage answered HTTP %d", status.Code), transient: true}
		}
		return &failure{msg: fmt.Sprintf("chat.postMessage answered HTTP %d", status.Code), permanent: true}
	case errors.As(err, &num) && num.Func == "ParseInt" && ctx.Err() == nil:
		// slack-go reads Retry-After as whole seconds only; another form fails to parse.
		return &failure{msg: "rate limited by Slack (HTTP 429, unreadable Retry-After)", rateLimited: true}
	}
	return s.transportFailure(ctx, err)
}

// apiFailure classifies a Web API error code ({"ok":false,"error":code}).
func (s *Notifier) apiFailure(code string) *failure {
	code = slackCode([]byte(code))
	switch code {
	case "ratelimited", "rate_limited":
		return &failure{msg: "rate limited by Slack (" + code + ")", rateLimited: true}
	case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org":
		return &failure{msg: "chat.postMessage failed: " + code, transient: true}
	case "":
		return &failure{msg: "chat.postMessage failed with an unreadable error"}
	}
	if advice := s.advice(code); advice != "" {
		return &failure{msg: code + ": " + advice, permanent: true}
	}
	return &failure{msg: "chat.postMessage failed: " + code}
}

// advice says what to do about a Slack error code that retrying cannot fix, or "" when code
// is not one of those.
func (s *Notifier) advice(code string) string {
	bot := s.api != nil
	switch code {
	case "channel_not_found":
		if bot {
			return fmt.Sprintf("the bot cannot see channel %s: invite the bot to %s (/invite @your-app) or fix notifiers[].channel of notifier %q", s.channel, s.channel, s.name)
		}
		return fmt.Sprintf("the webhook's channel no longer exists: create a new incoming webhook and update notifiers[].webhookURL of notifier %q", s.name)
	case "not_in_channel":
		return fmt.Sprintf("the bot is not a member of %s: invite it (/invite @your-app), give the app chat:write.public, or fix notifiers[].channel of notifier %q", s.channel, s.name)
	case "is_archived", "channel_is_archived":
		return "the channel is archived: unarchive it or send alerts to another channel"
	case "no_service", "no_service_id", "no_team", "team_disabled":
		return fmt.Sprintf("the incoming webhook no longer exists (removed, or the app was uninstalled): create a new one and update notifiers[].webhookURL of notifier %q", s.name)
	case "invalid_token", "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type":
		if !bot {
			return fmt.Sprintf("Slack no longer accepts this webhook: create a new incoming webhook and update notifiers[].webhookURL of notifier %q", s.name)
		}
		return fmt.Sprintf("the token does not work (revoked, expired, or the app was uninstalled): reinstall the app and update notifiers[].token of notifier %q with its bot token (xoxb-...)", s.name)
	case "missing_scope", "no_permission", "access_denied", "ekm_access_denied", "team_access_not_granted", "two_factor_setup_required", "org_login_required", "enterprise_is_restricted":
		return "the app may not post there: give it the chat:write scope (chat:write.public for channels it is not in), reinstall it, or ask a workspace admin"
	case "action_prohibited", "posting_to_general_channel_denied", "restricted_action", "restricted_action_read_only_channel", "restricted_action_thread_only_channel", "restricted_action_non_threadable_channel":
		return "the workspace does not let this app post in that channel: ask a workspace admin or send alerts to another channel"
	case "invalid_payload", "invalid_blocks", "invalid_blocks_format", "invalid_attachments", "msg_too_long", "msg_blocks_too_long", "no_text", "too_many_attachments",
		"invalid_arguments", "invalid_arg_name", "invalid_array_arg", "invalid_charset", "invalid_form_data", "invalid_json", "json_not_object", "invalid_post_type", "missing_post_type", "method_deprecated", "deprecated_endpoint":
		return "Slack rejected the message itself: check the slack template (templatesDir or notifiers[].template); with the built-in template this is a wahealth bug"
	}
	return ""
}

// transportFailure describes an error of the HTTP exchange without the URL: *url.Error quotes
// it, so only its cause is kept, and the text is redacted besides.
func (s *Notifier) transportFailure(ctx context.Context, err error) *failure {
	if ce := ctx.Err(); ce != nil {
		return &failure{msg: "not delivered in time: " + ce.Error(), cause: ce}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &failure{msg: "request failed: " + s.redact(err.Error()), transient: true}
}

// redact removes the webhook URL, its parts and the token from text.
func (s *Notifier) redact(text string) string {
	for _, secret := range s.secrets {
		if len(secret) >= 4 {
			text = strings.ReplaceAll(text, secret, config.Redacted)
		}
	}
	return text
}

var codeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// slackCode returns the answer when it is one of Slack's error codes ("no_service"), else "":
// anything else (an HTML page from a proxy, say) is not repeated.
func slackCode(answer []byte) string {
	s := strings.TrimSpace(string(answer))
	if codeRE.MatchString(s) {
		return s
	}
	return ""
}

func withCode(msg, code string) string {
	if code == "" {
		return msg
	}
	return msg + ": " + code
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date. It returns 0 when the
// header is missing or unreadable.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// drain reads what is left of a response body (so the connection can be reused) and closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
