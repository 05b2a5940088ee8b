package oss

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"

	"github.com/wahealth/wahealth/pkg/cams"
)

// APIError is an error answer from OSS, reduced to what is safe to show: the SDK's own error
// also carries the request target and response headers, and OSS's body for a bad signature
// carries the string to sign and the signature provided. None of those are kept.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is OSS's error code (NoSuchKey, FileAlreadyExists, SignatureDoesNotMatch, ...), or
	// BadErrorResponse when the answer had none.
	Code string
	// Message is OSS's message, shortened and with any credential removed.
	Message string
	// RequestID is OSS's request id, for support tickets.
	RequestID string
}

// Error describes the answer, with a hint for the usual configuration mistakes.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "oss answered %d %s", e.Status, e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(strings.TrimSuffix(e.Message, "."))
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	if h := hint(e.Code); h != "" {
		b.WriteString("; ")
		b.WriteString(h)
	}
	return b.String()
}

// hint says what usually causes an error code.
func hint(code string) string {
	switch code {
	case "SignatureDoesNotMatch":
		return "check the access key secret and that state.region is the bucket's region"
	case "InvalidAccessKeyId":
		return "check the access key id, or renew expired STS credentials (with their security token)"
	case "InvalidSecurityToken", "SecurityTokenExpired":
		return "the STS security token is missing, wrong or expired"
	case "AccessDenied":
		return "the RAM policy must allow oss:GetObject, oss:PutObject and oss:DeleteObject on the state prefix"
	case "NoSuchBucket":
		return "create the bucket first: wahealth does not create buckets"
	case "RequestTimeTooSkewed":
		return "the local clock is more than 15 minutes off"
	}
	return ""
}

// maxMessage bounds the length of an OSS message kept in an APIError.
const maxMessage = 300

// codeOf returns the OSS error code and HTTP status of err ("" and 0 when OSS did not answer).
func codeOf(err error) (string, int) {
	if e, ok := errors.AsType[*APIError](err); ok {
		return e.Code, e.Status
	}
	return "", 0
}

// sanitized is an error whose text was cleaned of credentials. It unwraps to the original
// (transport) error so that errors.Is still finds net and context errors in it.
type sanitized struct {
	msg string
	err error
}

func (e *sanitized) Error() string { return e.msg }
func (e *sanitized) Unwrap() error { return e.err }

// fail turns an SDK error of operation op on key into this package's error: "op
// oss://bucket/key: cause", where the cause is an *APIError for answers from OSS, the context's
// error when ctx ended, a credentials error, or the transport error with credentials removed.
func (s *Store) fail(ctx context.Context, op, key string, err error) error {
	where := s.url(key)
	if se, ok := errors.AsType[*osssdk.ServiceError](err); ok {
		return fmt.Errorf("%s %s: %w", op, where, &APIError{
			Status:    se.StatusCode,
			Code:      se.Code,
			Message:   s.redact(ctx, shorten(se.Message)),
			RequestID: se.RequestID,
		})
	}
	if cerr := ctx.Err(); cerr != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return fmt.Errorf("%s %s: %w", op, where, cerr)
	}
	inner := err
	if oe, ok := errors.AsType[*osssdk.OperationError](err); ok && oe.Unwrap() != nil {
		inner = oe.Unwrap() // drop the SDK's "operation error GetObject:" prefix
	}
	if errors.Is(inner, cams.ErrNoCredentials) {
		return fmt.Errorf("%s %s: %w", op, where, inner)
	}
	return fmt.Errorf("%s %s: %w", op, where, &sanitized{msg: s.redact(ctx, inner.Error()), err: inner})
}

// shorten cuts a message to maxMessage bytes.
func shorten(m string) string {
	m = strings.TrimSpace(m)
	if len(m) > maxMessage {
		m = m[:maxMessage] + "..."
	}
	return m
}

// redact removes the credentials a call under ctx signs with from text. Error texts built by
// the SDK and the transport hold request URLs, never the Authorization header, so this is a
// second line of defence.
func (s *Store) redact(ctx context.Context, text string) string {
	c, err := s.credentialsFor(ctx)
	if err != nil {
		return text
	}
	for _, secret := range []string{c.AccessKeySecret, c.SecurityToken, c.AccessKeyID} {
		if len(secret) >= 4 {
			text = strings.ReplaceAll(text, secret, "[redacted]")
		}
	}
	return text
}

// isNotFound reports a 404 for a missing key (not a missing bucket).
func isNotFound(err error) bool {
	code, status := codeOf(err)
	return code == "NoSuchKey" || (status == http.StatusNotFound && code == "BadErrorResponse")
}

// isCode reports an OSS answer with the error code code.
func isCode(err error, code string) bool {
	c, _ := codeOf(err)
	return c == code
}
