package ondemand_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/cams/camssim"
	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/ondemand"
	"github.com/wahealth/wahealth/pkg/state"
)

const (
	keyID     = "test-key-id-0001"
	keySecret = "test-key-secret-0001"
	token     = "tok-3f9a1c7e5b2d4a6081c9e7f5a3b1d2c4"
	custSpace = "cs-test"
)

// statusScenario yields, over two cycles, entities of every status: a BLOCKED phone number
// and WABA with a payment error (141006) and its solution, a LIMITED phone number and business
// (141010), AVAILABLE ones, a status Meta has not documented, and a phone number whose checks
// start failing in the second cycle (its entities are then stale).
const statusScenario = `
targets:
  - nodeType: phone
    phoneNumber: "8613800000001"
    wabaId: "1000001"
    businessId: "2000001"
    steps:
      - {}
      - phone: &payment
          status: BLOCKED
          errors:
            - code: "141006"
              description: There is an error with the payment method.
              solution: There was an error with your payment method. Please add a new payment method to the account.
        waba: *payment
  - nodeType: phone
    phoneNumber: "8613800000002"
    wabaId: "1000001"
    businessId: "2000001"
    steps:
      - {}
      - waba: *payment
  - nodeType: phone
    phoneNumber: "6281200000003"
    wabaId: "1000002"
    businessId: "2000002"
    steps:
      - phone: LIMITED
        business: &verify
          status: LIMITED
          errors:
            - code: "141010"
              description: The Business has not passed business verification.
              solution: Visit business settings and start or resolve the business verification request.
  - nodeType: template
    templateCode: order_shipped
    language: en_US
    wabaId: "1000002"
    businessId: "2000002"
    steps:
      - business: *verify
        extra: [{type: SOMETHING_NEW, canSendMessage: WEIRD_VALUE, wabaId: "1000002"}]
  - nodeType: phone
    phoneNumber: "6281200000004"
    wabaId: "1000003"
    businessId: "2000003"
    steps:
      - {}
      - {fault: server_error, times: 1000}
  - nodeType: phone
    phoneNumber: "8613800000099"
    steps:
      - {fault: denied, times: 1000}
`

// configuredTargets are the monitor's targets for statusScenario (the denied number is not
// configured: it is only checked ad hoc).
var configuredTargets = []health.Target{
	{NodeType: health.NodePhone, CustSpaceID: custSpace, PhoneNumber: "+86 138 0000 0001", Labels: map[string]string{"customer": "acme"}},
	{NodeType: health.NodePhone, CustSpaceID: custSpace, PhoneNumber: "8613800000002", Labels: map[string]string{"customer": "acme"}},
	{NodeType: health.NodePhone, CustSpaceID: custSpace, PhoneNumber: "6281200000003", Labels: map[string]string{"customer": "globex"}},
	{NodeType: health.NodeTemplate, CustSpaceID: custSpace, TemplateCode: "order_shipped", Language: "en_US", Labels: map[string]string{"customer": "globex"}},
	{NodeType: health.NodePhone, CustSpaceID: custSpace, PhoneNumber: "6281200000004", Labels: map[string]string{"customer": "initech"}},
}

// clock is a settable clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rig is the handler over the real monitor, the real CAMS client, the simulator and a file
// store, served on loopback. Its logs and console are captured.
type rig struct {
	sim     *camssim.Server
	simURL  string
	store   *state.FileStore
	mon     *monitor.Monitor
	clock   *clock
	logs    *syncBuffer
	console *syncBuffer
	srv     *httptest.Server
}

