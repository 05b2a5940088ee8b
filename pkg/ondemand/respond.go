package ondemand

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wahealth/wahealth/pkg/cams"
)

// httpError is an error answer: its status, code and message go to the caller, its cause only
// to the log.
type httpError struct {
	status  int
	code    string
	message string
	// param names the bad parameter of a 400.
	param string
	// camsCode and camsRequestID identify a failed CAMS call.
	camsCode, camsRequestID string
	// header holds headers to set on the answer (Allow, Retry-After, WWW-Authenticate).
	header http.Header
	// cause is logged, never sent.
	cause error
}

// Error describes the answer.
func (e *httpError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

// errorBody is the JSON of an error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code          string `json:"code"`
	Message       string `json:"message"`
	Parameter     string `json:"parameter,omitempty"`
	CAMSCode      string `json:"camsCode,omitempty"`
	CAMSRequestID string `json:"camsRequestId,omitempty"`
}

// badParam is a 400 naming the parameter: "name: message".
func badParam(name, format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, code: "invalid_parameter", param: name,
		message: name + ": " + fmt.Sprintf(format, args...)}
}

// tooLarge is the 413 of a body over limit bytes.
func tooLarge(limit int64) *httpError {
	return &httpError{status: http.StatusRequestEntityTooLarge, code: "body_too_large",
		message: fmt.Sprintf("the request body is larger than %d bytes", limit)}
}

// internal is a 500 whose cause is only logged.
func internal(msg string, cause error) *httpError {
	return &httpError{status: http.StatusInternalServerError, code: "internal", message: msg, cause: cause}
}

// camsFailure maps a failed CAMS call to a 502 carrying the API's code and request id. The
// client's errors never hold credentials.
func camsFailure(err error) *httpError {
	var ae *cams.APIError
	if errors.As(err, &ae) {
		e := &httpError{status: http.StatusBadGateway, code: "cams_error", message: ae.Error(),
			camsCode: ae.Code, camsRequestID: ae.RequestID, cause: err}
		if ae.Throttled() {
			e.header = http.Header{"Retry-After": {"1"}}
		}
		return e
	}
	var te *cams.TransportError
	if errors.As(err, &te) {
		return &httpError{status: http.StatusBadGateway, code: "cams_unreachable", message: te.Error(), cause: err}
	}
	return &httpError{status: http.StatusBadGateway, code: "cams_error", message: "the CAMS call failed", cause: err}
}

// writeJSON writes v as indented JSON. Answers are not cached unless the caller set
// Cache-Control.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // served as JSON with nosniff: "<token>" stays readable
	if err := enc.Encode(v); err != nil {
		return internal("cannot encode the answer", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes()) // the client went away: nothing left to tell it
	return nil
}

// writeError writes err as a JSON error answer; an error that is not an *httpError is a 500
// whose text is only logged.
func writeError(w http.ResponseWriter, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = internal("internal error", err)
	}
	for k, vs := range he.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	_ = writeJSON(w, he.status, errorBody{Error: errorDetail{Code: he.code, Message: he.message, Parameter: he.param,
		CAMSCode: he.camsCode, CAMSRequestID: he.camsRequestID}})
}

// authorize checks the bearer token in constant time (both sides are hashed first, so
// neither the content nor the length of the token leaks through timing). So that a person can
// open the status page (a browser cannot add a bearer header, but asks for a password), the
// token is also accepted as the password of HTTP Basic authentication, for reading only:
// GET and HEAD of /status and /badge.svg. Endpoints that act (a cycle, a CAMS call) take only
// Bearer, which a browser never sends on its own, so another site cannot make a logged-in
// browser trigger them. GET and HEAD of /silences and /silences/{id} only read too, and take
// Basic as well, so that a person can see from a phone's browser what is silenced.
func (h *handler) authorize(r *http.Request) error {
	if h.o.Auth == AuthFunction {
		return nil
	}
	got, scheme := credential(r.Header.Get("Authorization"))
	e := &httpError{status: http.StatusUnauthorized, code: "unauthorized",
		message: "missing credentials: send the header Authorization: Bearer <token>", header: http.Header{}}
	challenge := `Bearer realm="wahealth"`
	switch {
	case scheme == "basic" && !readOnly(r):
		e.message = "HTTP Basic authentication is accepted only to read /status, /badge.svg and /silences: send Authorization: Bearer <token>"
	case scheme != "":
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) == 1 {
			return nil
		}
		e.message = "invalid token"
		challenge += `, error="invalid_token"`
	}
	e.header.Add("WWW-Authenticate", challenge)
	if wantsHTML(r) && readOnly(r) {
		e.header.Add("WWW-Authenticate", `Basic realm="wahealth", charset="UTF-8"`)
	}
	return e
}

// readOnly reports whether r only reads the stored state.
func readOnly(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch p := r.URL.Path; {
	case p == "/status", p == "/badge.svg", p == "/silences":
		return true
	default:
		return strings.HasPrefix(p, silencePrefix)
	}
}

// credential extracts the token of a Bearer header ("bearer"), or the password of a Basic one
// ("basic"); the scheme is "" when the header holds neither.
func credential(header string) (token, scheme string) {
	name, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok {
		return "", ""
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(name, "Bearer") && rest != "":
		return rest, "bearer"
	case strings.EqualFold(name, "Basic"):
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", "basic"
		}
		_, pass, _ := strings.Cut(string(b), ":")
		return pass, "basic"
	}
	return "", ""
}

// requestID returns Function Compute's request id when the request carries a sane one, else a
// fresh random id.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Fc-Request-Id"); id != "" && len(id) <= 128 && safeID(id) {
		return id
	}
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on Linux
	return hex.EncodeToString(b[:])
}

// safeID reports whether id is made of characters that are safe in headers and logs.
func safeID(id string) bool {
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// truncate bounds s to n bytes, at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// retryAfter renders a delay as whole seconds, at least one.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

// recorder remembers the status and size of an answer for the log line.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// WriteHeader records the status.
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

// Write records the size.
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap gives http.ResponseController the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
