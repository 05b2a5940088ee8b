package cams_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/cams/camssim"
	"github.com/wahealth/wahealth/pkg/health"
)

const (
	keyID  = "LTAItestkeyid0001"
	secret = "test-secret-do-not-leak-0001"
	token  = "sts-token-do-not-leak-0001"
)

func startSim(t *testing.T, opts camssim.Options, scenario string) *camssim.Server {
	t.Helper()
	if opts.AccessKeyID == "" {
		opts.AccessKeyID, opts.AccessKeySecret = keyID, secret
	}
	if scenario != "" {
		sc, err := camssim.ParseScenario([]byte(scenario))
		if err != nil {
			t.Fatalf("scenario: %v", err)
		}
		opts.Scenario = sc
	}
	sim := camssim.New(opts)
	u, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	t.Setenv("WAHEALTH_TEST_SIM", u)
	return sim
}

func newClient(t *testing.T, opts cams.Options) *cams.Client {
	t.Helper()
	if opts.Endpoint == "" {
		opts.Endpoint = envURL(t)
	}
	if opts.Credentials.AccessKeyID == "" {
		opts.Credentials = cams.Credentials{AccessKeyID: keyID, AccessKeySecret: secret}
	}
	if opts.QPS == 0 {
		opts.QPS = 100
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff, opts.ThrottleBackoff = 5*time.Millisecond, 20*time.Millisecond, 10*time.Millisecond
	}
	c, err := cams.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func envURL(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(getenv("WAHEALTH_TEST_SIM"))
}

var phoneTarget = health.Target{NodeType: health.NodePhone, CustSpaceID: "cs-1", PhoneNumber: "+86 138 0000 0001", Labels: map[string]string{"team": "a"}}

func TestCheckPhoneSignedAgainstSimulator(t *testing.T) {
	sim := startSim(t, camssim.Options{}, `
targets:
  - nodeType: phone
    phoneNumber: "8613800000001"
    wabaId: "w1"
    businessId: "b1"
    steps:
      - phone: {status: BLOCKED, errors: [{code: "141006", description: "There is an error with the payment method.", solution: "Add a new payment method."}]}
        business: LIMITED
`)
	c := newClient(t, cams.Options{})
	res, err := c.Check(context.Background(), phoneTarget)
	if err != nil {
		t.Fatal(err)
	}
	if res.Overall != health.Blocked || res.RequestID == "" || res.Attempts != 1 {
		t.Errorf("overall %q request id %q attempts %d", res.Overall, res.RequestID, res.Attempts)
	}
	got := map[health.Key]health.Status{}
	for _, e := range res.Entities {
		got[e.Key()] = e.CanSendMessage
	}
	want := map[health.Key]health.Status{
		{Type: health.PhoneNumber, ID: "8613800000001"}: health.Blocked,
		{Type: health.WABA, ID: "w1"}:                   health.Available,
		{Type: health.Business, ID: "b1"}:               health.Limited,
		{Type: health.App, ID: "cs-1"}:                  health.Available,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("entities (-want +got):\n%s", d)
	}
	for _, e := range res.Entities {
		if e.Type == health.PhoneNumber {
			if d := cmp.Diff([]health.Error{{Code: "141006", Description: "There is an error with the payment method.", Solution: "Add a new payment method."}}, e.Errors); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
			if e.Labels["team"] != "a" {
				t.Errorf("labels not carried: %v", e.Labels)
			}
		}
	}
	if s := sim.Stats(); s.OK != 1 || s.Rejected != 0 {
		t.Errorf("simulator stats %+v, want one accepted call", s)
	}
}

func TestSTSTokenIsSentAndChecked(t *testing.T) {
	startSim(t, camssim.Options{SecurityToken: token}, "")
	ok := newClient(t, cams.Options{Credentials: cams.Credentials{AccessKeyID: keyID, AccessKeySecret: secret, SecurityToken: token}})
	if _, err := ok.Check(context.Background(), phoneTarget); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	bad := newClient(t, cams.Options{Credentials: cams.Credentials{AccessKeyID: keyID, AccessKeySecret: secret, SecurityToken: "other-token-value"}})
	_, err := bad.Check(context.Background(), phoneTarget)
	var ae *cams.APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 400 || !strings.HasPrefix(ae.Code, "InvalidSecurityToken") {
		t.Fatalf("wrong token: got %v, want an InvalidSecurityToken APIError", err)
	}
}

func TestWrongSecretIsAPIErrorWithoutSecrets(t *testing.T) {
	startSim(t, camssim.Options{}, "")
	c := newClient(t, cams.Options{Credentials: cams.Credentials{AccessKeyID: keyID, AccessKeySecret: "wrong-secret-value-xyz", SecurityToken: token}})
	_, err := c.Check(context.Background(), phoneTarget)
	var ae *cams.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want *APIError", err)
	}
	if ae.Code != "SignatureDoesNotMatch" || ae.HTTPStatus != 400 || ae.RequestID == "" {
		t.Errorf("got code %q status %d request id %q", ae.Code, ae.HTTPStatus, ae.RequestID)
	}
	for _, s := range []string{"wrong-secret-value-xyz", token, keyID} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error leaks a credential: %v", err)
		}
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name         string
		fault        string
		times        int
		maxRetries   int
		wantErr      bool
		wantAttempts int
		wantCalls    int
		throttled    bool
	}{
		{"throttling retried then ok", "throttle", 2, 4, false, 3, 3, false},
		{"429 throttling retried then ok", "throttle429", 1, 4, false, 2, 2, false},
		{"503 retried then ok", "server_error", 2, 4, false, 3, 3, false},
		{"500 retried then ok", "internal_error", 1, 4, false, 2, 2, false},
		{"throttled beyond retries", "throttle", 10, 2, true, 0, 3, true},
		{"access denied in a 200 is not retried", "denied", 10, 4, true, 0, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, camssim.Options{}, `
targets:
  - nodeType: phone
    phoneNumber: "8613800000001"
    steps:
      - {fault: `+tt.fault+`, times: `+itoa(tt.times)+`}
      - {}
`)
			c := newClient(t, cams.Options{MaxRetries: tt.maxRetries})
			res, err := c.Check(context.Background(), phoneTarget)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && res.Attempts != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", res.Attempts, tt.wantAttempts)
			}
			if got := sim.Stats().Calls; got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if cams.IsThrottled(err) != tt.throttled {
				t.Errorf("IsThrottled(%v) = %v", err, !tt.throttled)
			}
			if tt.fault == "denied" {
				var ae *cams.APIError
				if !errors.As(err, &ae) || ae.HTTPStatus != 200 || ae.Code != "Forbidden.AccessDenied" {
					t.Errorf("denied: got %#v", err)
				}
			}
		})
	}
}

