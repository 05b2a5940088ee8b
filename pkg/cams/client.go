// Package cams is wahealth's client of Alibaba Cloud Chat App Message Service (CAMS): it calls
// GetWhatsappHealthStatus through the official SDK's CommonRequest, signs with the account's
// credentials, keeps the account-wide request rate under the API's limit, retries throttling and
// server errors with jittered exponential backoff, and turns answers into health entities.
// The sub-package camssim is a simulator of the API for tests and demos.
package cams

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	smithytime "github.com/aws/smithy-go/time"
	"github.com/aws/smithy-go/waiter"

	"github.com/wahealth/wahealth/pkg/health"
)

// The API facts this client relies on.
const (
	Product    = "cams"
	APIVersion = "2020-06-06"
	// ActionHealth is the health operation.
	ActionHealth = "GetWhatsappHealthStatus"
	// RegionID is the region CAMS is documented in.
	RegionID = "ap-southeast-1"
	// maxBody bounds how much of an answer is read.
	maxBody = 4 << 20
)

// Options configures a Client.
type Options struct {
	// Endpoint is the base URL, e.g. https://cams.ap-southeast-1.aliyuncs.com.
	Endpoint string
	// Credentials sign every call.
	Credentials Credentials
	// QPS is the account-wide budget of calls per second; never more than QPS calls start in
	// any one-second window. Ignored when Budget is set.
	QPS float64
	// Budget, when set, is shared with other clients of the same account.
	Budget *Budget
	// Timeout bounds one HTTP call.
	Timeout time.Duration
	// MaxRetries bounds the retries of a temporary failure (throttling, 5xx, no answer).
	MaxRetries int
	// Concurrency is how many calls CheckAll keeps in flight.
	Concurrency int
	// HTTPClient supplies the transport; its Timeout is ignored in favour of Timeout.
	HTTPClient *http.Client
	// Logger receives retry and failure records (never credentials).
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the jittered retry delay (defaults 200ms and 10s).
	MinBackoff, MaxBackoff time.Duration
	// ThrottleBackoff is the least a throttled call waits before its retry (default one
	// second, the length of the API's rate window).
	ThrottleBackoff time.Duration
}

// Client calls CAMS. It is safe for concurrent use.
type Client struct {
	opts   Options
	scheme string
	domain string
	budget *Budget
	pool   chan *sdkClient
	red    redactor
	log    *slog.Logger
}

// sdkClient is one SDK client with the transport it owns. The SDK mutates its client on every
// call (timeouts), so each in-flight call borrows a client of its own.
type sdkClient struct {
	c     *sdk.Client
	tr    *captureTransport
	creds *callCredentials
}

// New returns a client. It fails when the endpoint is not a URL or credentials are missing.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("cams endpoint %q: want http(s)://host[:port]", opts.Endpoint)
	}
	if err := opts.Credentials.Validate(); err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = min(64, max(4, int(math.Ceil(opts.QPS*4))))
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.ThrottleBackoff <= 0 {
		opts.ThrottleBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(opts.MinBackoff, 10*time.Second)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	base := http.RoundTripper(nil)
	if opts.HTTPClient != nil {
		base = opts.HTTPClient.Transport
	}
	if base == nil {
		base = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: opts.Concurrency,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		}
	}
	c := &Client{
		opts:   opts,
		scheme: u.Scheme,
		domain: u.Host,
		budget: opts.Budget,
		pool:   make(chan *sdkClient, opts.Concurrency),
		red:    redactor{opts.Credentials.AccessKeySecret, opts.Credentials.SecurityToken, opts.Credentials.AccessKeyID},
		log:    opts.Logger,
	}
	if c.budget == nil {
		c.budget = NewBudget(opts.QPS)
	}
	for range opts.Concurrency {
		sc, err := c.newSDKClient(base)
		if err != nil {
			return nil, err
		}
		c.pool <- sc
	}
	return c, nil
}

