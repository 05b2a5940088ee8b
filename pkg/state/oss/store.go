// Package oss keeps wahealth's state document in an Alibaba Cloud Object Storage Service (OSS)
// bucket, through the OSS Go SDK v2 with V4 signatures. Three objects live under a prefix:
//
//	<prefix>state.json  the document (state.Encode)
//	<prefix>lease.json  the cycle lease taken by Lock: owner, token, acquired, expires
//	<prefix>write.lock  a short write lock held around each Save and Quarantine
//
// OSS has no compare-and-swap on PUT; its only atomic primitive is create-only
// (x-oss-forbid-overwrite: true, answered 409 FileAlreadyExists when the key exists). Both locks
// are built on it: whoever creates the lock object holds the lock until it deletes it or until
// the expiry written in it passes, after which anyone may take it over. Save holds the write
// lock while it reads the stored version, compares it with the caller's and writes the new
// document, which makes the compare-and-swap of state.Store hold as long as the write lock does.
// The races that remain are described on Store. Buckets are never created here: create the
// bucket beforehand and check it with EnsureBucket.
package oss

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	osscred "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/state"
)

// Object names under the prefix.
const (
	stateName = "state.json"
	leaseName = "lease.json"
	writeName = "write.lock"
)

// DefaultWriteLockTTL is how long a write lock stays valid when Options.WriteLockTTL is zero.
const DefaultWriteLockTTL = 30 * time.Second

const (
	// maxDocument bounds the state document read back from OSS.
	maxDocument = 64 << 20
	// maxLockObject bounds a lock object read back from OSS.
	maxLockObject = 64 << 10
	// maxMargin caps the part of a lock's lifetime kept as a safety margin: a Save does not
	// write, and a Release does not delete, when less than the margin is left.
	maxMargin = 2 * time.Second
	// minPoll and maxPoll bound the wait between attempts at a busy write lock.
	minPoll = 2 * time.Millisecond
	maxPoll = 50 * time.Millisecond
	// acquireRounds bounds the create/inspect/take-over rounds of one attempt at a lock.
	acquireRounds = 4
	// releaseTimeout bounds releasing the write lock after a Save whose context ended.
	releaseTimeout = 10 * time.Second
	// contentType is the type every object is stored with.
	contentType = "application/json"
)

// Options configure a Store. Bucket and Region (or an Endpoint of the form
// oss-<region>[-internal].aliyuncs.com) are required.
type Options struct {
	// Endpoint is the OSS endpoint, e.g. https://oss-ap-southeast-1.aliyuncs.com, or in
	// Function Compute the internal one, https://oss-ap-southeast-1-internal.aliyuncs.com.
	// Without a scheme https is used; empty means the public endpoint of Region. An IP
	// address endpoint (a test server) is addressed path-style.
	Endpoint string
	// Region is the bucket's region, e.g. ap-southeast-1; V4 signatures are scoped to it.
	// Empty means the region named by Endpoint.
	Region string
	// Bucket is the bucket's name. It must exist.
	Bucket string
	// Prefix is prepended to the object names, e.g. "wahealth/" (a missing trailing slash is
	// added, a leading one removed). Empty keeps the objects at the bucket's root.
	Prefix string
	// Credentials returns the credentials to sign a call with. It is called for every request,
	// unless the call's context carries valid credentials (cams.WithCredentials: Function
	// Compute hands each invocation fresh STS credentials), which take precedence.
	Credentials func(ctx context.Context) cams.Credentials
	// HTTPClient sends the requests; nil means the SDK's client (5 s connect and 10 s
	// read/write timeouts).
	HTTPClient *http.Client
	// Now is the clock lock expiry and UpdatedAt are judged by (time.Now when nil).
	Now func() time.Time
	// WriteLockTTL is how long a write lock is valid: a saver that dies while holding it
	// blocks other savers this long. Zero means DefaultWriteLockTTL.
	WriteLockTTL time.Duration
}

