package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wahealth/wahealth/pkg/app"
	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/config"
)

const (
	httpToken = "local-token-8c1f0e7a2b9d4c6e"
	// ondemandScenario blocks the phone number from the second answer on.
	ondemandScenario = `
targets:
  - nodeType: phone
    phoneNumber: "8613800000001"
    wabaId: "1000001"
    steps:
      - {}
      - phone: {status: BLOCKED, errors: [{code: "141006", description: There is an error with the payment method.}]}
`
	ondemandConfig = `
custSpaceId: cs-local
cams:
  endpoint: ${WAHEALTH_DEMO_ENDPOINT}
  timeout: 5s
targets:
  - nodeType: phone
    phoneNumber: "8613800000001"
    labels: {team: support}
state:
  path: %STATE%
http:
  auth: %AUTH%
`
)

// ondemandConfigFile writes a configuration with a fresh state file and the given auth.
func ondemandConfigFile(t *testing.T, auth string) string {
	t.Helper()
	yaml := strings.NewReplacer("%STATE%", filepath.Join(t.TempDir(), "state.json"), "%AUTH%", auth).Replace(ondemandConfig)
	return writeFile(t, "config.yaml", yaml)
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader in different goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestOndemandHandlerNeedsTheToken(t *testing.T) {
	cfg, err := config.Parse("test", []byte(strings.NewReplacer("%STATE%", filepath.Join(t.TempDir(), "s.json"), "%AUTH%", "token",
		"${WAHEALTH_DEMO_ENDPOINT}", "http://127.0.0.1:9").Replace(ondemandConfig)), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Env{Getenv: envMap(nil), Credentials: &cams.Credentials{AccessKeyID: "id", AccessKeySecret: "secret"}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Adhoc == nil || a.Adhoc == a.Client {
		t.Fatalf("the app has no client of its own for ad-hoc checks")
	}
	logger := slog.New(slog.DiscardHandler)

	for _, env := range []map[string]string{nil, {config.EnvHTTPToken: "  \n"}} {
		_, err := app.OndemandHandler(a, envMap(env), logger)
		if err == nil || !strings.Contains(err.Error(), config.EnvHTTPToken) {
			t.Errorf("token %q: error %v, want one naming %s", env[config.EnvHTTPToken], err, config.EnvHTTPToken)
		}
	}

	h, err := app.OndemandHandler(a, envMap(map[string]string{config.EnvHTTPToken: httpToken + "\n"}), logger)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, auth string
		status     int
	}{
		{"/healthz", "", http.StatusOK},
		{"/status", "", http.StatusUnauthorized},
		{"/status", "Bearer " + httpToken, http.StatusOK}, // the variable's newline is trimmed
	} {
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("%s with %q: %d, want %d", tt.path, tt.auth, rec.Code, tt.status)
		}
	}
}

func TestOndemandMainServesUntilCancelled(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	sc := writeFile(t, "scenario.yaml", ondemandScenario)
	cfg := ondemandConfigFile(t, "token")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- app.OndemandMain(ctx, []string{"-config", cfg, "-simulate", sc, "-listen", "127.0.0.1:0"}, &stdout, &stderr,
			envMap(map[string]string{config.EnvHTTPToken: httpToken}))
	}()

	base := waitForURL(t, &stdout, &stderr, done)
	call := func(method, path string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+httpToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
		return res.StatusCode, body
	}
	if code, body := call(http.MethodPost, "/check"); code != http.StatusOK || body["baseline"] != true {
		t.Fatalf("POST /check: %d %v", code, body)
	}
	if code, body := call(http.MethodGet, "/check?nodeType=phone&phoneNumber=8613800000001"); code != http.StatusOK || body["canSendMessage"] != "BLOCKED" {
		t.Errorf("GET /check: %d %v", code, body)
	}
	code, body := call(http.MethodGet, "/status")
	if summary, _ := body["summary"].(map[string]any); code != http.StatusOK || summary["total"] != 4.0 {
		t.Errorf("GET /status: %d %v", code, body)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not stop after the context was cancelled")
	}
	if !strings.Contains(stdout.String(), "wahealth ondemand: stopped") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	// One JSON log line per request, never the token.
	if n := strings.Count(stderr.String(), `"msg":"http request"`); n != 3 {
		t.Errorf("%d request log lines, want 3:\n%s", n, stderr.String())
	}
	if strings.Contains(stderr.String()+stdout.String(), httpToken) {
		t.Errorf("the token was printed")
	}
}

// waitForURL waits for the program to print its listen URL and returns it.
func waitForURL(t *testing.T, stdout, stderr *lockedBuffer, done <-chan int) string {
	t.Helper()
	re := regexp.MustCompile(`serving on (http://127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("exited %d before serving\nstderr:\n%s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no listen URL printed\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	return ""
}

func TestOndemandMainRefusesToStart(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	sc := writeFile(t, "scenario.yaml", ondemandScenario)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no token", []string{"-config", ondemandConfigFile(t, "token"), "-simulate", sc, "-listen", "127.0.0.1:0"}, nil, config.EnvHTTPToken},
		{"function auth off loopback", []string{"-config", ondemandConfigFile(t, "function"), "-simulate", sc, "-listen", "0.0.0.0:0"}, nil,
			"listen on a loopback address"},
		{"unexpected argument", []string{"serve"}, nil, `unexpected argument "serve"`},
		{"unknown flag", []string{"-port", "80"}, nil, "flag provided but not defined: -port"},
		{"bad scenario", []string{"-config", ondemandConfigFile(t, "token"), "-simulate", filepath.Join(t.TempDir(), "missing.yaml")},
			map[string]string{config.EnvHTTPToken: httpToken}, "-simulate"},
		{"no configuration", nil, map[string]string{config.EnvHTTPToken: httpToken}, "no configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := app.OndemandMain(context.Background(), tt.args, &stdout, &stderr, envMap(tt.env))
			if code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tt.want)
			}
			if strings.Contains(stdout.String(), "serving on") {
				t.Errorf("it served: %s", stdout.String())
			}
		})
	}
}

func TestOndemandMainFunctionAuthOnLoopback(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	sc := writeFile(t, "scenario.yaml", ondemandScenario)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- app.OndemandMain(ctx, []string{"-config", ondemandConfigFile(t, "function"), "-simulate", sc, "-listen", "127.0.0.1:0"},
			&stdout, &stderr, envMap(nil))
	}()
	base := waitForURL(t, &stdout, &stderr, done)
	res, err := http.Get(base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /status without a token under auth function: %d", res.StatusCode)
	}
	if !strings.Contains(stdout.String(), "not authenticated locally") {
		t.Errorf("no warning:\n%s", stdout.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}
