package oss_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/state"
	"github.com/wahealth/wahealth/pkg/state/oss"
	"github.com/wahealth/wahealth/pkg/state/oss/ossfake"
	"github.com/wahealth/wahealth/pkg/state/statetest"
)

const (
	testBucket = "wahealth-test"
	testPrefix = "wahealth/"
	testKeyID  = "LTAI5tFakeKeyId0001"
	testSecret = "fake-secret-9f8e7d6c5b4a"

	stateKey = testPrefix + "state.json"
	leaseKey = testPrefix + "lease.json"
	writeKey = testPrefix + "write.lock"
)

// env is one fake OSS server with a bucket and an access key, and the options of stores on it.
type env struct {
	fake *ossfake.Server
	opts oss.Options
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, ossfake.Options{})
}

func newEnvWith(t *testing.T, fo ossfake.Options) *env {
	t.Helper()
	fake := ossfake.New(fo)
	t.Cleanup(fake.Close)
	fake.CreateBucket(testBucket)
	fake.AddAccessKey(testKeyID, testSecret)
	return &env{fake: fake, opts: oss.Options{
		Endpoint:    fake.Endpoint(),
		Region:      fake.Region(),
		Bucket:      testBucket,
		Prefix:      testPrefix,
		Credentials: static(testKeyID, testSecret, ""),
	}}
}

// open opens a store with e.opts.
func (e *env) open(t *testing.T) *oss.Store {
	t.Helper()
	s, err := oss.Open(t.Context(), e.opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func static(id, secret, token string) func(context.Context) cams.Credentials {
	return func(context.Context) cams.Credentials {
		return cams.Credentials{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: token}
	}
}

// clock is a settable clock for lock expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	envs := map[state.Store]*env{}
	register := func(s state.Store, e *env) state.Store {
		mu.Lock()
		defer mu.Unlock()
		envs[s] = e
		return s
	}
	envOf := func(t *testing.T, s state.Store) *env {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		e := envs[s]
		if e == nil {
			t.Fatalf("store %v was not opened by this harness", s)
		}
		return e
	}
	statetest.Run(t, statetest.Harness{
		New: func(t *testing.T) state.Store {
			e := newEnv(t)
			return register(e.open(t), e)
		},
		Reopen: func(t *testing.T, s state.Store) state.Store {
			e := envOf(t, s)
			return register(e.open(t), e)
		},
		PutRaw: func(t *testing.T, s state.Store, raw []byte) {
			envOf(t, s).fake.PutObject(testBucket, stateKey, raw)
		},
		GetRaw: func(t *testing.T, s state.Store) []byte {
			b, ok := envOf(t, s).fake.Object(testBucket, stateKey)
			if !ok {
				t.Fatalf("no object %s", stateKey)
			}
			return b
		},
		Break: func(t *testing.T, s state.Store) func() {
			fake := envOf(t, s).fake
			fake.Break(ossfake.Unavailable)
			return fake.Restore
		},
	})
}

// assertClean fails when msg shows a secret, a signature or signing material.
func assertClean(t *testing.T, msg string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("error %q shows the secret %q", msg, s)
		}
	}
	for _, bad := range []string{"Signature=", "OSS4-HMAC-SHA256", "StringToSign", "SignatureProvided", "Authorization"} {
		if strings.Contains(msg, bad) {
			t.Errorf("error %q shows signing material (%s)", msg, bad)
		}
	}
	if regexp.MustCompile(`[0-9a-f]{64}`).MatchString(msg) {
		t.Errorf("error %q shows what looks like a signature", msg)
	}
}

// apiCode returns the OSS error code of err, failing the test when it has none.
func apiCode(t *testing.T, err error) string {
	t.Helper()
	var ae *oss.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an *oss.APIError", err)
	}
	return ae.Code
}

