// Package fctest is an in-test emulator of Function Compute's runtime API (version
// 2020-11-11), the API a function built with github.com/aliyun/fc-runtime-go-sdk talks to
// through FC_RUNTIME_API: GET .../invocation/next blocks until the test invokes the function,
// then answers with the event as its body and the headers FC sends (request id, deadline in
// epoch milliseconds, timeout, the invocation's credentials, retry count, function metadata);
// the function answers with POST .../invocation/{id}/response or .../{id}/error.
//
// Start a real function binary with FC_RUNTIME_API set to Runtime.Addr and call Invoke. Every
// request the function makes is checked (method, path, content type, a JSON body, a known and
// unanswered request id); a malformed one is refused, recorded (Err), and fails the Invoke it
// belongs to.
package fctest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// APIPrefix is the path under which the runtime API is served.
const APIPrefix = "/2020-11-11/runtime/invocation/"

// Defaults of an Invocation's optional fields.
const (
	DefaultTimeout      = 60 * time.Second
	DefaultFunctionName = "wahealth-test"
	DefaultMemory       = 128
	DefaultRegion       = "ap-southeast-1"
	DefaultAccountID    = "1234567890123456"
)

// Credentials are the STS credentials FC hands an invocation (the function role's).
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Invocation is one call of the function.
type Invocation struct {
	// RequestID is the x-fc-request-id (generated when empty). A retry reuses the request id
	// of the attempt it retries.
	RequestID string
	// Event is the payload, sent as the body of the answer to next ("{}" when nil).
	Event []byte
	// Deadline is sent as x-fc-function-deadline in epoch milliseconds (now + Timeout when
	// zero).
	Deadline time.Time
	// Timeout is the function's timeout, sent as x-fc-function-timeout in whole seconds, at
	// least 1 (DefaultTimeout when zero).
	Timeout time.Duration
	// Credentials are sent as x-fc-access-key-id, x-fc-access-key-secret and
	// x-fc-security-token, each only when non-empty.
	Credentials Credentials
	// RetryCount is sent as x-fc-retry-count.
	RetryCount int
	// FunctionName, Handler, Memory (MB), Region and AccountID describe the function
	// (defaults above; Handler defaults to FunctionName).
	FunctionName string
	Handler      string
	Memory       int
	Region       string
	AccountID    string
	// Header holds further headers for the answer to next; they override the ones above.
	Header http.Header
}

// Status is how an invocation ended.
type Status string

// The statuses of a Result.
const (
	// StatusResponse: the function POSTed {id}/response.
	StatusResponse Status = "response"
	// StatusError: the function POSTed {id}/error.
	StatusError Status = "error"
)

// Result is the function's answer to one invocation.
type Result struct {
	// Status says which endpoint the function answered on.
	Status Status
	// Response is the body POSTed to {id}/response.
	Response []byte
	// Error is the body POSTed to {id}/error: {"errorMessage":...,"errorType":...}.
	Error []byte
	// ContentType is the answer's Content-Type.
	ContentType string
	// HTTPParams is the answer's x-fc-http-params header, if any.
	HTTPParams string
	// Took is the time from the function taking the invocation to its answer.
	Took time.Duration
}

// FunctionError is the body of an {id}/error answer as the SDK writes it.
type FunctionError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

// FunctionError decodes Error; ok is false when the invocation did not fail or the body is not
// the SDK's format.
func (r Result) FunctionError() (fe FunctionError, ok bool) {
	if r.Status != StatusError || json.Unmarshal(r.Error, &fe) != nil {
		return FunctionError{}, false
	}
	return fe, true
}

// Runtime is the emulated runtime API.
type Runtime struct {
	srv    *httptest.Server
	queue  chan *call
	closed chan struct{}
	once   sync.Once

	mu         sync.Mutex
	calls      map[string]*call
	violations []error
	nexts      int
}

// call is an invocation in flight.
type call struct {
	inv   Invocation
	done  chan struct{}
	taken time.Time
	res   Result
	err   error
	gone  bool // Invoke gave up; next skips it
	ended bool
}