func (c *Client) newSDKClient(base http.RoundTripper) (*sdkClient, error) {
	tr := &captureTransport{base: base, budget: c.budget}
	cfg := sdk.NewConfig()
	cfg.Transport = tr // not an *http.Transport: the SDK then leaves it alone
	cfg.AutoRetry = false
	cfg.Scheme = strings.ToUpper(c.scheme)
	cred := &callCredentials{c: c.opts.Credentials}
	sc, err := sdk.NewClientWithOptions(RegionID, cfg, credentials.CredentialsProvider(cred))
	if err != nil {
		return nil, fmt.Errorf("create cams sdk client: %s", c.red.clean(err.Error()))
	}
	return &sdkClient{c: sc, tr: tr, creds: cred}, nil
}

// callCredentials is the credentials provider of one borrowed SDK client: set before each call
// from the call's context (Function Compute rotates credentials per invocation) or the
// client's static credentials.
type callCredentials struct {
	mu sync.Mutex
	c  Credentials
}

func (p *callCredentials) set(c Credentials) {
	p.mu.Lock()
	p.c = c
	p.mu.Unlock()
}

// GetCredentials hands the SDK the current credentials.
func (p *callCredentials) GetCredentials() (*credentials.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return &credentials.Credentials{AccessKeyId: p.c.AccessKeyID, AccessKeySecret: p.c.AccessKeySecret,
		SecurityToken: p.c.SecurityToken, ProviderName: "wahealth"}, nil
}

// GetProviderName names the provider.
func (p *callCredentials) GetProviderName() string { return "wahealth" }

type credsKey struct{}

// WithCredentials returns a context whose calls sign with c instead of the client's own
// credentials (Function Compute hands each invocation fresh STS credentials).
func WithCredentials(ctx context.Context, c Credentials) context.Context {
	return context.WithValue(ctx, credsKey{}, c)
}

// CredentialsFromContext returns the credentials WithCredentials put into ctx, if any. Other
// Alibaba Cloud clients (the state stores) use it to sign with the invocation's credentials too.
func CredentialsFromContext(ctx context.Context) (Credentials, bool) {
	cr, ok := ctx.Value(credsKey{}).(Credentials)
	return cr, ok && cr.Validate() == nil
}

// credentialsFor returns the credentials a call under ctx signs with.
func (c *Client) credentialsFor(ctx context.Context) Credentials {
	if cr, ok := ctx.Value(credsKey{}).(Credentials); ok && cr.Validate() == nil {
		return cr
	}
	return c.opts.Credentials
}

// Result is a successful health answer.
type Result struct {
	// RequestID is CAMS's request id.
	RequestID string
	// Overall is Data.CanSendMessage as Meta gives it (it can be BLOCKED for a calling-only
	// problem while every entity can send messages).
	Overall health.Status
	// Entities are the normalised rows.
	Entities []health.Entity
	// Attempts is how many calls it took (1 without retries).
	Attempts int
}

// Check queries the health of one target, retrying temporary failures within ctx.
func (c *Client) Check(ctx context.Context, t health.Target) (*Result, error) {
	params := map[string]string{
		"NodeType":    string(t.NodeType),
		"CustSpaceId": t.CustSpaceID,
	}
	setIf := func(k, v string) {
		if v != "" {
			params[k] = v
		}
	}
	setIf("WabaId", t.WabaID)
	setIf("PhoneNumber", t.PhoneNumber)
	setIf("TemplateCode", t.TemplateCode)
	setIf("Language", t.Language)
	resp, attempts, err := c.Call(ctx, ActionHealth, params)
	if err != nil {
		return nil, err
	}
	return &Result{
		RequestID: resp.RequestID,
		Overall:   health.Status(resp.Data.CanSendMessage),
		Entities:  resp.Entities(t),
		Attempts:  attempts,
	}, nil
}

