// Package ondemand is wahealth's HTTP API: an ordinary net/http handler that answers the last
// known status (JSON, a status page and badges), runs a check cycle on demand, and checks one
// entity ad hoc. Function Compute's HTTP trigger adapter and the local server serve the same
// handler unchanged.
//
// Endpoints:
//
//	GET  /healthz            liveness; no authentication, no upstream call
//	GET  /status             last known state from the store (JSON; HTML with Accept: text/html or ?format=html)
//	GET  /badge.svg          a status badge for ?entity=TYPE:id or ?phoneNumber=...
//	POST /check              run a full cycle now; body {"labels":{...},"notify":true,"dryRun":false}
//	GET  /check              ad-hoc check of one entity: ?nodeType=phone&phoneNumber=...[&custSpaceId=...][&record=true]
//	POST /test-notify        send the marked test alert through every notifier and report each result
//	GET  /silences           the configured silences and those created here
//	POST /silences           create a silence: body {"match":{...},"duration":"2h"} or {"match":{...},"end":"..."}
//	GET  /silences/{id}      one silence
//	DELETE /silences/{id}    delete a silence created here
//
// Every endpoint but /healthz requires "Authorization: Bearer <token>" when Auth is "token"
// (the endpoints that only read also take the token as an HTTP Basic password, for browsers).
// Errors are JSON: {"error":{"code":"...","message":"..."}}.
package ondemand

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/state"
)

// The values of Options.Auth.
const (
	// AuthToken requires "Authorization: Bearer <token>" on every endpoint but /healthz.
	AuthToken = "token"
	// AuthFunction trusts Function Compute's authType: function to have authenticated the caller.
	AuthFunction = "function"
)

// AdhocChecker checks one target straight through CAMS. *cams.Client implements it.
type AdhocChecker interface {
	// Check queries the health of one target.
	Check(ctx context.Context, t health.Target) (*cams.Result, error)
}

var _ AdhocChecker = (*cams.Client)(nil)

// Options configure the handler.
type Options struct {
	// Monitor runs the cycles of POST /check (the same code as the timer) and knows the
	// configured targets. Required.
	Monitor *monitor.Monitor
	// Store is read by GET /status and GET /badge.svg (no CAMS call). Monitor.Store when nil.
	// The silences endpoints always use Monitor.Store: the store the cycles read silences from.
	Store state.Store
	// Adhoc answers GET /check. Required.
	Adhoc AdhocChecker
	// DefaultCustSpaceID is the custSpaceId of an ad-hoc check that names none.
	DefaultCustSpaceID string
	// Auth is AuthToken (the default when empty) or AuthFunction.
	Auth string
	// Token is the bearer token; required when Auth is AuthToken.
	Token config.Secret
	// MaxBodyBytes bounds request bodies (config.DefaultMaxBodyBytes when <= 0); larger ones
	// get 413.
	MaxBodyBytes int64
	// AdhocQPS admits at most this many ad-hoc checks per second (config.DefaultAdhocQPS when
	// <= 0); requests beyond it get 429 with Retry-After at once.
	AdhocQPS float64
	// Logger receives one record per request (never the Authorization header). Discarded when nil.
	Logger *slog.Logger
	// Now is the clock for timestamps shown to callers (time.Now when nil).
	Now func() time.Time
}

// handler is the http.Handler New returns.
type handler struct {
	o        Options
	tokenSum [sha256.Size]byte
	limiter  *rate.Limiter
	page     *template.Template
	routes   map[string]route
	// silence is the route of /silences/{id}.
	silence route
}

// route is one path's methods.
type route struct {
	allow   string
	methods map[string]func(http.ResponseWriter, *http.Request) error
}

