package ossfake_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	osscred "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"

	"github.com/wahealth/wahealth/pkg/state/oss/ossfake"
)

const (
	bucket = "fake-bucket"
	keyID  = "LTAI5tFakeServerTest"
	secret = "fake-server-secret-000"
)

// setup starts a fake with a bucket and an access key.
func setup(t *testing.T, o ossfake.Options) *ossfake.Server {
	t.Helper()
	f := ossfake.New(o)
	t.Cleanup(f.Close)
	f.CreateBucket(bucket)
	f.AddAccessKey(keyID, secret)
	return f
}

// clientOpt adjusts a client's config.
type clientOpt func(*osssdk.Config)

// client returns an SDK client for f signing with the given credentials, one attempt per call
// unless changed.
func client(f *ossfake.Server, id, sk, token string, opts ...clientOpt) *osssdk.Client {
	cfg := osssdk.NewConfig().
		WithEndpoint(f.Endpoint()).
		WithRegion(f.Region()).
		WithSignatureVersion(osssdk.SignatureVersionV4).
		WithRetryMaxAttempts(1).
		WithCredentialsProvider(osscred.NewStaticCredentialsProvider(id, sk, token))
	for _, o := range opts {
		o(cfg)
	}
	return osssdk.NewClient(cfg)
}

// serviceError returns the OSS error in err, failing the test when there is none.
func serviceError(t *testing.T, err error) *osssdk.ServiceError {
	t.Helper()
	var se *osssdk.ServiceError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want an OSS service error", err)
	}
	return se
}

// wantCode checks the status and code of an OSS error.
func wantCode(t *testing.T, err error, status int, code string) *osssdk.ServiceError {
	t.Helper()
	se := serviceError(t, err)
	if se.StatusCode != status || se.Code != code {
		t.Errorf("got %d %s (%s), want %d %s", se.StatusCode, se.Code, se.Message, status, code)
	}
	if se.RequestID == "" {
		t.Errorf("%s error has no request id", se.Code)
	}
	return se
}

func put(ctx context.Context, c *osssdk.Client, key, body string, forbid bool) (*osssdk.PutObjectResult, error) {
	req := &osssdk.PutObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr(key), Body: strings.NewReader(body)}
	if forbid {
		req.ForbidOverwrite = osssdk.Ptr("true")
	}
	return c.PutObject(ctx, req)
}

func get(ctx context.Context, c *osssdk.Client, key, ifMatch string) (string, *osssdk.GetObjectResult, error) {
	req := &osssdk.GetObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr(key)}
	if ifMatch != "" {
		req.IfMatch = osssdk.Ptr(ifMatch)
	}
	res, err := c.GetObject(ctx, req)
	if err != nil {
		return "", nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), res, err
}

func etagOf(body string) string {
	sum := md5.Sum([]byte(body))
	return `"` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"`
}