// newRig builds a rig; adjust, when given, changes the handler's options before New, and wrap
// wraps the handler the server serves.
func newRig(t *testing.T, adjust func(*rig, *ondemand.Options), wrap ...func(http.Handler) http.Handler) *rig {
	t.Helper()
	sc, err := camssim.ParseScenario([]byte(statusScenario))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{clock: &clock{t: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}, console: &syncBuffer{}}
	r.sim = camssim.New(camssim.Options{AccessKeyID: keyID, AccessKeySecret: keySecret, Scenario: sc})
	if r.simURL, err = r.sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.sim.Close)
	logger := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client := r.client(t, cams.Credentials{AccessKeyID: keyID, AccessKeySecret: keySecret}, r.simURL, logger)
	if r.store, err = state.OpenFile(filepath.Join(t.TempDir(), "state.json")); err != nil {
		t.Fatal(err)
	}
	tpl, err := notify.LoadTemplate("console", "", "")
	if err != nil {
		t.Fatal(err)
	}
	r.mon = &monitor.Monitor{
		Source:   client,
		Store:    r.store,
		Channels: []monitor.Channel{{Name: "console", Notifier: notify.NewConsole(r.console, tpl)}},
		Targets:  configuredTargets,
		Logger:   logger,
		Now:      r.clock.Now,
	}
	o := ondemand.Options{
		Monitor:            r.mon,
		Store:              r.store,
		Adhoc:              r.client(t, cams.Credentials{AccessKeyID: keyID, AccessKeySecret: keySecret}, r.simURL, logger),
		DefaultCustSpaceID: custSpace,
		Auth:               ondemand.AuthToken,
		Token:              config.Secret(token),
		MaxBodyBytes:       1024,
		AdhocQPS:           100,
		Logger:             logger,
		Now:                r.clock.Now,
	}
	if adjust != nil {
		adjust(r, &o)
	}
	h, err := ondemand.New(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wrap {
		h = w(h)
	}
	r.srv = httptest.NewServer(h)
	t.Cleanup(r.srv.Close)
	t.Cleanup(func() {
		for _, secret := range []string{token, keySecret} {
			if strings.Contains(r.logs.String(), secret) {
				t.Errorf("a secret appears in the log:\n%s", r.logs.String())
			}
		}
	})
	return r
}

// client returns a CAMS client for the simulator with fast retries.
func (r *rig) client(t *testing.T, creds cams.Credentials, endpoint string, logger *slog.Logger) *cams.Client {
	t.Helper()
	c, err := cams.New(cams.Options{Endpoint: endpoint, Credentials: creds, QPS: 50, MaxRetries: 1,
		MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, ThrottleBackoff: time.Millisecond,
		Timeout: 5 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// response is a read answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// bearer is the header pair of a valid token.
var bearer = []string{"Authorization", "Bearer " + token}

// do sends a request (headers as name, value pairs) and reads the answer. Every answer must
// carry a request id and must not contain a secret.
func (r *rig) do(t *testing.T, method, path string, body io.Reader, header ...string) *response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, r.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	res, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s %s: no X-Request-Id", method, path)
	}
	for _, secret := range []string{token, keySecret, keyID} {
		if bytes.Contains(b, []byte(secret)) || strings.Contains(headerText(res.Header), secret) {
			t.Errorf("%s %s: the answer contains a secret:\n%s", method, path, b)
		}
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}
}

func headerText(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b)
	return b.String()
}

// cycle runs a cycle through POST /check five minutes after the previous one.
func (r *rig) cycle(t *testing.T) *monitor.Report {
	t.Helper()
	r.clock.advance(5 * time.Minute)
	res := r.do(t, http.MethodPost, "/check", nil, bearer...)
	if res.status != http.StatusOK {
		t.Fatalf("POST /check: %d %s", res.status, res.body)
	}
	var rep monitor.Report
	decode(t, res, &rep)
	return &rep
}

// decode parses a JSON answer into v.
func decode(t *testing.T, res *response, v any) {
	t.Helper()
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(res.body, v); err != nil {
		t.Fatalf("decode %s: %v", res.body, err)
	}
}

// apiError is the JSON error answer.
type apiError struct {
	Code          string `json:"code"`
	Message       string `json:"message"`
	Parameter     string `json:"parameter"`
	CAMSCode      string `json:"camsCode"`
	CAMSRequestID string `json:"camsRequestId"`
}

// errorOf decodes an error answer, checking its status.
func errorOf(t *testing.T, res *response, status int) apiError {
	t.Helper()
	if res.status != status {
		t.Errorf("status %d, want %d; body %s", res.status, status, res.body)
	}
	var body struct {
		Error apiError `json:"error"`
	}
	decode(t, res, &body)
	if body.Error.Code == "" || body.Error.Message == "" {
		t.Errorf("error answer without code or message: %s", res.body)
	}
	return body.Error
}

// version returns the stored state's version.
func (r *rig) version(t *testing.T) int64 {
	t.Helper()
	st, err := r.store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Version
}
