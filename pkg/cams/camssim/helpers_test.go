package camssim

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
)

const (
	testKeyID  = "LTAI5tTestKeyId"
	testSecret = "s3cr3t-Test+Secret/value"
	testToken  = "CAIS-sts-token/with+odd=chars"
)

// startServer starts a simulator with the test credential (unless opts names one) and returns
// it with its SDK Domain ("127.0.0.1:PORT").
func startServer(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	if opts.AccessKeyID == "" {
		opts.AccessKeyID, opts.AccessKeySecret = testKeyID, testSecret
	}
	s := New(opts)
	base, err := s.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("Start returned %q, want http://127.0.0.1:PORT", base)
	}
	return s, strings.TrimPrefix(base, "http://")
}

// newClient returns a real SDK client; token selects NewClientWithStsToken.
func newClient(t *testing.T, id, secret, token string) *sdk.Client {
	t.Helper()
	var (
		c   *sdk.Client
		err error
	)
	if token != "" {
		c, err = sdk.NewClientWithStsToken("ap-southeast-1", id, secret, token)
	} else {
		c, err = sdk.NewClientWithAccessKey("ap-southeast-1", id, secret)
	}
	if err != nil {
		t.Fatalf("new SDK client: %v", err)
	}
	t.Cleanup(c.Shutdown)
	return c
}

// healthRequest builds the CommonRequest the project's client sends.
func healthRequest(domain string, params map[string]string) *requests.CommonRequest {
	req := requests.NewCommonRequest()
	req.Method = requests.POST
	req.Scheme = "http"
	req.Domain = domain
	req.Product = "cams"
	req.Version = "2020-06-06"
	req.ApiName = "GetWhatsappHealthStatus"
	for k, v := range params {
		req.QueryParams[k] = v
	}
	return req
}

// call sends GetWhatsappHealthStatus through the SDK.
func call(t *testing.T, c *sdk.Client, domain string, params map[string]string) (*responses.CommonResponse, error) {
	t.Helper()
	return c.ProcessCommonRequest(healthRequest(domain, params))
}

// phoneQuery, templateQuery and wabaQuery are the parameters of the three node types.
func phoneQuery(space, phone string) map[string]string {
	return map[string]string{"NodeType": "phone", "CustSpaceId": space, "PhoneNumber": phone}
}

func templateQuery(space, code, lang string) map[string]string {
	return map[string]string{"NodeType": "template", "CustSpaceId": space, "TemplateCode": code, "Language": lang}
}

func wabaQuery(space, waba string) map[string]string {
	return map[string]string{"NodeType": "waba", "CustSpaceId": space, "WabaId": waba}
}

type wireError struct {
	ErrorCode        string `json:"ErrorCode"`
	ErrorDescription string `json:"ErrorDescription"`
	PossibleSolution string `json:"PossibleSolution"`
}

type wireEntity struct {
	EntityType     string      `json:"EntityType"`
	CanSendMessage string      `json:"CanSendMessage"`
	PhoneNumber    string      `json:"PhoneNumber"`
	TemplateCode   string      `json:"TemplateCode"`
	Language       string      `json:"Language"`
	WabaID         string      `json:"WabaId"`
	BusinessID     string      `json:"BusinessId"`
	Errors         []wireError `json:"Errors"`
}

type wireData struct {
	CanSendMessage string       `json:"CanSendMessage"`
	Entities       []wireEntity `json:"Entities"`
}

type wireAnswer struct {
	RequestID          string    `json:"RequestId"`
	Code               string    `json:"Code"`
	Success            bool      `json:"Success"`
	Message            string    `json:"Message"`
	AccessDeniedDetail string    `json:"AccessDeniedDetail"`
	Data               *wireData `json:"Data"`
}

// mustOK calls and requires an HTTP 200 answer with Code OK; it returns the decoded body.
func mustOK(t *testing.T, c *sdk.Client, domain string, params map[string]string) wireAnswer {
	t.Helper()
	resp, err := call(t, c, domain, params)
	if err != nil {
		t.Fatalf("call %v: %v", params, err)
	}
	a := decodeAnswer(t, resp)
	if a.Code != "OK" || !a.Success || a.Data == nil {
		t.Fatalf("call %v: Code %q Success %v Data %v, want OK", params, a.Code, a.Success, a.Data)
	}
	return a
}

func decodeAnswer(t *testing.T, resp *responses.CommonResponse) wireAnswer {
	t.Helper()
	var a wireAnswer
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &a); err != nil {
		t.Fatalf("decode %s: %v", resp.GetHttpContentString(), err)
	}
	if a.RequestID == "" {
		t.Errorf("answer without RequestId: %s", resp.GetHttpContentString())
	}
	return a
}

// serverError requires err to be an SDK *ServerError with the status and code.
func serverError(t *testing.T, err error, status int, code string) *sdkerrors.ServerError {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want *errors.ServerError %d %s", err, err, status, code)
	}
	if se.HttpStatus() != status || se.ErrorCode() != code {
		t.Fatalf("ServerError %d %s (%s), want %d %s", se.HttpStatus(), se.ErrorCode(), se.Message(), status, code)
	}
	if se.RequestId() == "" || se.HostId() != HostID {
		t.Errorf("ServerError RequestId %q HostId %q, want both set", se.RequestId(), se.HostId())
	}
	return se
}

// rowStatus returns the CanSendMessage of the first row of a with the entity type.
func rowStatus(t *testing.T, a wireAnswer, entityType string) string {
	t.Helper()
	for _, e := range a.Data.Entities {
		if e.EntityType == entityType {
			return e.CanSendMessage
		}
	}
	t.Fatalf("no %s row in %+v", entityType, a.Data.Entities)
	return ""
}

// signedRequest builds a raw request signed like the SDK signs, for protocol cases the SDK
// cannot produce. params override the common parameters; a "" value deletes one.
func signedRequest(t *testing.T, method, base string, params map[string]string, secret string) *http.Request {
	t.Helper()
	p := map[string]string{
		"Action":           "GetWhatsappHealthStatus",
		"Version":          "2020-06-06",
		"Format":           "JSON",
		"AccessKeyId":      testKeyID,
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureVersion": "1.0",
		"SignatureNonce":   newRequestID(),
		"Timestamp":        time.Now().UTC().Format("2006-01-02T15:04:05Z"),
		"RegionId":         "ap-southeast-1",
		"NodeType":         "waba",
		"CustSpaceId":      "cs-raw",
		"WabaId":           "w1",
	}
	for k, v := range params {
		if v == "" {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	p["Signature"] = Sign(StringToSign(method, p), secret)
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	req, err := http.NewRequest(method, base+"/?"+q.Encode(), nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	return req
}

// rawDo sends req and returns the status and the envelope's Code.
func rawDo(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", req.Method, err)
	}
	defer resp.Body.Close()
	var env struct{ Code string }
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("decode answer: %v", err)
	}
	return resp.StatusCode, env.Code
}