// Call performs one API operation with retries and returns its decoded body. A body whose Code
// is not "OK" is an *APIError.
func (c *Client) Call(ctx context.Context, action string, params map[string]string) (*Response, int, error) {
	var lastErr error
	for attempt := 1; ; attempt++ {
		if err := c.budget.Wait(ctx); err != nil {
			return nil, attempt - 1, c.giveUp(action, lastErr, err)
		}
		body, err := c.once(ctx, action, params)
		if err == nil {
			var resp *Response
			resp, err = ParseResponse(body)
			if err == nil && !resp.OK() {
				cr := c.credentialsFor(ctx)
				red := append(redactor{cr.AccessKeySecret, cr.SecurityToken, cr.AccessKeyID}, c.red...)
				err = &APIError{Action: action, Code: resp.Code, Message: red.clean(string(resp.Message)),
					HTTPStatus: http.StatusOK, RequestID: resp.RequestID, AccessDenied: red.clean(string(resp.AccessDeniedDetail))}
			}
			if err == nil {
				c.budget.Succeeded()
				return resp, attempt, nil
			}
		}
		if IsThrottled(err) {
			c.budget.Throttled()
		}
		lastErr = err
		if !retryable(err) || attempt > c.opts.MaxRetries || ctx.Err() != nil {
			return nil, attempt, err
		}
		delay := c.backoff(ctx, attempt, IsThrottled(err))
		c.log.LogAttrs(ctx, slog.LevelWarn, "cams call failed, retrying",
			slog.String("action", action), slog.Int("attempt", attempt), slog.Duration("delay", delay), slog.String("error", err.Error()))
		if err := smithytime.SleepWithContext(ctx, delay); err != nil {
			return nil, attempt, c.giveUp(action, lastErr, err)
		}
	}
}

// giveUp reports a retry loop cut short by the deadline: the last failure, else the cause.
func (c *Client) giveUp(action string, last, cause error) error {
	if last != nil {
		return last
	}
	return &TransportError{Action: action, Err: fmt.Errorf("no time left to call: %w", cause)}
}

// backoff computes the jittered exponential delay before retry number attempt, within ctx's
// deadline. A throttled call waits at least ThrottleBackoff.
func (c *Client) backoff(ctx context.Context, attempt int, throttled bool) time.Duration {
	lo, hi := c.opts.MinBackoff, c.opts.MaxBackoff
	if throttled && lo < c.opts.ThrottleBackoff {
		lo = c.opts.ThrottleBackoff
		hi = max(hi, lo)
	}
	remaining := time.Hour
	if dl, ok := ctx.Deadline(); ok {
		remaining = time.Until(dl)
	}
	d, err := waiter.ComputeDelay(int64(attempt), lo, hi, remaining)
	if err != nil || d < 0 {
		d = 0 // ComputeDelay goes negative when the deadline is closer than lo
	}
	return d
}

// once performs one signed HTTP call and returns the 2xx body.
func (c *Client) once(ctx context.Context, action string, params map[string]string) (body []byte, err error) {
	var sc *sdkClient
	select {
	case sc = <-c.pool:
	case <-ctx.Done():
		return nil, &TransportError{Action: action, Err: ctx.Err()}
	}
	defer func() { c.pool <- sc }()

	cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	sc.tr.reset(cctx)
	creds := c.credentialsFor(ctx)
	sc.creds.set(creds)
	red := append(redactor{creds.AccessKeySecret, creds.SecurityToken, creds.AccessKeyID}, c.red...)

	req := requests.NewCommonRequest()
	req.Method = requests.POST
	req.Scheme = c.scheme
	req.Domain = c.domain
	req.Product = Product
	req.Version = APIVersion
	req.ApiName = action
	req.SetReadTimeout(c.opts.Timeout)
	req.SetConnectTimeout(min(c.opts.Timeout, 5*time.Second))
	for k, v := range params {
		req.QueryParams[k] = v
	}

	_, sdkErr := safeProcess(sc.c, req)
	status, raw, transportErr := sc.tr.result()
	switch {
	case transportErr != nil:
		return nil, &TransportError{Action: action, Err: red.cleanNetErr(transportErr)}
	case status == 0:
		// The SDK failed before sending (for example while signing).
		msg := "request not sent"
		if sdkErr != nil {
			msg = red.clean(sdkErr.Error())
		}
		return nil, &TransportError{Action: action, Err: errors.New(msg)}
	case status < 200 || status > 299:
		ae := &APIError{Action: action, HTTPStatus: status, Code: fmt.Sprintf("HTTP%d", status)}
		if r, err := ParseResponse(raw); err == nil {
			if r.Code != "" {
				ae.Code = r.Code
			}
			ae.Message = red.clean(string(r.Message))
			ae.RequestID = r.RequestID
			ae.AccessDenied = red.clean(string(r.AccessDeniedDetail))
		}
		return nil, ae
	}
	return raw, nil
}