func TestTimeoutIsTransportErrorWithoutURL(t *testing.T) {
	startSim(t, camssim.Options{}, `
targets:
  - nodeType: phone
    phoneNumber: "8613800000001"
    steps: [{fault: timeout}]
`)
	c := newClient(t, cams.Options{Timeout: 150 * time.Millisecond, MaxRetries: 1, Credentials: cams.Credentials{AccessKeyID: keyID, AccessKeySecret: secret, SecurityToken: token}})
	_, err := c.Check(context.Background(), phoneTarget)
	var te *cams.TransportError
	if !errors.As(err, &te) {
		t.Fatalf("got %v, want *TransportError", err)
	}
	for _, s := range []string{"Signature", "AccessKeyId", keyID, token, "127.0.0.1"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestConnectionRefusedIsTransportError(t *testing.T) {
	c := newClient(t, cams.Options{Endpoint: "http://127.0.0.1:1", MaxRetries: 0})
	_, err := c.Check(context.Background(), phoneTarget)
	var te *cams.TransportError
	if !errors.As(err, &te) || strings.Contains(err.Error(), "AccessKeyId") {
		t.Fatalf("got %v, want a redacted *TransportError", err)
	}
}

func TestRateLimitNeverExceedsQPS(t *testing.T) {
	sim := startSim(t, camssim.Options{QPS: 10, Latency: 30 * time.Millisecond}, "")
	c := newClient(t, cams.Options{QPS: 10, Concurrency: 8, MaxRetries: 0})
	targets := make([]health.Target, 25)
	for i := range targets {
		targets[i] = health.Target{NodeType: health.NodePhone, CustSpaceID: "cs", PhoneNumber: "86138" + itoa(10000+i)}
	}
	failed := 0
	c.CheckAll(context.Background(), targets, func(i int, o cams.Outcome) {
		if o.Err != nil {
			failed++
		}
	})
	s := sim.Stats()
	if failed != 0 || s.Throttled != 0 {
		t.Errorf("failed %d, throttled %d: the limiter let too many through", failed, s.Throttled)
	}
	if s.MaxInWindow > 10 {
		t.Errorf("max calls in a one-second window = %d, want <= 10", s.MaxInWindow)
	}
	if s.OK != 25 {
		t.Errorf("ok calls = %d, want 25", s.OK)
	}
}

func TestCheckAllStopsAtDeadline(t *testing.T) {
	startSim(t, camssim.Options{Latency: 50 * time.Millisecond}, "")
	c := newClient(t, cams.Options{QPS: 5, Concurrency: 2, MaxRetries: 0})
	targets := make([]health.Target, 20)
	for i := range targets {
		targets[i] = health.Target{NodeType: health.NodePhone, CustSpaceID: "cs", PhoneNumber: "86139" + itoa(10000+i)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	seen, failed := 0, 0
	c.CheckAll(ctx, targets, func(i int, o cams.Outcome) {
		seen++
		if o.Err != nil {
			failed++
		}
	})
	if seen != 20 {
		t.Errorf("reported %d outcomes, want all 20", seen)
	}
	if failed == 0 || failed == 20 {
		t.Errorf("failed %d of 20, want some checked before the deadline and the rest failed", failed)
	}
}

func TestNewRefusesMissingCredentials(t *testing.T) {
	_, err := cams.New(cams.Options{Endpoint: "https://cams.ap-southeast-1.aliyuncs.com"})
	if !errors.Is(err, cams.ErrNoCredentials) || !strings.Contains(err.Error(), cams.EnvAccessKeyID) {
		t.Fatalf("got %v, want ErrNoCredentials naming %s", err, cams.EnvAccessKeyID)
	}
	_, err = cams.New(cams.Options{Endpoint: "https://x", Credentials: cams.Credentials{AccessKeyID: "id"}})
	if !errors.Is(err, cams.ErrNoCredentials) || !strings.Contains(err.Error(), cams.EnvAccessKeySecret) {
		t.Fatalf("got %v, want the missing secret named", err)
	}
}

func TestCredentialsFromEnv(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no CLI profile to fall back to
	env := map[string]string{cams.EnvAccessKeyID: "id", cams.EnvAccessKeySecret: "sec", cams.EnvSecurityToken: "tok"}
	c, err := cams.CredentialsFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil || c != (cams.Credentials{AccessKeyID: "id", AccessKeySecret: "sec", SecurityToken: "tok"}) {
		t.Fatalf("got %v %v", c, err)
	}
	if s := c.String(); strings.Contains(s, "sec") || strings.Contains(s, "tok") {
		t.Errorf("String() leaks: %s", s)
	}
	_, err = cams.CredentialsFromEnv(func(string) (string, bool) { return "", false })
	if !errors.Is(err, cams.ErrNoCredentials) {
		t.Errorf("no env: got %v, want ErrNoCredentials", err)
	}
}

func TestWithCredentialsOverridesPerCall(t *testing.T) {
	startSim(t, camssim.Options{AccessKeyID: "rotated-id", AccessKeySecret: "rotated-secret", SecurityToken: token}, "")
	// The client's own credentials are stale; the call's context carries the current ones.
	c := newClient(t, cams.Options{Credentials: cams.Credentials{AccessKeyID: "old-id", AccessKeySecret: "old-secret"}})
	if _, err := c.Check(context.Background(), phoneTarget); err == nil {
		t.Fatal("stale credentials were accepted")
	}
	ctx := cams.WithCredentials(context.Background(), cams.Credentials{AccessKeyID: "rotated-id", AccessKeySecret: "rotated-secret", SecurityToken: token})
	if _, err := c.Check(ctx, phoneTarget); err != nil {
		t.Fatalf("with the invocation's credentials: %v", err)
	}
}

// A client configured faster than the account's real limit is throttled, slows down, and
// still checks everything.
func TestAdaptiveSlowDownOnThrottling(t *testing.T) {
	sim := startSim(t, camssim.Options{QPS: 4}, "")
	c := newClient(t, cams.Options{QPS: 20, Concurrency: 8, MaxRetries: 6})
	targets := make([]health.Target, 12)
	for i := range targets {
		targets[i] = health.Target{NodeType: health.NodePhone, CustSpaceID: "cs", PhoneNumber: "86137" + itoa(10000+i)}
	}
	failed := 0
	c.CheckAll(context.Background(), targets, func(i int, o cams.Outcome) {
		if o.Err != nil {
			failed++
		}
	})
	s := sim.Stats()
	if s.Throttled == 0 {
		t.Fatal("the simulator never throttled: the test proves nothing")
	}
	if failed != 0 || s.OK != 12 {
		t.Errorf("failed %d, ok %d: throttled calls must be retried until they succeed", failed, s.OK)
	}
	if r := c.Budget().Rate(); r >= 20 {
		t.Errorf("rate %v after throttling, want it slowed below 20", r)
	}
}
