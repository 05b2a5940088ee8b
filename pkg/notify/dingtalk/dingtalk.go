// Package dingtalk sends wahealth's alerts to a DingTalk (钉钉) group through a custom robot:
// markdown messages rendered from templates/dingtalk.tmpl, signed when the robot uses 加签
// (a secret), carrying the robot's keyword when it uses keyword security, mentioning people
// for the severities chosen, split in order when a message exceeds DingTalk's size limit, and
// kept under the robot's 20 messages a minute.
//
// The webhook URL (its access_token), the secret and the signature are credentials: they
// never appear in an error or a log record of this package.
package dingtalk

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/notify"
)

// DefaultTimeout bounds one request when the notifier gets no HTTP client.
const DefaultTimeout = 15 * time.Second

// Notifier posts alerts to one DingTalk custom robot.
type Notifier struct {
	name     string
	webhook  string // the robot's URL with its access_token: a credential
	secret   string // the signing secret: a credential
	settings Settings
	tpl      *template.Template
	client   *http.Client
	log      *slog.Logger
	now      func() time.Time
	robot    string // a non-secret fingerprint of the robot, for logs
	redactor *strings.Replacer

	lim     *limiter
	sleep   func(ctx context.Context, d time.Duration) error
	backoff []time.Duration // waits before retrying a 5xx or transport failure

	mu   sync.Mutex
	sent sentParts
}

var _ notify.Notifier = (*Notifier)(nil)

// option adjusts a Notifier; tests use them to inject a limiter, a sleep and the backoff.
type option func(*Notifier)

func withLimiter(l *limiter) option { return func(n *Notifier) { n.lim = l } }

func withSleep(f func(ctx context.Context, d time.Duration) error) option {
	return func(n *Notifier) { n.sleep = f }
}

func withBackoff(d ...time.Duration) option { return func(n *Notifier) { n.backoff = d } }

// New returns a notifier for the dingtalk notifier n. It checks that o.Template (the built-in
// dingtalk template when nil) defines every block of TemplateNames and renders the sample
// alert, so a broken template fails at start-up.
func New(n config.Notifier, o notify.Options) (*Notifier, error) {
	return newNotifier(n, o)
}

func newNotifier(n config.Notifier, o notify.Options, opts ...option) (*Notifier, error) {
	name := n.Name
	if name == "" {
		name = "dingtalk"
	}
	webhook := n.WebhookURL.Reveal()
	if webhook == "" {
		return nil, fmt.Errorf("dingtalk notifier %q: webhookURL is required", name)
	}
	u, err := url.Parse(webhook)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		// The URL is a credential: say what is wrong, never what it is.
		return nil, fmt.Errorf("dingtalk notifier %q: webhookURL is not an http(s) URL (want https://oapi.dingtalk.com/robot/send?access_token=...)", name)
	}
	robot := u.Query().Get("access_token")
	if robot == "" {
		robot = u.Scheme + "://" + u.Host + u.Path + "?" + u.RawQuery
	}
	tpl := o.Template
	if tpl == nil {
		if tpl, err = notify.LoadTemplate("dingtalk", "", ""); err != nil {
			return nil, err
		}
	}
	if err := CheckTemplate(tpl); err != nil {
		return nil, fmt.Errorf("dingtalk notifier %q: %w", name, err)
	}
	client := o.HTTPClient
	if client == nil {
		timeout := n.Timeout.D()
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		client = &http.Client{Timeout: timeout}
	}
	fp := sha256.Sum256([]byte(robot))
	nt := &Notifier{
		name:     name,
		webhook:  webhook,
		secret:   n.Secret.Reveal(),
		settings: SettingsOf(n),
		tpl:      tpl,
		client:   client,
		log:      o.Log(),
		now:      o.Clock(),
		robot:    hex.EncodeToString(fp[:4]),
		redactor: newRedactor(webhook, robot, n.Secret.Reveal()),
		lim:      limiterFor(robot),
		sleep:    sleepCtx,
		backoff:  []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond},
	}
	for _, opt := range opts {
		opt(nt)
	}
	return nt, nil
}

// CheckTemplate reports a DingTalk template that lacks one of TemplateNames or fails to render
// the sample alert.
func CheckTemplate(tpl *template.Template) error {
	var missing []string
	for _, name := range TemplateNames {
		if tpl.Lookup(name) == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("dingtalk template lacks {{define}} blocks %s (see templates/dingtalk.tmpl)", strings.Join(missing, ", "))
	}
	if _, err := BuildRequests(notify.Sample(time.Unix(0, 0)), tpl, Settings{}); err != nil {
		return fmt.Errorf("check dingtalk template: %w", err)
	}
	return nil
}

