// Package webhook posts wahealth alerts to any HTTP endpoint as a documented, versioned JSON
// payload (see Payload), for users who route alerts to their own systems.
//
// Each delivery is one POST of Content-Type application/json with the headers
//
//	User-Agent: wahealth
//	X-Wahealth-Event: <kind: changes, baseline, digest or test>
//	X-Wahealth-Delivery: <message id: the same on every retry, an idempotency key>
//	X-Wahealth-Timestamp: <Unix seconds>                  (with a secret)
//	X-Wahealth-Signature: sha256=<hex HMAC-SHA256>        (with a secret)
//
// where the signature is HMAC-SHA256, keyed with the secret, of the timestamp, a ".", and the
// exact body (Sign). Receivers should recompute it, compare in constant time, and refuse
// timestamps more than a few minutes off. The notifier's extra headers are added, but cannot
// replace these.
//
// A 2xx answer means delivered. 408, 429 and 5xx answers and transport errors are retried once
// when the wait (Retry-After, if given) fits the context's deadline; other answers are
// permanent errors. The URL, the secret and the signature never appear in errors or logs.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/notify"
)

// The headers of a delivery.
const (
	// HeaderEvent carries the message's kind: changes, baseline, digest or test.
	HeaderEvent = "X-Wahealth-Event"
	// HeaderDelivery carries the message's id, the same on every retry: an idempotency key.
	HeaderDelivery = "X-Wahealth-Delivery"
	// HeaderTimestamp carries the signing time in Unix seconds (with a secret only).
	HeaderTimestamp = "X-Wahealth-Timestamp"
	// HeaderSignature carries "sha256=" + Sign(secret, body, timestamp) (with a secret only).
	HeaderSignature = "X-Wahealth-Signature"
)

const (
	maxAttempts     = 2 // one request and one retry
	defaultTimeout  = 15 * time.Second
	defaultBackoff  = 500 * time.Millisecond
	maxResponseBody = 64 << 10
	maxRetryAfter   = time.Minute
)

// Notifier posts alerts to one webhook.
type Notifier struct {
	name    string
	url     string
	secret  string
	headers http.Header
	client  *http.Client
	tpl     *template.Template
	log     *slog.Logger
	now     func() time.Time
	redact  *strings.Replacer
	// backoff is the wait before a retry when the receiver gives no Retry-After.
	backoff time.Duration
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a notifier posting to n.WebhookURL, signing with n.Secret when set and adding
// n.Headers. o.Template renders the payload's text (LoadTemplate("webhook", ...)); nil uses the
// built-in one. Headers that wahealth sets itself (Content-Type, User-Agent, X-Wahealth-*, ...)
// are refused.
func New(n config.Notifier, o notify.Options) (*Notifier, error) {
	raw := n.WebhookURL.Reveal()
	u, err := url.Parse(raw)
	if raw == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("webhook webhookURL is not a URL (want https://host/path)")
	}
	headers, err := userHeaders(n.Headers)
	if err != nil {
		return nil, err
	}
	tpl := o.Template
	if tpl == nil {
		if tpl, err = notify.LoadTemplate("webhook", "", ""); err != nil {
			return nil, err
		}
	}
	// Render every shape of message now, so that a broken template fails at start-up.
	for _, m := range samples() {
		if _, err := BuildPayload(m, tpl); err != nil {
			return nil, fmt.Errorf("check webhook template on a %s message: %w", m.Kind, err)
		}
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
		name = "webhook"
	}
	var values []string
	for _, vs := range headers {
		values = append(values, vs...)
	}
	return &Notifier{
		name:    name,
		url:     raw,
		secret:  n.Secret.Reveal(),
		headers: headers,
		client:  client,
		tpl:     tpl,
		log:     o.Log().With(slog.String("notifier", name), slog.String("type", "webhook")),
		now:     o.Clock(),
		redact:  redactor(u, append(values, n.Secret.Reveal())...),
		backoff: defaultBackoff,
	}, nil
}

// reserved reports whether wahealth sets header name itself.
func reserved(name string) bool {
	switch name {
	case "Content-Type", "Content-Length", "Host", "User-Agent", "Transfer-Encoding", "Connection":
		return true
	}
	return strings.HasPrefix(name, "X-Wahealth-")
}