// New starts a runtime API on a loopback port. Close it when done, after stopping the
// function (a function whose runtime API is gone retries next in a loop).
func New() *Runtime {
	r := &Runtime{
		queue:  make(chan *call, 64),
		closed: make(chan struct{}),
		calls:  map[string]*call{},
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// Addr returns host:port, the value for FC_RUNTIME_API.
func (r *Runtime) Addr() string { return r.srv.Listener.Addr().String() }

// Close stops the server; pending Invoke calls return an error.
func (r *Runtime) Close() {
	r.once.Do(func() {
		close(r.closed)
		r.srv.CloseClientConnections()
		r.srv.Close()
	})
}

// Err returns every malformed request seen so far, joined (nil when none).
func (r *Runtime) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.violations...)
}

// Nexts counts the GET next requests received so far (a function waiting for work has one
// outstanding).
func (r *Runtime) Nexts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nexts
}

// Invoke queues inv, waits until the function answers it, and returns the answer. It returns
// an error when ctx ends first, when the runtime is closed, when inv's request id is already
// in flight, or when the function's answer is malformed.
func (r *Runtime) Invoke(ctx context.Context, inv Invocation) (Result, error) {
	if inv.RequestID == "" {
		inv.RequestID = newRequestID()
	}
	if inv.Event == nil {
		inv.Event = []byte("{}")
	}
	if inv.Timeout <= 0 {
		inv.Timeout = DefaultTimeout
	}
	if inv.Deadline.IsZero() {
		inv.Deadline = time.Now().Add(inv.Timeout)
	}
	c := &call{inv: inv, done: make(chan struct{})}
	r.mu.Lock()
	if _, busy := r.calls[inv.RequestID]; busy {
		r.mu.Unlock()
		return Result{}, fmt.Errorf("fctest: request id %q is already in flight", inv.RequestID)
	}
	r.calls[inv.RequestID] = c
	r.mu.Unlock()

	giveUp := func(why error) (Result, error) {
		r.mu.Lock()
		c.gone = true
		if r.calls[inv.RequestID] == c {
			delete(r.calls, inv.RequestID)
		}
		r.mu.Unlock()
		return Result{}, fmt.Errorf("fctest: invocation %s: %w", inv.RequestID, why)
	}
	select {
	case r.queue <- c:
	case <-ctx.Done():
		return giveUp(fmt.Errorf("not taken by the function: %w", ctx.Err()))
	case <-r.closed:
		return giveUp(errors.New("runtime closed"))
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		taken := "not taken by the function (is it running and pointed at this runtime?)"
		r.mu.Lock()
		if !c.taken.IsZero() {
			taken = "taken by the function but not answered"
		}
		r.mu.Unlock()
		return giveUp(fmt.Errorf("%s: %w", taken, ctx.Err()))
	case <-r.closed:
		return giveUp(errors.New("runtime closed before the function answered"))
	}
}

// violate records a malformed request and answers it with status.
func (r *Runtime) violate(w http.ResponseWriter, status int, format string, args ...any) error {
	err := fmt.Errorf("fctest: runtime API: "+format, args...)
	r.mu.Lock()
	r.violations = append(r.violations, err)
	r.mu.Unlock()
	http.Error(w, err.Error(), status)
	return err
}

func (r *Runtime) serve(w http.ResponseWriter, req *http.Request) {
	rest, ok := strings.CutPrefix(req.URL.Path, APIPrefix)
	if !ok || req.URL.RawQuery != "" {
		r.violate(w, http.StatusNotFound, "%s %s: not a runtime API path (want %snext, %s{id}/response or %s{id}/error)",
			req.Method, req.URL.RequestURI(), APIPrefix, APIPrefix, APIPrefix)
		return
	}
	if rest == "next" {
		r.next(w, req)
		return
	}
	id, kind, ok := strings.Cut(rest, "/")
	if !ok || id == "" || (kind != "response" && kind != "error") {
		r.violate(w, http.StatusNotFound, "%s %s: not a runtime API path", req.Method, req.URL.Path)
		return
	}
	r.answer(w, req, id, Status(kind))
}