// Sign returns the value of the sign query parameter for a robot with the given secret at
// timestampMillis: urlencode(base64(HmacSHA256(key=secret, msg=timestamp+"\n"+secret))).
func Sign(secret string, timestampMillis int64) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestampMillis, 10) + "\n" + secret))
	return url.QueryEscape(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
}

// Notify renders m and posts it, split into several messages when it is too long. When an
// earlier call for m failed half-way, the parts it delivered are not sent again.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	payloads, err := BuildRequests(m, n.tpl, n.settings)
	if err != nil {
		return &notify.PermanentError{Err: fmt.Errorf("dingtalk notifier %q: %w", n.name, err)}
	}
	sentNow := 0
	for i, p := range payloads {
		body, err := p.Encode()
		if err != nil {
			return &notify.PermanentError{Err: err}
		}
		key := partKey(body)
		if m.Kind != notify.KindTest && n.delivered(m.ID, key) {
			continue
		}
		if err := n.send(ctx, body); err != nil {
			if len(payloads) > 1 {
				return fmt.Errorf("dingtalk notifier %q, message %d of %d: %w", n.name, i+1, len(payloads), err)
			}
			return fmt.Errorf("dingtalk notifier %q: %w", n.name, err)
		}
		sentNow++
		if m.Kind != notify.KindTest {
			n.markDelivered(m.ID, key)
		}
	}
	n.forget(m.ID)
	n.log.Info("dingtalk alert delivered", slog.String("notifier", n.name), slog.String("robot", n.robot),
		slog.String("message", m.ID), slog.Int("parts", len(payloads)), slog.Int("sent", sentNow))
	return nil
}

// send posts one body, within the rate limit, retrying 5xx answers and transport failures
// while ctx allows.
func (n *Notifier) send(ctx context.Context, body []byte) error {
	for attempt := 0; ; attempt++ {
		wait, giveBack, err := n.lim.reserve(ctx, n.now())
		if err != nil {
			return err
		}
		if wait > 0 {
			n.log.Debug("dingtalk rate limit: waiting", slog.String("robot", n.robot), slog.Duration("wait", wait))
			if err := n.sleep(ctx, wait); err != nil {
				giveBack()
				return fmt.Errorf("wait for the dingtalk rate limit: %w", err)
			}
		}
		err = n.post(ctx, body)
		var tr *transientError
		if err == nil || !errors.As(err, &tr) || attempt >= len(n.backoff) {
			return err
		}
		delay := n.backoff[attempt]
		if dl, ok := ctx.Deadline(); ok && delay > time.Until(dl) {
			return err
		}
		n.log.Debug("dingtalk request failed, retrying", slog.String("robot", n.robot),
			slog.Int("attempt", attempt+1), slog.String("error", err.Error()))
		if serr := n.sleep(ctx, delay); serr != nil {
			return err
		}
	}
}

// post sends body once, signed with a fresh timestamp, and classifies the answer.
func (n *Notifier) post(ctx context.Context, body []byte) error {
	target := n.webhook
	var sign string
	if n.secret != "" {
		ts := n.now().UnixMilli()
		sign = Sign(n.secret, ts)
		sep := "&"
		if !strings.Contains(target, "?") {
			sep = "?"
		}
		target += sep + "timestamp=" + strconv.FormatInt(ts, 10) + "&sign=" + sign
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return n.clean("build dingtalk request", err, sign)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := n.client.Do(req)
	if err != nil {
		return &transientError{err: n.clean("post to dingtalk robot", err, sign)}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
	}()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return &transientError{err: n.clean("read dingtalk answer", err, sign)}
	}
	return n.classify(resp.StatusCode, data, sign)
}

