package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/notifytest"
	"github.com/wahealth/wahealth/pkg/notify/webhook"
)

const (
	hookPath = "/hooks/wahealth/TOKEN-7f3e9a1c55"
	secret   = "whsec-signing-secret-5521"
)

// The payload as a receiver written from the README decodes it: its own types, decoded with
// DisallowUnknownFields, so that a renamed or undocumented field fails here.
type (
	schema struct {
		Version  string          `json:"version"`
		ID       string          `json:"id"`
		Kind     string          `json:"kind"`
		CycleID  string          `json:"cycleId"`
		Time     time.Time       `json:"time"`
		Severity string          `json:"severity"`
		Title    string          `json:"title"`
		Text     string          `json:"text"`
		Alerts   []schemaAlert   `json:"alerts"`
		Failures []schemaFailure `json:"failures"`
		Baseline *schemaBaseline `json:"baseline"`
		Omitted  int             `json:"omitted"`
	}
	schemaAlert struct {
		Entity   schemaEntity   `json:"entity"`
		Severity string         `json:"severity"`
		Changes  []schemaChange `json:"changes"`
		Reminder bool           `json:"reminder"`
		Since    *time.Time     `json:"since"`
	}
	schemaEntity struct {
		Type           string            `json:"type"`
		ID             string            `json:"id"`
		CanSendMessage string            `json:"canSendMessage"`
		Errors         []schemaError     `json:"errors"`
		CustSpaceID    string            `json:"custSpaceId"`
		WabaID         string            `json:"wabaId"`
		BusinessID     string            `json:"businessId"`
		PhoneNumber    string            `json:"phoneNumber"`
		TemplateCode   string            `json:"templateCode"`
		Language       string            `json:"language"`
		Labels         map[string]string `json:"labels"`
		Sources        []string          `json:"sources"`
	}
	schemaError struct {
		Code        string             `json:"code"`
		Description string             `json:"description"`
		Solution    string             `json:"solution"`
		Explanation *schemaExplanation `json:"explanation"`
	}
	schemaExplanation struct {
		Title      string `json:"title"`
		Meaning    string `json:"meaning"`
		Fix        string `json:"fix"`
		Confidence string `json:"confidence"`
	}
	schemaKey struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	schemaChange struct {
		Kind      string       `json:"kind"`
		Entity    schemaKey    `json:"entity"`
		From      string       `json:"from"`
		To        string       `json:"to"`
		ErrorCode string       `json:"errorCode"`
		Error     *schemaError `json:"error"`
	}
	schemaFailure struct {
		Target struct {
			NodeType    string `json:"nodeType"`
			CustSpaceID string `json:"custSpaceId"`
			WabaID      string `json:"wabaId"`
			PhoneNumber string `json:"phoneNumber"`
		} `json:"target"`
		Error     string    `json:"error"`
		Failures  int       `json:"failures"`
		Since     time.Time `json:"since"`
		Recovered bool      `json:"recovered"`
	}
	schemaBaseline struct {
		Monitored    int            `json:"monitored"`
		Targets      int            `json:"targets"`
		NotAvailable []schemaEntity `json:"notAvailable"`
	}
)

type reply struct {
	status     int
	retryAfter string
}

type delivery struct {
	header  http.Header
	body    []byte
	payload schema
}

// receiver is a webhook endpoint: it verifies the signature independently (answering 401 when
// it does not match or its timestamp is over 5 minutes off), decodes the payload strictly, and
// answers the scripted statuses in order, then 200.
type receiver struct {
	t      *testing.T
	secret string
	now    time.Time

	mu      sync.Mutex
	replies []reply
	got     []delivery
	signs   []string
	srv     *httptest.Server
}