// next hands the next queued invocation to the function.
func (r *Runtime) next(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet {
		r.violate(w, http.StatusMethodNotAllowed, "%s %s: next must be GET", req.Method, req.URL.Path)
		return
	}
	if req.ContentLength > 0 {
		r.violate(w, http.StatusBadRequest, "GET %s: next carries no body, got %d bytes", req.URL.Path, req.ContentLength)
		return
	}
	if req.Header.Get("User-Agent") == "" {
		r.violate(w, http.StatusBadRequest, "GET %s: no User-Agent (the SDK sends aliyun-fc-go/<go version>)", req.URL.Path)
		return
	}
	r.mu.Lock()
	r.nexts++
	r.mu.Unlock()
	for {
		var c *call
		select {
		case c = <-r.queue:
		case <-req.Context().Done():
			return
		case <-r.closed:
			http.Error(w, "runtime closed", http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		if c.gone {
			r.mu.Unlock()
			continue
		}
		c.taken = time.Now()
		r.mu.Unlock()

		inv := c.inv
		h := w.Header()
		set := func(k, v string) {
			if v != "" {
				h.Set(k, v)
			}
		}
		timeout := max(int((inv.Timeout+time.Second-1)/time.Second), 1)
		name := or(inv.FunctionName, DefaultFunctionName)
		memory := inv.Memory
		if memory <= 0 {
			memory = DefaultMemory
		}
		set("Content-Type", "application/octet-stream")
		set("x-fc-request-id", inv.RequestID)
		set("x-fc-function-deadline", strconv.FormatInt(inv.Deadline.UnixMilli(), 10))
		set("x-fc-function-timeout", strconv.Itoa(timeout))
		set("x-fc-access-key-id", inv.Credentials.AccessKeyID)
		set("x-fc-access-key-secret", inv.Credentials.AccessKeySecret)
		set("x-fc-security-token", inv.Credentials.SecurityToken)
		set("x-fc-retry-count", strconv.Itoa(inv.RetryCount))
		set("x-fc-function-name", name)
		set("x-fc-function-handler", or(inv.Handler, name))
		set("x-fc-function-memory", strconv.Itoa(memory))
		set("x-fc-region", or(inv.Region, DefaultRegion))
		set("x-fc-account-id", or(inv.AccountID, DefaultAccountID))
		set("x-fc-qualifier", "LATEST")
		set("x-fc-version-id", "0")
		for k, vs := range inv.Header {
			h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
		}
		h.Set("Content-Length", strconv.Itoa(len(inv.Event)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.Event)
		return
	}
}

// answer records the function's response or error for invocation id.
func (r *Runtime) answer(w http.ResponseWriter, req *http.Request, id string, status Status) {
	r.mu.Lock()
	c := r.calls[id]
	r.mu.Unlock()
	fail := func(code int, format string, args ...any) {
		err := r.violate(w, code, format, args...)
		if c != nil {
			r.finish(c, Result{Status: status}, err)
		}
	}
	if req.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "%s %s: answers must be POST", req.Method, req.URL.Path)
		return
	}
	if c == nil {
		r.violate(w, http.StatusNotFound, "POST %s: request id %q is not in flight (unknown, or answered already)", req.URL.Path, id)
		return
	}
	r.mu.Lock()
	taken := c.taken
	r.mu.Unlock()
	if taken.IsZero() {
		fail(http.StatusConflict, "POST %s: request id %q was not handed out by next yet", req.URL.Path, id)
		return
	}
	ct := req.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		fail(http.StatusUnsupportedMediaType, "POST %s: Content-Type %q, want application/json", req.URL.Path, ct)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 32<<20))
	if err != nil {
		fail(http.StatusBadRequest, "POST %s: reading the body: %v", req.URL.Path, err)
		return
	}
	res := Result{Status: status, ContentType: ct, HTTPParams: req.Header.Get("x-fc-http-params"), Took: time.Since(taken)}
	switch status {
	case StatusResponse:
		if !json.Valid(body) {
			fail(http.StatusBadRequest, "POST %s: the response body is not JSON: %.200q", req.URL.Path, body)
			return
		}
		res.Response = body
	case StatusError:
		var fe FunctionError
		if err := json.Unmarshal(body, &fe); err != nil || fe.Message == "" {
			fail(http.StatusBadRequest, "POST %s: the error body is not {\"errorMessage\":...,\"errorType\":...}: %.200q", req.URL.Path, body)
			return
		}
		res.Error = body
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
	r.finish(c, res, nil)
}

// finish completes c once.
func (r *Runtime) finish(c *call, res Result, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.ended {
		return
	}
	c.ended = true
	c.res, c.err = res, err
	if r.calls[c.inv.RequestID] == c {
		delete(r.calls, c.inv.RequestID)
	}
	close(c.done)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "1-" + hex.EncodeToString(b[:4]) + "-" + hex.EncodeToString(b[4:])
}
