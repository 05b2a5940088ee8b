// Package feishu sends wahealth alerts to a Feishu (飞书) or Lark group through a custom bot:
// an HTTP POST of an interactive card to the bot's webhook
// (https://open.feishu.cn/open-apis/bot/v2/hook/<token>, or open.larksuite.com for Lark).
//
// The card has a header coloured by the worst severity (red, orange, green, grey; blue for a
// test) and one lark_md block per changed entity with its error codes and Meta's possible
// solutions, rendered from templates/feishu.tmpl. When the bot has a signing secret (签名校验),
// every request carries a fresh "timestamp" and "sign" in its body; an optional keyword goes
// into every card for bots with keyword security. Messages over Feishu's 20 KB body limit are
// split, in order, into parts titled "(i/n)".
//
// Feishu answers HTTP 200 with {"code":0,"msg":"success"} (older deployments:
// {"StatusCode":0}). A bad signature (19021), an IP not on the allowlist (19022), a missing
// keyword (19024) or an unknown hook (19001) are permanent errors with a hint; rate limiting
// (9499, 11232), HTTP 429 and 5xx and transport errors are retried within the context's
// deadline. The webhook URL, the secret and signatures never appear in errors or logs.
package feishu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/notify"
)

// Feishu's result codes that wahealth treats specially.
const (
	// CodeInvalidHook means the hook token is unknown: the bot was removed, or the URL is wrong.
	CodeInvalidHook = 19001
	// CodeSignMismatch means the signature does not match, or its timestamp is over an hour off.
	CodeSignMismatch = 19021
	// CodeIPNotAllowed means the bot's IP allowlist refuses the sending host.
	CodeIPNotAllowed = 19022
	// CodeKeywordMissing means the message contains none of the bot's custom keywords.
	CodeKeywordMissing = 19024
	// CodeBadRequest is "Bad Request", which Feishu also answers when the bot is rate limited.
	CodeBadRequest = 9499
	// CodeRateLimited means too many messages: a bot may send 5 a second and 100 a minute.
	CodeRateLimited = 11232
)

const (
	maxAttempts     = 3                // one request and two retries
	defaultTimeout  = 15 * time.Second // of one request, with a client of our own
	maxResponseBody = 64 << 10
	maxRetryAfter   = time.Minute
)