// answer is a DingTalk robot's reply.
type answer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// classify turns an HTTP status and body into nil, a *notify.PermanentError, a transient error
// (retried now) or another error (retried next cycle).
func (n *Notifier) classify(status int, data []byte, sign string) error {
	var a answer
	if json.Unmarshal(data, &a) == nil && a.ErrCode != nil {
		code, msg := *a.ErrCode, n.redact(strings.TrimSpace(a.ErrMsg), sign)
		switch {
		case code == 0 && status/100 == 2:
			return nil
		case code == 0:
			// fall through to the HTTP status
		case code == 310000:
			n.log.Warn("dingtalk robot refused the message", slog.String("notifier", n.name), slog.String("robot", n.robot),
				slog.Int("errcode", code), slog.String("errmsg", msg))
			return &notify.PermanentError{Err: fmt.Errorf("dingtalk robot refused the message (errcode 310000: %s): check notifier %q: its secret must be the robot's 加签 secret (SEC...), its keyword one of the robot's custom keywords, this host allowed by the robot's IP list, and this host's clock right (signatures older than an hour are refused)", msg, n.name)}
		case code == 130101:
			until := n.now().Add(throttlePause)
			n.lim.pause(until)
			n.log.Warn("dingtalk robot throttled: pausing it", slog.String("notifier", n.name), slog.String("robot", n.robot),
				slog.Int("errcode", code), slog.String("errmsg", msg), slog.Time("until", until))
			return fmt.Errorf("dingtalk robot is sending too fast (errcode 130101: %s): paused for %s; the alert stays in the outbox and is retried on a later cycle", msg, throttlePause)
		case slices.Contains([]int{300001, 300005, 400101, 400102}, code):
			return &notify.PermanentError{Err: fmt.Errorf("dingtalk robot does not exist or is disabled (errcode %d: %s): check notifier %q: its webhookURL must be the robot's current webhook (https://oapi.dingtalk.com/robot/send?access_token=...)", code, msg, n.name)}
		case code == 460101 || code == 101002:
			return &notify.PermanentError{Err: fmt.Errorf("dingtalk robot refused the message as too long (errcode %d: %s): shorten the template of notifier %q", code, msg, n.name)}
		case code == -1 || status/100 == 5:
			return &transientError{err: fmt.Errorf("dingtalk robot is busy (errcode %d: %s)", code, msg)}
		default:
			return fmt.Errorf("dingtalk robot error (errcode %d: %s)", code, msg)
		}
	}
	switch {
	case status/100 == 2:
		return fmt.Errorf("dingtalk robot answered HTTP %d without an errcode", status)
	case status/100 == 5:
		return &transientError{err: fmt.Errorf("dingtalk robot answered HTTP %d", status)}
	case status == http.StatusTooManyRequests:
		n.lim.pause(n.now().Add(time.Minute))
		return fmt.Errorf("dingtalk robot answered HTTP 429 (too many requests): paused for a minute")
	default:
		return &notify.PermanentError{Err: fmt.Errorf("dingtalk robot answered HTTP %d: check notifier %q's webhookURL", status, n.name)}
	}
}

// transientError is a failure worth retrying at once: a transport error or a 5xx answer.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// cleanError carries an error's redacted text. It unwraps only to the context errors, so that
// no error holding the URL is reachable through it.
type cleanError struct {
	msg   string
	cause error
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.cause }

// clean rewrites a net/http error without the request URL (a *url.Error embeds it, with the
// access_token and the signature) and with any credential removed from the rest.
func (n *Notifier) clean(what string, err error, sign string) error {
	var ue *url.Error
	text := err.Error()
	if errors.As(err, &ue) {
		text = ue.Err.Error()
	}
	var cause error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		cause = context.Canceled
	}
	return &cleanError{msg: what + ": " + n.redact(text, sign), cause: cause}
}

// redact removes the webhook URL, the access token, the secret and sign from s.
func (n *Notifier) redact(s, sign string) string {
	s = n.redactor.Replace(s)
	if sign != "" {
		for _, v := range []string{sign, mustUnescape(sign)} {
			s = strings.ReplaceAll(s, v, config.Redacted)
		}
	}
	return s
}

func newRedactor(values ...string) *strings.Replacer {
	var all []string
	for _, v := range values {
		if v == "" {
			continue
		}
		all = append(all, v, url.QueryEscape(v), url.PathEscape(v))
	}
	// Longest first, so that the URL goes before the token inside it.
	slices.SortFunc(all, func(a, b string) int { return len(b) - len(a) })
	all = slices.Compact(all)
	var pairs []string
	for _, v := range all {
		pairs = append(pairs, v, config.Redacted)
	}
	return strings.NewReplacer(pairs...)
}

func mustUnescape(s string) string {
	if v, err := url.QueryUnescape(s); err == nil {
		return v
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// sentParts remembers which parts of messages that failed half-way were delivered, so that
// retrying such a message does not repeat its first parts. A message delivered in full is
// forgotten: sending it again sends it again.
type sentParts struct {
	order []string
	parts map[string]map[string]bool
}

const sentMemory = 64

func partKey(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

func (n *Notifier) delivered(id, key string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent.parts[id][key]
}

// forget drops what was remembered of message id, once all of it is delivered.
func (n *Notifier) forget(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.sent.parts[id]; !ok {
		return
	}
	delete(n.sent.parts, id)
	n.sent.order = slices.DeleteFunc(n.sent.order, func(v string) bool { return v == id })
}

func (n *Notifier) markDelivered(id, key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sent.parts == nil {
		n.sent.parts = map[string]map[string]bool{}
	}
	if n.sent.parts[id] == nil {
		n.sent.parts[id] = map[string]bool{}
		n.sent.order = append(n.sent.order, id)
		if len(n.sent.order) > sentMemory {
			delete(n.sent.parts, n.sent.order[0])
			n.sent.order = n.sent.order[1:]
		}
	}
	n.sent.parts[id][key] = true
}