func newReceiver(t *testing.T, secret string, replies ...reply) *receiver {
	t.Helper()
	r := &receiver{t: t, secret: secret, now: notifytest.Time, replies: replies}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + hookPath }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if req.Method != http.MethodPost || req.URL.Path != hookPath || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("request %s %s %q", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
	}
	r.mu.Lock()
	r.signs = append(r.signs, req.Header.Get(webhook.HeaderSignature))
	r.mu.Unlock()
	var p schema
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		r.t.Errorf("payload does not decode strictly: %v", err)
	}
	r.mu.Lock()
	r.got = append(r.got, delivery{header: req.Header.Clone(), body: body, payload: p})
	r.mu.Unlock()
	if r.secret != "" {
		ts := req.Header.Get(webhook.HeaderTimestamp)
		sec, err := strconv.ParseInt(ts, 10, 64)
		mac := hmac.New(sha256.New, []byte(r.secret))
		mac.Write([]byte(ts + "." + string(body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		age := r.now.Sub(time.Unix(sec, 0))
		if err != nil || age > 5*time.Minute || age < -5*time.Minute || !hmac.Equal([]byte(want), []byte(req.Header.Get(webhook.HeaderSignature))) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
	} else if req.Header.Get(webhook.HeaderSignature) != "" || req.Header.Get(webhook.HeaderTimestamp) != "" {
		r.t.Error("signed without a secret")
	}
	r.mu.Lock()
	var rp *reply
	if len(r.replies) > 0 {
		rp = &r.replies[0]
		r.replies = r.replies[1:]
	}
	r.mu.Unlock()
	if rp == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	if rp.retryAfter != "" {
		w.Header().Set("Retry-After", rp.retryAfter)
	}
	http.Error(w, http.StatusText(rp.status), rp.status)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func newNotifier(t *testing.T, r *receiver, n config.Notifier, log *bytes.Buffer) *webhook.Notifier {
	t.Helper()
	tpl, err := notify.LoadTemplate("webhook", "", "")
	if err != nil {
		t.Fatal(err)
	}
	n.Type = "webhook"
	if n.WebhookURL == "" {
		n.WebhookURL = config.Secret(r.url())
	}
	o := notify.Options{HTTPClient: r.srv.Client(), Template: tpl, Now: func() time.Time { return notifytest.Time }}
	if log != nil {
		o.Logger = slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	nt, err := webhook.New(n, o)
	if err != nil {
		t.Fatal(err)
	}
	webhook.SetBackoff(nt, 10*time.Millisecond)
	return nt
}

func TestNotifyAnswers(t *testing.T) {
	tests := []struct {
		name      string
		cfg       config.Notifier
		recSecret string
		replies   []reply
		timeout   time.Duration
		wantErr   string
		permanent bool
		requests  int
		minTook   time.Duration
		maxTook   time.Duration
	}{
		{name: "200 signed", cfg: config.Notifier{Secret: secret}, recSecret: secret, requests: 1},
		{name: "200 unsigned", requests: 1},
		{name: "404", replies: []reply{{status: 404}}, wantErr: "webhook answered 404 Not Found: check webhookURL", permanent: true, requests: 1},
		{name: "400", replies: []reply{{status: 400}}, wantErr: "refused the payload", permanent: true, requests: 1},
		{name: "wrong secret", cfg: config.Notifier{Secret: "not-the-secret-1"}, recSecret: secret, wantErr: "401 Unauthorized: check secret", permanent: true, requests: 1},
		{name: "429 Retry-After 1 then 200", replies: []reply{{status: 429, retryAfter: "1"}}, requests: 2, minTook: time.Second},
		{name: "429 twice", replies: []reply{{status: 429, retryAfter: "1"}, {status: 429, retryAfter: "1"}}, wantErr: "429 Too Many Requests", requests: 2, minTook: time.Second},
		{name: "429 beyond the deadline", replies: []reply{{status: 429, retryAfter: "30"}}, timeout: 2 * time.Second, wantErr: "beyond the deadline", requests: 1, maxTook: time.Second},
		{name: "500 then 200", replies: []reply{{status: 500}}, requests: 2},
		{name: "500 twice", replies: []reply{{status: 500}, {status: 502}}, wantErr: "webhook answered 502 Bad Gateway", requests: 2},
		{name: "408 then 200", replies: []reply{{status: 408}}, requests: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := newReceiver(t, tt.recSecret, tt.replies...)
			n := newNotifier(t, rec, tt.cfg, nil)
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			m := notifytest.Cycle()
			start := time.Now()
			err := n.Notify(ctx, m)
			took := time.Since(start)
			checkErr(t, err, tt.wantErr, tt.permanent)
			got := rec.deliveries()
			if len(got) != tt.requests {
				t.Fatalf("%d requests, want %d", len(got), tt.requests)
			}
			for _, d := range got {
				if d.header.Get(webhook.HeaderDelivery) != m.ID {
					t.Errorf("delivery id %q, want %q on every attempt", d.header.Get(webhook.HeaderDelivery), m.ID)
				}
			}
			if took < tt.minTook || (tt.maxTook > 0 && took > tt.maxTook) {
				t.Errorf("took %s, want between %s and %s", took, tt.minTook, tt.maxTook)
			}
		})
	}
}

// explained adds wahealth's knowledge about the code, as the payload should carry it.
func explained(e schemaError) schemaError {
	if k := notify.Explain(e.Code); k != nil {
		e.Explanation = &schemaExplanation{Title: k.Title, Meaning: k.Meaning, Fix: k.Fix, Confidence: k.Confidence}
	}
	return e
}

func checkErr(t *testing.T, err error, want string, permanent bool) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("Notify: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one containing %q", err, want)
	}
	var perm *notify.PermanentError
	if errors.As(err, &perm) != permanent {
		t.Errorf("permanent = %t, want %t: %v", !permanent, permanent, err)
	}
}

func TestPayloadOnTheWire(t *testing.T) {
	rec := newReceiver(t, secret)
	n := newNotifier(t, rec, config.Notifier{Secret: secret, Headers: map[string]string{"X-Team": "ops", "authorization": "Bearer abc-123"}}, nil)
	m := notifytest.Cycle()
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := rec.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	h := got[0].header
	headers := map[string]string{}
	for _, k := range []string{"User-Agent", "Content-Type", webhook.HeaderEvent, webhook.HeaderDelivery, webhook.HeaderTimestamp, "X-Team", "Authorization"} {
		headers[k] = h.Get(k)
	}
	wantHeaders := map[string]string{
		"User-Agent": "wahealth", "Content-Type": "application/json", webhook.HeaderEvent: "changes", webhook.HeaderDelivery: m.ID,
		webhook.HeaderTimestamp: strconv.FormatInt(notifytest.Time.Unix(), 10), "X-Team": "ops", "Authorization": "Bearer abc-123",
	}
	if d := cmp.Diff(wantHeaders, headers); d != "" {
		t.Errorf("headers (-want +got):\n%s", d)
	}
	p := got[0].payload
	if !strings.HasPrefix(p.Text, "[CRITICAL] WhatsApp health: 2 blocked, 1 degraded, 1 recovered\n") {
		t.Errorf("text:\n%s", p.Text)
	}
	if n := strings.Count(p.Text, "WABA 1000001"); n != 1 {
		t.Errorf("WABA 1000001 shown %d times in the text, want once", n)
	}
	payment := explained(schemaError{Code: "141006", Description: "There is an error with the payment method.", Solution: "There was an error with your payment method. Please add a new payment method to the account."})
	notLinked := explained(schemaError{Code: "141000", Description: "The phone number you are trying to send messages from is not linked to your WhatsApp account.", Solution: "Register and finish the OTP authentication process for your phone number."})
	verification := explained(schemaError{Code: "141010", Description: "The Business has not passed business verification.", Solution: "Visit business settings and start or resolve the business verification request."})
	if payment.Explanation == nil || payment.Explanation.Title != "Payment method problem" {
		t.Errorf("141006 explained as %+v", payment.Explanation)
	}
	phone := schemaKey{"PHONE_NUMBER", "8613800000001"}
	waba := schemaKey{"WABA", "1000001"}
	want := schema{
		Version: "1", ID: m.ID, Kind: "changes", CycleID: "20261128T030405Z-abc123", Time: notifytest.Time, Severity: "critical",
		Title: "WhatsApp health: 2 blocked, 1 degraded, 1 recovered", Text: p.Text,
		Alerts: []schemaAlert{
			{
				Entity: schemaEntity{Type: "PHONE_NUMBER", ID: "8613800000001", CanSendMessage: "BLOCKED", Errors: []schemaError{notLinked, payment},
					WabaID: "1000001", PhoneNumber: "8613800000001", Labels: map[string]string{"customer": "acme"}},
				Severity: "critical",
				Changes: []schemaChange{
					{Kind: "status", Entity: phone, From: "AVAILABLE", To: "BLOCKED"},
					{Kind: "error_added", Entity: phone, ErrorCode: "141000", Error: &notLinked},
					{Kind: "error_added", Entity: phone, ErrorCode: "141006", Error: &payment},
				},
			},
			{
				Entity: schemaEntity{Type: "WABA", ID: "1000001", CanSendMessage: "BLOCKED", Errors: []schemaError{payment}, WabaID: "1000001",
					Sources: []string{"phone:cs:8613800000001", "phone:cs:8613800000002", "phone:cs:8613800000003"}},
				Severity: "critical",
				Changes: []schemaChange{
					{Kind: "status", Entity: waba, From: "AVAILABLE", To: "BLOCKED"},
					{Kind: "error_added", Entity: waba, ErrorCode: "141006", Error: &payment},
				},
			},
			{
				Entity:   schemaEntity{Type: "BUSINESS", ID: "2000001", CanSendMessage: "LIMITED", Errors: []schemaError{verification}, BusinessID: "2000001"},
				Severity: "warning",
				Changes:  []schemaChange{{Kind: "error_added", Entity: schemaKey{"BUSINESS", "2000001"}, ErrorCode: "141010", Error: &verification}},
			},
			{
				Entity:   schemaEntity{Type: "MESSAGE_TEMPLATE", ID: "order_shipped:en", CanSendMessage: "AVAILABLE", Errors: []schemaError{}, TemplateCode: "order_shipped", Language: "en"},
				Severity: "resolved",
				Changes:  []schemaChange{{Kind: "status", Entity: schemaKey{"MESSAGE_TEMPLATE", "order_shipped:en"}, From: "LIMITED", To: "AVAILABLE"}},
			},
		},
		Failures: []schemaFailure{},
	}
	if d := cmp.Diff(want, p); d != "" {
		t.Errorf("payload (-want +got):\n%s", d)
	}
}

func TestFailuresAndBaselinePayloads(t *testing.T) {
	tpl := loadTemplate(t)
	decode := func(m *notify.Message) schema {
		t.Helper()
		b, err := webhook.BuildPayload(m, tpl)
		if err != nil {
			t.Fatal(err)
		}
		var p schema
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := decode(notifytest.Failures())
	if len(f.Failures) != 2 || f.Failures[0].Target.NodeType != "phone" || f.Failures[0].Failures != 3 || f.Failures[1].Recovered != true ||
		!f.Failures[0].Since.Equal(notifytest.Time.Add(-15*time.Minute)) || f.Alerts == nil || len(f.Alerts) != 0 || f.Severity != "warning" {
		t.Errorf("failures payload: %+v", f)
	}
	b := decode(notifytest.Baseline())
	if b.Kind != "baseline" || b.Baseline == nil || b.Baseline.Monitored != 12 || b.Baseline.Targets != 5 || len(b.Baseline.NotAvailable) != 2 ||
		b.Baseline.NotAvailable[1].Errors[0].Code != "141010" {
		t.Errorf("baseline payload: %+v", b)
	}
	d := decode(notifytest.Digest())
	if d.Kind != "digest" || d.Baseline == nil || len(d.Baseline.NotAvailable) != 2 || !strings.HasPrefix(d.Text, "WhatsApp health digest: 2 of 12") {
		t.Errorf("digest payload: %+v", d)
	}
	r := decode(notifytest.Reminder())
	if len(r.Alerts) != 1 || !r.Alerts[0].Reminder || r.Alerts[0].Since == nil || len(r.Alerts[0].Changes) != 0 || r.Alerts[0].Changes == nil ||
		!strings.Contains(r.Text, "still BLOCKED for 5h 10m") {
		t.Errorf("reminder payload: %+v", r)
	}
	s := decode(notify.Sample(notifytest.Time))
	if s.Kind != "test" || !strings.HasPrefix(s.Text, "[TEST]") {
		t.Errorf("test payload: %+v", s)
	}
}

func TestPayloadIsCapped(t *testing.T) {
	m := &notify.Message{Kind: notify.KindChanges, CycleID: "big", Time: notifytest.Time}
	long := health.Error{Code: "141006", Description: strings.Repeat("payment method problem ", 25), Solution: strings.Repeat("add a payment method ", 25)}
	const total = 500
	for i := range total {
		id := fmt.Sprintf("86138%08d", i)
		m.Alerts = append(m.Alerts, notify.Alert{
			Entity:   health.Entity{Type: health.PhoneNumber, ID: id, CanSendMessage: health.Blocked, Errors: []health.Error{long}},
			Severity: health.Critical,
			Changes:  []health.Change{{Kind: health.ErrorAdded, Entity: health.Key{Type: health.PhoneNumber, ID: id}, ErrorCode: "141006", Error: &long}},
		})
	}
	m.Seal()
	body, err := webhook.BuildPayload(m, loadTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	var p schema
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if len(body) > webhook.MaxBodyBytes || p.Omitted == 0 || len(p.Alerts)+p.Omitted != total || p.Alerts[0].Entity.ID != m.Alerts[0].Entity.ID ||
		!strings.HasSuffix(p.Text, fmt.Sprintf("… and %d more not included (the payload is limited to 1048576 bytes)", p.Omitted)) {
		t.Errorf("%d bytes, %d alerts, %d omitted, text ends %q", len(body), len(p.Alerts), p.Omitted, p.Text[max(0, len(p.Text)-120):])
	}
}

func TestHeadersChecked(t *testing.T) {
	for name, h := range map[string]map[string]string{
		"signature":    {"X-Wahealth-Signature": "sha256=forged-value"},
		"any wahealth": {"x-wahealth-delivery": "forged-value"},
		"content type": {"content-type": "text/plain"},
		"bad name":     {"Bad Name": "forged-value"},
		"line break":   {"X-Ok": "forged-value\r\nX-Evil: 1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := webhook.New(config.Notifier{Type: "webhook", WebhookURL: "https://example.com/hook", Headers: h}, notify.Options{})
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "forged-value") {
				t.Errorf("error shows a header value: %v", err)
			}
		})
	}
}

// TestSecretsNeverShown sends through failures of every kind and checks that the errors and
// the log never hold the URL's token, its query, the secret, a header value or a signature.
func TestSecretsNeverShown(t *testing.T) {
	const (
		query  = "token=QUERY-SECRET-4410"
		header = "Bearer HEADER-SECRET-8812"
	)
	var log bytes.Buffer
	var errs []string
	rec := newReceiver(t, secret, reply{status: 500}, reply{status: 503}, reply{status: 404})
	cfg := config.Notifier{Name: "ops", Secret: secret, WebhookURL: config.Secret(rec.url() + "?" + query), Headers: map[string]string{"Authorization": header}}
	n := newNotifier(t, rec, cfg, &log)
	for range 2 { // 500, 503 (retried, logged), then 404
		if err := n.Notify(context.Background(), notifytest.Cycle()); err != nil {
			errs = append(errs, err.Error())
		}
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	cfg.WebhookURL = config.Secret(closed.URL + hookPath + "?" + query)
	down := newNotifier(t, rec, cfg, &log)
	err := down.Notify(context.Background(), notifytest.Cycle())
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("transport error: %v", err)
	}
	errs = append(errs, err.Error())
	_, err = webhook.New(config.Notifier{Type: "webhook", WebhookURL: config.Secret("ht!tp://host" + hookPath + "?" + query)}, notify.Options{})
	if err == nil {
		t.Fatal("a bad URL was accepted")
	}
	errs = append(errs, err.Error())

	rec.mu.Lock()
	signs := append([]string(nil), rec.signs...)
	rec.mu.Unlock()
	all := strings.Join(errs, "\n") + "\n" + log.String()
	if len(errs) != 4 || !strings.Contains(log.String(), "retrying") {
		t.Errorf("expected 4 errors and a logged retry:\n%s", all)
	}
	for _, s := range append([]string{"TOKEN-7f3e9a1c55", "QUERY-SECRET-4410", "HEADER-SECRET-8812", secret}, signs...) {
		if s != "" && strings.Contains(all, strings.TrimPrefix(s, "sha256=")) {
			t.Errorf("%q shown in:\n%s", s, all)
		}
	}
}

func TestSign(t *testing.T) {
	// Computed independently with the standard library.
	mac := hmac.New(sha256.New, []byte("k"))
	mac.Write([]byte(`1700000000.{"a":1}`))
	if got, want := webhook.Sign("k", []byte(`{"a":1}`), 1700000000), hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

// TestTemplateCheckedOnEveryBranch: LoadTemplate renders only a test message; New renders every
// kind, so a mistake in another branch fails at start-up.
func TestTemplateCheckedOnEveryBranch(t *testing.T) {
	path := t.TempDir() + "/webhook.tmpl"
	body := `{{ if eq .Kind "baseline" }}{{ .Baseline.Nope }}{{ else }}{{ .Title }}{{ end }}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	tpl, err := notify.LoadTemplate("webhook", "", path)
	if err != nil {
		t.Fatalf("LoadTemplate: %v", err)
	}
	_, err = webhook.New(config.Notifier{Type: "webhook", WebhookURL: "https://example.com/hook"}, notify.Options{Template: tpl})
	if err == nil || !strings.Contains(err.Error(), "baseline") {
		t.Errorf("New: %v", err)
	}
}
