package fctest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/wahealth/wahealth/pkg/fcrun/fctest"
)

// helperEnv makes the test binary, started again as a child, run helperFunction under fc.Start.
const helperEnv = "FCTEST_HELPER_FUNCTION"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		fc.Start(helperFunction)
		return
	}
	os.Exit(m.Run())
}

type helperEvent struct {
	Fail string `json:"fail"`
}

// seen is what the helper function reports of its invocation.
type seen struct {
	RequestID     string `json:"requestId"`
	RetryCount    int    `json:"retryCount"`
	AccessKeyID   string `json:"accessKeyId"`
	Secret        string `json:"accessKeySecret"`
	SecurityToken string `json:"securityToken"`
	Timeout       int    `json:"timeout"`
	FunctionName  string `json:"functionName"`
	Region        string `json:"region"`
	DeadlineMS    int64  `json:"deadlineMs"`
}

func helperFunction(ctx context.Context, ev helperEvent) (*seen, error) {
	if ev.Fail != "" {
		return nil, errors.New(ev.Fail)
	}
	fcc, ok := fccontext.FromContext(ctx)
	if !ok {
		return nil, errors.New("no fccontext")
	}
	d, _ := ctx.Deadline()
	return &seen{
		RequestID: fcc.RequestID, RetryCount: fcc.RetryCount,
		AccessKeyID: fcc.Credentials.AccessKeyId, Secret: fcc.Credentials.AccessKeySecret, SecurityToken: fcc.Credentials.SecurityToken,
		Timeout: fcc.Function.Timeout, FunctionName: fcc.Function.Name, Region: fcc.Region, DeadlineMS: d.UnixMilli(),
	}, nil
}

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

// startHelper runs the test binary as a function against a new runtime.
func startHelper(t *testing.T) (*fctest.Runtime, *syncBuffer) {
	t.Helper()
	rt := fctest.New()
	t.Cleanup(rt.Close)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "FC_RUNTIME_API="+rt.Addr())
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("function output:\n%s", out)
		}
	})
	return rt, out
}

func TestInvokeHandsTheHeadersTheSDKReads(t *testing.T) {
	rt, _ := startHelper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	deadline := time.Now().Add(42 * time.Second).Truncate(time.Millisecond)
	res, err := rt.Invoke(ctx, fctest.Invocation{
		RequestID:   "req-headers",
		Event:       []byte(`{}`),
		Deadline:    deadline,
		Timeout:     42 * time.Second,
		Credentials: fctest.Credentials{AccessKeyID: "STS.id", AccessKeySecret: "sts-secret", SecurityToken: "sts-token"},
		RetryCount:  2,
		Region:      "cn-hangzhou",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != fctest.StatusResponse || res.ContentType != "application/json" {
		t.Fatalf("result = %+v, want a JSON response", res)
	}
	var got seen
	if err := json.Unmarshal(res.Response, &got); err != nil {
		t.Fatalf("response %s: %v", res.Response, err)
	}
	want := seen{
		RequestID: "req-headers", RetryCount: 2, AccessKeyID: "STS.id", Secret: "sts-secret", SecurityToken: "sts-token",
		Timeout: 42, FunctionName: fctest.DefaultFunctionName, Region: "cn-hangzhou", DeadlineMS: deadline.UnixMilli(),
	}
	if got != want {
		t.Errorf("the function saw %+v\nwant %+v", got, want)
	}
	if err := rt.Err(); err != nil {
		t.Errorf("protocol violations: %v", err)
	}
}

func TestInvokeReportsErrorsAndPanics(t *testing.T) {
	rt, _ := startHelper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	res, err := rt.Invoke(ctx, fctest.Invocation{Event: []byte(`{"fail":"it went wrong"}`)})
	if err != nil {
		t.Fatal(err)
	}
	fe, ok := res.FunctionError()
	if !ok || fe.Message != "it went wrong" || fe.Type != "errorString" {
		t.Errorf("error result = %+v (%s), want errorMessage \"it went wrong\", errorType errorString", res, res.Error)
	}

	// An event the SDK cannot decode fails the invocation, not the process.
	res, err = rt.Invoke(ctx, fctest.Invocation{Event: []byte(`not json`)})
	if err != nil {
		t.Fatal(err)
	}
	if fe, ok := res.FunctionError(); !ok || !strings.Contains(fe.Message, "invalid character") {
		t.Errorf("undecodable event: result %+v (%s), want a JSON syntax error", res, res.Error)
	}

	// Invocations in a row all reach the same process.
	for i := range 3 {
		res, err := rt.Invoke(ctx, fctest.Invocation{})
		if err != nil || res.Status != fctest.StatusResponse {
			t.Fatalf("invocation %d: %+v, %v", i, res, err)
		}
	}
	if err := rt.Err(); err != nil {
		t.Errorf("protocol violations: %v", err)
	}
}

func TestInvokeWithoutAFunctionTimesOut(t *testing.T) {
	rt := fctest.New()
	defer rt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := rt.Invoke(ctx, fctest.Invocation{RequestID: "nobody"})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not taken by the function") {
		t.Errorf("err = %v, want a deadline error saying the invocation was not taken", err)
	}
	// The request id is free again.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := rt.Invoke(ctx2, fctest.Invocation{RequestID: "nobody"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Invoke with the same id: err = %v, want a deadline error (the id is free again)", err)
	}
}

// TestMalformedRequestsAreRefusedAndRecorded plays a function that gets the protocol wrong.
func TestMalformedRequestsAreRefusedAndRecorded(t *testing.T) {
	rt := fctest.New()
	defer rt.Close()
	base := "http://" + rt.Addr() + fctest.APIPrefix
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, url, ct, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", "aliyun-fc-go/test")
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if got := do(http.MethodPost, base+"next", "", ""); got != http.StatusMethodNotAllowed {
		t.Errorf("POST next: %d, want 405", got)
	}
	if got := do(http.MethodGet, "http://"+rt.Addr()+"/2020-11-11/runtime/init/error", "", ""); got != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", got)
	}
	if got := do(http.MethodPost, base+"nobody/response", "application/json", "{}"); got != http.StatusNotFound {
		t.Errorf("answer for an unknown id: %d, want 404", got)
	}

	// An invocation answered with the wrong content type fails its Invoke.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := rt.Invoke(ctx, fctest.Invocation{RequestID: "r1"})
		done <- err
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"next", nil)
	req.Header.Set("User-Agent", "aliyun-fc-go/test")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if id := resp.Header.Get("x-fc-request-id"); id != "r1" || resp.Header.Get("x-fc-function-deadline") == "" ||
		resp.Header.Get("x-fc-function-timeout") != "60" || resp.Header.Get("x-fc-retry-count") != "0" {
		t.Errorf("next headers = %v", resp.Header)
	}
	if got := do(http.MethodPost, base+"r1/response", "text/plain", "ok"); got != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain response: %d, want 415", got)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "want application/json") {
		t.Errorf("Invoke answered with text/plain: err = %v", err)
	}
	if err := rt.Err(); err == nil || strings.Count(err.Error(), "fctest: runtime API") != 4 {
		t.Errorf("Err() = %v, want the 4 violations", err)
	}
}