// Store is the OSS state.Store.
//
// Guarantees and their limits. Save is a compare-and-swap under the write lock: it reads the
// stored version, compares it with the caller's, writes the new document and releases the
// lock, and it refuses to write once less than a safety margin of the lock's lifetime is left
// by its clock. The first document is created create-only, so two creators cannot both
// succeed. Lock hands the cycle lease to one holder at a time while the lease is unexpired.
// What remains:
//
//   - A lock is taken over only after its expiry has passed by the taker's clock, so hosts
//     whose clocks disagree by more than a lock's margin can overlap; keep them in sync (FC
//     hosts are).
//   - Taking over an expired lock is re-check (HEAD If-Match the ETag seen), delete, create
//     (create-only), read back. OSS cannot delete conditionally, so when two contenders take
//     over the same expired lock at the same moment, one of them can delete the other's fresh
//     lock between that one's read-back and its work: both then hold it. This needs a holder
//     that died or overran its lock, two contenders within the same few milliseconds, and one
//     of them stalled for two OSS round trips between its re-check and its delete.
//   - A holder that overruns its lock loses it silently to a taker; Save notices only by its
//     own clock before it writes.
//
// Release deletes a lock object only if it still carries the holder's token and is not about
// to expire; a lock taken over by someone else is left alone.
type Store struct {
	client   *osssdk.Client
	bucket   string
	prefix   string
	opts     Options
	now      func() time.Time
	writeTTL time.Duration
	saver    string // owner recorded in write locks

	stateKey, leaseKey, writeKey string

	closed atomic.Bool

	// known remembers the ETag and version of the last document this handle read or wrote,
	// so that Save need not decode an unchanged document again to learn its version.
	mu    sync.Mutex
	known struct {
		etag    string
		version int64
	}
}

var _ state.Store = (*Store)(nil)

