package camssim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"

	"github.com/wahealth/wahealth/pkg/health"
)

func TestHealthyRowsPerNodeType(t *testing.T) {
	_, domain := startServer(t, Options{})
	c := newClient(t, testKeyID, testSecret, "")
	avail := func(typ string) wireEntity {
		return wireEntity{EntityType: typ, CanSendMessage: "AVAILABLE", WabaID: "waba-cs1", BusinessID: "biz-cs1"}
	}
	phone := avail("PHONE_NUMBER")
	phone.PhoneNumber = "8613800000001"
	tpl := avail("MESSAGE_TEMPLATE")
	tpl.TemplateCode, tpl.Language = "tpl_welcome", "en"
	waba := avail("WABA")
	waba.WabaID = "w-42"
	wabaBiz, wabaApp := avail("BUSINESS"), avail("APP")
	wabaBiz.WabaID, wabaApp.WabaID = "w-42", "w-42"
	tests := []struct {
		name   string
		params map[string]string
		want   []wireEntity
	}{
		{"phone", phoneQuery("cs1", "+86 138-0000-0001"), []wireEntity{phone, avail("WABA"), avail("BUSINESS"), avail("APP")}},
		{"template", templateQuery("cs1", "tpl_welcome", "en"), []wireEntity{tpl, avail("WABA"), avail("BUSINESS"), avail("APP")}},
		{"waba", wabaQuery("cs1", "w-42"), []wireEntity{waba, wabaBiz, wabaApp}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := mustOK(t, c, domain, tc.params)
			if a.Data.CanSendMessage != "AVAILABLE" {
				t.Errorf("Data.CanSendMessage = %q, want AVAILABLE", a.Data.CanSendMessage)
			}
			if diff := cmp.Diff(tc.want, a.Data.Entities); diff != "" {
				t.Errorf("entities (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSuccessEnvelopeFieldNames(t *testing.T) {
	_, domain := startServer(t, Options{})
	c := newClient(t, testKeyID, testSecret, "")
	resp, err := call(t, c, domain, phoneQuery("cs1", "1"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &raw); err != nil {
		t.Fatal(err)
	}
	delete(raw, "RequestId")
	delete(raw, "Data")
	want := map[string]any{"Code": "OK", "Success": true, "Message": "", "AccessDeniedDetail": ""}
	if diff := cmp.Diff(want, raw); diff != "" {
		t.Errorf("envelope (-want +got):\n%s", diff)
	}
	if ct := resp.GetHttpHeaders()["Content-Type"]; len(ct) == 0 || !strings.HasPrefix(ct[0], "application/json") {
		t.Errorf("Content-Type %v, want application/json", ct)
	}
	if strings.Contains(resp.GetHttpContentString(), `"Errors"`) {
		t.Errorf("healthy answer carries Errors: %s", resp.GetHttpContentString())
	}
}

func TestAuthentication(t *testing.T) {
	tests := []struct {
		name                 string
		serverToken          string
		id, secret, token    string
		wantStatus           int
		wantCode             string // "" = success
		wantRecommendContain string
	}{
		{name: "valid", id: testKeyID, secret: testSecret},
		{name: "wrong secret", id: testKeyID, secret: "wrong", wantStatus: 400, wantCode: "SignatureDoesNotMatch", wantRecommendContain: "InvalidAccessKeySecret"},
		{name: "unknown key id", id: "LTAI-other", secret: testSecret, wantStatus: 404, wantCode: "InvalidAccessKeyId.NotFound"},
		{name: "sts token accepted", serverToken: testToken, id: testKeyID, secret: testSecret, token: testToken},
		{name: "sts token missing", serverToken: testToken, id: testKeyID, secret: testSecret, wantStatus: 400, wantCode: "InvalidSecurityToken.Missing"},
		{name: "sts token wrong", serverToken: testToken, id: testKeyID, secret: testSecret, token: "other-token", wantStatus: 400, wantCode: "InvalidSecurityToken.Mismatch"},
		{name: "unrequired token accepted", id: testKeyID, secret: testSecret, token: "any"},
		{name: "wrong secret with token", serverToken: testToken, id: testKeyID, secret: "wrong", token: testToken, wantStatus: 400, wantCode: "SignatureDoesNotMatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, domain := startServer(t, Options{SecurityToken: tc.serverToken})
			c := newClient(t, tc.id, tc.secret, tc.token)
			resp, err := call(t, c, domain, phoneQuery("cs1", "8613800000001"))
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("call: %v", err)
				}
				if a := decodeAnswer(t, resp); a.Code != "OK" {
					t.Fatalf("Code %q, want OK", a.Code)
				}
				return
			}
			se := serverError(t, err, tc.wantStatus, tc.wantCode)
			if !strings.Contains(se.Recommend(), tc.wantRecommendContain) {
				t.Errorf("Recommend %q, want it to contain %q", se.Recommend(), tc.wantRecommendContain)
			}
			for _, secret := range []string{testSecret, testToken, url.QueryEscape(testSecret), url.QueryEscape(testToken)} {
				if strings.Contains(se.Message(), secret) || strings.Contains(resp.GetHttpContentString(), secret) {
					t.Errorf("answer echoes a secret: %s", resp.GetHttpContentString())
				}
			}
			if st := s.Stats(); st.Rejected != 1 || st.OK != 0 {
				t.Errorf("stats %+v, want 1 rejected", st)
			}
		})
	}
}

func TestParameterErrors(t *testing.T) {
	_, domain := startServer(t, Options{})
	c := newClient(t, testKeyID, testSecret, "")
	tests := []struct {
		name       string
		version    string
		action     string
		params     map[string]string
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		{name: "missing NodeType", params: map[string]string{"CustSpaceId": "cs1"}, wantStatus: 400, wantCode: "MissingNodeType", wantInMsg: "NodeType"},
		{name: "missing CustSpaceId", params: map[string]string{"NodeType": "phone", "PhoneNumber": "1"}, wantStatus: 400, wantCode: "MissingCustSpaceId", wantInMsg: "CustSpaceId"},
		{name: "missing PhoneNumber", params: map[string]string{"NodeType": "phone", "CustSpaceId": "cs1"}, wantStatus: 400, wantCode: "MissingPhoneNumber", wantInMsg: "PhoneNumber"},
		{name: "missing TemplateCode", params: map[string]string{"NodeType": "template", "CustSpaceId": "cs1", "Language": "en"}, wantStatus: 400, wantCode: "MissingTemplateCode", wantInMsg: "TemplateCode"},
		{name: "missing Language", params: map[string]string{"NodeType": "template", "CustSpaceId": "cs1", "TemplateCode": "t"}, wantStatus: 400, wantCode: "MissingLanguage", wantInMsg: "Language"},
		{name: "missing WabaId", params: map[string]string{"NodeType": "waba", "CustSpaceId": "cs1"}, wantStatus: 400, wantCode: "MissingWabaId", wantInMsg: "WabaId"},
		{name: "bad NodeType", params: map[string]string{"NodeType": "business", "CustSpaceId": "cs1"}, wantStatus: 400, wantCode: "InvalidParameter", wantInMsg: "NodeType"},
		{name: "bad version", version: "2017-05-25", params: phoneQuery("cs1", "1"), wantStatus: 400, wantCode: "InvalidVersion", wantInMsg: "Version"},
		{name: "unknown action", action: "SendChatappMessage", params: phoneQuery("cs1", "1"), wantStatus: 404, wantCode: "InvalidAction.NotFound", wantInMsg: "SendChatappMessage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := healthRequest(domain, tc.params)
			if tc.version != "" {
				req.Version = tc.version
			}
			if tc.action != "" {
				req.ApiName = tc.action
			}
			_, err := c.ProcessCommonRequest(req)
			se := serverError(t, err, tc.wantStatus, tc.wantCode)
			if !strings.Contains(se.Message(), tc.wantInMsg) {
				t.Errorf("Message %q, want it to name %s", se.Message(), tc.wantInMsg)
			}
		})
	}
}

func TestRawProtocol(t *testing.T) {
	s := New(Options{AccessKeyID: testKeyID, AccessKeySecret: testSecret})
	base, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	old := time.Now().Add(-16 * time.Minute).UTC().Format("2006-01-02T15:04:05Z")
	tests := []struct {
		name       string
		method     string
		params     map[string]string
		tamper     func(r *http.Request)
		wantStatus int
		wantCode   string
	}{
		{name: "GET is accepted", method: "GET", wantStatus: 200, wantCode: "OK"},
		{name: "POST is accepted", method: "POST", wantStatus: 200, wantCode: "OK"},
		{name: "PUT is refused", method: "PUT", wantStatus: 405, wantCode: "UnsupportedHTTPMethod"},
		{name: "expired timestamp", method: "POST", params: map[string]string{"Timestamp": old}, wantStatus: 400, wantCode: "InvalidTimeStamp.Expired"},
		{name: "malformed timestamp", method: "POST", params: map[string]string{"Timestamp": "2026-01-02 10:00:00"}, wantStatus: 400, wantCode: "InvalidTimeStamp.Format"},
		{name: "missing nonce", method: "POST", params: map[string]string{"SignatureNonce": ""}, wantStatus: 400, wantCode: "MissingSignatureNonce"},
		{name: "missing signature method", method: "POST", params: map[string]string{"SignatureMethod": ""}, wantStatus: 400, wantCode: "MissingSignatureMethod"},
		{name: "wrong signature method", method: "POST", params: map[string]string{"SignatureMethod": "HMAC-SHA256"}, wantStatus: 400, wantCode: "InvalidSignatureMethod"},
		{name: "XML format", method: "POST", params: map[string]string{"Format": "XML"}, wantStatus: 400, wantCode: "InvalidParameter"},
		{name: "special characters signed", method: "POST", params: map[string]string{"CustSpaceId": "cs 1*~+/é", "WabaId": "a&b=c"}, wantStatus: 200, wantCode: "OK"},
		{name: "tampered parameter", method: "POST", tamper: func(r *http.Request) {
			q := r.URL.Query()
			q.Set("WabaId", "other")
			r.URL.RawQuery = q.Encode()
		}, wantStatus: 400, wantCode: "SignatureDoesNotMatch"},
		{name: "form body parameters are signed", method: "POST", tamper: func(r *http.Request) {
			// Move WabaId into the form body and sign again.
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			q := r.URL.Query()
			q.Del("Signature")
			waba := q.Get("WabaId")
			q.Del("WabaId")
			p := map[string]string{"WabaId": waba}
			for k := range q {
				p[k] = q.Get(k)
			}
			q.Set("Signature", Sign(StringToSign("POST", p), testSecret))
			r.URL.RawQuery = q.Encode()
			body := url.Values{"WabaId": {waba}}.Encode()
			r.Body = nopCloser{strings.NewReader(body)}
			r.ContentLength = int64(len(body))
		}, wantStatus: 200, wantCode: "OK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := signedRequest(t, tc.method, base, tc.params, testSecret)
			if tc.tamper != nil {
				tc.tamper(req)
			}
			status, code := rawDo(t, req)
			if status != tc.wantStatus || code != tc.wantCode {
				t.Errorf("got %d %s, want %d %s", status, code, tc.wantStatus, tc.wantCode)
			}
		})
	}

	t.Run("nonce reuse", func(t *testing.T) {
		params := map[string]string{"SignatureNonce": "fixed-nonce-1"}
		if status, code := rawDo(t, signedRequest(t, "POST", base, params, testSecret)); status != 200 {
			t.Fatalf("first use: %d %s", status, code)
		}
		status, code := rawDo(t, signedRequest(t, "POST", base, params, testSecret))
		if status != 400 || code != "SignatureNonceUsed" {
			t.Errorf("second use: %d %s, want 400 SignatureNonceUsed", status, code)
		}
	})
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func TestClockSkewThroughSDK(t *testing.T) {
	_, domain := startServer(t, Options{Now: func() time.Time { return time.Now().Add(20 * time.Minute) }})
	c := newClient(t, testKeyID, testSecret, "")
	_, err := call(t, c, domain, phoneQuery("cs1", "1"))
	serverError(t, err, 400, "InvalidTimeStamp.Expired")
}

func TestStartRequiresCredentials(t *testing.T) {
	s := New(Options{})
	if _, err := s.Start(); err == nil {
		s.Close()
		t.Fatal("Start without credentials succeeded")
	}
}

const progressionScenario = `
targets:
  - nodeType: phone
    custSpaceId: cs1
    phoneNumber: "+86 138 0000 0001"
    wabaId: "1000001"
    businessId: "2000001"
    steps:
      - {}
      - phone: LIMITED
        times: 2
      - phone: {status: BLOCKED, errors: [{code: "141006", description: payment, solution: fix it}]}
        waba: {status: LIMITED, errors: [{code: "141006"}]}
      - fault: throttle
      - phone: AVAILABLE
`

func TestScenarioProgression(t *testing.T) {
	sc, err := ParseScenario([]byte(progressionScenario))
	if err != nil {
		t.Fatal(err)
	}
	s, domain := startServer(t, Options{Scenario: sc})
	c := newClient(t, testKeyID, testSecret, "")
	q := phoneQuery("cs1", "8613800000001")
	type want struct{ phone, waba, overall, code string }
	steps := []want{
		{"AVAILABLE", "AVAILABLE", "AVAILABLE", ""},
		{"LIMITED", "AVAILABLE", "LIMITED", ""},
		{"LIMITED", "AVAILABLE", "LIMITED", ""},
		{"BLOCKED", "LIMITED", "BLOCKED", ""},
		{code: "Throttling.User"},
		{"AVAILABLE", "AVAILABLE", "AVAILABLE", ""},
		{"AVAILABLE", "AVAILABLE", "AVAILABLE", ""}, // the last step repeats
	}
	for i, w := range steps {
		resp, err := call(t, c, domain, q)
		if w.code != "" {
			serverError(t, err, 400, w.code)
			continue
		}
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		a := decodeAnswer(t, resp)
		got := want{rowStatus(t, a, "PHONE_NUMBER"), rowStatus(t, a, "WABA"), a.Data.CanSendMessage, ""}
		if got != w {
			t.Errorf("call %d: got %+v, want %+v", i, got, w)
		}
		for _, e := range a.Data.Entities {
			if e.WabaID != "1000001" || e.BusinessID != "2000001" {
				t.Errorf("call %d: row %s ids %q/%q, want 1000001/2000001", i, e.EntityType, e.WabaID, e.BusinessID)
			}
		}
		if i == 3 {
			wantErrs := []wireError{{ErrorCode: "141006", ErrorDescription: "payment", PossibleSolution: "fix it"}}
			if diff := cmp.Diff(wantErrs, a.Data.Entities[0].Errors); diff != "" {
				t.Errorf("phone errors (-want +got):\n%s", diff)
			}
		}
	}
	st := s.Stats()
	wantStats := Stats{Calls: 7, OK: 6, Throttled: 1, MaxInWindow: 7, PerAction: map[string]int{"GetWhatsappHealthStatus": 7}}
	if diff := cmp.Diff(wantStats, st, cmpopts.IgnoreFields(Stats{}, "MaxInWindow")); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	// Another space does not match the target (custSpaceId given): healthy default.
	a := mustOK(t, c, domain, phoneQuery("cs2", "8613800000001"))
	if got := rowStatus(t, a, "PHONE_NUMBER"); got != "AVAILABLE" {
		t.Errorf("other space: phone %s, want AVAILABLE", got)
	}

	// Reset rewinds the cursor and zeroes the stats.
	s.Reset()
	if st := s.Stats(); st.Calls != 0 || st.OK != 0 || len(st.PerAction) != 0 {
		t.Errorf("stats after Reset: %+v", st)
	}
	for i, w := range []string{"AVAILABLE", "LIMITED"} {
		if got := rowStatus(t, mustOK(t, c, domain, q), "PHONE_NUMBER"); got != w {
			t.Errorf("after Reset call %d: phone %s, want %s", i, got, w)
		}
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		fault      Fault
		wantStatus int
		wantCode   string
		wantStats  Stats
	}{
		{FaultThrottle, 400, "Throttling.User", Stats{Calls: 1, Throttled: 1}},
		{FaultThrottle429, 429, "Throttling.User", Stats{Calls: 1, Throttled: 1}},
		{FaultServerError, 503, "ServiceUnavailable", Stats{Calls: 1, Faults: 1}},
		{FaultInternalError, 500, "InternalError", Stats{Calls: 1, Faults: 1}},
	}
	ignore := cmpopts.IgnoreFields(Stats{}, "MaxInWindow", "PerAction")
	for _, tc := range tests {
		t.Run(string(tc.fault), func(t *testing.T) {
			sc := &Scenario{Targets: []Target{{NodeType: "waba", WabaID: "w1", Steps: []Step{{Fault: tc.fault}, {}}}}}
			s, domain := startServer(t, Options{Scenario: sc})
			c := newClient(t, testKeyID, testSecret, "")
			_, err := call(t, c, domain, wabaQuery("cs1", "w1"))
			serverError(t, err, tc.wantStatus, tc.wantCode)
			if diff := cmp.Diff(tc.wantStats, s.Stats(), ignore); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			mustOK(t, c, domain, wabaQuery("cs1", "w1")) // the fault was one step
		})
	}

	t.Run("denied", func(t *testing.T) {
		sc := &Scenario{Targets: []Target{{NodeType: "waba", WabaID: "w1", Steps: []Step{{Fault: FaultDenied}}}}}
		s, domain := startServer(t, Options{Scenario: sc})
		c := newClient(t, testKeyID, testSecret, "")
		resp, err := call(t, c, domain, wabaQuery("cs1", "w1"))
		if err != nil {
			t.Fatalf("denied answer is a 2xx: the SDK must not fail, got %v", err)
		}
		if resp.GetHttpStatus() != 200 {
			t.Errorf("HTTP %d, want 200", resp.GetHttpStatus())
		}
		a := decodeAnswer(t, resp)
		if a.Code != "Forbidden.AccessDenied" || a.Success || a.AccessDeniedDetail == "" || a.Data != nil {
			t.Errorf("denied answer %+v, want Code Forbidden.AccessDenied, Success false, AccessDeniedDetail set, no Data", a)
		}
		if diff := cmp.Diff(Stats{Calls: 1, Faults: 1}, s.Stats(), ignore); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		sc := &Scenario{Targets: []Target{{NodeType: "waba", WabaID: "w1", Steps: []Step{{Fault: FaultTimeout}, {}}}}}
		s, domain := startServer(t, Options{Scenario: sc})
		c := newClient(t, testKeyID, testSecret, "")
		req := healthRequest(domain, wabaQuery("cs1", "w1"))
		req.SetReadTimeout(200 * time.Millisecond)
		_, err := c.ProcessCommonRequest(req)
		var se *sdkerrors.ServerError
		if err == nil || errors.As(err, &se) {
			t.Fatalf("timeout fault: got %v, want a client-side timeout", err)
		}
		if diff := cmp.Diff(Stats{Calls: 1, Faults: 1}, s.Stats(), ignore); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
		mustOK(t, c, domain, wabaQuery("cs1", "w1"))
	})

	t.Run("close ends a hanging request", func(t *testing.T) {
		sc := &Scenario{Targets: []Target{{NodeType: "waba", WabaID: "w1", Steps: []Step{{Fault: FaultTimeout}}}}}
		s, domain := startServer(t, Options{Scenario: sc})
		c := newClient(t, testKeyID, testSecret, "")
		done := make(chan error, 1)
		go func() {
			_, err := c.ProcessCommonRequest(healthRequest(domain, wabaQuery("cs1", "w1")))
			done <- err
		}()
		for s.Stats().Calls == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		s.Close()
		select {
		case err := <-done:
			if err == nil {
				t.Error("hanging request answered after Close")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not end the hanging request")
		}
	})
}

func TestQPSWindow(t *testing.T) {
	const n, qps = 12, 5
	s, domain := startServer(t, Options{QPS: qps})
	clients := make([]*sdk.Client, n)
	for i := range clients {
		clients[i] = newClient(t, testKeyID, testSecret, "")
	}
	var (
		wg         sync.WaitGroup
		start      = make(chan struct{})
		mu         sync.Mutex
		ok         int
		throttled  int
		otherError []error
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			_, err := clients[i].ProcessCommonRequest(healthRequest(domain, phoneQuery("cs1", fmt.Sprint(i))))
			mu.Lock()
			defer mu.Unlock()
			var se *sdkerrors.ServerError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &se) && se.ErrorCode() == "Throttling.User" && se.HttpStatus() == 400:
				throttled++
			default:
				otherError = append(otherError, err)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	if ok != qps || throttled != n-qps || len(otherError) > 0 {
		t.Fatalf("ok %d throttled %d other %v, want %d ok, %d throttled", ok, throttled, otherError, qps, n-qps)
	}
	st := s.Stats()
	if st.MaxInWindow > qps || st.OK != qps || st.Throttled != n-qps {
		t.Errorf("stats %+v, want OK %d Throttled %d MaxInWindow <= %d", st, qps, n-qps, qps)
	}
}

func TestAdmitSlidingWindow(t *testing.T) {
	s := New(Options{AccessKeyID: "a", AccessKeySecret: "b"})
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		ms   int
		want bool
	}{
		{0, true},
		{500, true},
		{900, false},  // 0 and 500 in (-100, 900]
		{999, false},  // still two
		{1000, true},  // 0 left the window (1000-1s, 1000]
		{1200, false}, // 500 and 1000
		{1500, true},  // 500 left
		{1501, false}, // rejected requests do not count, but 1000 and 1500 do
		{2600, true},
	}
	for _, tc := range tests {
		s.mu.Lock()
		got := s.admit("X", 2, at(tc.ms))
		s.mu.Unlock()
		if got != tc.want {
			t.Errorf("t=%dms: admit %v, want %v", tc.ms, got, tc.want)
		}
	}
	if st := s.Stats(); st.MaxInWindow != 2 {
		t.Errorf("MaxInWindow %d, want 2", st.MaxInWindow)
	}
}

func TestLatency(t *testing.T) {
	const latency = 150 * time.Millisecond
	tests := []struct {
		name string
		opts Options
		want time.Duration
	}{
		{"option", Options{Latency: latency}, latency},
		{"scenario", Options{Scenario: &Scenario{Latency: latency}}, latency},
		{"step", Options{Latency: 50 * time.Millisecond, Scenario: &Scenario{Targets: []Target{{NodeType: "phone", PhoneNumber: "1", Steps: []Step{{Latency: 100 * time.Millisecond}}}}}}, latency},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, domain := startServer(t, tc.opts)
			c := newClient(t, testKeyID, testSecret, "")
			start := time.Now()
			mustOK(t, c, domain, phoneQuery("cs1", "1"))
			if got := time.Since(start); got < tc.want {
				t.Errorf("answered in %v, want >= %v", got, tc.want)
			}
		})
	}
}

