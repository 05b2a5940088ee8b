package fcrun_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/fcrun"
	"github.com/wahealth/wahealth/pkg/health"
)

// httpEvent returns an event as FC 3.0 sends it for an HTTP trigger.
func httpEvent(method, rawPath string, mod func(*events.HTTPTriggerEvent)) events.HTTPTriggerEvent {
	version, domain, proto, ip, ua, reqID := "v1", "abc.ap-southeast-1.fcapp.run", "HTTP/1.1", "203.0.113.7", "curl/8.5", "1-req"
	ev := events.HTTPTriggerEvent{Version: &version, RawPath: &rawPath}
	ev.TriggerContext.DomainName = &domain
	ev.TriggerContext.RequestId = &reqID
	ev.TriggerContext.Http.Method = &method
	path := rawPath
	ev.TriggerContext.Http.Path = &path
	ev.TriggerContext.Http.Protocol = &proto
	ev.TriggerContext.Http.SourceIp = &ip
	ev.TriggerContext.Http.UserAgent = &ua
	if mod != nil {
		mod(&ev)
	}
	return ev
}

func boolp(b bool) *bool { return &b }

func TestRequestFromEvent(t *testing.T) {
	type want struct {
		method, path, rawPath, query, host, remote, body, proto string
		header                                                  http.Header
	}
	tests := []struct {
		name string
		ev   events.HTTPTriggerEvent
		want want
	}{
		{
			name: "get with query parameters",
			ev: httpEvent("GET", "/check", func(ev *events.HTTPTriggerEvent) {
				ev.QueryParameters = &map[string]string{"nodeType": "phone", "phoneNumber": "+86 138", "custSpaceId": "cs-1"}
			}),
			want: want{method: "GET", path: "/check", query: "custSpaceId=cs-1&nodeType=phone&phoneNumber=%2B86+138",
				host: "abc.ap-southeast-1.fcapp.run", remote: "203.0.113.7:0", proto: "HTTP/1.1",
				header: http.Header{"User-Agent": {"curl/8.5"}}},
		},
		{
			name: "encoded raw path keeps its encoding, decoded path is the path",
			ev: httpEvent("GET", "/badge.svg", func(ev *events.HTTPTriggerEvent) {
				raw := "/a%2Fb/c%20d"
				ev.RawPath = &raw
			}),
			want: want{method: "GET", path: "/a/b/c d", rawPath: "/a%2Fb/c%20d", host: "abc.ap-southeast-1.fcapp.run",
				remote: "203.0.113.7:0", proto: "HTTP/1.1", header: http.Header{"User-Agent": {"curl/8.5"}}},
		},
		{
			name: "query in rawPath merged with queryParameters, which win",
			ev: httpEvent("GET", "/status?format=json&x=1", func(ev *events.HTTPTriggerEvent) {
				ev.QueryParameters = &map[string]string{"format": "html"}
			}),
			want: want{method: "GET", path: "/status", query: "format=html&x=1", host: "abc.ap-southeast-1.fcapp.run",
				remote: "203.0.113.7:0", proto: "HTTP/1.1", header: http.Header{"User-Agent": {"curl/8.5"}}},
		},
		{
			name: "no rawPath: requestContext.http.path",
			ev: httpEvent("DELETE", "", func(ev *events.HTTPTriggerEvent) {
				p := "/x y"
				ev.TriggerContext.Http.Path = &p
				ev.TriggerContext.Http.UserAgent = nil
				ev.TriggerContext.Http.SourceIp = nil
				ev.TriggerContext.Http.Protocol = nil
			}),
			want: want{method: "DELETE", path: "/x y", host: "abc.ap-southeast-1.fcapp.run", proto: "HTTP/1.1", header: http.Header{}},
		},
		{
			name: "headers: multi-valued as FC joins them, Host, dropped transfer headers, canonical names",
			ev: httpEvent("POST", "/check", func(ev *events.HTTPTriggerEvent) {
				ev.Headers = &map[string]string{
					"accept":            "text/html,application/json",
					"authorization":     "Bearer t0ken",
					"host":              "status.example.com",
					"content-length":    "999",
					"transfer-encoding": "chunked",
					"x-forwarded-for":   "198.51.100.1, 203.0.113.7",
					"user-agent":        "Mozilla/5.0",
				}
				ev.Body = ptr(`{"labels":{"team":"a"}}`)
				ev.IsBase64Encoded = boolp(false)
			}),
			want: want{method: "POST", path: "/check", host: "status.example.com", remote: "203.0.113.7:0", proto: "HTTP/1.1",
				body: `{"labels":{"team":"a"}}`,
				header: http.Header{
					"Accept":          {"text/html,application/json"},
					"Authorization":   {"Bearer t0ken"},
					"X-Forwarded-For": {"198.51.100.1, 203.0.113.7"},
					"User-Agent":      {"Mozilla/5.0"},
				}},
		},
		{
			name: "base64 body",
			ev: httpEvent("POST", "/upload", func(ev *events.HTTPTriggerEvent) {
				ev.Body = ptr(base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff, 'x'}))
				ev.IsBase64Encoded = boolp(true)
				ev.TriggerContext.Http.Protocol = ptr("HTTP/2.0")
			}),
			want: want{method: "POST", path: "/upload", host: "abc.ap-southeast-1.fcapp.run", remote: "203.0.113.7:0",
				proto: "HTTP/2.0", body: "\x00\x01\x02\xffx", header: http.Header{"User-Agent": {"curl/8.5"}}},
		},
		{
			name: "a path starting with // is a path, not a host",
			ev:   httpEvent("GET", "//evil.example/x", nil),
			want: want{method: "GET", path: "//evil.example/x", host: "abc.ap-southeast-1.fcapp.run", remote: "203.0.113.7:0",
				proto: "HTTP/1.1", header: http.Header{"User-Agent": {"curl/8.5"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.WithValue(context.Background(), ctxKey{}, "marker")
			req, err := fcrun.RequestFromEvent(ctx, tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(req.Body)
			got := want{method: req.Method, path: req.URL.Path, rawPath: req.URL.RawPath, query: req.URL.RawQuery, host: req.Host,
				remote: req.RemoteAddr, body: string(body), proto: req.Proto, header: req.Header}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			if req.ContentLength != int64(len(body)) || req.Context().Value(ctxKey{}) != "marker" || req.URL.Host != "" ||
				req.RequestURI != req.URL.RequestURI() {
				t.Errorf("ContentLength %d for %d bytes, context %v, URL.Host %q, RequestURI %q", req.ContentLength, len(body),
					req.Context().Value(ctxKey{}), req.URL.Host, req.RequestURI)
			}
		})
	}
}

type ctxKey struct{}

func TestRequestFromEventRefusesMalformedEvents(t *testing.T) {
	tests := []struct {
		name string
		ev   events.HTTPTriggerEvent
		want string
	}{
		{"no method", httpEvent("", "/x", nil), "invalid http trigger event: requestContext.http.method is missing"},
		{"bad method", httpEvent("GE T", "/x", nil), `invalid http trigger event: requestContext.http.method "GE T" is not an HTTP method`},
		{"no path", httpEvent("GET", "", nil), "invalid http trigger event: rawPath and requestContext.http.path are both missing"},
		{"relative raw path", httpEvent("GET", "x", nil), `invalid http trigger event: rawPath "x" does not start with "/"`},
		{"absolute URL", httpEvent("GET", "http://h/x", nil), `invalid http trigger event: rawPath "http://h/x" does not start with "/"`},
		{"relative path", httpEvent("GET", "", func(ev *events.HTTPTriggerEvent) { ev.TriggerContext.Http.Path = ptr("x") }),
			`invalid http trigger event: requestContext.http.path "x" does not start with "/"`},
		{"bad base64", httpEvent("POST", "/x", func(ev *events.HTTPTriggerEvent) {
			ev.Body, ev.IsBase64Encoded = ptr("%%%"), boolp(true)
		}), "invalid http trigger event: body is marked isBase64Encoded but is not valid base64: illegal base64 data at input byte 0"},
		{"bad header name", httpEvent("GET", "/x", func(ev *events.HTTPTriggerEvent) {
			ev.Headers = &map[string]string{"bad name": "v"}
		}), `invalid http trigger event: header name "bad name" is not valid`},
		{"header injection", httpEvent("GET", "/x", func(ev *events.HTTPTriggerEvent) {
			ev.Headers = &map[string]string{"x-a": "v\r\nx-b: w"}
		}), `invalid http trigger event: header "x-a" has a control character in its value`},
	}
	for _, tc := range tests {
		_, err := fcrun.RequestFromEvent(context.Background(), tc.ev)
		if !errors.Is(err, fcrun.ErrInvalidEvent) || err.Error() != tc.want {
			t.Errorf("%s: err = %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

func TestEventFromResponse(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	tests := []struct {
		name   string
		status int
		header http.Header
		body   []byte
		want   events.HTTPTriggerResponse
	}{
		{
			name:   "json",
			status: 200,
			header: http.Header{"Content-Type": {"application/json"}, "Content-Length": {"11"}},
			body:   []byte(`{"ok":true}`),
			want:   events.HTTPTriggerResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"ok":true}`},
		},
		{
			name:   "multi-valued headers joined, Set-Cookie not",
			status: 409,
			header: http.Header{
				"Content-Type":  {"text/plain; charset=utf-8"},
				"Vary":          {"Accept", "Authorization"},
				"Cache-Control": {"no-store"},
				"Set-Cookie":    {"a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "b=2"},
				"Connection":    {"close"},
			},
			body: []byte("busy"),
			want: events.HTTPTriggerResponse{StatusCode: 409, Body: "busy", Headers: map[string]string{
				"Content-Type": "text/plain; charset=utf-8", "Vary": "Accept, Authorization", "Cache-Control": "no-store",
				"Set-Cookie": "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
			}},
		},
		{
			name:   "binary content type is base64",
			status: 200,
			header: http.Header{"Content-Type": {"image/png"}},
			body:   png,
			want: events.HTTPTriggerResponse{StatusCode: 200, IsBase64Encoded: true, Headers: map[string]string{"Content-Type": "image/png"},
				Body: base64.StdEncoding.EncodeToString(png)},
		},
		{
			name:   "svg is text",
			status: 200,
			header: http.Header{"Content-Type": {"image/svg+xml"}},
			body:   []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`),
			want: events.HTTPTriggerResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "image/svg+xml"},
				Body: `<svg xmlns="http://www.w3.org/2000/svg"/>`},
		},
		{
			name:   "invalid UTF-8 in a text type is base64",
			status: 200,
			header: http.Header{"Content-Type": {"text/plain"}},
			body:   []byte("caf\xe9"),
			want: events.HTTPTriggerResponse{StatusCode: 200, IsBase64Encoded: true, Headers: map[string]string{"Content-Type": "text/plain"},
				Body: base64.StdEncoding.EncodeToString([]byte("caf\xe9"))},
		},
		{
			name:   "gzip-encoded text is base64",
			status: 200,
			header: http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}},
			body:   []byte("\x1f\x8b"),
			want: events.HTTPTriggerResponse{StatusCode: 200, IsBase64Encoded: true,
				Headers: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"},
				Body:    base64.StdEncoding.EncodeToString([]byte("\x1f\x8b"))},
		},
		{
			name:   "no content type: sniffed",
			status: 0,
			header: http.Header{},
			body:   []byte("<!DOCTYPE html><p>hi"),
			want: events.HTTPTriggerResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "text/html; charset=utf-8"},
				Body: "<!DOCTYPE html><p>hi"},
		},
		{
			name:   "empty body",
			status: 204,
			header: http.Header{"X-Request-Id": {"r"}},
			want:   events.HTTPTriggerResponse{StatusCode: 204, Headers: map[string]string{"X-Request-Id": "r"}},
		},
	}
	for _, tc := range tests {
		got := fcrun.EventFromResponse(tc.status, tc.header, tc.body)
		if diff := cmp.Diff(tc.want, *got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestHTTPHandler(t *testing.T) {
	r := newRig(t)
	var seen *http.Request
	h := http.NewServeMux()
	h.HandleFunc("GET /check", func(w http.ResponseWriter, req *http.Request) {
		seen = req
		// The request's context signs with the invocation's credentials.
		_, err := r.app.Client.Check(req.Context(), health.Target{NodeType: health.NodePhone, CustSpaceID: "cs-test", PhoneNumber: req.URL.Query().Get("phoneNumber")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("Vary", "Accept")
		w.Header().Add("Vary", "Authorization")
		w.WriteHeader(http.StatusOK)
		w.Header().Set("X-Too-Late", "ignored")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	h.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h.HandleFunc("HEAD /head", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "not sent") })
	logs := &syncBuffer{}
	handler := fcrun.HTTPHandler(h, fcrun.NewLogger(logs, 0))

	ctx := fcContext(t, invocation{requestID: "req-http", creds: stsCreds})
	ev := httpEvent("GET", "/check", func(ev *events.HTTPTriggerEvent) {
		ev.QueryParameters = &map[string]string{"phoneNumber": "8613800000001"}
		ev.Headers = &map[string]string{"x-fc-request-id": "spoofed"}
	})
	resp, err := handler(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	want := events.HTTPTriggerResponse{StatusCode: 200, Body: `{"ok":true}`,
		Headers: map[string]string{"Content-Type": "application/json", "Vary": "Accept, Authorization"}}
	if diff := cmp.Diff(want, *resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if seen == nil || seen.Header.Get(fcrun.HeaderRequestID) != "req-http" {
		t.Errorf("the handler saw request id %q, want req-http", seen.Header.Get(fcrun.HeaderRequestID))
	}

	// Without the invocation's credentials the environment's (wrong) ones are refused.
	resp, err = handler(context.Background(), ev)
	if err != nil || resp.StatusCode != http.StatusBadGateway || !strings.Contains(resp.Body, "InvalidAccessKeyId.NotFound") {
		t.Errorf("without invocation credentials: %+v, %v; want 502 from the refused call", resp, err)
	}

	for _, tc := range []struct {
		name   string
		ev     events.HTTPTriggerEvent
		status int
		body   string
	}{
		{"malformed event", httpEvent("", "/check", nil), 400,
			`{"error":{"code":"invalid_event","message":"invalid http trigger event: requestContext.http.method is missing"}}`},
		{"panicking handler", httpEvent("GET", "/panic", nil), 500, `{"error":{"code":"internal","message":"internal error"}}`},
		{"HEAD drops the body", httpEvent("HEAD", "/head", nil), 200, ""},
	} {
		resp, err := handler(ctx, tc.ev)
		if err != nil || resp.StatusCode != tc.status || resp.Body != tc.body {
			t.Errorf("%s: %+v, %v; want %d %s", tc.name, resp, err, tc.status, tc.body)
		}
	}

	// The adapter logs what the handler cannot: the malformed event and the panic.
	lines := logLines(t, logs.take())
	if len(lines) != 2 {
		t.Fatalf("log lines = %v, want the malformed event's and the panic's", lines)
	}
	if l := lines[0]; l["msg"] != "http trigger" || l["request_id"] != "req-http" || l["status"] != 400.0 || l["level"] != "WARN" {
		t.Errorf("malformed event log line = %v", l)
	}
	if l := lines[1]; l["level"] != "ERROR" || l["error"] != "handler panicked: boom" || l["path"] != "/panic" {
		t.Errorf("panic log line = %v", l)
	}
}

func TestFailHandlers(t *testing.T) {
	cause := &fcrun.StartError{Err: errors.New("no configuration: pass -config FILE or set WAHEALTH_CONFIG")}
	logs := &syncBuffer{}
	ctx := fcContext(t, invocation{requestID: "req-f"})
	if _, err := fcrun.FailTimer(cause, fcrun.NewLogger(logs, 0))(ctx, timerEvent(nil)); err != cause {
		t.Errorf("FailTimer: %v", err)
	}
	if _, err := fcrun.FailHTTP(cause, fcrun.NewLogger(logs, 0))(ctx, httpEvent("GET", "/", nil)); err != cause {
		t.Errorf("FailHTTP: %v", err)
	}
	lines := logLines(t, logs.take())
	if len(lines) != 2 || lines[0]["error"] != "wahealth could not start: no configuration: pass -config FILE or set WAHEALTH_CONFIG" ||
		lines[1]["request_id"] != "req-f" {
		t.Errorf("log lines = %v", lines)
	}
}

func TestBoot(t *testing.T) {
	out := &syncBuffer{}
	_, _, err := fcrun.Boot(func(string) (string, bool) { return "", false }, out)
	var se *fcrun.StartError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "WAHEALTH_CONFIG") {
		t.Fatalf("Boot without configuration: %v", err)
	}
	lines := logLines(t, out.take())
	if len(lines) != 1 || lines[0]["level"] != "ERROR" || lines[0]["error"] != err.Error() {
		t.Errorf("log lines = %v", lines)
	}

	env := map[string]string{
		"WAHEALTH_CONFIG":       "targets: [{nodeType: phone, phoneNumber: '1', custSpaceId: cs}]\nstate: {path: " + t.TempDir() + "/s.json}\n",
		cams.EnvAccessKeyID:     "id",
		cams.EnvAccessKeySecret: "secret",
	}
	a, logger, err := fcrun.Boot(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, out)
	if err != nil || a == nil || logger == nil {
		t.Fatalf("Boot: %v", err)
	}
	defer a.Close()
	if s := out.take(); s != "" {
		t.Errorf("a good start logged %q", s)
	}
}

// FuzzRequestFromEvent feeds arbitrary JSON events through the adapter: it never panics, and
// every request it accepts is well-formed and converts back into a response event.
func FuzzRequestFromEvent(f *testing.F) {
	for _, seed := range []string{
		`{"version":"v1","rawPath":"/status","body":"","isBase64Encoded":false,"headers":{"accept":"text/html"},"queryParameters":{"format":"html"},"requestContext":{"http":{"method":"GET","path":"/status"}}}`,
		`{"rawPath":"/check?x=1","body":"eyJhIjoxfQ==","isBase64Encoded":true,"requestContext":{"http":{"method":"POST"}}}`,
		`{"requestContext":{"http":{"method":"GET","path":"//x/../y"}}}`,
		`{"rawPath":"/%zz","requestContext":{"http":{"method":"GET"}}}`,
		`{"rawPath":"/","headers":{"Host":"h","host":"i","":"x"},"requestContext":{"http":{"method":"OPTIONS","protocol":"HTTP/9.9","sourceIp":"::1"}}}`,
		`{}`,
		`null`,
	} {
		f.Add([]byte(seed))
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Path", r.URL.Path)
		_, _ = w.Write(b)
	})
	handler := fcrun.HTTPHandler(h, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev events.HTTPTriggerEvent
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		req, err := fcrun.RequestFromEvent(context.Background(), ev)
		if err != nil {
			if !errors.Is(err, fcrun.ErrInvalidEvent) {
				t.Fatalf("error %v does not match ErrInvalidEvent", err)
			}
		} else {
			body, rerr := io.ReadAll(req.Body)
			if rerr != nil || int64(len(body)) != req.ContentLength || req.Method == "" ||
				!strings.HasPrefix(req.URL.Path, "/") || req.URL.Host != "" || req.URL.Scheme != "" {
				t.Fatalf("accepted a malformed request: method %q URL %#v length %d/%d", req.Method, req.URL, req.ContentLength, len(body))
			}
		}
		resp, err := handler(context.Background(), ev)
		if err != nil || resp == nil {
			t.Fatalf("handler: %v, %v", resp, err)
		}
		if resp.IsBase64Encoded {
			if _, err := base64.StdEncoding.DecodeString(resp.Body); err != nil {
				t.Fatalf("base64 body does not decode: %v", err)
			}
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("response does not encode: %v", err)
		}
	})
}