func TestWrongSecretIsRejected(t *testing.T) {
	e := newEnv(t)
	const wrong = "wrong-secret-0a1b2c3d"
	e.opts.Credentials = static(testKeyID, wrong, "")
	s := e.open(t)

	_, err := s.Load(t.Context())
	if err == nil {
		t.Fatal("Load signed with a wrong secret succeeded")
	}
	if code := apiCode(t, err); code != "SignatureDoesNotMatch" {
		t.Errorf("code %q, want SignatureDoesNotMatch", code)
	}
	msg := err.Error()
	if !strings.Contains(msg, "oss://"+testBucket+"/"+stateKey) || !strings.Contains(msg, "403") || !strings.Contains(msg, "secret") {
		t.Errorf("error %q should name the object, the status and hint at the secret", msg)
	}
	assertClean(t, msg, wrong, testSecret, testKeyID)
	if n := e.fake.Errors("SignatureDoesNotMatch"); n != 1 {
		t.Errorf("fake refused %d requests for their signature, want 1 (a 403 is not retried)", n)
	}

	if err := s.Save(t.Context(), state.New()); err == nil {
		t.Fatal("Save signed with a wrong secret succeeded")
	} else {
		assertClean(t, err.Error(), wrong, testSecret, testKeyID)
	}
	if keys := e.fake.Keys(testBucket, ""); len(keys) != 0 {
		t.Errorf("objects %v were written with a wrong signature", keys)
	}
}

func TestUnknownAccessKeyIsRejected(t *testing.T) {
	e := newEnv(t)
	e.opts.Credentials = static("LTAI5tNobodyKnowsMe", testSecret, "")
	_, err := e.open(t).Load(t.Context())
	if code := apiCode(t, err); code != "InvalidAccessKeyId" {
		t.Errorf("code %q, want InvalidAccessKeyId", code)
	}
	assertClean(t, err.Error(), testSecret, "LTAI5tNobodyKnowsMe")
}

func TestSTSSecurityToken(t *testing.T) {
	e := newEnv(t)
	const id, secret, token = "STS.NTestTemporaryKey", "sts-secret-1234abcd", "CAIS-sts-token-5678efgh"
	e.fake.AddSTSCredentials(id, secret, token)

	e.opts.Credentials = static(id, secret, token)
	s := e.open(t)
	st := state.New()
	st.Baseline = true
	if err := s.Save(t.Context(), st); err != nil {
		t.Fatalf("Save with STS credentials: %v", err)
	}
	if got, err := s.Load(t.Context()); err != nil || !got.Baseline || got.Version != 1 {
		t.Fatalf("Load with STS credentials = %+v, %v", got, err)
	}
	if n := e.fake.Accepted(id); n < 4 {
		t.Errorf("fake accepted %d requests signed with the STS key, want at least 4", n)
	}

	for _, tc := range []struct {
		name, token, code string
	}{
		{"no token", "", "InvalidAccessKeyId"},
		{"wrong token", "CAIS-wrong-token-0000", "InvalidSecurityToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.opts.Credentials = static(id, secret, tc.token)
			_, err := e.open(t).Load(t.Context())
			if code := apiCode(t, err); code != tc.code {
				t.Errorf("code %q, want %s", code, tc.code)
			}
			assertClean(t, err.Error(), secret, token, "CAIS-wrong-token-0000")
		})
	}
}

