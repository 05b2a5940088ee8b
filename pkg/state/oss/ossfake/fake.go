// Package ossfake is an in-memory Alibaba Cloud Object Storage Service (OSS) server for tests.
// It listens on 127.0.0.1 (so the OSS Go SDK v2 switches to path-style URLs by itself) and
// speaks the part of the OSS REST API that wahealth's state backend uses: PutObject (with
// x-oss-forbid-overwrite), GetObject and HeadObject (with If-Match / If-None-Match),
// DeleteObject and CopyObject (x-oss-copy-source, with its if-match condition). Every request
// must carry a valid V4 signature (OSS4-HMAC-SHA256), which the server recomputes on its own;
// STS credentials must send their security token. Answers carry what OSS sends: quoted
// upper-case MD5 ETags, Last-Modified, x-oss-request-id, x-oss-hash-crc64ecma, and errors as OSS
// XML (in the x-oss-err header for HEAD). Tests can break the server, drop answers and count
// requests.
package ossfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash/crc64"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultRegion is the region a Server signs for unless Options.Region says otherwise.
const DefaultRegion = "ap-southeast-1"

// maxSkew is how far the x-oss-date of a request may be from the server's clock.
const maxSkew = 15 * time.Minute

// maxBody bounds the request bodies the server accepts.
const maxBody = 64 << 20

// Options configure a Server.
type Options struct {
	// Region is the region signatures must be scoped to (DefaultRegion when empty).
	Region string
	// Now is the server's clock, used for Date, Last-Modified and the request-time check
	// (time.Now when nil).
	Now func() time.Time
	// Versioning makes every bucket behave like one with versioning enabled in the one way
	// that matters to locks: x-oss-forbid-overwrite has no effect.
	Versioning bool
}

// Fault is a way for the server to fail.
type Fault int

const (
	// Unavailable answers every request with 503 ServiceUnavailable.
	Unavailable Fault = iota + 1
	// Reset closes every connection without answering.
	Reset
)

// Request describes an incoming request to the functions that select requests for a fault.
type Request struct {
	// Op is the operation: PutObject, CopyObject, GetObject, HeadObject, DeleteObject, or
	// "Bucket" and "Service" for requests without a key.
	Op string
	// Bucket and Key name the resource (decoded).
	Bucket, Key string
}

// object is one stored object.
type object struct {
	data        []byte
	etag        string // quoted, upper-case hex MD5
	modified    time.Time
	contentType string
}

// credential is an access key the server accepts.
type credential struct {
	secret string
	token  string // non-empty for STS credentials
}

// dropRule drops the answers of the next n requests that match accepts.
type dropRule struct {
	n     int
	match func(Request) bool
}

// Server is a fake OSS endpoint. Its methods are safe for concurrent use.
type Server struct {
	srv        *httptest.Server
	region     string
	now        func() time.Time
	versioning bool
	crc        *crc64.Table

	mu       sync.Mutex
	buckets  map[string]map[string]*object
	creds    map[string]credential
	fault    Fault
	drops    []*dropRule
	hook     func(Request)
	seq      uint64
	requests map[string]int
	errors   map[string]int
	accepted map[string]int
}

// New starts a Server on 127.0.0.1 with no buckets and no access keys. Close it when done.
func New(o Options) *Server {
	s := &Server{
		region:     o.Region,
		now:        o.Now,
		versioning: o.Versioning,
		crc:        crc64.MakeTable(crc64.ECMA),
		buckets:    map[string]map[string]*object{},
		creds:      map[string]credential{},
		requests:   map[string]int{},
		errors:     map[string]int{},
		accepted:   map[string]int{},
	}
	if s.region == "" {
		s.region = DefaultRegion
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Endpoint returns the server's endpoint, http://127.0.0.1:PORT.
func (s *Server) Endpoint() string { return s.srv.URL }

// Region returns the region signatures must be scoped to.
func (s *Server) Region() string { return s.region }

// CreateBucket creates an empty bucket (nothing happens if it exists).
func (s *Server) CreateBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[name] == nil {
		s.buckets[name] = map[string]*object{}
	}
}

// DeleteBucket removes a bucket and everything in it.
func (s *Server) DeleteBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.buckets, name)
}

// AddAccessKey makes the server accept requests signed with a long-term AccessKey pair.
func (s *Server) AddAccessKey(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds[id] = credential{secret: secret}
}