func TestSetHandler(t *testing.T) {
	sc := &Scenario{Targets: []Target{{NodeType: "phone", PhoneNumber: "1", Steps: []Step{{Phone: &Row{Status: "LIMITED"}}}}}}
	s, domain := startServer(t, Options{Scenario: sc})
	var mu sync.Mutex
	var seen []Query
	s.SetHandler(func(q Query) *Step {
		mu.Lock()
		seen = append(seen, q)
		mu.Unlock()
		if q.PhoneNumber == "2" {
			return &Step{Phone: &Row{Status: "BLOCKED", Errors: []health.Error{{Code: "131031"}}}, WabaID: "gen-waba"}
		}
		return nil
	})
	c := newClient(t, testKeyID, testSecret, "")

	a := mustOK(t, c, domain, phoneQuery("cs1", "1"))
	if got := rowStatus(t, a, "PHONE_NUMBER"); got != "LIMITED" {
		t.Errorf("scenario target: phone %s, want LIMITED", got)
	}
	a = mustOK(t, c, domain, phoneQuery("cs1", "2"))
	if got := rowStatus(t, a, "PHONE_NUMBER"); got != "BLOCKED" || a.Data.CanSendMessage != "BLOCKED" {
		t.Errorf("generated: phone %s overall %s, want BLOCKED", got, a.Data.CanSendMessage)
	}
	if a.Data.Entities[0].WabaID != "gen-waba" || len(a.Data.Entities[0].Errors) != 1 {
		t.Errorf("generated row %+v, want WabaId gen-waba and one error", a.Data.Entities[0])
	}
	a = mustOK(t, c, domain, phoneQuery("cs1", "3"))
	if got := rowStatus(t, a, "PHONE_NUMBER"); got != "AVAILABLE" {
		t.Errorf("nil step: phone %s, want AVAILABLE", got)
	}
	want := []Query{
		{NodeType: "phone", CustSpaceID: "cs1", PhoneNumber: "2"},
		{NodeType: "phone", CustSpaceID: "cs1", PhoneNumber: "3"},
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("handler queries (-want +got):\n%s", diff)
	}
}