// New returns the on-demand HTTP handler. It fails when a required option is missing, Auth is
// unknown, or Auth is "token" without a token.
func New(o Options) (http.Handler, error) {
	if o.Monitor == nil {
		return nil, errors.New("ondemand: Options.Monitor is required")
	}
	if o.Adhoc == nil {
		return nil, errors.New("ondemand: Options.Adhoc is required")
	}
	if o.Store == nil {
		o.Store = o.Monitor.Store
	}
	if o.Store == nil {
		return nil, errors.New("ondemand: Options.Store is required")
	}
	switch o.Auth {
	case "", AuthToken:
		o.Auth = AuthToken
		if o.Token.Reveal() == "" {
			return nil, fmt.Errorf("ondemand: http.auth is %q but %s is not set: set it to a long random token, "+
				"or set http.auth: function when Function Compute's authType: function protects the trigger", AuthToken, config.EnvHTTPToken)
		}
	case AuthFunction:
	default:
		return nil, fmt.Errorf("ondemand: unknown auth %q (want %s or %s)", o.Auth, AuthToken, AuthFunction)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = config.DefaultMaxBodyBytes
	}
	if !(o.AdhocQPS > 0) || math.IsInf(o.AdhocQPS, 0) {
		o.AdhocQPS = config.DefaultAdhocQPS
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	page, err := parsePage()
	if err != nil {
		return nil, err
	}
	h := &handler{
		o:        o,
		tokenSum: sha256.Sum256([]byte(o.Token.Reveal())),
		limiter:  rate.NewLimiter(rate.Limit(o.AdhocQPS), max(1, int(o.AdhocQPS))),
		page:     page,
	}
	get := func(fn func(http.ResponseWriter, *http.Request) error) route {
		return route{allow: "GET, HEAD", methods: map[string]func(http.ResponseWriter, *http.Request) error{
			http.MethodGet: fn, http.MethodHead: fn}}
	}
	h.routes = map[string]route{
		"/healthz":   get(h.healthz),
		"/status":    get(h.status),
		"/badge.svg": get(h.badge),
		"/check": {allow: "GET, POST", methods: map[string]func(http.ResponseWriter, *http.Request) error{
			http.MethodGet: h.adhoc, http.MethodPost: h.cycle}},
		"/test-notify": {allow: "POST", methods: map[string]func(http.ResponseWriter, *http.Request) error{
			http.MethodPost: h.testNotify}},
		"/silences": {allow: "GET, HEAD, POST", methods: map[string]func(http.ResponseWriter, *http.Request) error{
			http.MethodGet: h.listSilences, http.MethodHead: h.listSilences, http.MethodPost: h.createSilence}},
	}
	h.silence = route{allow: "GET, HEAD, DELETE", methods: map[string]func(http.ResponseWriter, *http.Request) error{
		http.MethodGet: h.getSilence, http.MethodHead: h.getSilence, http.MethodDelete: h.deleteSilence}}
	return h, nil
}

// ServeHTTP tags the request with an id, authenticates, routes, writes errors as JSON and
// logs one line.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{id: requestID(r)}
	rec := &recorder{ResponseWriter: w}
	rec.Header().Set("X-Request-Id", info.id)
	rec.Header().Set("X-Content-Type-Options", "nosniff")
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))

	if err := h.serve(rec, r); err != nil {
		writeError(rec, err)
		var he *httpError
		if errors.As(err, &he) && he.cause != nil {
			info.attrs = append(info.attrs, slog.String("error", he.cause.Error()))
		}
	}

	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := append([]slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", truncate(r.URL.Path, 200)),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.String("requestId", info.id),
		slog.Int64("bytes", rec.bytes),
	}, info.attrs...)
	h.o.Logger.LogAttrs(r.Context(), level, "http request", attrs...)
}

// serve authenticates and routes one request.
func (h *handler) serve(w http.ResponseWriter, r *http.Request) error {
	rt, known := h.routes[r.URL.Path]
	if id, ok := strings.CutPrefix(r.URL.Path, silencePrefix); ok && id != "" && !strings.Contains(id, "/") {
		rt, known = h.silence, true
		r.SetPathValue("id", id)
	}
	if r.URL.Path != "/healthz" {
		if err := h.authorize(r); err != nil {
			return err
		}
	}
	if !known {
		return &httpError{status: http.StatusNotFound, code: "not_found",
			message: fmt.Sprintf("no endpoint %s (endpoints: /healthz, /status, /badge.svg, /check, /test-notify, /silences)", truncate(r.URL.Path, 100))}
	}
	fn := rt.methods[r.Method]
	if fn == nil {
		return &httpError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
			message: fmt.Sprintf("%s does not accept %s (allowed: %s)", r.URL.Path, truncate(r.Method, 20), rt.allow),
			header:  http.Header{"Allow": {rt.allow}}}
	}
	if r.ContentLength > h.o.MaxBodyBytes {
		return tooLarge(h.o.MaxBodyBytes)
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.o.MaxBodyBytes)
	return fn(w, r)
}

// healthz answers liveness without any upstream call.
func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// requestInfo is what a request carries for its log line.
type requestInfo struct {
	id    string
	attrs []slog.Attr
}

type infoKey struct{}

// annotate adds attributes to the request's log line.
func annotate(r *http.Request, attrs ...slog.Attr) {
	if info, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		info.attrs = append(info.attrs, attrs...)
	}
}

// requestIDOf returns the request's id.
func requestIDOf(r *http.Request) string {
	if info, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return info.id
	}
	return ""
}
