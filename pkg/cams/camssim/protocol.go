package camssim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Protocol constants of the CAMS RPC API.
const (
	// HostID is the HostId the error envelope carries.
	HostID = "cams.ap-southeast-1.aliyuncs.com"
	// APIVersion is the only Version the simulator accepts.
	APIVersion = "2020-06-06"
	// ActionGetWhatsappHealthStatus is the operation the simulator answers.
	ActionGetWhatsappHealthStatus = "GetWhatsappHealthStatus"

	// timeLayout is the Timestamp format the SDK sends (ISO 8601, UTC).
	timeLayout = "2006-01-02T15:04:05Z"
	// maxSkew is how far a Timestamp may be from the server's clock, and how long a nonce stays used.
	maxSkew = 15 * time.Minute
)

// apiError is an error answer in Alibaba Cloud's envelope.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) answer(reqID string) answer {
	body := struct {
		RequestID string `json:"RequestId"`
		HostID    string `json:"HostId"`
		Code      string `json:"Code"`
		Message   string `json:"Message"`
		Recommend string `json:"Recommend"`
	}{
		RequestID: reqID,
		HostID:    HostID,
		Code:      e.code,
		Message:   e.message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(e.code) + "&product=cams&requestId=" + reqID,
	}
	return answer{status: e.status, code: e.code, reqID: reqID, body: body}
}

func errMissing(name string) *apiError {
	return &apiError{http.StatusBadRequest, "Missing" + name, name + " is mandatory for this action."}
}

func errInvalidParam(name, why string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameter", "The specified parameter " + name + " is not valid: " + why}
}

func errInvalidVersion(v string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidVersion", fmt.Sprintf("Specified parameter Version %q is not valid.", v)}
}

func errInvalidAction(a string) *apiError {
	return &apiError{http.StatusNotFound, "InvalidAction.NotFound", fmt.Sprintf("Specified api %q is not found, please check your url and method.", a)}
}

func errNonceUsed() *apiError {
	return &apiError{http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already."}
}

func errThrottled() *apiError {
	return &apiError{http.StatusBadRequest, "Throttling.User", "Request was denied due to user flow control."}
}

// authenticate parses the request's parameters (query string and form body merged, the form
// winning, as the SDK merges them to sign) and checks everything that does not need the
// server's state: method, common parameters, timestamp, access key, signature, security token.
func (s *Server) authenticate(r *http.Request) (map[string]string, *apiError) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, &apiError{http.StatusMethodNotAllowed, "UnsupportedHTTPMethod", "Specified HTTP method " + r.Method + " is not supported."}
	}
	if r.URL.Path != "/" && r.URL.Path != "" {
		return nil, &apiError{http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."}
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errInvalidParam("query string", "malformed percent-encoding")
	}
	p := make(map[string]string, len(query))
	for k, v := range query {
		p[k] = v[0]
	}
	if r.Method == http.MethodPost && r.Body != nil {
		r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			return p, errInvalidParam("form body", "malformed form body")
		}
		for k, v := range r.PostForm {
			p[k] = v[0]
		}
	}
	for _, name := range []string{"Action", "Version", "Format", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp", "Signature"} {
		if p[name] == "" {
			return p, errMissing(name)
		}
	}
	if !strings.EqualFold(p["Format"], "JSON") {
		return p, errInvalidParam("Format", "the simulator answers JSON only")
	}
	if p["SignatureMethod"] != "HMAC-SHA1" {
		return p, &apiError{http.StatusBadRequest, "InvalidSignatureMethod", "Specified signature method is not valid: want HMAC-SHA1."}
	}
	if p["SignatureVersion"] != "1.0" {
		return p, &apiError{http.StatusBadRequest, "InvalidSignatureVersion", "Specified signature version is not valid: want 1.0."}
	}
	ts, err := time.Parse(timeLayout, p["Timestamp"])
	if err != nil {
		return p, &apiError{http.StatusBadRequest, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."}
	}
	if d := s.now().Sub(ts); d > maxSkew || d < -maxSkew {
		return p, &apiError{http.StatusBadRequest, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."}
	}
	if s.opts.AccessKeyID == "" || s.opts.AccessKeySecret == "" || p["AccessKeyId"] != s.opts.AccessKeyID {
		return p, &apiError{http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found."}
	}
	stringToSign := StringToSign(r.Method, p)
	want := Sign(stringToSign, s.opts.AccessKeySecret)
	if subtle.ConstantTimeCompare([]byte(want), []byte(p["Signature"])) != 1 {
		msg := "Specified signature is not matched with our calculation."
		if _, sts := p["SecurityToken"]; !sts {
			// As the real service does; the SDK compares it with its own string to sign to
			// tell a wrong secret from a signing bug. Not echoed when it would carry a token.
			msg += " server string to sign is:" + stringToSign
		}
		return p, &apiError{http.StatusBadRequest, "SignatureDoesNotMatch", msg}
	}
	if tok := s.opts.SecurityToken; tok != "" {
		got, ok := p["SecurityToken"]
		switch {
		case !ok || got == "":
			return p, &apiError{http.StatusBadRequest, "InvalidSecurityToken.Missing", "The security token is missing: this access key is a temporary (STS) credential."}
		case subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1:
			return p, &apiError{http.StatusBadRequest, "InvalidSecurityToken.Mismatch", "The security token does not match the access key."}
		}
	}
	return p, nil
}

// StringToSign builds the RPC string to sign as the SDK does (buildRpcStringToSign): every
// parameter but Signature, sorted and form-encoded, with "+" as "%20", "*" as "%2A" and "%7E"
// as "~", then escaped again and prefixed with the method and "&%2F&".
func StringToSign(method string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(params[k]))
	}
	canonical := b.String()
	canonical = strings.ReplaceAll(canonical, "+", "%20")
	canonical = strings.ReplaceAll(canonical, "*", "%2A")
	canonical = strings.ReplaceAll(canonical, "%7E", "~")
	return method + "&%2F&" + url.QueryEscape(canonical)
}

// Sign returns the base64 HMAC-SHA1 of stringToSign keyed with secret+"&".
func Sign(stringToSign, secret string) string {
	h := hmac.New(sha1.New, []byte(secret+"&"))
	h.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// answer is a response ready to be written.
type answer struct {
	status int
	code   string // the envelope's Code, for logs
	reqID  string
	body   any
	hang   bool // FaultTimeout: never answer
}

func (a answer) write(w http.ResponseWriter) {
	b, err := json.Marshal(a.body)
	if err != nil {
		// Only plain structs of strings are marshalled: this cannot happen.
		http.Error(w, "camssim: marshal answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=utf-8")
	h.Set("x-acs-request-id", a.reqID)
	w.WriteHeader(a.status)
	_, _ = w.Write(b)
}

// newRequestID returns an upper-case UUID-shaped id like the service's RequestId.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