func TestUnknownValuesAndOverall(t *testing.T) {
	sc, err := ParseScenario([]byte(`
targets:
  - nodeType: template
    templateCode: tpl
    language: en
    steps:
      - template: WEIRD_VALUE
        extra: [{type: SOMETHING_NEW, canSendMessage: ALSO_WEIRD, errors: [{code: "999"}]}]
        omit: [app]
      - overall: BLOCKED
        app: {status: AVAILABLE, errors: [{code: "138025", description: calling}]}
      - business: LIMITED
        template: STRANGE
`))
	if err != nil {
		t.Fatal(err)
	}
	_, domain := startServer(t, Options{Scenario: sc})
	c := newClient(t, testKeyID, testSecret, "")
	q := templateQuery("cs9", "tpl", "en")

	a := mustOK(t, c, domain, q)
	var types []string
	for _, e := range a.Data.Entities {
		types = append(types, e.EntityType+"="+e.CanSendMessage)
	}
	wantTypes := []string{"MESSAGE_TEMPLATE=WEIRD_VALUE", "WABA=AVAILABLE", "BUSINESS=AVAILABLE", "SOMETHING_NEW=ALSO_WEIRD"}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if a.Data.CanSendMessage != "WEIRD_VALUE" {
		t.Errorf("overall %q, want the first unknown value (unknown ranks above AVAILABLE)", a.Data.CanSendMessage)
	}
	extra := a.Data.Entities[3]
	if extra.WabaID != "" || extra.BusinessID != "" || len(extra.Errors) != 1 {
		t.Errorf("extra row %+v, want it verbatim", extra)
	}

	a = mustOK(t, c, domain, q)
	if a.Data.CanSendMessage != "BLOCKED" || rowStatus(t, a, "APP") != "AVAILABLE" {
		t.Errorf("overall override: %+v", a.Data)
	}

	a = mustOK(t, c, domain, q)
	if a.Data.CanSendMessage != "LIMITED" {
		t.Errorf("overall %q, want LIMITED (worse than an unknown value)", a.Data.CanSendMessage)
	}
}

