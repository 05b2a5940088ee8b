package fcrun

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aliyun/fc-runtime-go-sdk/events"
)

// ErrInvalidEvent is matched (errors.Is) by the errors of RequestFromEvent.
var ErrInvalidEvent = errors.New("invalid http trigger event")

// RequestFromEvent converts an HTTP trigger event into the server-side request it describes,
// bound to ctx. The path is rawPath (URL-encoded, as the client sent it; a query string in it
// is kept) or else requestContext.http.path; queryParameters are added to the query. FC joins
// repeated headers and query parameters with "," into one value: those values are passed on
// as they are. The Host header (else requestContext.domainName) becomes req.Host, sourceIp
// req.RemoteAddr, and the body is base64-decoded when isBase64Encoded. An event without a
// method or a path, or with a malformed method, path, header or body, is an error matching
// ErrInvalidEvent.
func RequestFromEvent(ctx context.Context, ev events.HTTPTriggerEvent) (*http.Request, error) {
	hc := ev.TriggerContext.Http
	method := deref(hc.Method)
	switch {
	case method == "":
		return nil, fmt.Errorf("%w: requestContext.http.method is missing", ErrInvalidEvent)
	case !isToken(method):
		return nil, fmt.Errorf("%w: requestContext.http.method %q is not an HTTP method", ErrInvalidEvent, method)
	}

	var u *url.URL
	switch raw, path := deref(ev.RawPath), deref(hc.Path); {
	case raw != "":
		if !strings.HasPrefix(raw, "/") {
			return nil, fmt.Errorf("%w: rawPath %q does not start with \"/\"", ErrInvalidEvent, raw)
		}
		parsed, err := url.ParseRequestURI(raw)
		if err != nil || parsed.Scheme != "" || parsed.Host != "" || parsed.Opaque != "" {
			return nil, fmt.Errorf("%w: rawPath %q is not a valid URL path", ErrInvalidEvent, raw)
		}
		u = parsed
	case path != "":
		if !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("%w: requestContext.http.path %q does not start with \"/\"", ErrInvalidEvent, path)
		}
		u = &url.URL{Path: path}
	default:
		return nil, fmt.Errorf("%w: rawPath and requestContext.http.path are both missing", ErrInvalidEvent)
	}
	u.Fragment, u.RawFragment = "", ""
	if ev.QueryParameters != nil && len(*ev.QueryParameters) > 0 {
		q := u.Query()
		for k, v := range *ev.QueryParameters {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
	}

	var body []byte
	if ev.Body != nil {
		if ev.IsBase64Encoded != nil && *ev.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(*ev.Body)
			if err != nil {
				return nil, fmt.Errorf("%w: body is marked isBase64Encoded but is not valid base64: %w", ErrInvalidEvent, err)
			}
			body = b
		} else {
			body = []byte(*ev.Body)
		}
	}

	header := http.Header{}
	host := deref(ev.TriggerContext.DomainName)
	if ev.Headers != nil {
		names := make([]string, 0, len(*ev.Headers))
		for k := range *ev.Headers {
			names = append(names, k)
		}
		sort.Strings(names) // deterministic order when two names differ only in case
		for _, k := range names {
			v := (*ev.Headers)[k]
			if !isToken(k) {
				return nil, fmt.Errorf("%w: header name %q is not valid", ErrInvalidEvent, k)
			}
			if !validHeaderValue(v) {
				return nil, fmt.Errorf("%w: header %q has a control character in its value", ErrInvalidEvent, k)
			}
			switch http.CanonicalHeaderKey(k) {
			case "Host":
				host = v
			case "Content-Length", "Transfer-Encoding", "Connection":
				// The body is complete; these described its transfer to FC.
			default:
				header.Add(k, v)
			}
		}
	}
	if ua := deref(hc.UserAgent); ua != "" && header.Get("User-Agent") == "" {
		header.Set("User-Agent", ua)
	}

	req, err := http.NewRequestWithContext(ctx, method, "/", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	req.URL = u
	req.RequestURI = u.RequestURI()
	req.Header = header
	req.Host = host
	req.ContentLength = int64(len(body))
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	if p := deref(hc.Protocol); p != "" {
		if major, minor, ok := http.ParseHTTPVersion(p); ok {
			req.Proto, req.ProtoMajor, req.ProtoMinor = p, major, minor
		}
	}
	if ip := deref(hc.SourceIp); ip != "" {
		req.RemoteAddr = net.JoinHostPort(ip, "0")
	}
	return req, nil
}

// EventFromResponse converts a handler's response into the HTTP trigger's response event.
// Header values with several values are joined with ", ", except Set-Cookie, of which only the
// first is kept (a cookie cannot be joined, and the event has one value per name);
// Content-Length and hop-by-hop headers are left to FC. A non-empty body without a
// Content-Type gets the type net/http would sniff. The body is base64-encoded when it is not
// valid UTF-8, its content type is not text (text/*, JSON, XML, JavaScript, forms, SVG), or it
// has a Content-Encoding. A status of 0 is 200.
func EventFromResponse(status int, header http.Header, body []byte) *events.HTTPTriggerResponse {
	if status == 0 {
		status = http.StatusOK
	}
	out := &events.HTTPTriggerResponse{StatusCode: status, Headers: make(map[string]string, len(header)+1)}
	for k, vs := range header {
		if len(vs) == 0 {
			continue
		}
		switch ck := http.CanonicalHeaderKey(k); ck {
		case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Trailer", "Upgrade":
		case "Set-Cookie":
			out.Headers[ck] = vs[0]
		default:
			if prev, ok := out.Headers[ck]; ok { // two spellings of one name
				vs = append([]string{prev}, vs...)
			}
			out.Headers[ck] = strings.Join(vs, ", ")
		}
	}
	ct, hasCT := out.Headers["Content-Type"]
	if !hasCT && len(body) > 0 {
		ct = http.DetectContentType(body)
		out.Headers["Content-Type"] = ct
	}
	if len(body) == 0 {
		return out
	}
	enc := strings.TrimSpace(strings.ToLower(out.Headers["Content-Encoding"]))
	if utf8.Valid(body) && isText(ct) && (enc == "" || enc == "identity") {
		out.Body = string(body)
		return out
	}
	out.IsBase64Encoded = true
	out.Body = base64.StdEncoding.EncodeToString(body)
	return out
}