func TestObjectsThroughTheSDK(t *testing.T) {
	ctx := t.Context()
	f := setup(t, ossfake.Options{})
	c := client(f, keyID, secret, "")
	const key = "dir/state é+1.json" // a key that needs escaping, with a separator

	res, err := put(ctx, c, key, "first", true)
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if got := osssdk.ToString(res.ETag); got != etagOf("first") {
		t.Errorf("ETag %s, want %s", got, etagOf("first"))
	}
	if res.HashCRC64 == nil || res.Headers.Get("x-oss-request-id") == "" {
		t.Errorf("PutObject answer lacks x-oss-hash-crc64ecma or x-oss-request-id: %v", res.Headers)
	}

	// Create-only on an existing key: 409 FileAlreadyExists, nothing changed.
	_, err = put(ctx, c, key, "second", true)
	wantCode(t, err, http.StatusConflict, "FileAlreadyExists")
	if body, _, err := get(ctx, c, key, ""); err != nil || body != "first" {
		t.Fatalf("after a refused overwrite: %q, %v", body, err)
	}
	// An ordinary PUT overwrites.
	if _, err := put(ctx, c, key, "second", false); err != nil {
		t.Fatalf("overwriting PutObject: %v", err)
	}
	body, gres, err := get(ctx, c, key, "")
	if err != nil || body != "second" || osssdk.ToString(gres.ETag) != etagOf("second") || gres.LastModified == nil {
		t.Fatalf("GetObject = %q, %+v, %v", body, gres, err)
	}
	if time.Since(*gres.LastModified) > time.Minute {
		t.Errorf("Last-Modified %v is not now", gres.LastModified)
	}

	// If-Match.
	if _, _, err := get(ctx, c, key, etagOf("first")); err == nil {
		t.Error("GetObject If-Match with a stale ETag succeeded")
	} else {
		wantCode(t, err, http.StatusPreconditionFailed, "PreconditionFailed")
	}
	if body, _, err := get(ctx, c, key, etagOf("second")); err != nil || body != "second" {
		t.Errorf("GetObject If-Match with the current ETag: %q, %v", body, err)
	}

	// HeadObject, and errors carried in x-oss-err.
	head, err := c.HeadObject(ctx, &osssdk.HeadObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr(key)})
	if err != nil || head.ContentLength != int64(len("second")) || osssdk.ToString(head.ETag) != etagOf("second") {
		t.Errorf("HeadObject = %+v, %v", head, err)
	}
	_, err = c.HeadObject(ctx, &osssdk.HeadObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr("missing")})
	wantCode(t, err, http.StatusNotFound, "NoSuchKey")
	_, err = c.HeadObject(ctx, &osssdk.HeadObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr(key), IfMatch: osssdk.Ptr(`"0000"`)})
	wantCode(t, err, http.StatusPreconditionFailed, "PreconditionFailed")

	// CopyObject: with a source condition, create-only.
	copyReq := func(dst, ifMatch string, forbid bool) error {
		req := &osssdk.CopyObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr(dst), SourceKey: osssdk.Ptr(key)}
		if ifMatch != "" {
			req.IfMatch = osssdk.Ptr(ifMatch)
		}
		if forbid {
			req.ForbidOverwrite = osssdk.Ptr("true")
		}
		res, err := c.CopyObject(ctx, req)
		if err == nil && (osssdk.ToString(res.ETag) != etagOf("second") || res.LastModified == nil) {
			t.Errorf("CopyObject answer %+v", res)
		}
		return err
	}
	if err := copyReq("aside/copy", etagOf("second"), true); err != nil {
		t.Fatalf("CopyObject: %v", err)
	}
	if b, ok := f.Object(bucket, "aside/copy"); !ok || string(b) != "second" {
		t.Errorf("copy holds %q (%v)", b, ok)
	}
	wantCode(t, copyReq("aside/copy", "", true), http.StatusConflict, "FileAlreadyExists")
	wantCode(t, copyReq("aside/other", etagOf("first"), false), http.StatusPreconditionFailed, "PreconditionFailed")

	// DeleteObject: 204 whether or not the key exists.
	for range 2 {
		if _, err := c.DeleteObject(ctx, &osssdk.DeleteObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr(key)}); err != nil {
			t.Fatalf("DeleteObject: %v", err)
		}
	}
	_, _, err = get(ctx, c, key, "")
	se := wantCode(t, err, http.StatusNotFound, "NoSuchKey")
	if !bytes.Contains(se.Snapshot, []byte("<HostId>")) || !bytes.Contains(se.Snapshot, []byte("<RequestId>")) {
		t.Errorf("error body %s lacks HostId or RequestId", se.Snapshot)
	}

	// A bucket that does not exist.
	_, err = c.GetObject(ctx, &osssdk.GetObjectRequest{Bucket: osssdk.Ptr("no-such-bucket"), Key: osssdk.Ptr("k")})
	wantCode(t, err, http.StatusNotFound, "NoSuchBucket")
	_, err = put(ctx, c, "x", "y", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Keys(bucket, ""); len(got) != 2 || got[0] != "aside/copy" || got[1] != "x" {
		t.Errorf("keys %v", got)
	}
	if f.Requests("PutObject") != 4 || f.Requests("CopyObject") != 3 || f.Errors("FileAlreadyExists") != 2 {
		t.Errorf("counters %v, FileAlreadyExists %d", f.RequestCounts(), f.Errors("FileAlreadyExists"))
	}
}