// safeProcess calls the SDK, turning a panic (the SDK asserts types on error bodies) into an
// error. The body is read from the capturing transport, not from the SDK's response.
func safeProcess(c *sdk.Client, req *requests.CommonRequest) (_ any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sdk failed on the answer: %v", r)
		}
	}()
	return c.ProcessCommonRequest(req)
}

// captureTransport gives each call the caller's context and keeps a copy of the answer, so the
// client parses status and body itself.
type captureTransport struct {
	base   http.RoundTripper
	budget *Budget

	mu     sync.Mutex
	ctx    context.Context
	status int
	body   []byte
	err    error
}

func (t *captureTransport) reset(ctx context.Context) {
	t.mu.Lock()
	t.ctx, t.status, t.body, t.err = ctx, 0, nil, nil
	t.mu.Unlock()
}

func (t *captureTransport) result() (int, []byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status, t.body, t.err
}

// RoundTrip sends req under the call's context and records the answer.
func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	ctx := t.ctx
	t.mu.Unlock()
	if ctx != nil {
		req = req.WithContext(ctx)
	} else {
		ctx = req.Context()
	}
	if err := t.budget.send(ctx); err != nil {
		t.mu.Lock()
		t.err = err
		t.mu.Unlock()
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.mu.Lock()
		t.err = err
		t.mu.Unlock()
		return nil, err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	t.mu.Lock()
	if rerr != nil {
		t.err = rerr
	} else {
		t.status, t.body = resp.StatusCode, body
	}
	t.mu.Unlock()
	if rerr != nil {
		return nil, rerr
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// Outcome is the result of one target's check in CheckAll.
type Outcome struct {
	Target health.Target
	Result *Result
	Err    error
}

// Budget returns the client's request budget.
func (c *Client) Budget() *Budget { return c.budget }

// CheckAll checks every target with up to Concurrency calls in flight, all under the shared
// rate limit, and calls fn (serially) as each finishes. It returns when all are done or ctx
// ends; targets not started by then are reported with ctx's error.
func (c *Client) CheckAll(ctx context.Context, targets []health.Target, fn func(i int, o Outcome)) {
	type done struct {
		i int
		o Outcome
	}
	jobs := make(chan int)
	results := make(chan done)
	var wg sync.WaitGroup
	for range min(c.opts.Concurrency, len(targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r, err := c.Check(ctx, targets[i])
				results <- done{i, Outcome{Target: targets[i], Result: r, Err: err}}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range targets {
			select {
			case jobs <- i:
			case <-ctx.Done():
				for j := i; j < len(targets); j++ {
					results <- done{j, Outcome{Target: targets[j], Err: &TransportError{Action: ActionHealth, Err: fmt.Errorf("not checked: %w", ctx.Err())}}}
				}
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		// the feeder may still be reporting unstarted targets; wait for it through jobs closing
	}()
	for n := 0; n < len(targets); n++ {
		d := <-results
		fn(d.i, d.o)
	}
	wg.Wait()
}