// isText reports whether a body of content type ct can travel as a JSON string.
func isText(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded",
		"application/x-ndjson", "application/yaml":
		return true
	}
	return false
}

// HTTPHandler returns the HTTP trigger's handler for fc.Start: it converts the event into a
// request (RequestFromEvent) carrying the invocation's credentials in its context
// (cams.WithCredentials) and its request id in the header x-fc-request-id, serves it with h,
// and converts the response (EventFromResponse). A malformed event is answered 400 and a
// panicking handler 500, both with the JSON error body {"error":{"code":...,"message":...}};
// neither fails the invocation. The adapter logs ("http trigger") only what h cannot: a
// malformed event, a panic, a dropped Set-Cookie; h logs its requests itself.
func HTTPHandler(h http.Handler, logger *slog.Logger) func(ctx context.Context, ev events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, ev events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
		start := time.Now()
		inv, _ := InvocationFromContext(ctx)
		if inv.RequestID == "" {
			inv.RequestID = deref(ev.TriggerContext.RequestId)
		}
		ctx, _ = inv.withCredentials(ctx)
		attrs := []slog.Attr{
			slog.String("request_id", inv.RequestID),
			slog.String("method", deref(ev.TriggerContext.Http.Method)),
			slog.String("path", deref(ev.TriggerContext.Http.Path)),
		}
		req, err := RequestFromEvent(ctx, ev)
		if err != nil {
			resp := errorEvent(http.StatusBadRequest, "invalid_event", err.Error())
			logger.LogAttrs(ctx, slog.LevelWarn, "http trigger", append(attrs, slog.Int("status", resp.StatusCode),
				slog.String("error", err.Error()), slog.Int64("duration_ms", time.Since(start).Milliseconds()))...)
			return resp, nil
		}
		attrs[2] = slog.String("path", req.URL.Path)
		if inv.RequestID != "" {
			req.Header.Set(HeaderRequestID, inv.RequestID)
		}
		w := &responseWriter{header: http.Header{}}
		if perr := serve(h, w, req); perr != nil {
			resp := errorEvent(http.StatusInternalServerError, "internal", "internal error")
			logger.LogAttrs(ctx, slog.LevelError, "http trigger", append(attrs, slog.Int("status", resp.StatusCode),
				slog.String("error", perr.Error()), slog.Int64("duration_ms", time.Since(start).Milliseconds()))...)
			return resp, nil
		}
		status, header := w.result()
		body := w.body.Bytes()
		if req.Method == http.MethodHead {
			body = nil
		}
		if n := len(header.Values("Set-Cookie")); n > 1 {
			logger.LogAttrs(ctx, slog.LevelWarn, "http trigger", append(attrs, slog.Int("status", status),
				slog.String("error", fmt.Sprintf("the response event carries one Set-Cookie: %d dropped", n-1)))...)
		}
		return EventFromResponse(status, header, body), nil
	}
}

// FailHTTP returns an HTTP trigger handler that fails every invocation with err (see Boot),
// logging it once per invocation.
func FailHTTP(err error, logger *slog.Logger) func(ctx context.Context, ev events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, _ events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
		inv, _ := InvocationFromContext(ctx)
		logger.LogAttrs(ctx, slog.LevelError, "http trigger", slog.String("request_id", inv.RequestID),
			slog.String("outcome", "not_started"), slog.String("error", err.Error()))
		return nil, err
	}
}

// serve runs h, turning a panic into an error.
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	h.ServeHTTP(w, r)
	return nil
}

// errorEvent is a JSON error response in the format of the on-demand API.
func errorEvent(status int, code, message string) *events.HTTPTriggerResponse {
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(struct {
		Error detail `json:"error"`
	}{detail{code, message}})
	return &events.HTTPTriggerResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json; charset=utf-8"},
		Body:       string(b),
	}
}

// responseWriter buffers a response like net/http's server would send it: the header as it
// was at WriteHeader (or the first Write), the first status, the whole body.
type responseWriter struct {
	header   http.Header
	snapshot http.Header
	status   int
	body     bytes.Buffer
}

// Header returns the header map to set before WriteHeader.
func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader records the status and the header; later calls are ignored, as are 1xx
// informational statuses. An invalid code is a 500, where net/http would panic.
func (w *responseWriter) WriteHeader(code int) {
	if w.snapshot != nil {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		return
	}
	if code < 100 || code > 999 {
		code = http.StatusInternalServerError
	}
	w.status = code
	w.snapshot = w.header.Clone()
}

// Write buffers body bytes, writing a 200 header first if none was.
func (w *responseWriter) Write(p []byte) (int, error) {
	if w.snapshot == nil {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(p)
}

// Flush does nothing: the response is sent whole when the handler returns.
func (w *responseWriter) Flush() {}

// result returns the status and header the response was sent with.
func (w *responseWriter) result() (int, http.Header) {
	if w.snapshot == nil {
		return http.StatusOK, w.header
	}
	return w.status, w.snapshot
}

// isToken reports whether s is an RFC 9110 token (method and header names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v has no control characters other than tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