// AddSTSCredentials makes the server accept requests signed with STS credentials: they must
// also send token in x-oss-security-token.
func (s *Server) AddSTSCredentials(id, secret, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds[id] = credential{secret: secret, token: token}
}

// RemoveAccessKey makes the server refuse an access key again (as when STS credentials expire).
func (s *Server) RemoveAccessKey(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.creds, id)
}

// PutObject stores data at bucket/key directly, without a request, creating the bucket if
// needed, and returns the object's ETag.
func (s *Server) PutObject(bucket, key string, data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[bucket] == nil {
		s.buckets[bucket] = map[string]*object{}
	}
	o := s.newObject(data, "application/octet-stream")
	s.buckets[bucket][key] = o
	return o.etag
}

// Object returns a copy of the data stored at bucket/key.
func (s *Server) Object(bucket, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.buckets[bucket][key]
	if o == nil {
		return nil, false
	}
	return bytes.Clone(o.data), true
}

// DeleteObject removes bucket/key directly, without a request.
func (s *Server) DeleteObject(bucket, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.buckets[bucket], key)
}

// Keys lists the keys in bucket that start with prefix, sorted.
func (s *Server) Keys(bucket, prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.buckets[bucket] {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Break makes the server fail every request in the way f says until Restore.
func (s *Server) Break(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Restore ends a Break.
func (s *Server) Restore() { s.Break(0) }

// DropResponses carries out the next n requests that match accepts (every request when match
// is nil) but closes their connections instead of answering: the change is made and the
// client never hears of it, as when a network fails after the server acted.
func (s *Server) DropResponses(n int, match func(Request) bool) {
	if match == nil {
		match = func(Request) bool { return true }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops = append(s.drops, &dropRule{n: n, match: match})
}

// OnRequest sets a function called with every request before the server handles it (nil
// removes it). It runs on the server's goroutine: a test can use it to act between two requests
// of the code under test.
func (s *Server) OnRequest(f func(Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = f
}

// Requests returns how many requests of an operation arrived (see Request.Op), answered or not.
func (s *Server) Requests(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[op]
}

// RequestCounts returns the number of requests per operation.
func (s *Server) RequestCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.requests)
}

// Errors returns how many error answers carried an error code (NoSuchKey, FileAlreadyExists,
// SignatureDoesNotMatch, ...).
func (s *Server) Errors(code string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errors[code]
}

// Accepted returns how many requests signed with an access key passed authentication.
func (s *Server) Accepted(accessKeyID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted[accessKeyID]
}

// newObject makes an object of data stored now. s.mu is held.
func (s *Server) newObject(data []byte, contentType string) *object {
	sum := md5.Sum(data)
	return &object{
		data:        bytes.Clone(data),
		etag:        `"` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"`,
		modified:    s.now().UTC(),
		contentType: contentType,
	}
}

// apiError is an error answer.
type apiError struct {
	status        int
	code, message string
	ec            string
	extra         [][2]string // further elements of the XML body, in order
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errNoSuchBucket() *apiError {
	return &apiError{status: http.StatusNotFound, code: "NoSuchBucket", message: "The specified bucket does not exist.", ec: "0015-00000101"}
}

func errNoSuchKey() *apiError {
	return &apiError{status: http.StatusNotFound, code: "NoSuchKey", message: "The specified key does not exist.", ec: "0026-00000001"}
}

func errPrecondition() *apiError {
	return &apiError{status: http.StatusPreconditionFailed, code: "PreconditionFailed", message: "At least one of the pre-conditions you specified did not hold.", ec: "0026-00000004"}
}

func errNotImplemented(what string) *apiError {
	return &apiError{status: http.StatusNotImplemented, code: "NotImplemented", message: "ossfake does not implement " + what + "."}
}

func errInvalidArgument(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InvalidArgument", message: msg}
}

// serve handles one request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	now := s.now().UTC()
	bucket, key := splitPath(r.URL.Path)
	req := Request{Op: opName(r, bucket, key), Bucket: bucket, Key: key}

	s.mu.Lock()
	s.seq++
	requestID := fmt.Sprintf("%08X%016X", now.Unix()&0xffffffff, s.seq)
	s.requests[req.Op]++
	fault, hook := s.fault, s.hook
	drop := false
	if fault == 0 {
		for i, d := range s.drops {
			if d.match(req) {
				drop = true
				if d.n--; d.n <= 0 {
					s.drops = slices.Delete(s.drops, i, i+1)
				}
				break
			}
		}
	}
	s.mu.Unlock()

	if hook != nil {
		hook(req)
	}
	if fault == Reset {
		hangUp(w)
		return
	}
	h := w.Header()
	h.Set("Server", "AliyunOSS")
	h.Set("Date", now.Format(http.TimeFormat))
	h.Set("x-oss-request-id", requestID)
	if fault == Unavailable {
		s.writeError(w, r, requestID, &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", message: "Please reduce your request rate."})
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		hangUp(w)
		return
	}
	if len(body) > maxBody {
		s.writeError(w, r, requestID, &apiError{status: http.StatusBadRequest, code: "EntityTooLarge", message: "Your proposed upload exceeds the maximum allowed size."})
		return
	}

	target := w
	var rec *httptest.ResponseRecorder
	if drop {
		rec = httptest.NewRecorder()
		target = rec
	}
	if e := s.authenticate(r, bucket, key, body, now); e != nil {
		s.writeError(target, r, requestID, e)
	} else if e := s.handle(target, r, req, body); e != nil {
		s.writeError(target, r, requestID, e)
	}
	if drop {
		hangUp(w)
	}
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// splitPath splits a path-style URL path into bucket and key.
func splitPath(p string) (bucket, key string) {
	p = strings.TrimPrefix(p, "/")
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

// opName names the operation of a request.
func opName(r *http.Request, bucket, key string) string {
	switch {
	case bucket == "":
		return "Service"
	case key == "":
		return "Bucket"
	}
	switch r.Method {
	case http.MethodPut:
		if r.Header.Get("x-oss-copy-source") != "" {
			return "CopyObject"
		}
		return "PutObject"
	case http.MethodGet:
		return "GetObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodDelete:
		return "DeleteObject"
	}
	return r.Method + "Object"
}

// authenticate checks the request's V4 signature and credentials.
func (s *Server) authenticate(r *http.Request, bucket, key string, body []byte, now time.Time) *apiError {
	v := r.Header.Get("Authorization")
	if v == "" {
		return &apiError{status: http.StatusForbidden, code: "AccessDenied", message: "You have no right to access this object because of bucket acl.", ec: "0003-00000001"}
	}
	a, ok := parseAuthorization(v)
	if !ok {
		return errInvalidArgument("Authorization header is not a valid OSS4-HMAC-SHA256 (V4) signature; ossfake accepts only V4 signatures.")
	}
	s.mu.Lock()
	c, known := s.creds[a.accessKeyID]
	s.mu.Unlock()
	if !known {
		return &apiError{status: http.StatusForbidden, code: "InvalidAccessKeyId", message: "The OSS Access Key Id you provided does not exist in our records.", ec: "0002-00000005",
			extra: [][2]string{{"OSSAccessKeyId", a.accessKeyID}}}
	}
	token := r.Header.Get("x-oss-security-token")
	switch {
	case c.token != "" && token == "":
		return &apiError{status: http.StatusForbidden, code: "InvalidAccessKeyId", message: "The request uses an STS AccessKey ID without its security token.", ec: "0002-00000003"}
	case c.token != "" && !hmac.Equal([]byte(token), []byte(c.token)), c.token == "" && token != "":
		return &apiError{status: http.StatusForbidden, code: "InvalidSecurityToken", message: "The security token you provided is invalid.", ec: "0002-00000008"}
	}
	datetime := r.Header.Get("x-oss-date")
	t, err := time.Parse("20060102T150405Z", datetime)
	if err != nil {
		return &apiError{status: http.StatusForbidden, code: "AccessDenied", message: "The x-oss-date header is missing or invalid.", ec: "0002-00000013"}
	}
	if d := now.Sub(t); d > maxSkew || d < -maxSkew {
		return &apiError{status: http.StatusForbidden, code: "RequestTimeTooSkewed", message: "The difference between the request time and the current time is too large.", ec: "0002-00000504",
			extra: [][2]string{{"RequestTime", t.Format(time.RFC3339)}, {"ServerTime", now.Format(time.RFC3339)}}}
	}
	switch {
	case a.date != datetime[:8]:
		return errInvalidArgument("The signing date in the Authorization header does not match x-oss-date.")
	case a.region != s.region:
		return errInvalidArgument(fmt.Sprintf("Invalid signing region in Authorization header: %s, expected %s.", a.region, s.region))
	case a.product != product || a.terminator != terminator:
		return errInvalidArgument("Invalid credential scope in Authorization header.")
	}
	switch sha := r.Header.Get("x-oss-content-sha256"); sha {
	case unsignedPayload:
	case "":
		return errInvalidArgument("x-oss-content-sha256 is required for V4 signatures.")
	default:
		return errInvalidArgument("The value of x-oss-content-sha256 is invalid: it must be UNSIGNED-PAYLOAD.")
	}
	if md := r.Header.Get("Content-MD5"); md != "" {
		sum := md5.Sum(body)
		if md != base64.StdEncoding.EncodeToString(sum[:]) {
			return &apiError{status: http.StatusBadRequest, code: "InvalidDigest", message: "The Content-MD5 you specified is not valid."}
		}
	}
	in := signInput{
		method: r.Method, bucket: bucket, key: key, rawQuery: r.URL.RawQuery,
		header: r.Header, host: r.Host, additional: a.additional, datetime: datetime, region: s.region,
	}
	want := signature(c.secret, in)
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return &apiError{status: http.StatusForbidden, code: "SignatureDoesNotMatch",
			message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.", ec: "0002-00000040",
			extra: [][2]string{
				{"OSSAccessKeyId", a.accessKeyID},
				{"SignatureProvided", a.signature},
				{"StringToSign", stringToSign(in)},
				{"CanonicalRequest", canonicalRequest(in)},
			}}
	}
	s.mu.Lock()
	s.accepted[a.accessKeyID]++
	s.mu.Unlock()
	return nil
}

// handle carries out an authenticated request.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, req Request, body []byte) *apiError {
	switch req.Op {
	case "Service":
		return errNotImplemented("service-level operations")
	case "Bucket":
		return errNotImplemented("bucket-level operations")
	}
	for k := range r.URL.Query() {
		if !strings.HasPrefix(k, "response-") {
			return errNotImplemented("the ?" + k + " sub-resource")
		}
	}
	switch req.Op {
	case "PutObject":
		return s.put(w, r, req, body)
	case "CopyObject":
		return s.copy(w, r, req)
	case "GetObject", "HeadObject":
		return s.get(w, r, req)
	case "DeleteObject":
		return s.delete(w, req)
	}
	return &apiError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", message: "The specified method is not allowed against this resource."}
}

// forbidOverwrite reports x-oss-forbid-overwrite: true on a bucket that honours it.
func (s *Server) forbidOverwrite(r *http.Request) bool {
	return !s.versioning && strings.EqualFold(strings.TrimSpace(r.Header.Get("x-oss-forbid-overwrite")), "true")
}

func errFileAlreadyExists() *apiError {
	return &apiError{status: http.StatusConflict, code: "FileAlreadyExists", message: "The object you specified already exists and can not be overwritten.", ec: "0026-00000007"}
}

// put is PutObject.
func (s *Server) put(w http.ResponseWriter, r *http.Request, req Request, body []byte) *apiError {
	ctype := r.Header.Get("Content-Type")
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	s.mu.Lock()
	b := s.buckets[req.Bucket]
	if b == nil {
		s.mu.Unlock()
		return errNoSuchBucket()
	}
	if b[req.Key] != nil && s.forbidOverwrite(r) {
		s.mu.Unlock()
		return errFileAlreadyExists()
	}
	o := s.newObject(body, ctype)
	b[req.Key] = o
	s.mu.Unlock()

	s.objectHeaders(w.Header(), o, false)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// etagMatches compares ETags as OSS does: quotes and case do not matter, "*" matches any.
func etagMatches(cond, etag string) bool {
	norm := func(s string) string { return strings.ToUpper(strings.Trim(strings.TrimSpace(s), `"`)) }
	for c := range strings.SplitSeq(cond, ",") {
		if strings.TrimSpace(c) == "*" || norm(c) == norm(etag) {
			return true
		}
	}
	return false
}

// get is GetObject and HeadObject.
func (s *Server) get(w http.ResponseWriter, r *http.Request, req Request) *apiError {
	s.mu.Lock()
	b := s.buckets[req.Bucket]
	var o *object
	if b != nil {
		o = b[req.Key]
	}
	s.mu.Unlock()
	switch {
	case b == nil:
		return errNoSuchBucket()
	case o == nil:
		return errNoSuchKey()
	}
	if c := r.Header.Get("If-Match"); c != "" && !etagMatches(c, o.etag) {
		return errPrecondition()
	}
	if c := r.Header.Get("If-None-Match"); c != "" && etagMatches(c, o.etag) {
		s.objectHeaders(w.Header(), o, false)
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	s.objectHeaders(w.Header(), o, true)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(o.data) // the client went away: nothing to do
	}
	return nil
}

// objectHeaders sets the headers OSS sends about an object.
func (s *Server) objectHeaders(h http.Header, o *object, full bool) {
	sum := md5.Sum(o.data)
	h.Set("ETag", o.etag)
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(crc64.Checksum(o.data, s.crc), 10))
	h.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	if full {
		h.Set("Last-Modified", o.modified.Format(http.TimeFormat))
		h.Set("Content-Type", o.contentType)
		h.Set("Content-Length", strconv.Itoa(len(o.data)))
		h.Set("x-oss-object-type", "Normal")
		h.Set("x-oss-storage-class", "Standard")
		h.Set("Accept-Ranges", "bytes")
	}
}

// delete is DeleteObject: 204 whether or not the object existed.
func (s *Server) delete(w http.ResponseWriter, req Request) *apiError {
	s.mu.Lock()
	b := s.buckets[req.Bucket]
	if b != nil {
		delete(b, req.Key)
	}
	s.mu.Unlock()
	if b == nil {
		return errNoSuchBucket()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// copyResult is CopyObject's answer.
type copyResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
}

// copy is CopyObject.
func (s *Server) copy(w http.ResponseWriter, r *http.Request, req Request) *apiError {
	src := r.Header.Get("x-oss-copy-source")
	if i := strings.IndexByte(src, '?'); i >= 0 {
		return errNotImplemented("copying a source version")
	}
	srcBucket, srcKeyEnc, ok := strings.Cut(strings.TrimPrefix(src, "/"), "/")
	srcKey, err := url.PathUnescape(srcKeyEnc)
	if !ok || err != nil || srcBucket == "" || srcKey == "" {
		return errInvalidArgument("x-oss-copy-source is invalid.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to := s.buckets[srcBucket], s.buckets[req.Bucket]
	if from == nil || to == nil {
		return errNoSuchBucket()
	}
	o := from[srcKey]
	if o == nil {
		return errNoSuchKey()
	}
	if c := r.Header.Get("x-oss-copy-source-if-match"); c != "" && !etagMatches(c, o.etag) {
		return errPrecondition()
	}
	if c := r.Header.Get("x-oss-copy-source-if-none-match"); c != "" && etagMatches(c, o.etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if to[req.Key] != nil && s.forbidOverwrite(r) {
		return errFileAlreadyExists()
	}
	n := s.newObject(o.data, o.contentType)
	to[req.Key] = n
	out, err := xml.Marshal(copyResult{ETag: n.etag, LastModified: n.modified.Format("2006-01-02T15:04:05.000Z")})
	if err != nil {
		return &apiError{status: http.StatusInternalServerError, code: "InternalError", message: err.Error()}
	}
	h := w.Header()
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(crc64.Checksum(n.data, s.crc), 10))
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(out)
	return nil
}

// writeError answers with an OSS error: the XML document as the body, or for HEAD requests
// base64-encoded in the x-oss-err header.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, requestID string, e *apiError) {
	s.mu.Lock()
	s.errors[e.code]++
	s.mu.Unlock()

	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Error>\n")
	el := func(name, value string) {
		var text bytes.Buffer
		_ = xml.EscapeText(&text, []byte(value)) // writes to a bytes.Buffer cannot fail
		b.WriteString("  <" + name + ">")
		// OSS keeps the line breaks of StringToSign and CanonicalRequest as they are.
		b.WriteString(strings.ReplaceAll(text.String(), "&#xA;", "\n"))
		b.WriteString("</" + name + ">\n")
	}
	el("Code", e.code)
	el("Message", e.message)
	el("RequestId", requestID)
	el("HostId", r.Host)
	for _, x := range e.extra {
		el(x[0], x[1])
	}
	if e.ec != "" {
		el("EC", e.ec)
	}
	b.WriteString("</Error>\n")

	h := w.Header()
	h.Set("x-oss-request-id", requestID)
	if e.ec != "" {
		h.Set("x-oss-ec", e.ec)
	}
	if r.Method == http.MethodHead {
		h.Set("x-oss-err", base64.StdEncoding.EncodeToString(b.Bytes()))
		w.WriteHeader(e.status)
		return
	}
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(e.status)
	_, _ = w.Write(b.Bytes())
}
