package cams

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
)

// APIError is an answer from CAMS that is not a success: a non-2xx status, or a 2xx body whose
// Code is not "OK". It never carries credentials.
type APIError struct {
	// Action is the API operation.
	Action string
	// Code is the API's error code ("Throttling.User", "SignatureDoesNotMatch", ...).
	Code string
	// Message is the API's message, with anything that could hold a credential removed.
	Message string
	// HTTPStatus is the answer's HTTP status.
	HTTPStatus int
	// RequestID is the API's request id, for support tickets.
	RequestID string
	// AccessDenied is the AccessDeniedDetail the API gave, if any.
	AccessDenied string
}

// Error describes the failure with its code, status and request id.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cams %s: %s (HTTP %d", e.Action, e.Code, e.HTTPStatus)
	if e.RequestID != "" {
		fmt.Fprintf(&b, ", request id %s", e.RequestID)
	}
	b.WriteString(")")
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.AccessDenied != "" {
		b.WriteString("; access denied: ")
		b.WriteString(e.AccessDenied)
	}
	return b.String()
}

// Throttled reports whether the API refused the call for flow control (a Throttling* code).
func (e *APIError) Throttled() bool { return strings.HasPrefix(e.Code, "Throttling") }

// Temporary reports whether the same call may succeed later: throttling, 5xx, or the codes
// Alibaba Cloud uses for passing server trouble.
func (e *APIError) Temporary() bool {
	if e.Throttled() || e.HTTPStatus >= 500 || e.HTTPStatus == 429 {
		return true
	}
	switch e.Code {
	case "ServiceUnavailable", "InternalError", "UnknownError", "ServiceTimeout":
		return true
	}
	return false
}

// TransportError is a call that got no answer: connection refused, reset, timed out. Its
// message never includes the request URL (which carries the signature and the key id).
type TransportError struct {
	Action string
	Err    error
}

// Error describes the failure.
func (e *TransportError) Error() string { return fmt.Sprintf("cams %s: %v", e.Action, e.Err) }

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// IsThrottled reports whether err is (or wraps) a throttling answer.
func IsThrottled(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Throttled()
}

// retryable reports whether a failed call is worth retrying.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	var te *TransportError
	return errors.As(err, &te)
}

var (
	queryInURL   = regexp.MustCompile(`\?[^\s"']*`)
	stringToSign = regexp.MustCompile(`(?i)(string ?to ?sign( is)?:?).*`)
)

// redactor removes credentials from text that came from the SDK, the network or the server.
type redactor []string

func (r redactor) clean(s string) string {
	s = queryInURL.ReplaceAllString(s, "?[redacted]")
	s = stringToSign.ReplaceAllString(s, "$1 [redacted]")
	for _, secret := range r {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// cleanNetErr reduces a transport failure to its cause without the URL.
func (r redactor) cleanNetErr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("timed out waiting for an answer")
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return errors.New(r.clean(oe.Error()))
	}
	return errors.New(r.clean(err.Error()))
}