// Open returns a Store for the bucket and prefix o names. It makes no request: EnsureBucket
// checks that the bucket is there and reachable.
func Open(ctx context.Context, o Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open oss state: %w", err)
	}
	if !osssdk.IsValidBucketName(&o.Bucket) {
		return nil, fmt.Errorf("open oss state: invalid bucket name %q (3-63 lower-case letters, digits and hyphens)", o.Bucket)
	}
	endpoint := strings.TrimSpace(o.Endpoint)
	if endpoint != "" {
		if !strings.Contains(endpoint, "://") {
			endpoint = "https://" + endpoint
		}
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return nil, fmt.Errorf("open oss state: invalid endpoint %q: want https://oss-<region>.aliyuncs.com", o.Endpoint)
		}
		endpoint = u.Scheme + "://" + u.Host
	}
	region := strings.TrimSpace(o.Region)
	if region == "" {
		region = regionOf(endpoint)
	}
	if region == "" {
		return nil, errors.New("open oss state: no region: set the bucket's region (e.g. ap-southeast-1), V4 signatures need it")
	}
	if o.WriteLockTTL < 0 {
		return nil, fmt.Errorf("open oss state: negative write lock ttl %v", o.WriteLockTTL)
	}
	prefix := strings.TrimLeft(o.Prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &Store{
		bucket:   o.Bucket,
		prefix:   prefix,
		opts:     o,
		now:      o.Now,
		writeTTL: o.WriteLockTTL,
		stateKey: prefix + stateName,
		leaseKey: prefix + leaseName,
		writeKey: prefix + writeName,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.writeTTL == 0 {
		s.writeTTL = DefaultWriteLockTTL
	}
	host, _ := os.Hostname() // only a label: an unknown host name is fine
	s.saver = fmt.Sprintf("wahealth save on %s (pid %d)", host, os.Getpid())

	cfg := osssdk.NewConfig().
		WithRegion(region).
		WithSignatureVersion(osssdk.SignatureVersionV4).
		WithCredentialsProvider(osscred.CredentialsProviderFunc(s.sdkCredentials)).
		WithUserAgent("wahealth")
	if endpoint != "" {
		cfg = cfg.WithEndpoint(endpoint)
	}
	if o.HTTPClient != nil {
		cfg = cfg.WithHttpClient(o.HTTPClient)
	}
	s.client = osssdk.NewClient(cfg)
	return s, nil
}

// regionOf returns the region named by an endpoint of the form
// [scheme://]oss-<region>[-internal].aliyuncs.com, or "".
func regionOf(endpoint string) string {
	host := endpoint
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	name, ok := strings.CutSuffix(host, ".aliyuncs.com")
	if !ok {
		return ""
	}
	name, ok = strings.CutPrefix(name, "oss-")
	if !ok || strings.Contains(name, ".") || strings.HasPrefix(name, "accelerate") {
		return ""
	}
	return strings.TrimSuffix(name, "-internal")
}

// Location returns where the document lives, oss://bucket/<prefix>state.json.
func (s *Store) Location() string { return s.url(s.stateKey) }

// url names an object of the store's bucket.
func (s *Store) url(key string) string { return "oss://" + s.bucket + "/" + key }

// credentialsFor returns the credentials a call under ctx signs with: those in ctx
// (cams.WithCredentials) when valid, otherwise Options.Credentials.
func (s *Store) credentialsFor(ctx context.Context) (cams.Credentials, error) {
	if c, ok := cams.CredentialsFromContext(ctx); ok {
		return c, nil
	}
	if s.opts.Credentials == nil {
		return cams.Credentials{}, cams.ErrNoCredentials
	}
	c := s.opts.Credentials(ctx)
	if err := c.Validate(); err != nil {
		return cams.Credentials{}, err
	}
	return c, nil
}

// sdkCredentials is the SDK's credentials provider. The SDK calls it with the context of the
// operation before signing each attempt, so per-invocation credentials reach every request
// without a client per call.
func (s *Store) sdkCredentials(ctx context.Context) (osscred.Credentials, error) {
	c, err := s.credentialsFor(ctx)
	if err != nil {
		return osscred.Credentials{}, err
	}
	return osscred.Credentials{AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken}, nil
}

// usable reports a closed store or a finished context.
func (s *Store) usable(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s %s: store is closed", op, s.Location())
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, s.Location(), err)
	}
	return nil
}

// EnsureBucket checks that the bucket exists, that the credentials may read, create and
// delete objects under the prefix, and that the bucket honours create-only writes (a bucket
// with versioning enabled ignores x-oss-forbid-overwrite, and then no lock can work). It
// creates and deletes one probe object, <prefix>probe-<random>. It creates no bucket: a
// missing bucket is an error telling the user to create it.
func (s *Store) EnsureBucket(ctx context.Context) error {
	const op = "check state bucket"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	if _, err := s.get(ctx, op, s.stateKey, maxDocument); err != nil {
		return err
	}
	probe := s.prefix + "probe-" + newToken()
	if _, err := s.put(ctx, op, probe, []byte("{}"), true); err != nil {
		return err
	}
	_, err := s.put(ctx, op, probe, []byte("{}"), true)
	derr := s.delete(ctx, op, probe)
	switch {
	case err == nil:
		return fmt.Errorf("%s %s: the bucket overwrote an object written with x-oss-forbid-overwrite (is versioning enabled?): "+
			"wahealth's locks need create-only writes, use a bucket without versioning", op, s.url(probe))
	case !isCode(err, "FileAlreadyExists"):
		return err
	}
	return derr
}