// userHeaders checks the configured headers. Its errors name headers, never their values
// (an Authorization header is a credential).
func userHeaders(h map[string]string) (http.Header, error) {
	out := http.Header{}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := h[k]
		canon := http.CanonicalHeaderKey(k)
		switch {
		case !validName(k):
			return nil, fmt.Errorf("webhook headers: %q is not a valid header name", k)
		case reserved(canon):
			return nil, fmt.Errorf("webhook headers: %s is set by wahealth and cannot be overridden", canon)
		case strings.ContainsAny(v, "\r\n\x00"):
			return nil, fmt.Errorf("webhook headers: the value of %s contains a line break", canon)
		}
		out.Set(canon, v)
	}
	return out, nil
}

func validName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// Sign returns the signature of a delivery: the hex HMAC-SHA256, keyed with secret, of the
// timestamp (Unix seconds, in decimal), a ".", and the body. The X-Wahealth-Signature header
// carries it as "sha256=" + Sign(...).
func Sign(secret string, body []byte, timestamp int64) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(strconv.FormatInt(timestamp, 10)))
	h.Write([]byte("."))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Notify posts m, retrying once what may pass on a second try.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	body, err := BuildPayload(m, n.tpl)
	if err != nil {
		return &notify.PermanentError{Err: err}
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		res := n.send(ctx, m, body)
		if res.err == nil {
			n.log.Info("webhook alert delivered", slog.String("message", m.ID), slog.Int("bytes", len(body)),
				slog.Int("attempts", attempt), slog.Duration("took", time.Since(start).Round(time.Millisecond)))
			return nil
		}
		if !res.retry || attempt == maxAttempts {
			return res.err
		}
		wait := res.wait
		if wait <= 0 {
			wait = n.backoff
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return fmt.Errorf("%w (no retry: the receiver asked to wait %s, beyond the deadline)", res.err, wait)
		}
		n.log.Warn("webhook delivery failed; retrying", slog.String("message", m.ID), slog.Int("attempt", attempt),
			slog.Duration("wait", wait), slog.String("error", res.err.Error()))
		if err := sleep(ctx, wait); err != nil {
			return res.err
		}
	}
}

// outcome is the result of one request.
type outcome struct {
	err   error
	retry bool
	wait  time.Duration // Retry-After, or 0
}

// send makes one request, freshly signed, and classifies the answer.
func (n *Notifier) send(ctx context.Context, m *notify.Message, body []byte) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return outcome{err: &notify.PermanentError{Err: fmt.Errorf("webhookURL of notifier %q is not usable", n.name)}}
	}
	for k, vs := range n.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wahealth")
	req.Header.Set(HeaderEvent, string(m.Kind))
	req.Header.Set(HeaderDelivery, m.ID)
	if n.secret != "" {
		ts := n.now().Unix()
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderSignature, "sha256="+Sign(n.secret, body, ts))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return outcome{err: fmt.Errorf("post to webhook: %w", n.clean(err)), retry: ctx.Err() == nil}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
		_ = resp.Body.Close()
	}()
	return n.classify(resp)
}

func (n *Notifier) classify(resp *http.Response) outcome {
	code := resp.StatusCode
	status := strconv.Itoa(code) + " " + http.StatusText(code)
	perm := func(format string, args ...any) outcome {
		return outcome{err: &notify.PermanentError{Err: fmt.Errorf(format, args...)}}
	}
	switch {
	case code/100 == 2:
		return outcome{}
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return outcome{err: fmt.Errorf("webhook answered %s", status), retry: true, wait: retryAfter(resp)}
	case code == http.StatusNotFound || code == http.StatusGone || code == http.StatusMethodNotAllowed:
		return perm("webhook answered %s: check webhookURL of notifier %q", status, n.name)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return perm("webhook answered %s: check secret and headers of notifier %q against what the receiver expects", status, n.name)
	case code/100 == 3:
		return perm("webhook answered %s (a redirect): set webhookURL of notifier %q to the final address", status, n.name)
	case code/100 == 4:
		return perm("webhook answered %s: the receiver refused the payload (notifier %q)", status, n.name)
	}
	return outcome{err: fmt.Errorf("webhook answered %s", status)}
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), or 0.
func retryAfter(resp *http.Response) time.Duration {
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil {
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