// Notifier posts alerts to one Feishu/Lark custom bot.
type Notifier struct {
	name    string
	url     string
	secret  string
	keyword string
	client  *http.Client
	tpl     *template.Template
	log     *slog.Logger
	now     func() time.Time
	redact  *strings.Replacer

	// backoff is the wait before the first retry (it doubles), when Feishu gives none.
	backoff time.Duration
	// gap is the least time between two requests to the bot (5 a second are allowed).
	gap time.Duration

	mu   sync.Mutex
	last time.Time      // when the latest request was (or will be) sent
	sent map[string]int // parts already delivered of split messages interrupted part-way
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a notifier for the custom bot n.WebhookURL, signing with n.Secret when set and
// adding n.Keyword to every card when set. o.Template must hold the named templates listed in
// Templates (LoadTemplate("feishu", ...)); nil uses the built-in one. New checks them, so that
// a broken template fails at start-up.
func New(n config.Notifier, o notify.Options) (*Notifier, error) {
	raw := n.WebhookURL.Reveal()
	u, err := url.Parse(raw)
	if raw == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("feishu webhookURL is not a URL (want https://open.feishu.cn/open-apis/bot/v2/hook/<token>)")
	}
	tpl := o.Template
	if tpl == nil {
		if tpl, err = notify.LoadTemplate("feishu", "", ""); err != nil {
			return nil, err
		}
	}
	if err := checkTemplate(tpl); err != nil {
		return nil, err
	}
	client := o.HTTPClient
	if client == nil {
		timeout := n.Timeout.D()
		if timeout <= 0 {
			timeout = defaultTimeout
		}
		client = &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	name := n.Name
	if name == "" {
		name = "feishu"
	}
	return &Notifier{
		name:    name,
		url:     raw,
		secret:  n.Secret.Reveal(),
		keyword: n.Keyword,
		client:  client,
		tpl:     tpl,
		log:     o.Log().With(slog.String("notifier", name), slog.String("type", "feishu")),
		now:     o.Clock(),
		redact:  redactor(u, n.Secret.Reveal()),
		backoff: time.Second,
		gap:     250 * time.Millisecond,
		sent:    map[string]int{},
	}, nil
}

// checkTemplate checks that tpl defines every named template and renders every shape of
// message, so that a template that lacks one or calls a missing field fails now.
func checkTemplate(tpl *template.Template) error {
	var missing []string
	for _, name := range Templates {
		if tpl.Lookup(name) == nil {
			missing = append(missing, strconv.Quote(name))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("check feishu template: it must define %s (missing: %s)", strings.Join(Templates, ", "), strings.Join(missing, ", "))
	}
	for _, m := range samples() {
		if _, err := BuildRequests(m, tpl, ""); err != nil {
			return fmt.Errorf("check feishu template on a %s message: %w", m.Kind, err)
		}
	}
	return nil
}

// Notify sends m as one card, or as several parts in order when it is too large for one. A
// part that fails stops the rest; a later Notify of the same message (the outbox's retry)
// resumes after the parts already delivered by this notifier.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	parts, err := BuildRequests(m, n.tpl, n.keyword)
	if err != nil {
		return &notify.PermanentError{Err: err}
	}
	start := time.Now()
	n.mu.Lock()
	first := n.sent[m.ID]
	n.mu.Unlock()
	if first >= len(parts) {
		first = 0
	}
	if first > 0 {
		n.log.Info("feishu resumes a split alert", slog.String("message", m.ID), slog.Int("delivered", first), slog.Int("parts", len(parts)))
	}
	for i := first; i < len(parts); i++ {
		if err := n.post(ctx, parts[i], m.ID, i+1, len(parts)); err != nil {
			if len(parts) > 1 {
				return n.partError(i+1, len(parts), err)
			}
			return err
		}
		n.progress(m.ID, i+1, len(parts))
	}
	n.log.Info("feishu alert delivered", slog.String("message", m.ID), slog.Int("parts", len(parts)),
		slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	return nil
}

// partError says which part failed, keeping a permanent error permanent.
func (n *Notifier) partError(i, total int, err error) error {
	var perm *notify.PermanentError
	if errors.As(err, &perm) {
		return &notify.PermanentError{Err: fmt.Errorf("part %d of %d: %w", i, total, perm.Err)}
	}
	return fmt.Errorf("part %d of %d: %w", i, total, err)
}

// progress remembers how many parts of a message were delivered, until all were.
func (n *Notifier) progress(id string, done, total int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if done >= total {
		delete(n.sent, id)
		return
	}
	if len(n.sent) >= 256 {
		for k := range n.sent {
			delete(n.sent, k)
			break
		}
	}
	n.sent[id] = done
}

// outcome is the result of one request.
type outcome struct {
	err   error
	retry bool          // retrying soon may help
	wait  time.Duration // how long Feishu asked to wait (Retry-After), or 0
}

// post sends one part, retrying what may pass on a second try while the deadline allows.
func (n *Notifier) post(ctx context.Context, p Payload, id string, part, total int) error {
	for attempt := 1; ; attempt++ {
		if err := n.pace(ctx); err != nil {
			return fmt.Errorf("feishu message not sent: %w", err)
		}
		res := n.send(ctx, p)
		if res.err == nil {
			return nil
		}
		if !res.retry || attempt == maxAttempts {
			return res.err
		}
		wait := res.wait
		if wait <= 0 {
			wait = n.backoff << (attempt - 1)
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return res.err
		}
		n.log.Warn("feishu delivery failed; retrying", slog.String("message", id), slog.Int("part", part), slog.Int("parts", total),
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String("error", res.err.Error()))
		if err := sleep(ctx, wait); err != nil {
			return res.err
		}
	}
}

// pace keeps requests to the bot at least n.gap apart.
func (n *Notifier) pace(ctx context.Context) error {
	n.mu.Lock()
	now := time.Now()
	next := n.last.Add(n.gap)
	if next.Before(now) {
		next = now
	}
	n.last = next
	n.mu.Unlock()
	return sleep(ctx, time.Until(next))
}

// send makes one signed request and classifies Feishu's answer.
func (n *Notifier) send(ctx context.Context, p Payload) outcome {
	if n.secret != "" {
		ts := n.now().Unix()
		sign, err := Sign(n.secret, ts)
		if err != nil {
			return outcome{err: &notify.PermanentError{Err: err}}
		}
		p.Timestamp, p.Sign = strconv.FormatInt(ts, 10), sign
	}
	body, err := encode(p)
	if err != nil {
		return outcome{err: &notify.PermanentError{Err: err}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return outcome{err: &notify.PermanentError{Err: fmt.Errorf("feishu webhookURL of notifier %q is not usable", n.name)}}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "wahealth")
	resp, err := n.client.Do(req)
	if err != nil {
		return outcome{err: fmt.Errorf("post to feishu: %w", n.clean(err)), retry: ctx.Err() == nil}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
		_ = resp.Body.Close()
	}()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return outcome{err: fmt.Errorf("read feishu answer: %w", n.clean(err)), retry: true}
	}
	return n.classify(resp, parseResult(data))
}

// result is Feishu's answer body: {"code":0,"msg":"success","data":{}}, or the older
// {"StatusCode":0,"StatusMessage":"success"}.
type result struct {
	ok   bool // the body holds a result code
	code int
	msg  string
}

func parseResult(data []byte) result {
	var r struct {
		Code          *int   `json:"code"`
		Msg           string `json:"msg"`
		StatusCode    *int   `json:"StatusCode"`
		StatusMessage string `json:"StatusMessage"`
	}
	if err := jsonUnmarshal(data, &r); err != nil {
		return result{}
	}
	switch {
	case r.Code != nil:
		return result{ok: true, code: *r.Code, msg: r.Msg}
	case r.StatusCode != nil:
		return result{ok: true, code: *r.StatusCode, msg: r.StatusMessage}
	}
	return result{}
}

func (n *Notifier) classify(resp *http.Response, r result) outcome {
	status := strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	perm := func(format string, args ...any) outcome {
		return outcome{err: &notify.PermanentError{Err: fmt.Errorf(format, args...)}}
	}
	if r.ok {
		msg := n.redact.Replace(cut(oneLine(r.msg), 200))
		switch r.code {
		case 0:
			if resp.StatusCode/100 == 2 {
				return outcome{}
			}
		case CodeSignMismatch:
			return perm("feishu rejected the signature (code %d: %s): set secret of notifier %q to the bot's signing secret (签名校验) and check this host's clock", r.code, msg, n.name)
		case CodeKeywordMissing:
			return perm("feishu found none of the bot's keywords in the message (code %d: %s): set keyword of notifier %q to one of the bot's custom keywords (自定义关键词)", r.code, msg, n.name)
		case CodeIPNotAllowed:
			return perm("feishu refused this host's IP address (code %d: %s): add it to the bot's IP allowlist (IP 白名单)", r.code, msg)
		case CodeInvalidHook:
			return perm("feishu does not know this webhook (code %d: %s): the bot was removed or webhookURL of notifier %q is wrong", r.code, msg, n.name)
		case CodeBadRequest, CodeRateLimited:
			return outcome{err: fmt.Errorf("feishu is rate limiting the bot (code %d: %s): a bot may send 5 messages a second and 100 a minute", r.code, msg), retry: true, wait: retryAfter(resp)}
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return outcome{err: fmt.Errorf("feishu answered HTTP %s, code %d: %s", status, r.code, msg), retry: true, wait: retryAfter(resp)}
		}
		// An unknown code: not retried now, but kept in the outbox for the next cycle.
		return outcome{err: fmt.Errorf("feishu answered code %d: %s", r.code, msg)}
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return outcome{err: fmt.Errorf("feishu answered HTTP %s", status), retry: true, wait: retryAfter(resp)}
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return perm("feishu answered HTTP %s: check webhookURL of notifier %q", status, n.name)
	case resp.StatusCode/100 == 3:
		return perm("feishu answered HTTP %s (a redirect): set webhookURL of notifier %q to the bot's webhook address itself", status, n.name)
	case resp.StatusCode/100 == 4:
		return perm("feishu answered HTTP %s", status)
	}
	return outcome{err: fmt.Errorf("feishu answered HTTP %s without a result code: not known to be delivered", status)}
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), or 0.
func retryAfter(resp *http.Response) time.Duration {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return min(max(d, 0), maxRetryAfter)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