// Load returns the stored document, or state.New() when there is none. A document that does
// not decode is a *state.CorruptError and a newer schema a *state.SchemaError, both naming
// oss://bucket/<prefix>state.json. An unreachable bucket is an error, never an empty state.
func (s *Store) Load(ctx context.Context) (*state.State, error) {
	if err := s.usable(ctx, "load state"); err != nil {
		return nil, err
	}
	o, err := s.get(ctx, "load state", s.stateKey, maxDocument)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return state.New(), nil
	}
	st, err := state.Decode(s.Location(), o.data)
	if err != nil {
		return nil, err
	}
	s.remember(o.etag, st.Version)
	return st, nil
}

// remember records that the document with etag has version v.
func (s *Store) remember(etag string, v int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known.etag, s.known.version = etag, v
}

// storedVersion returns the version of the stored document o (0 when o is nil), or the
// *state.CorruptError or *state.SchemaError of a document that cannot be read.
func (s *Store) storedVersion(o *object) (int64, error) {
	if o == nil {
		return 0, nil
	}
	s.mu.Lock()
	v, ok := s.known.version, o.etag != "" && s.known.etag == o.etag
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	st, err := state.Decode(s.Location(), o.data)
	if err != nil {
		return 0, err
	}
	s.remember(o.etag, st.Version)
	return st.Version, nil
}

// Save stores st if the bucket still holds version st.Version (0: no document yet), then sets
// st.Version, st.Schema and st.UpdatedAt. It waits for the write lock as long as ctx allows,
// taking over a lock whose holder let it expire. A corrupt or newer-schema document is never
// overwritten: Save returns its *state.CorruptError or *state.SchemaError. When Save fails, st
// is unchanged; when the failure came after the write reached OSS (a lost answer), the next
// Save conflicts and the caller reloads what is there.
func (s *Store) Save(ctx context.Context, st *state.State) error {
	const op = "save state"
	if st == nil {
		return fmt.Errorf("%s %s: nil state", op, s.Location())
	}
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	wl, err := s.writeLock(ctx, op)
	if err != nil {
		return err
	}
	defer s.releaseDetached(ctx, op, wl)

	cur, err := s.get(ctx, op, s.stateKey, maxDocument)
	if err != nil {
		return err
	}
	found, err := s.storedVersion(cur)
	if err != nil {
		return err
	}
	if found != st.Version {
		return fmt.Errorf("%s %s: expected version %d, found %d: %w", op, s.Location(), st.Version, found, state.ErrConflict)
	}

	// Encode a shallow copy so that st changes only once the new document is stored.
	next := *st
	next.Version = st.Version + 1
	next.Schema = state.SchemaVersion
	next.UpdatedAt = s.now().UTC()
	b, err := state.Encode(&next)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, s.Location(), err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, s.Location(), err)
	}
	if err := s.stillHeld(op, wl); err != nil {
		return err
	}
	create := cur == nil
	etag, err := s.put(ctx, op, s.stateKey, b, create)
	if create && isCode(err, "FileAlreadyExists") {
		// Either another writer created the document although we hold the write lock (it
		// was taken over), or the SDK retried our own create after losing its answer.
		if o, gerr := s.get(ctx, op, s.stateKey, maxDocument); gerr == nil && o != nil && bytes.Equal(o.data, b) {
			etag, err = o.etag, nil
		} else {
			err = fmt.Errorf("%s %s: created by another writer meanwhile: %w", op, s.Location(), state.ErrConflict)
		}
	}
	if err != nil {
		return err
	}
	s.remember(etag, next.Version)
	st.Version, st.Schema, st.UpdatedAt = next.Version, next.Schema, next.UpdatedAt
	return nil
}