func TestCredentialsFromContext(t *testing.T) {
	e := newEnv(t)
	const staticID = "LTAI5tStaticButRevoked"
	e.opts.Credentials = static(staticID, "revoked-secret", "")
	s := e.open(t)
	if _, err := s.Load(t.Context()); apiCode(t, err) != "InvalidAccessKeyId" {
		t.Fatalf("Load with revoked static credentials: %v", err)
	}

	// Function Compute's per-invocation credentials travel in the context and win.
	ctx := cams.WithCredentials(t.Context(), cams.Credentials{AccessKeyID: testKeyID, AccessKeySecret: testSecret})
	before := e.fake.Accepted(testKeyID)
	st := state.New()
	if err := s.Save(ctx, st); err != nil {
		t.Fatalf("Save with context credentials: %v", err)
	}
	l, err := s.Lock(ctx, "cycle", time.Minute)
	if err != nil {
		t.Fatalf("Lock with context credentials: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release with context credentials: %v", err)
	}
	if got := e.fake.Accepted(testKeyID) - before; got < 6 {
		t.Errorf("fake accepted %d requests signed with the context's key, want at least 6", got)
	}
	if n := e.fake.Accepted(staticID); n != 0 {
		t.Errorf("fake accepted %d requests signed with the static key", n)
	}

	// Invalid credentials in the context (no secret) do not hide the static ones.
	half := cams.WithCredentials(t.Context(), cams.Credentials{AccessKeyID: "only-an-id"})
	if _, err := s.Load(half); apiCode(t, err) != "InvalidAccessKeyId" {
		t.Errorf("Load with half credentials in the context: %v, want the static key's InvalidAccessKeyId", err)
	}

	// No credentials anywhere: an error before any request.
	e.opts.Credentials = nil
	none := e.open(t)
	gets := e.fake.Requests("GetObject")
	_, err = none.Load(t.Context())
	if !errors.Is(err, cams.ErrNoCredentials) {
		t.Errorf("Load without credentials: err = %v, want ErrNoCredentials", err)
	}
	if n := e.fake.Requests("GetObject") - gets; n != 0 {
		t.Errorf("Load without credentials sent %d requests", n)
	}
}