func TestConcurrentClients(t *testing.T) {
	sc, err := LoadScenario("testdata/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, domain := startServer(t, Options{Scenario: sc, QPS: 1000})
	s.SetHandler(func(q Query) *Step { return &Step{Phone: &Row{Status: "LIMITED"}} })
	const workers, calls = 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := 0; w < workers; w++ {
		c := newClient(t, testKeyID, testSecret, "")
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			queries := []map[string]string{
				phoneQuery("cs-demo", "8613800000001"),
				templateQuery("cs-demo", "tpl_welcome", "en"),
				wabaQuery("cs-demo", "1000002"),
				phoneQuery("cs-demo", fmt.Sprint(1000+w)),
				wabaQuery("cs-demo", "other"),
			}
			for i := 0; i < calls; i++ {
				_, err := c.ProcessCommonRequest(healthRequest(domain, queries[(w+i)%len(queries)]))
				var se *sdkerrors.ServerError
				if err != nil && !(errors.As(err, &se) && (se.ErrorCode() == "Throttling.User" || se.ErrorCode() == "ServiceUnavailable")) {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := s.Stats()
	if st.Calls != workers*calls || st.OK+st.Throttled+st.Faults != st.Calls || st.Rejected != 0 {
		t.Errorf("stats %+v, want %d calls, none rejected", st, workers*calls)
	}
}

func TestServeHTTPDirect(t *testing.T) {
	// The server is an http.Handler: a signed request served without Start.
	s := New(Options{AccessKeyID: testKeyID, AccessKeySecret: testSecret})
	defer s.Close()
	var logged []string
	s.opts.Logf = func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	req := signedRequest(t, "POST", "http://127.0.0.1", nil, testSecret)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if len(logged) != 1 || strings.Contains(logged[0], testKeyID) || strings.Contains(logged[0], testSecret) {
		t.Errorf("log lines %q: want one, without credentials", logged)
	}
}
