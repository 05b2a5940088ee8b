package camssim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options configures a Server.
type Options struct {
	// AccessKeyID and AccessKeySecret are the one credential the server accepts (required:
	// without them every request is rejected and Start fails).
	AccessKeyID, AccessKeySecret string
	// SecurityToken, if non-empty, must be carried by every request (STS credentials). If empty,
	// a request carrying a SecurityToken is still accepted.
	SecurityToken string
	// QPS is the account limit for GetWhatsappHealthStatus; 0 means unlimited. More than QPS
	// requests arriving within any sliding one-second window are answered HTTP 400
	// Throttling.User; rejected requests do not count toward the window.
	QPS float64
	// Latency is added to every answer (the sleep ends early if the request is cancelled).
	Latency time.Duration
	// Scenario scripts the answers; nil means every target answers healthy.
	Scenario *Scenario
	// Now is the clock for Timestamp and nonce checks; default time.Now. It must be safe for
	// concurrent use.
	Now func() time.Time
	// Logf, if set, receives one line per request (never a credential).
	Logf func(format string, args ...any)
}

// Stats counts what the server answered since New or the last Reset.
type Stats struct {
	// Calls counts every request.
	Calls int
	// OK counts successful answers (HTTP 200, Code OK).
	OK int
	// Throttled counts Throttling.User answers, from the QPS window or injected by a step.
	Throttled int
	// Faults counts the other injected faults (server_error, internal_error, timeout, denied).
	Faults int
	// Rejected counts requests refused for a bad signature, credential or parameter.
	Rejected int
	// MaxInWindow is the largest number of accepted requests seen in any sliding one-second
	// window.
	MaxInWindow int
	// PerAction counts requests by their Action parameter.
	PerAction map[string]int
}

// Query is the business part of a GetWhatsappHealthStatus request, as the client sent it.
type Query struct {
	NodeType     string
	CustSpaceID  string
	WabaID       string
	PhoneNumber  string
	TemplateCode string
	Language     string
}

// Server is a CAMS simulator. Use it as an http.Handler or start it on loopback with Start.
// It is safe for concurrent use.
type Server struct {
	opts    Options
	now     func() time.Time
	latency time.Duration
	actions map[string]actionSpec

	done      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	cursors  []cursor // parallel to opts.Scenario.Targets
	handler  func(Query) *Step
	stats    Stats
	windows  map[string]*window // per action
	nonces   map[string]time.Time
	nonceLog []nonceEntry // nonces in the order recorded, for expiry
	srv      *http.Server
}

type cursor struct {
	step   int // index of the current step
	served int // answers given with it
}

type nonceEntry struct {
	nonce string
	at    time.Time
}

// actionSpec describes one RPC operation the simulator answers.
type actionSpec struct {
	// qps is the account's limit for the action; 0 means unlimited.
	qps float64
	// parse validates the action's own parameters.
	parse func(p map[string]string) (Query, *apiError)
}