// tamper is a transport that changes requests after the SDK signed them.
type tamper func(*http.Request)

func (f tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	f(r)
	return http.DefaultTransport.RoundTrip(r)
}

func withTamper(f tamper) clientOpt {
	return func(c *osssdk.Config) { c.WithHttpClient(&http.Client{Transport: f}) }
}

func TestSignatureIsChecked(t *testing.T) {
	ctx := t.Context()
	f := setup(t, ossfake.Options{})
	f.PutObject(bucket, "k", []byte("v"))
	getK := func(c *osssdk.Client) error { _, _, err := get(ctx, c, "k", ""); return err }

	if err := getK(client(f, keyID, secret, "")); err != nil {
		t.Fatalf("a correctly signed request failed: %v", err)
	}
	if n := f.Accepted(keyID); n != 1 {
		t.Errorf("Accepted = %d, want 1", n)
	}

	se := wantCode(t, getK(client(f, keyID, "not-the-secret", "")), http.StatusForbidden, "SignatureDoesNotMatch")
	if !bytes.Contains(se.Snapshot, []byte("<StringToSign>OSS4-HMAC-SHA256\n")) {
		t.Errorf("SignatureDoesNotMatch body lacks the string to sign: %s", se.Snapshot)
	}
	wantCode(t, getK(client(f, "LTAI5tUnknown", secret, "")), http.StatusForbidden, "InvalidAccessKeyId")
	wantCode(t, getK(client(f, keyID, secret, "", func(c *osssdk.Config) { c.WithRegion("cn-hangzhou") })), http.StatusBadRequest, "InvalidArgument")

	for _, tc := range []struct {
		name string
		f    tamper
	}{
		{"signed header added", func(r *http.Request) { r.Header.Set("x-oss-meta-evil", "1") }},
		{"content-type changed", func(r *http.Request) { r.Header.Set("Content-Type", "text/evil") }},
		{"key changed", func(r *http.Request) { r.URL.Path = "/" + bucket + "/other" }},
		{"query added", func(r *http.Request) { r.URL.RawQuery = "response-content-type=text%2Fevil" }},
		{"method changed", func(r *http.Request) { r.Method = http.MethodHead }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := getK(client(f, keyID, secret, "", withTamper(tc.f)))
			if tc.name == "method changed" {
				// HEAD answers carry the error in x-oss-err; the status tells enough.
				if se := serviceError(t, err); se.StatusCode != http.StatusForbidden {
					t.Errorf("status %d, want 403", se.StatusCode)
				}
				return
			}
			wantCode(t, err, http.StatusForbidden, "SignatureDoesNotMatch")
		})
	}
	// Headers outside the signature may change.
	if err := getK(client(f, keyID, secret, "", withTamper(func(r *http.Request) { r.Header.Set("X-Unsigned", "1") }))); err != nil {
		t.Errorf("an unsigned header made the request fail: %v", err)
	}
	// V4 needs x-oss-content-sha256 to be UNSIGNED-PAYLOAD.
	err := getK(client(f, keyID, secret, "", withTamper(func(r *http.Request) { r.Header.Del("x-oss-content-sha256") })))
	wantCode(t, err, http.StatusBadRequest, "InvalidArgument")
	// Unsigned requests are anonymous, and the bucket is private.
	err = getK(client(f, keyID, secret, "", withTamper(func(r *http.Request) { r.Header.Del("Authorization") })))
	wantCode(t, err, http.StatusForbidden, "AccessDenied")
}