// Quarantine copies the document to <prefix>state.json.corrupt-<UTC time> under the write lock,
// then deletes the original, so that the next Load starts from nothing. It returns the copy's
// location, oss://bucket/key ("" when there was no document). If the delete fails the copy is
// kept and the error names it.
func (s *Store) Quarantine(ctx context.Context) (string, error) {
	const op = "quarantine state"
	if err := s.usable(ctx, op); err != nil {
		return "", err
	}
	wl, err := s.writeLock(ctx, op)
	if err != nil {
		return "", err
	}
	defer s.releaseDetached(ctx, op, wl)

	cur, err := s.get(ctx, op, s.stateKey, maxDocument)
	if err != nil || cur == nil {
		return "", err
	}
	aside := s.stateKey + ".corrupt-" + s.now().UTC().Format("20060102T150405.000000000Z")
	if err := s.stillHeld(op, wl); err != nil {
		return "", err
	}
	// Copy exactly the version read (x-oss-copy-source-if-match), never over an earlier copy.
	_, err = s.client.CopyObject(ctx, &osssdk.CopyObjectRequest{
		Bucket:          &s.bucket,
		Key:             &aside,
		SourceKey:       &s.stateKey,
		IfMatch:         &cur.etag,
		ForbidOverwrite: osssdk.Ptr("true"),
	})
	if err != nil {
		return "", s.fail(ctx, op, s.stateKey, err)
	}
	if err := s.delete(ctx, op, s.stateKey); err != nil {
		return "", fmt.Errorf("%s: kept a copy at %s but could not remove the original: %w", op, s.url(aside), err)
	}
	s.remember("", 0)
	return s.url(aside), nil
}

// Close marks the store closed: later calls fail. Leases taken from it stay held until
// released (Release still works) or expired.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

// object is an object read from OSS.
type object struct {
	data     []byte
	etag     string
	modified time.Time
}

// get reads key, at most limit bytes. A missing key is (nil, nil).
func (s *Store) get(ctx context.Context, op, key string, limit int64) (*object, error) {
	res, err := s.client.GetObject(ctx, &osssdk.GetObjectRequest{Bucket: &s.bucket, Key: &key})
	if err != nil {
		err = s.fail(ctx, op, key, err)
		if isNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return nil, s.fail(ctx, op, key, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s %s: object is larger than %d bytes", op, s.url(key), limit)
	}
	o := &object{data: data, etag: osssdk.ToString(res.ETag)}
	if res.LastModified != nil {
		o.modified = *res.LastModified
	}
	return o, nil
}

// put writes data to key, create-only when createOnly is set, and returns the new ETag.
func (s *Store) put(ctx context.Context, op, key string, data []byte, createOnly bool) (string, error) {
	req := &osssdk.PutObjectRequest{
		Bucket:      &s.bucket,
		Key:         &key,
		ContentType: osssdk.Ptr(contentType),
		Body:        bytes.NewReader(data),
	}
	if createOnly {
		req.ForbidOverwrite = osssdk.Ptr("true")
	}
	res, err := s.client.PutObject(ctx, req)
	if err != nil {
		return "", s.fail(ctx, op, key, err)
	}
	return osssdk.ToString(res.ETag), nil
}

// delete removes key; a missing key is not an error (OSS answers 204 either way).
func (s *Store) delete(ctx context.Context, op, key string) error {
	if _, err := s.client.DeleteObject(ctx, &osssdk.DeleteObjectRequest{Bucket: &s.bucket, Key: &key}); err != nil {
		return s.fail(ctx, op, key, err)
	}
	return nil
}

// unchanged reports whether key still holds the object whose ETag is etag (HEAD If-Match).
func (s *Store) unchanged(ctx context.Context, op, key, etag string) (bool, error) {
	_, err := s.client.HeadObject(ctx, &osssdk.HeadObjectRequest{Bucket: &s.bucket, Key: &key, IfMatch: &etag})
	if err == nil {
		return true, nil
	}
	err = s.fail(ctx, op, key, err)
	if _, status := codeOf(err); status == http.StatusPreconditionFailed || isNotFound(err) {
		return false, nil
	}
	return false, err
}

// newToken returns a random token that identifies one acquisition of a lock.
func newToken() string { return rand.Text() }

// jitter returns a random duration in [d/2, d].
func jitter(d time.Duration) time.Duration {
	return d/2 + mrand.N(d/2+1)
}
