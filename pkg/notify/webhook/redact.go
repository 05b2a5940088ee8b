package webhook

import (
	"errors"
	"net/url"
	"slices"
	"strings"
)

// redacted replaces a credential in text.
const redacted = "[redacted]"

// redactor returns a replacer that hides the webhook URL and the parts of it that may carry a
// credential (path segments, the query and its values, user info), and the extra words (the
// secret, header values).
func redactor(u *url.URL, extra ...string) *strings.Replacer {
	words := append([]string{u.String(), u.Redacted(), u.RawQuery, u.Path, u.EscapedPath()}, extra...)
	if u.User != nil {
		words = append(words, u.User.String())
		if p, ok := u.User.Password(); ok {
			words = append(words, p)
		}
	}
	for _, seg := range strings.Split(u.Path, "/") {
		words = append(words, seg, url.PathEscape(seg))
	}
	for _, vs := range u.Query() {
		words = append(words, vs...)
	}
	// Longest first, so that a URL is replaced whole before its parts are; short words are no
	// credential and would mangle ordinary text.
	slices.SortFunc(words, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, w := range slices.Compact(words) {
		if len(w) >= 8 {
			pairs = append(pairs, w, redacted)
		}
	}
	return strings.NewReplacer(pairs...)
}

// cleanError is an error whose text had credentials removed. Unwrap still reaches the cause
// (context.DeadlineExceeded, a net.Error), whose own text is never shown.
type cleanError struct {
	msg string
	err error
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.err }

// clean drops the *url.Error layer net/http adds (its text holds the whole URL) and redacts
// what is left.
func (n *Notifier) clean(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &cleanError{msg: n.redact.Replace(err.Error()), err: err}
}