func TestSTSToken(t *testing.T) {
	f := setup(t, ossfake.Options{})
	f.AddSTSCredentials("STS.temp", "temp-secret", "temp-token")
	ctx := t.Context()
	if _, err := put(ctx, client(f, "STS.temp", "temp-secret", "temp-token"), "k", "v", false); err != nil {
		t.Fatalf("PutObject with STS credentials: %v", err)
	}
	_, err := put(ctx, client(f, "STS.temp", "temp-secret", ""), "k", "v", false)
	wantCode(t, err, http.StatusForbidden, "InvalidAccessKeyId")
	_, err = put(ctx, client(f, "STS.temp", "temp-secret", "other-token"), "k", "v", false)
	wantCode(t, err, http.StatusForbidden, "InvalidSecurityToken")
	_, err = put(ctx, client(f, keyID, secret, "a-token-for-a-long-term-key"), "k", "v", false)
	wantCode(t, err, http.StatusForbidden, "InvalidSecurityToken")
	f.RemoveAccessKey("STS.temp")
	_, err = put(ctx, client(f, "STS.temp", "temp-secret", "temp-token"), "k", "v", false)
	wantCode(t, err, http.StatusForbidden, "InvalidAccessKeyId")
}

func TestClockSkew(t *testing.T) {
	// The server's clock is an hour ahead: the SDK's first attempt is refused, and it corrects
	// its clock from the answer's Date and retries.
	f := setup(t, ossfake.Options{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	c := client(f, keyID, secret, "", func(c *osssdk.Config) { c.WithRetryMaxAttempts(2) })
	if _, err := put(t.Context(), c, "k", "v", false); err != nil {
		t.Fatalf("PutObject with a skewed clock: %v", err)
	}
	if n := f.Errors("RequestTimeTooSkewed"); n != 1 {
		t.Errorf("RequestTimeTooSkewed answered %d times, want 1", n)
	}
}

func TestFaults(t *testing.T) {
	ctx := t.Context()
	f := setup(t, ossfake.Options{})
	c := client(f, keyID, secret, "")

	f.Break(ossfake.Unavailable)
	_, err := put(ctx, c, "k", "v", false)
	wantCode(t, err, http.StatusServiceUnavailable, "ServiceUnavailable")
	f.Break(ossfake.Reset)
	if _, err := put(ctx, c, "k", "v", false); err == nil || errors.As(err, new(*osssdk.ServiceError)) {
		t.Errorf("PutObject while connections are reset: %v, want a transport error", err)
	}
	f.Restore()
	if _, ok := f.Object(bucket, "k"); ok {
		t.Fatal("a request was carried out while the server was broken")
	}

	// A dropped answer: the change is made, the client hears nothing and retries.
	f.DropResponses(1, func(r ossfake.Request) bool { return r.Op == "PutObject" && r.Key == "k" })
	retrying := client(f, keyID, secret, "", func(c *osssdk.Config) { c.WithRetryMaxAttempts(3) })
	if _, err := put(ctx, retrying, "k", "v", true); err == nil {
		t.Fatal("create-only PutObject whose first answer was dropped succeeded on retry")
	} else {
		wantCode(t, err, http.StatusConflict, "FileAlreadyExists")
	}
	if b, ok := f.Object(bucket, "k"); !ok || string(b) != "v" {
		t.Errorf("object after the dropped answer: %q, %v", b, ok)
	}
	if n := f.Requests("PutObject"); n != 4 {
		t.Errorf("PutObject requests %d, want 4", n)
	}
}

func TestUnsupportedRequests(t *testing.T) {
	f := setup(t, ossfake.Options{})
	c := client(f, keyID, secret, "")
	_, err := c.GetBucketInfo(t.Context(), &osssdk.GetBucketInfoRequest{Bucket: osssdk.Ptr(bucket)})
	wantCode(t, err, http.StatusNotImplemented, "NotImplemented")
	_, err = c.GetObjectAcl(t.Context(), &osssdk.GetObjectAclRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr("k")})
	wantCode(t, err, http.StatusNotImplemented, "NotImplemented")
}
