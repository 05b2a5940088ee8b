package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// env returns a getenv over a map.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// mustParse parses a document that must be valid.
func mustParse(t *testing.T, doc string, vars map[string]string) *Config {
	t.Helper()
	c, err := Parse("test.yaml", []byte(doc), env(vars))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// problems parses a document that must be invalid and returns its problems as "path: message".
func problems(t *testing.T, doc string, vars map[string]string) []string {
	t.Helper()
	c, err := Parse("test.yaml", []byte(doc), env(vars))
	if err == nil {
		t.Fatalf("Parse succeeded, want an error; config: %+v", c)
	}
	if c != nil {
		t.Errorf("Parse returned a config with its error")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T %q, want *ValidationError", err, err)
	}
	if ve.Source != "test.yaml" {
		t.Errorf("Source = %q, want test.yaml", ve.Source)
	}
	out := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = p.String()
	}
	return out
}

func TestExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse("testdata/example.yaml", data, env(map[string]string{"WAHEALTH_CUST_SPACE_ID": "cams-main-space"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Config{
		CustSpaceID: "cams-main-space",
		CAMS: CAMS{
			Endpoint:        "https://cams.ap-southeast-1.aliyuncs.com",
			QPS:             4,
			Timeout:         Duration(10 * time.Second),
			MaxRetries:      4,
			Concurrency:     16,
			SkipCoveredWaba: true,
		},
		Targets: []Target{
			{
				NodeType:    "phone",
				CustSpaceID: "cams-main-space",
				WabaID:      "102030405060708",
				PhoneNumber: "+62 812-3456-7890",
				Labels:      map[string]string{"team": "support", "country": "id"},
			},
			{
				NodeType:     "template",
				CustSpaceID:  "cams-other-space",
				TemplateCode: "order_shipped",
				Language:     "en_US",
				Labels:       map[string]string{"team": "logistics"},
			},
			{NodeType: "waba", CustSpaceID: "cams-main-space", WabaID: "102030405060708"},
		},
		State:                 State{Type: "file", Path: ".wahealth/state.json"},
		Notifiers:             []Notifier{{Type: "console", Name: "console"}},
		CheckFailureThreshold: 3,
		HTTP:                  HTTP{Auth: DefaultHTTPAuth, MaxBodyBytes: DefaultMaxBodyBytes, AdhocQPS: DefaultAdhocQPS},
		FailureThreshold:      1,
		SuccessThreshold:      1,
		SendResolved:          true,
		RepeatInterval:        Duration(DefaultRepeatInterval),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("example.yaml (-want +got):\n%s", diff)
	}

	// Without the variable the example says what to set.
	_, err = Parse("testdata/example.yaml", data, env(nil))
	if err == nil || !strings.Contains(err.Error(), "custSpaceId: environment variable WAHEALTH_CUST_SPACE_ID is not set") {
		t.Errorf("example without WAHEALTH_CUST_SPACE_ID: error %v", err)
	}
}

func TestEveryKeyNonDefault(t *testing.T) {
	got := mustParse(t, `
custSpaceId: cs-top
cams:
  endpoint: http://127.0.0.1:8080/
  qps: 2.5
  timeout: 1m30s
  maxRetries: -1
  concurrency: 3
targets:
  - nodeType: phone
    custSpaceId: cs-own
    phoneNumber: 8613800000001
    wabaId: 123
    labels: {env: prod, app.name: shop, n: 1}
  - nodeType: template
    templateCode: "0042"
    language: id
state:
  type: file
  path: /var/lib/wahealth/state.json
notifiers:
  - type: console
  - type: console
    name: loud
checkFailureThreshold: 7
http:
  auth: function
  maxBodyBytes: 1024
  adhocQPS: 0.5
`, nil)
	want := &Config{
		CustSpaceID: "cs-top",
		CAMS: CAMS{
			Endpoint:    "http://127.0.0.1:8080/",
			QPS:         2.5,
			Timeout:     Duration(90 * time.Second),
			MaxRetries:  -1,
			Concurrency: 3, SkipCoveredWaba: true,
		},
		Targets: []Target{
			{
				NodeType: "phone", CustSpaceID: "cs-own", PhoneNumber: "8613800000001", WabaID: "123",
				Labels: map[string]string{"env": "prod", "app.name": "shop", "n": "1"},
			},
			{NodeType: "template", CustSpaceID: "cs-top", TemplateCode: "0042", Language: "id"},
		},
		State:                 State{Type: "file", Path: "/var/lib/wahealth/state.json"},
		Notifiers:             []Notifier{{Type: "console", Name: "console-0"}, {Type: "console", Name: "loud"}},
		CheckFailureThreshold: 7,
		HTTP:                  HTTP{Auth: "function", MaxBodyBytes: 1024, AdhocQPS: 0.5},
		FailureThreshold:      1,
		SuccessThreshold:      1,
		SendResolved:          true,
		RepeatInterval:        Duration(DefaultRepeatInterval),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got.CAMS.Retries() != 0 {
		t.Errorf("Retries() = %d with maxRetries -1, want 0", got.CAMS.Retries())
	}
}

func TestDefaults(t *testing.T) {
	got := mustParse(t, "custSpaceId: cs\ntargets:\n  - {nodeType: waba, wabaId: w1}\n", nil)
	want := &Config{
		CustSpaceID: "cs",
		CAMS: CAMS{
			Endpoint:        DefaultEndpoint,
			QPS:             DefaultQPS,
			Timeout:         Duration(DefaultTimeout),
			MaxRetries:      DefaultMaxRetries,
			Concurrency:     20,
			SkipCoveredWaba: true,
		},
		Targets:               []Target{{NodeType: "waba", CustSpaceID: "cs", WabaID: "w1"}},
		State:                 State{Type: DefaultStateType, Path: DefaultStatePath},
		Notifiers:             []Notifier{{Type: DefaultNotifier, Name: DefaultNotifier}},
		CheckFailureThreshold: DefaultCheckFailureThreshold,
		HTTP:                  HTTP{Auth: DefaultHTTPAuth, MaxBodyBytes: DefaultMaxBodyBytes, AdhocQPS: DefaultAdhocQPS},
		FailureThreshold:      1,
		SuccessThreshold:      1,
		SendResolved:          true,
		RepeatInterval:        Duration(DefaultRepeatInterval),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got.CAMS.Retries() != DefaultMaxRetries {
		t.Errorf("Retries() = %d, want %d", got.CAMS.Retries(), DefaultMaxRetries)
	}

	// Null values and empty sections are the same as leaving the keys out.
	nulls := mustParse(t, "custSpaceId: cs\ncams:\n  qps: ~\n  timeout:\n  endpoint: null\nstate: {}\nnotifiers: []\ncheckFailureThreshold: 0\ntargets:\n  - {nodeType: waba, wabaId: w1}\n", nil)
	if diff := cmp.Diff(want, nulls); diff != "" {
		t.Errorf("with nulls (-want +got):\n%s", diff)
	}
}

func TestDefaultConcurrency(t *testing.T) {
	for _, tc := range []struct {
		qps  float64
		want int
	}{{0.1, 4}, {1, 4}, {1.1, 5}, {5, 20}, {16, 64}, {1000, 64}} {
		if got := DefaultConcurrency(tc.qps); got != tc.want {
			t.Errorf("DefaultConcurrency(%v) = %d, want %d", tc.qps, got, tc.want)
		}
	}
}

func TestNotifierNames(t *testing.T) {
	got := mustParse(t, `
custSpaceId: cs
targets: [{nodeType: waba, wabaId: w}]
notifiers:
  - type: console
  - type: console
  - type: console
    name: third
`, nil)
	var names []string
	for _, n := range got.Notifiers {
		names = append(names, n.Type+"/"+n.Name)
	}
	want := []string{"console/console-0", "console/console-1", "console/third"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// base is a valid configuration that the problem cases add to.
const base = "custSpaceId: cs\ntargets:\n  - {nodeType: waba, wabaId: w1}\n"

func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		vars map[string]string
		want []string
	}{
		{"empty", "", nil, []string{"the configuration is empty; see the example in README.md (pkg/config/testdata/example.yaml)"}},
		{"comments only", "# nothing\n", nil, []string{"the configuration is empty; see the example in README.md (pkg/config/testdata/example.yaml)"}},
		{"null", "~\n", nil, []string{"the configuration is empty; see the example in README.md (pkg/config/testdata/example.yaml)"}},
		{"list at the top", "- a\n- b\n", nil, []string{`the configuration must be a mapping of keys to values (like "custSpaceId: ..."), got a list; see the example in README.md (pkg/config/testdata/example.yaml)`}},
		{"scalar at the top", "hello\n", nil, []string{`the configuration must be a mapping of keys to values (like "custSpaceId: ..."), got "hello"; see the example in README.md (pkg/config/testdata/example.yaml)`}},
		{"syntax", "a: [1\n", nil, []string{"invalid YAML: line 1: did not find expected ',' or ']'"}},
		{"two documents", base + "---\n" + base, nil, []string{`only one YAML document is allowed; remove the second one (after "---")`}},
		{"no targets", "custSpaceId: cs\n", nil, []string{"targets: at least one target is required"}},
		{"empty targets", "targets: []\ncustSpaceId: cs\n", nil, []string{"targets: at least one target is required"}},
		{"targets not a list", "custSpaceId: cs\ntargets:\n  nodeType: waba\n", nil, []string{`targets: want a list (items starting with "- "), got a mapping`}},
		{"target not a mapping", "custSpaceId: cs\ntargets:\n  - waba\n  - {nodeType: phone}\n", nil, []string{
			`targets[0]: want a mapping (key: value lines), got "waba"`,
			"targets[1].phoneNumber: required when nodeType is phone",
		}},
		{"nodeType missing", "custSpaceId: cs\ntargets:\n  - {wabaId: w}\n", nil, []string{"targets[0].nodeType: required: one of waba, phone, template"}},
		{"nodeType wrong", "custSpaceId: cs\ntargets:\n  - {nodeType: phon, phoneNumber: '1'}\n", nil, []string{`targets[0].nodeType: must be one of waba, phone, template, got "phon" (did you mean "phone"?)`}},
		{"nodeType far off", "custSpaceId: cs\ntargets:\n  - {nodeType: business}\n", nil, []string{`targets[0].nodeType: must be one of waba, phone, template, got "business"`}},
		{"custSpaceId missing", "targets:\n  - {nodeType: waba, wabaId: w}\n", nil, []string{"targets[0].custSpaceId: required: set it on the target or as the top-level custSpaceId"}},
		{"phone without number", "custSpaceId: cs\ntargets:\n  - nodeType: phone\n", nil, []string{"targets[0].phoneNumber: required when nodeType is phone"}},
		{"template without code and language", "custSpaceId: cs\ntargets:\n  - nodeType: template\n", nil, []string{
			"targets[0].templateCode: required when nodeType is template",
			"targets[0].language: required when nodeType is template",
		}},
		{"template without language", "custSpaceId: cs\ntargets:\n  - {nodeType: waba, wabaId: w}\n  - {nodeType: waba, wabaId: x}\n  - {nodeType: template, templateCode: t}\n", nil, []string{
			"targets[2].language: required when nodeType is template",
		}},
		{"waba without id", "custSpaceId: cs\ntargets:\n  - nodeType: waba\n", nil, []string{"targets[0].wabaId: required when nodeType is waba"}},
		{"fields that do not apply", `custSpaceId: cs
targets:
  - nodeType: waba
    wabaId: w
    phoneNumber: "1"
    templateCode: t
    language: en
  - nodeType: phone
    phoneNumber: "1"
    language: en
  - nodeType: template
    phoneNumber: "1"
    templateCode: t
    language: en
    wabaId: w
`, nil, []string{
			"targets[0].phoneNumber: only used when nodeType is phone; remove it",
			"targets[0].templateCode: only used when nodeType is template; remove it",
			"targets[0].language: only used when nodeType is template; remove it",
			"targets[1].language: only used when nodeType is template; remove it",
			"targets[2].phoneNumber: only used when nodeType is phone; remove it",
		}},
		{"bad phone number", "custSpaceId: cs\ntargets:\n  - {nodeType: phone, phoneNumber: abc}\n  - {nodeType: phone, phoneNumber: '+(86) 138-0000.0001'}\n  - {nodeType: phone, phoneNumber: '+ -'}\n", nil, []string{
			`targets[0].phoneNumber: "abc" is not a phone number`,
			`targets[2].phoneNumber: "+ -" is not a phone number`,
		}},
		{"duplicates", `custSpaceId: cs
targets:
  - {nodeType: phone, phoneNumber: "+86 138 0000 0001"}
  - {nodeType: phone, phoneNumber: "8613800000001", labels: {a: b}}
  - {nodeType: phone, phoneNumber: "8613800000001", custSpaceId: other}
  - {nodeType: template, templateCode: t, language: en}
  - {nodeType: template, templateCode: t, language: en, wabaId: w}
`, nil, []string{
			"targets[1]: duplicates targets[0]",
			"targets[4]: duplicates targets[3]",
		}},
		{"label keys", "custSpaceId: cs\ntargets:\n  - nodeType: waba\n    wabaId: w\n    labels: {'': x, 'a b': y, ok.k-1_2: z, 'ü': v}\n", nil, []string{
			"targets[0].labels: a key must not be empty",
			`targets[0].labels: key "a b" must match [A-Za-z0-9_.-]+`,
			`targets[0].labels: key "ü" must match [A-Za-z0-9_.-]+`,
		}},
		{"labels not a mapping", "custSpaceId: cs\ntargets:\n  - {nodeType: waba, wabaId: w, labels: [a]}\n", nil, []string{"targets[0].labels: want a mapping (key: value lines), got a list"}},
		{"label value not a string", "custSpaceId: cs\ntargets:\n  - {nodeType: waba, wabaId: w, labels: {a: [b]}}\n", nil, []string{"targets[0].labels.a: want a string, got a list"}},
		{"endpoint plain http", base + "cams:\n  endpoint: http://cams.example.com\n", nil, []string{"cams.endpoint: plain http is only allowed for loopback (a simulator); use https://..."}},
		{"endpoint no scheme", base + "cams:\n  endpoint: cams.ap-southeast-1.aliyuncs.com\n", nil, []string{"cams.endpoint: must start with https://, like https://cams.ap-southeast-1.aliyuncs.com"}},
		{"endpoint host:port", base + "cams:\n  endpoint: localhost:8080\n", nil, []string{"cams.endpoint: must start with https://, like https://cams.ap-southeast-1.aliyuncs.com"}},
		{"endpoint ftp", base + "cams:\n  endpoint: ftp://cams.example.com\n", nil, []string{"cams.endpoint: must start with https://, like https://cams.ap-southeast-1.aliyuncs.com"}},
		{"endpoint path", base + "cams:\n  endpoint: https://cams.example.com/api\n", nil, []string{"cams.endpoint: must not have a path, query or fragment; use https://HOST, like https://cams.ap-southeast-1.aliyuncs.com"}},
		{"endpoint query", base + "cams:\n  endpoint: https://cams.example.com/?a=b\n", nil, []string{"cams.endpoint: must not have a path, query or fragment; use https://HOST, like https://cams.ap-southeast-1.aliyuncs.com"}},
		{"endpoint no host", base + "cams:\n  endpoint: 'https://'\n", nil, []string{"cams.endpoint: has no host; use https://HOST, like https://cams.ap-southeast-1.aliyuncs.com"}},
		{"endpoint user", base + "cams:\n  endpoint: https://user:hunter2@cams.example.com\n", nil, []string{"cams.endpoint: must not contain a user name or password (credentials come from the environment)"}},
		{"endpoint bad URL", base + "cams:\n  endpoint: 'https://[::1'\n", nil, []string{"cams.endpoint: not a valid URL; use https://HOST, like https://cams.ap-southeast-1.aliyuncs.com"}},
		{"qps zero", base + "cams:\n  qps: 0\n", nil, []string{"cams.qps: must be greater than 0 (the account limit is 5 per second)"}},
		{"qps negative", base + "cams:\n  qps: -1\n", nil, []string{"cams.qps: must be greater than 0 (the account limit is 5 per second)"}},
		{"qps NaN", base + "cams:\n  qps: .nan\n", nil, []string{"cams.qps: must be greater than 0 (the account limit is 5 per second)"}},
		{"qps too high", base + "cams:\n  qps: 1001\n", nil, []string{"cams.qps: must be at most 1000 (the account limit is 5 per second)"}},
		{"qps not a number", base + "cams:\n  qps: \"fast\"\n", nil, []string{`cams.qps: want a number, got "fast"`}},
		{"qps a list", base + "cams:\n  qps: [5]\n", nil, []string{`cams.qps: want a number, got a list`}},
		{"timeout zero", base + "cams:\n  timeout: 0s\n", nil, []string{"cams.timeout: must be greater than 0 and at most 5m"}},
		{"timeout negative", base + "cams:\n  timeout: -1s\n", nil, []string{"cams.timeout: must be greater than 0 and at most 5m"}},
		{"timeout too long", base + "cams:\n  timeout: 6m\n", nil, []string{"cams.timeout: must be greater than 0 and at most 5m"}},
		{"timeout without unit", base + "cams:\n  timeout: 10\n", nil, []string{`cams.timeout: want a duration like "10s" or "5m", got "10"`}},
		{"timeout mapping", base + "cams:\n  timeout: {s: 1}\n", nil, []string{`cams.timeout: want a duration like "10s" or "5m", got a mapping`}},
		{"maxRetries too low", base + "cams:\n  maxRetries: -2\n", nil, []string{"cams.maxRetries: must be between -1 (no retries) and 20 (0 means the default, 4)"}},
		{"maxRetries too high", base + "cams:\n  maxRetries: 21\n", nil, []string{"cams.maxRetries: must be between -1 (no retries) and 20 (0 means the default, 4)"}},
		{"maxRetries fraction", base + "cams:\n  maxRetries: 1.5\n", nil, []string{`cams.maxRetries: want a whole number, got "1.5"`}},
		{"concurrency negative", base + "cams:\n  concurrency: -1\n", nil, []string{"cams.concurrency: must be between 0 (automatic) and 256"}},
		{"concurrency too high", base + "cams:\n  concurrency: 257\n", nil, []string{"cams.concurrency: must be between 0 (automatic) and 256"}},
		{"cams not a mapping", base + "cams: fast\n", nil, []string{`cams: want a mapping (key: value lines), got "fast"`}},
		{"state type", base + "state:\n  type: foo\n", nil, []string{`state.type: unknown "foo" (use one of: file, tablestore, oss)`}},
		{"state type close", base + "state:\n  type: fiel\n", nil, []string{`state.type: unknown "fiel" (use one of: file, tablestore, oss) (did you mean "file"?)`}},
		{"state path blank", base + "state:\n  path: '  '\n", nil, []string{"state.path: must not be blank (default .wahealth/state.json)"}},
		{"notifier type missing", base + "notifiers:\n  - name: x\n", nil, []string{"notifiers[0].type: required: one of console, slack, dingtalk, webhook, feishu, wecom"}},
		{"notifier type unknown", base + "notifiers:\n  - type: pagerduty\n", nil, []string{`notifiers[0].type: unknown "pagerduty" (use one of: console, slack, dingtalk, webhook, feishu, wecom)`}},
		{"notifier names", base + "notifiers:\n  - type: console\n    name: a\n  - type: console\n    name: a\n", nil, []string{`notifiers[1].name: "a" is already the name of notifiers[0]; names must be unique`}},
		{"notifier default name taken", base + "notifiers:\n  - type: console\n    name: console-1\n  - type: console\n", nil, []string{`notifiers[1].name: "console-1" is already the name of notifiers[0]; names must be unique`}},
		{"threshold negative", base + "checkFailureThreshold: -1\n", nil, []string{"checkFailureThreshold: must be at least 1 (default 3)"}},
		{"threshold not a number", base + "checkFailureThreshold: three\n", nil, []string{`checkFailureThreshold: want a whole number, got "three"`}},
		{"custSpaceId a list", "custSpaceId: [a]\ntargets:\n  - {nodeType: waba, wabaId: w, custSpaceId: x}\n", nil, []string{"custSpaceId: want a string, got a list"}},
		{"duplicate key", base + "cams:\n  qps: 1\n  qps: 2\n", nil, []string{"cams.qps: duplicate key (first set on line 5); keep one"}},
		{"merge key", base + "cams:\n  <<: {qps: 1}\n", nil, []string{"cams.<<: merge keys (<<) are not supported; write the keys out"}},
		{"non-scalar key", base + "cams:\n  ? [a]\n  : 1\n", nil, []string{"cams: keys must be plain names"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, tc.doc, tc.vars)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want []string
	}{
		{"typo", base + "cams:\n  qsp: 5\n", []string{`cams.qsp: unknown key (did you mean "qps"?)`}},
		{"prefix", "custSpaceId: cs\ntargets:\n  - {nodeType: phone, phone: '1', phoneNumber: '1'}\n", []string{`targets[0].phone: unknown key (did you mean "phoneNumber"?)`}},
		{"case", base + "custSpaceID: cs\n", []string{`custSpaceID: unknown key (did you mean "custSpaceId"?)`}},
		{"snake case", "custSpaceId: cs\ntargets:\n  - {node_type: waba, nodeType: waba, wabaId: w}\n", []string{`targets[0].node_type: unknown key (did you mean "nodeType"?)`}},
		{"one level too high", base + "qps: 5\n", []string{`qps: unknown key (did you mean "cams.qps"?)`}},
		{"nothing close", base + "state:\n  bucket: b\n", []string{"state.bucket: not used by the file store; remove it"}},
		{"odd key", base + "'a b.c': 1\n", []string{`"a b.c": unknown key (known keys here: custSpaceId, cams, targets, state, notifiers, checkFailureThreshold, http, cycle, templatesDir, failureThreshold, successThreshold, sendResolved, repeatInterval, silences, digest)`}},
		{"in a notifier", base + "notifiers:\n  - type: console\n    nmae: x\n", []string{`notifiers[0].nmae: unknown key (did you mean "name"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, problems(t, tc.doc, nil)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProblemsTogetherInDocumentOrder(t *testing.T) {
	doc := `notifiers:
  - type: pagerduty
state:
  type: foo
targets:
  - nodeType: phone
    phoneNumber: abc
  - nodeType: template
    templateCode: t
    labels: {team: x}
  - nodeType: phon
    phone: "1"
cams:
  qsp: 5
  qps: "fast"
  endpoint: http://example.com
checkFailureThreshold: -2
`
	want := []string{
		`notifiers[0].type: unknown "pagerduty" (use one of: console, slack, dingtalk, webhook, feishu, wecom)`,
		`state.type: unknown "foo" (use one of: file, tablestore, oss)`,
		`targets[0].phoneNumber: "abc" is not a phone number`,
		"targets[0].custSpaceId: required: set it on the target or as the top-level custSpaceId",
		"targets[1].custSpaceId: required: set it on the target or as the top-level custSpaceId",
		"targets[1].language: required when nodeType is template",
		`targets[2].nodeType: must be one of waba, phone, template, got "phon" (did you mean "phone"?)`,
		`targets[2].phone: unknown key (did you mean "phoneNumber"?)`,
		"targets[2].custSpaceId: required: set it on the target or as the top-level custSpaceId",
		`cams.qsp: unknown key (did you mean "qps"?)`,
		`cams.qps: want a number, got "fast"`,
		"cams.endpoint: plain http is only allowed for loopback (a simulator); use https://...",
		"checkFailureThreshold: must be at least 1 (default 3)",
	}
	got := problems(t, doc, nil)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}

	_, err := Parse("my.yaml", []byte(doc), env(nil))
	if err == nil {
		t.Fatal("no error")
	}
	wantText := "invalid configuration my.yaml:\n  " + strings.Join(want, "\n  ")
	if err.Error() != wantText {
		t.Errorf("Error() =\n%s\nwant\n%s", err, wantText)
	}
}

func TestValidationErrorText(t *testing.T) {
	e := &ValidationError{Source: "c.yaml", Problems: []Problem{
		{Path: "targets[2].language", Message: "required when nodeType is template"},
		{Message: "whole document"},
	}}
	want := "invalid configuration c.yaml:\n  targets[2].language: required when nodeType is template\n  whole document"
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	if got := (&ValidationError{}).Error(); got != "invalid configuration:" {
		t.Errorf("empty Error() = %q", got)
	}
}

func TestValidateAndSetDefaults(t *testing.T) {
	// Built in code: zero values take their defaults.
	c := &Config{Targets: []Target{{NodeType: "phone", CustSpaceID: "cs", PhoneNumber: "1"}}}
	if err := c.ValidateAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.CAMS.QPS != DefaultQPS || c.CAMS.Timeout.D() != DefaultTimeout || c.CAMS.Concurrency != 20 {
		t.Errorf("defaults not applied: %+v", c.CAMS)
	}
	// Idempotent.
	again := *c
	if err := again.ValidateAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, &again); diff != "" {
		t.Errorf("second call changed the config (-first +second):\n%s", diff)
	}

	bad := &Config{CAMS: CAMS{QPS: -1}, Targets: []Target{{NodeType: "waba"}}}
	err := bad.ValidateAndSetDefaults()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v, want *ValidationError", err)
	}
	want := []Problem{
		{"cams.qps", "must be greater than 0 (the account limit is 5 per second)"},
		{"targets[0].custSpaceId", "required: set it on the target or as the top-level custSpaceId"},
		{"targets[0].wabaId", "required when nodeType is waba"},
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestDemoConfigParses(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "demo", "config.yaml"))
	if err != nil {
		t.Skip("no demo configuration:", err)
	}
	c, err := Parse("examples/demo/config.yaml", data, env(map[string]string{"WAHEALTH_DEMO_ENDPOINT": "http://127.0.0.1:9999"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Targets) == 0 {
		t.Error("no targets")
	}
}