// New returns a Server configured by opts. It does not listen until Start.
func New(opts Options) *Server {
	s := &Server{
		opts:    opts,
		now:     opts.Now,
		latency: opts.Latency,
		done:    make(chan struct{}),
		windows: map[string]*window{},
		nonces:  map[string]time.Time{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	qps := opts.QPS
	if sc := opts.Scenario; sc != nil {
		if sc.QPS > 0 {
			qps = sc.QPS
		}
		if sc.Latency > 0 {
			s.latency = sc.Latency
		}
		s.cursors = make([]cursor, len(sc.Targets))
	}
	// The operations the simulator answers. To simulate the discovery calls, add entries here
	// (each with its documented limit) and answer them in respond:
	//   QueryChatappPhoneNumbers (10 QPS), ListChatappTemplate (5 QPS), QueryChatappBindWaba (10 QPS).
	s.actions = map[string]actionSpec{
		ActionGetWhatsappHealthStatus: {qps: qps, parse: parseHealthQuery},
	}
	s.stats.PerAction = map[string]int{}
	return s
}

// SetHandler installs a generator of answers for the requests no scenario target matches (nil
// removes it). fn is called without the server's lock held, possibly concurrently; a nil Step
// means healthy. The Step's Times is ignored.
func (s *Server) SetHandler(fn func(q Query) *Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = fn
}

// Start listens on 127.0.0.1 on a free port, serves in the background and returns the base URL,
// "http://127.0.0.1:PORT". Domain for the SDK is the URL without "http://".
func (s *Server) Start() (string, error) {
	if s.opts.AccessKeyID == "" || s.opts.AccessKeySecret == "" {
		return "", errors.New("camssim: start: Options.AccessKeyID and Options.AccessKeySecret are required")
	}
	select {
	case <-s.done:
		return "", errors.New("camssim: start: server is closed")
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return "", errors.New("camssim: start: already started")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("camssim: start: %w", err)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(s.srv)
	return "http://" + ln.Addr().String(), nil
}

// Close stops the server: requests waiting in a timeout fault or a latency sleep return, and
// the listener and connections are closed. Close is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.mu.Lock()
		srv := s.srv
		s.mu.Unlock()
		if srv != nil {
			_ = srv.Close()
		}
	})
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.PerAction = make(map[string]int, len(s.stats.PerAction))
	for k, v := range s.stats.PerAction {
		st.PerAction[k] = v
	}
	return st
}

// Reset zeroes the counters, empties the QPS windows and rewinds every target to its first
// step. Nonces already used stay used.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{PerAction: map[string]int{}}
	s.windows = map[string]*window{}
	for i := range s.cursors {
		s.cursors[i] = cursor{}
	}
}

// outcome classifies an answer for the counters.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeThrottled
	outcomeFault
	outcomeRejected
)

// ServeHTTP answers one RPC request. If the server is closed while the request waits (latency
// or a timeout fault), the connection is dropped without an answer: ServeHTTP panics with
// http.ErrAbortHandler, which net/http recovers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrival := time.Now() // monotonic, for the QPS window
	reqID := newRequestID()
	p, authErr := s.authenticate(r)
	action := p["Action"]

	// Checks made once the caller is authenticated (and its nonce recorded).
	var paramErr *apiError
	var q Query
	spec, known := s.actions[action]
	switch {
	case authErr != nil:
	case p["Version"] != APIVersion:
		paramErr = errInvalidVersion(p["Version"])
	case !known:
		paramErr = errInvalidAction(action)
	default:
		q, paramErr = spec.parse(p)
	}

	var (
		apiErr   *apiError
		step     *Step
		matched  bool
		handler  func(Query) *Step
		throttle bool
	)
	s.mu.Lock()
	switch {
	case authErr != nil:
		apiErr = authErr
	case !s.useNonce(p["SignatureNonce"]):
		apiErr = errNonceUsed()
	case paramErr != nil:
		apiErr = paramErr
	case !s.admit(action, spec.qps, arrival):
		apiErr, throttle = errThrottled(), true
	default:
		step, matched = s.nextStep(q)
		handler = s.handler
	}
	s.mu.Unlock()

	if apiErr == nil && !matched && handler != nil {
		step = handler(q)
	}

	var ans answer
	out := outcomeRejected
	switch {
	case throttle:
		ans, out = apiErr.answer(reqID), outcomeThrottled
	case apiErr != nil:
		ans = apiErr.answer(reqID)
	default:
		ans, out = respondHealth(reqID, q, step)
	}

	s.mu.Lock()
	s.stats.Calls++
	if action != "" {
		s.stats.PerAction[action]++
	}
	switch out {
	case outcomeOK:
		s.stats.OK++
	case outcomeThrottled:
		s.stats.Throttled++
	case outcomeFault:
		s.stats.Faults++
	default:
		s.stats.Rejected++
	}
	s.mu.Unlock()

	if s.opts.Logf != nil {
		s.opts.Logf("camssim: %s %s nodeType=%q status=%d code=%s requestId=%s", r.Method, action, q.NodeType, ans.status, ans.code, reqID)
	}

	delay := s.latency
	if step != nil && apiErr == nil {
		delay += step.Latency
	}
	if !s.sleep(r.Context(), delay) {
		s.abort()
		return
	}
	if ans.hang {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		s.abort()
		return
	}
	ans.write(w)
}