// leaseOwner returns the owner recorded in the lease object, "" when there is none.
func leaseOwner(t *testing.T, fake *ossfake.Server) string {
	t.Helper()
	b, ok := fake.Object(testBucket, leaseKey)
	if !ok {
		return ""
	}
	var l struct {
		Owner string `json:"owner"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatalf("lease object %q: %v", b, err)
	}
	return l.Owner
}

func TestLeaseExpiresAndIsTakenOver(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	e := newEnv(t)
	e.opts.Now = clk.Now
	a, b, c := e.open(t), e.open(t), e.open(t)

	la, err := a.Lock(ctx, "cycle-A", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	expiry := clk.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	_, err = b.Lock(ctx, "cycle-B", time.Minute)
	if !errors.Is(err, state.ErrLocked) || !strings.Contains(err.Error(), `"cycle-A"`) || !strings.Contains(err.Error(), expiry) {
		t.Fatalf("Lock while cycle-A holds the lease: %v, want ErrLocked naming cycle-A and %s", err, expiry)
	}
	if n := e.fake.Errors("FileAlreadyExists"); n != 1 {
		t.Errorf("fake answered FileAlreadyExists %d times, want 1", n)
	}

	clk.Advance(time.Minute) // expiry is exclusive: now == expires is expired
	lb, err := b.Lock(ctx, "cycle-B", time.Minute)
	if err != nil {
		t.Fatalf("Lock after cycle-A's lease expired: %v", err)
	}
	if got := leaseOwner(t, e.fake); got != "cycle-B" {
		t.Fatalf("lease owner after takeover = %q, want cycle-B", got)
	}

	// cycle-A comes back late: its Release must not delete cycle-B's lease.
	if err := la.Release(ctx); err != nil {
		t.Fatalf("late Release by cycle-A: %v", err)
	}
	if got := leaseOwner(t, e.fake); got != "cycle-B" {
		t.Fatalf("after cycle-A's late Release the lease owner is %q, want cycle-B", got)
	}
	if _, err := c.Lock(ctx, "cycle-C", time.Minute); !errors.Is(err, state.ErrLocked) || !strings.Contains(err.Error(), "cycle-B") {
		t.Fatalf("Lock by cycle-C: %v, want ErrLocked naming cycle-B", err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got := leaseOwner(t, e.fake); got != "" {
		t.Errorf("after cycle-B released, lease owner %q, want no lease", got)
	}
	if lease, ok := lb.(*oss.Lease); !ok || lease.Owner() != "cycle-B" || !lease.Expires().Equal(clk.Now().Add(time.Minute)) {
		t.Errorf("lease = %#v, want an *oss.Lease of cycle-B expiring in a minute", lb)
	}
}

func TestReleaseLeavesOwnExpiredLease(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	e := newEnv(t)
	e.opts.Now = clk.Now
	a, b := e.open(t), e.open(t)
	la, err := a.Lock(ctx, "cycle-A", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Inside the safety margin a taker may be at work: the lease is left to expire.
	clk.Advance(time.Minute - time.Second)
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got := leaseOwner(t, e.fake); got != "cycle-A" {
		t.Fatalf("lease owner %q, want the expiring lease of cycle-A left in place", got)
	}
	clk.Advance(time.Second)
	lb, err := b.Lock(ctx, "cycle-B", time.Minute)
	if err != nil {
		t.Fatalf("Lock after cycle-A's lease expired: %v", err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLockRejectsBadTTL(t *testing.T) {
	s := newEnv(t).open(t)
	if _, err := s.Lock(t.Context(), "x", 0); err == nil || errors.Is(err, state.ErrLocked) {
		t.Errorf("Lock with ttl 0: %v, want an error that is not ErrLocked", err)
	}
}

func TestCrashedSaverWriteLockIsTakenOver(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lock  func(now time.Time) []byte
		owner string
	}{
		{"readable", func(now time.Time) []byte {
			b, _ := json.Marshal(map[string]any{"owner": "crashed saver", "token": "dead", "acquired": now, "expires": now.Add(30 * time.Second)})
			return b
		}, "crashed saver"},
		// A lock object that does not decode expires WriteLockTTL after its Last-Modified.
		{"unreadable", func(time.Time) []byte { return []byte("\x00garbage") }, "unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			e := newEnvWith(t, ossfake.Options{Now: clk.Now})
			e.opts.Now = clk.Now
			s := e.open(t)
			e.fake.PutObject(testBucket, writeKey, tc.lock(clk.Now()))

			st := state.New()
			ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
			defer cancel()
			err := s.Save(ctx, st)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), tc.owner) {
				t.Fatalf("Save while a crashed saver's lock is fresh: %v, want a deadline error naming %q", err, tc.owner)
			}
			if st.Version != 0 {
				t.Errorf("failed Save set Version %d", st.Version)
			}
			if _, ok := e.fake.Object(testBucket, stateKey); ok {
				t.Fatal("a document was written without the write lock")
			}

			clk.Advance(31 * time.Second)
			if err := s.Save(t.Context(), st); err != nil || st.Version != 1 {
				t.Fatalf("Save after the crashed saver's lock expired: %v (version %d)", err, st.Version)
			}
			if _, ok := e.fake.Object(testBucket, writeKey); ok {
				t.Error("the write lock is still there after Save")
			}
		})
	}
}

func TestSaveRefusesWhenWriteLockRanOut(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	e := newEnv(t)
	e.opts.Now = clk.Now
	e.opts.WriteLockTTL = 4 * time.Second
	s := e.open(t)
	st := state.New()
	if err := s.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	// This saver stalls after reading the document, past its lock's lifetime.
	e.fake.OnRequest(func(r ossfake.Request) {
		if r.Op == "GetObject" && r.Key == stateKey {
			clk.Advance(5 * time.Second)
		}
	})
	err := s.Save(ctx, st)
	e.fake.OnRequest(nil)
	if err == nil || !strings.Contains(err.Error(), "ran out") || errors.Is(err, state.ErrConflict) {
		t.Fatalf("Save whose write lock ran out: %v, want a refusal", err)
	}
	if st.Version != 1 {
		t.Errorf("refused Save set Version %d, want 1", st.Version)
	}
	if got, err := s.Load(ctx); err != nil || got.Version != 1 {
		t.Errorf("after the refused Save: %+v, %v; want version 1", got, err)
	}
}

func TestLostAnswers(t *testing.T) {
	ctx := t.Context()
	onKey := func(op, key string) func(ossfake.Request) bool {
		return func(r ossfake.Request) bool { return r.Op == op && r.Key == key }
	}

	t.Run("write lock created", func(t *testing.T) {
		e := newEnv(t)
		s := e.open(t)
		e.fake.DropResponses(1, onKey("PutObject", writeKey))
		st := state.New()
		if err := s.Save(ctx, st); err != nil || st.Version != 1 {
			t.Fatalf("Save whose lock answer was lost: %v (version %d)", err, st.Version)
		}
		if _, ok := e.fake.Object(testBucket, writeKey); ok {
			t.Error("write lock left behind")
		}
	})
	t.Run("first document created", func(t *testing.T) {
		e := newEnv(t)
		s := e.open(t)
		e.fake.DropResponses(1, onKey("PutObject", stateKey))
		st := state.New()
		st.Baseline = true
		if err := s.Save(ctx, st); err != nil || st.Version != 1 {
			t.Fatalf("Save whose create answer was lost: %v (version %d)", err, st.Version)
		}
		if got, err := s.Load(ctx); err != nil || got.Version != 1 || !got.Baseline {
			t.Fatalf("Load = %+v, %v", got, err)
		}
		if n := e.fake.Errors("FileAlreadyExists"); n != 1 {
			t.Errorf("FileAlreadyExists answered %d times, want 1 (the SDK's retry of our own create)", n)
		}
	})
	t.Run("lease created", func(t *testing.T) {
		e := newEnv(t)
		s := e.open(t)
		e.fake.DropResponses(1, onKey("PutObject", leaseKey))
		l, err := s.Lock(ctx, "cycle-A", time.Minute)
		if err != nil {
			t.Fatalf("Lock whose answer was lost: %v", err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if got := leaseOwner(t, e.fake); got != "" {
			t.Errorf("lease of %q left behind", got)
		}
	})
}

func TestQuarantineKeepsTheCopy(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t)
	s := e.open(t)
	garbage := []byte("{\"schema\":1, truncated")
	e.fake.PutObject(testBucket, stateKey, garbage)

	_, err := s.Load(ctx)
	var ce *state.CorruptError
	if !errors.As(err, &ce) || ce.Where != "oss://"+testBucket+"/"+stateKey {
		t.Fatalf("Load of garbage: %v, want a CorruptError at oss://%s/%s", err, testBucket, stateKey)
	}
	where, err := s.Quarantine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "oss://" + testBucket + "/" + stateKey + ".corrupt-"
	if !strings.HasPrefix(where, prefix) {
		t.Fatalf("Quarantine = %q, want %s<time>", where, prefix)
	}
	kept, ok := e.fake.Object(testBucket, strings.TrimPrefix(where, "oss://"+testBucket+"/"))
	if !ok || string(kept) != string(garbage) {
		t.Fatalf("quarantined copy = %q (found %v), want the damaged document", kept, ok)
	}
	if keys := e.fake.Keys(testBucket, testPrefix); len(keys) != 1 {
		t.Errorf("objects after Quarantine: %v, want only the copy", keys)
	}
	if n := e.fake.Requests("CopyObject"); n != 1 {
		t.Errorf("%d CopyObject requests, want 1", n)
	}
	if st, err := s.Load(ctx); err != nil || st.Version != 0 {
		t.Errorf("Load after Quarantine = %+v, %v; want a fresh state", st, err)
	}
}

func TestEnsureBucket(t *testing.T) {
	e := newEnv(t)
	if err := e.open(t).EnsureBucket(t.Context()); err != nil {
		t.Fatalf("EnsureBucket of an existing bucket: %v", err)
	}
	if keys := e.fake.Keys(testBucket, ""); len(keys) != 0 {
		t.Errorf("EnsureBucket left %v behind", keys)
	}
	if n := e.fake.Errors("FileAlreadyExists"); n != 1 {
		t.Errorf("FileAlreadyExists answered %d times, want 1 (the probe's second create)", n)
	}

	e.opts.Bucket = "not-created-yet"
	s := e.open(t)
	err := s.EnsureBucket(t.Context())
	if code := apiCode(t, err); code != "NoSuchBucket" || !strings.Contains(err.Error(), "create the bucket") {
		t.Errorf("EnsureBucket of a missing bucket: %v, want NoSuchBucket telling to create it", err)
	}
	// A missing bucket is never an empty state.
	if st, err := s.Load(t.Context()); err == nil {
		t.Errorf("Load from a missing bucket = version %d, want an error", st.Version)
	}

	v := newEnvWith(t, ossfake.Options{Versioning: true})
	err = v.open(t).EnsureBucket(t.Context())
	if err == nil || !strings.Contains(err.Error(), "versioning") {
		t.Errorf("EnsureBucket of a bucket that ignores forbid-overwrite: %v, want an error about versioning", err)
	}
	if keys := v.fake.Keys(testBucket, ""); len(keys) != 0 {
		t.Errorf("EnsureBucket left %v behind", keys)
	}
}

func TestConnectionsReset(t *testing.T) {
	e := newEnv(t)
	e.opts.HTTPClient = nil
	s := e.open(t)
	e.fake.Break(ossfake.Reset)
	_, err := s.Load(t.Context())
	if err == nil || errors.Is(err, state.ErrConflict) {
		t.Fatalf("Load while connections are reset: %v, want an error", err)
	}
	if !strings.Contains(err.Error(), "oss://"+testBucket+"/"+stateKey) {
		t.Errorf("error %q does not name the object", err)
	}
	assertClean(t, err.Error(), testSecret, testKeyID)
	e.fake.Restore()
	if _, err := s.Load(t.Context()); err != nil {
		t.Fatalf("Load after Restore: %v", err)
	}
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	good := oss.Options{Endpoint: "https://oss-ap-southeast-1.aliyuncs.com", Region: "ap-southeast-1", Bucket: "my-bucket"}
	for _, tc := range []struct {
		name string
		mod  func(*oss.Options)
		want string // substring of the error, "" for success
	}{
		{"ok", func(*oss.Options) {}, ""},
		{"region from endpoint", func(o *oss.Options) { o.Region = "" }, ""},
		{"region from internal endpoint", func(o *oss.Options) {
			o.Region, o.Endpoint = "", "oss-ap-southeast-1-internal.aliyuncs.com"
		}, ""},
		{"no region", func(o *oss.Options) { o.Region, o.Endpoint = "", "https://example.com" }, "no region"},
		{"bad bucket", func(o *oss.Options) { o.Bucket = "My_Bucket" }, "invalid bucket name"},
		{"no bucket", func(o *oss.Options) { o.Bucket = "" }, "invalid bucket name"},
		{"endpoint with path", func(o *oss.Options) { o.Endpoint = "https://oss-ap-southeast-1.aliyuncs.com/bucket" }, "invalid endpoint"},
		{"endpoint scheme", func(o *oss.Options) { o.Endpoint = "ftp://oss-ap-southeast-1.aliyuncs.com" }, "invalid endpoint"},
		{"negative ttl", func(o *oss.Options) { o.WriteLockTTL = -time.Second }, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.mod(&o)
			s, err := oss.Open(ctx, o)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Open: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Open: %v, want an error containing %q", err, tc.want)
			case err == nil:
				_ = s.Close()
			}
		})
	}
}

func TestPrefixIsNormalised(t *testing.T) {
	e := newEnv(t)
	e.opts.Prefix = "/team/wahealth"
	s := e.open(t)
	if got, want := s.Location(), "oss://"+testBucket+"/team/wahealth/state.json"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if err := s.Save(t.Context(), state.New()); err != nil {
		t.Fatal(err)
	}
	if keys := e.fake.Keys(testBucket, ""); len(keys) != 1 || keys[0] != "team/wahealth/state.json" {
		t.Errorf("objects %v, want team/wahealth/state.json", keys)
	}
}

func TestClosedStore(t *testing.T) {
	s := newEnv(t).open(t)
	l, err := s.Lock(t.Context(), "cycle", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context()); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Load after Close: %v", err)
	}
	if err := l.Release(t.Context()); err != nil {
		t.Errorf("Release after Close: %v", err)
	}
}
