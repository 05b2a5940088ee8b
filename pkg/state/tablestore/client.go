package tablestore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	ots "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/wahealth/wahealth/pkg/cams"
)

// Retry policy of one logical call. The SDK's own retries are off (they sleep without
// honouring a context); these are bounded and stop when the context ends.
const (
	maxAttempts   = 4
	retryBase     = 50 * time.Millisecond
	retryMaxDelay = time.Second
	// defaultRequestTimeout bounds one HTTP request when Options.HTTPClient sets no Timeout.
	defaultRequestTimeout = 30 * time.Second
)

// Codes of Tablestore errors this package acts on
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/error-codes).
const (
	codeConditionCheckFail = "OTSConditionCheckFail"
	codeObjectNotExist     = "OTSObjectNotExist"
	codeObjectAlreadyExist = "OTSObjectAlreadyExist"
	codeAuthFailed         = "OTSAuthFailed"
	codeNoPermission       = "OTSNoPermissionAccess"
)

// transientCodes are answers that a later identical request may not get: the server was
// busy, unavailable or timed out. Every write this package makes is conditional and
// re-checked after a condition failure, so writes are retried on them too.
var transientCodes = map[string]bool{
	"OTSServerUnavailable":     true,
	"OTSServerBusy":            true,
	"OTSPartitionUnavailable":  true,
	"OTSTimeout":               true,
	"OTSInternalServerError":   true,
	"OTSStorageServerBusy":     true,
	"OTSRowOperationConflict":  true,
	"OTSNotEnoughCapacityUnit": true,
	"OTSTableNotReady":         true,
	"OTSQuotaExhausted":        true,
	"OTSRequestTimeout":        true,
}

// APIError is an error answer from Tablestore: its OTS* code, message, request id and HTTP
// status. It never holds credentials.
type APIError struct {
	Code       string
	Message    string
	RequestID  string
	HTTPStatus int
}

// Error describes the answer, with a hint for authentication failures.
func (e *APIError) Error() string {
	s := fmt.Sprintf("tablestore answered %s (HTTP %d): %s", e.Code, e.HTTPStatus, e.Message)
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	switch e.Code {
	case codeAuthFailed:
		s += "; check the access key pair and security token (ALIBABA_CLOUD_* variables or the function's role), the instance name and the clock"
	case codeNoPermission:
		s += "; grant the RAM policy the ots: actions listed in the README"
	case codeObjectNotExist:
		s += "; create the table with `checker -init-state`"
	}
	return s
}

// Code returns the OTS error code of err, "" when it is not a Tablestore answer.
func Code(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// convert turns the SDK's *OtsError into an *APIError; other errors pass unchanged.
func convert(err error) error {
	var oe *ots.OtsError
	if errors.As(err, &oe) {
		return &APIError{Code: oe.Code, Message: oe.Message, RequestID: oe.RequestId, HTTPStatus: oe.HttpStatusCode}
	}
	return err
}

func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return transientCodes[ae.Code] || ae.HTTPStatus >= 500
	}
	// Transport errors: connection refused or reset, EOF, a request timeout.
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// credentials returns the credentials a call under ctx signs with: those of the Function
// Compute invocation (cams.WithCredentials) when present, else Options.Credentials.
func (s *Store) credentials(ctx context.Context) (cams.Credentials, error) {
	if c, ok := cams.CredentialsFromContext(ctx); ok {
		return c, nil
	}
	if s.opts.Credentials == nil {
		return cams.Credentials{}, cams.ErrNoCredentials
	}
	c := s.opts.Credentials(ctx)
	if err := c.Validate(); err != nil {
		return cams.Credentials{}, err
	}
	return c, nil
}

// ctxTransport binds every request of one SDK client to the context of the call that made
// the client: the SDK builds its requests without a context.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

// RoundTrip sends req under the bound context.
func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(req.WithContext(t.ctx))
}

// client returns an SDK client for one call: signed with the current credentials, its
// requests bound to ctx, without SDK retries. The SDK client holds no connections (they
// live in the shared transport), so one per call costs a few allocations.
func (s *Store) client(ctx context.Context) (*ots.TableStoreClient, error) {
	c, err := s.credentials(ctx)
	if err != nil {
		return nil, err
	}
	cfg := &ots.TableStoreConfig{
		RetryTimes:         0,
		MaxRetryTime:       0,
		HTTPTimeout:        ots.HTTPTimeout{ConnectionTimeout: s.timeout, RequestTimeout: s.timeout},
		MaxIdleConnections: 16,
		Transport:          ctxTransport{ctx: ctx, base: s.transport},
	}
	return ots.NewClientWithConfig(s.endpoint, s.opts.Instance, c.AccessKeyID, c.AccessKeySecret, c.SecurityToken, cfg), nil
}

// call runs fn with a fresh client, retrying transient failures with jittered exponential
// backoff while ctx allows. It returns fn's last error converted to an *APIError.
func (s *Store) call(ctx context.Context, fn func(c *ots.TableStoreClient) error) error {
	var err error
	for attempt := 0; ; attempt++ {
		if cerr := ctx.Err(); cerr != nil {
			if err != nil {
				return fmt.Errorf("%w (last error: %v)", cerr, err)
			}
			return cerr
		}
		var c *ots.TableStoreClient
		if c, err = s.client(ctx); err != nil {
			return err
		}
		err = convert(fn(c))
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%w (last error: %v)", cerr, err)
		}
		if attempt+1 >= maxAttempts || !retryable(err) {
			return err
		}
		d := min(retryBase<<attempt, retryMaxDelay)
		d = d/2 + rand.N(d/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// conditionFailed reports a write refused by its condition.
func conditionFailed(err error) bool { return Code(err) == codeConditionCheckFail }