// abort ends a request that will not be answered. When the server is closing, returning
// normally would let net/http send an empty 200 answer, so the connection is dropped instead
// (the panic with http.ErrAbortHandler is recovered by net/http). When the request itself was
// cancelled, the client is gone and nothing is written.
func (s *Server) abort() {
	select {
	case <-s.done:
		panic(http.ErrAbortHandler)
	default:
	}
}

// sleep waits d, or less if the request is cancelled or the server closes; it reports whether
// the whole delay elapsed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// useNonce records nonce and reports whether it was unused within the last 15 minutes.
// Called with s.mu held.
func (s *Server) useNonce(nonce string) bool {
	now := s.now()
	for len(s.nonceLog) > 0 && now.Sub(s.nonceLog[0].at) > maxSkew {
		e := s.nonceLog[0]
		if at, ok := s.nonces[e.nonce]; ok && at.Equal(e.at) {
			delete(s.nonces, e.nonce)
		}
		s.nonceLog = s.nonceLog[1:]
	}
	if at, ok := s.nonces[nonce]; ok && now.Sub(at) <= maxSkew {
		return false
	}
	s.nonces[nonce] = now
	s.nonceLog = append(s.nonceLog, nonceEntry{nonce: nonce, at: now})
	return true
}

// window holds the arrival times of the accepted requests of the last second.
type window struct {
	arrivals []time.Time
}

// admit applies the QPS limit of action to a request arriving at t, and counts it when
// accepted. Called with s.mu held.
func (s *Server) admit(action string, qps float64, t time.Time) bool {
	w := s.windows[action]
	if w == nil {
		w = &window{}
		s.windows[action] = w
	}
	// Keep the arrivals in (t-1s, t].
	i := 0
	for i < len(w.arrivals) && t.Sub(w.arrivals[i]) >= time.Second {
		i++
	}
	w.arrivals = append(w.arrivals[:0], w.arrivals[i:]...)
	if qps > 0 && float64(len(w.arrivals)+1) > qps {
		return false
	}
	w.arrivals = append(w.arrivals, t)
	if n := len(w.arrivals); n > s.stats.MaxInWindow {
		s.stats.MaxInWindow = n
	}
	return true
}

// nextStep finds the scenario target matching q, returns its current step and advances its
// cursor. matched is false when no target matches. Called with s.mu held.
func (s *Server) nextStep(q Query) (step *Step, matched bool) {
	sc := s.opts.Scenario
	if sc == nil {
		return nil, false
	}
	for i := range sc.Targets {
		t := &sc.Targets[i]
		if !t.matches(q) {
			continue
		}
		if len(t.Steps) == 0 {
			return &Step{WabaID: t.WabaID, BusinessID: t.BusinessID}, true
		}
		c := &s.cursors[i]
		if c.step >= len(t.Steps) {
			c.step = len(t.Steps) - 1
		}
		st := t.Steps[c.step]
		c.served++
		times := max(st.Times, 1)
		if c.served >= times && c.step < len(t.Steps)-1 {
			c.step++
			c.served = 0
		}
		// The target's ids are the defaults for the rows; the step may override them.
		if st.WabaID == "" {
			st.WabaID = t.WabaID
		}
		if st.BusinessID == "" {
			st.BusinessID = t.BusinessID
		}
		return &st, true
	}
	return nil, false
}
