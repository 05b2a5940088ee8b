package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpand(t *testing.T) {
	vars := env(map[string]string{"A": "alpha", "EMPTY": "", "B_2": "beta"})
	for _, tc := range []struct {
		in, want, refs string
		problems       []string
	}{
		{"plain", "plain", "", nil},
		{"${A}", "alpha", "${A}", nil},
		{"x-${A}-${B_2}-y", "x-alpha-beta-y", "${A}, ${B_2}", nil},
		{"${MISSING:-fallback}", "fallback", "${MISSING}", nil},
		{"${EMPTY:-fallback}", "fallback", "${EMPTY}", nil},
		{"${A:-fallback}", "alpha", "${A}", nil},
		{"${MISSING:-}", "", "${MISSING}", nil},
		{"${EMPTY}", "", "${EMPTY}", nil},
		{"${MISSING:-a:-b}", "a:-b", "${MISSING}", nil},
		{"$${A}", "${A}", "", nil},
		{"$$${A}", "$${A}", "", nil},
		{"cost $5 and $A and $", "cost $5 and $A and $", "", nil},
		{"$$", "$$", "", nil},
		{"${MISSING}", "", "${MISSING}", []string{"environment variable MISSING is not set"}},
		{"${M1}${M2}", "", "${M1}, ${M2}", []string{"environment variable M1 is not set", "environment variable M2 is not set"}},
		{"${A", "${A", "", []string{`unterminated "${" (write "$${" for a literal "${")`}},
		{"${}", "", "", []string{`invalid reference "${}": write ${NAME} or ${NAME:-default}, NAME being letters, digits and _ (write $${ for a literal ${)`}},
		{"${1A}", "", "", []string{`invalid reference "${1A}": write ${NAME} or ${NAME:-default}, NAME being letters, digits and _ (write $${ for a literal ${)`}},
		{"${A B}", "", "", []string{`invalid reference "${A B}": write ${NAME} or ${NAME:-default}, NAME being letters, digits and _ (write $${ for a literal ${)`}},
		{"${A-x}", "", "", []string{`invalid reference "${A-x}": write ${NAME} or ${NAME:-default}, NAME being letters, digits and _ (write $${ for a literal ${)`}},
	} {
		got, refs, problems := expand(tc.in, vars)
		if got != tc.want || refs != tc.refs || !cmp.Equal(problems, tc.problems) {
			t.Errorf("expand(%q) = %q, %q, %q; want %q, %q, %q", tc.in, got, refs, problems, tc.want, tc.refs, tc.problems)
		}
	}
}

func TestParseExpandsValues(t *testing.T) {
	secret := "s3cr3t: with # yaml\n- metacharacters 'and' \"quotes\" ${NOT_EXPANDED_AGAIN}"
	c := mustParse(t, `
custSpaceId: ${CS}
cams:
  qps: ${QPS}
  timeout: "${TIMEOUT:-30s}"
  maxRetries: ${RETRIES:-}
  concurrency: "${CONC}"
targets:
  - nodeType: ${NT:-phone}
    phoneNumber: ${PHONE}
    labels:
      secret: ${SECRET}
      literal: "$${NOT_A_VAR} costs $5"
      dollar: $HOME
`, map[string]string{
		"CS": "cs-env", "QPS": "2", "CONC": "7", "PHONE": "+86 138 0000 0001", "SECRET": secret,
	})
	want := &Config{
		CustSpaceID: "cs-env",
		CAMS: CAMS{
			Endpoint:    DefaultEndpoint,
			QPS:         2,
			Timeout:     Duration(30e9),
			MaxRetries:  DefaultMaxRetries,
			Concurrency: 7, SkipCoveredWaba: true,
		},
		Targets: []Target{{
			NodeType: "phone", CustSpaceID: "cs-env", PhoneNumber: "+86 138 0000 0001",
			Labels: map[string]string{"secret": secret, "literal": "${NOT_A_VAR} costs $5", "dollar": "$HOME"},
		}},
		State:                 State{Type: DefaultStateType, Path: DefaultStatePath},
		Notifiers:             []Notifier{{Type: DefaultNotifier, Name: DefaultNotifier}},
		CheckFailureThreshold: DefaultCheckFailureThreshold,
		HTTP:                  HTTP{Auth: DefaultHTTPAuth, MaxBodyBytes: DefaultMaxBodyBytes, AdhocQPS: DefaultAdhocQPS},
		FailureThreshold:      1,
		SuccessThreshold:      1,
		SendResolved:          true,
		RepeatInterval:        Duration(DefaultRepeatInterval),
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseEnvProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		vars map[string]string
		want []string
	}{
		{"unset", "custSpaceId: ${CS}\ntargets:\n  - {nodeType: phone, phoneNumber: '${PHONE}'}\n", nil, []string{
			"custSpaceId: environment variable CS is not set",
			"targets[0].phoneNumber: environment variable PHONE is not set",
		}},
		{"unset number", base + "cams:\n  qps: ${QPS}\n", nil, []string{"cams.qps: environment variable QPS is not set"}},
		{"not a number", base + "cams:\n  qps: ${QPS}\n", map[string]string{"QPS": "fast"}, []string{"cams.qps: want a number, got the value of ${QPS}"}},
		{"bad reference", base + "state:\n  path: ${1X}\n", nil, []string{`state.path: invalid reference "${1X}": write ${NAME} or ${NAME:-default}, NAME being letters, digits and _ (write $${ for a literal ${)`}},
		{"keys are not expanded", base + "${KEY}: 1\n", map[string]string{"KEY": "checkFailureThreshold"}, []string{`"${KEY}": unknown key (known keys here: custSpaceId, cams, targets, state, notifiers, checkFailureThreshold, http, cycle, templatesDir, failureThreshold, successThreshold, sendResolved, repeatInterval, silences, digest)`}},
		{"values under unknown keys are not expanded", base + "extra: ${NOPE}\n", nil, []string{"extra: unknown key (known keys here: custSpaceId, cams, targets, state, notifiers, checkFailureThreshold, http, cycle, templatesDir, failureThreshold, successThreshold, sendResolved, repeatInterval, silences, digest)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, problems(t, tc.doc, tc.vars)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSecretValuesNeverInErrors puts the value of a variable into every field whose message
// could quote a value, and checks that no error shows it.
func TestSecretValuesNeverInErrors(t *testing.T) {
	const value = "hunter2-Very-Secret"
	vars := map[string]string{"SECRET": value, "URL": "http://" + value + ".example.com/" + value}
	doc := `
custSpaceId: ${SECRET}
cams:
  endpoint: ${URL}
  qps: ${SECRET}
  timeout: ${SECRET}
  maxRetries: ${SECRET}
  concurrency: x${SECRET}
targets:
  - nodeType: ${SECRET}
  - nodeType: phone
    phoneNumber: ${SECRET}
    labels: {a: "${SECRET}"}
  - nodeType: phon${SECRET}
state:
  type: ${SECRET}
notifiers:
  - type: ${SECRET}
    name: ${SECRET}
  - type: console
    name: ${SECRET}
checkFailureThreshold: ${SECRET}
`
	got := problems(t, doc, vars)
	for _, p := range got {
		if strings.Contains(p, "hunter2") {
			t.Errorf("problem shows the secret: %s", p)
		}
	}
	want := []string{
		"cams.endpoint: must not have a path, query or fragment; use https://HOST, like https://cams.ap-southeast-1.aliyuncs.com",
		"cams.qps: want a number, got the value of ${SECRET}",
		`cams.timeout: want a duration like "10s" or "5m", got the value of ${SECRET}`,
		"cams.maxRetries: want a whole number, got the value of ${SECRET}",
		"cams.concurrency: want a whole number, got the value of ${SECRET}",
		"targets[0].nodeType: must be one of waba, phone, template, got the value of ${SECRET}",
		"targets[1].phoneNumber: the value of ${SECRET} is not a phone number",
		"targets[2].nodeType: must be one of waba, phone, template, got the value of ${SECRET}",
		"state.type: unknown the value of ${SECRET} (use one of: file, tablestore, oss)",
		"notifiers[0].type: unknown the value of ${SECRET} (use one of: console, slack, dingtalk, webhook, feishu, wecom)",
		"notifiers[1].name: the value of ${SECRET} is already the name of notifiers[0]; names must be unique",
		"checkFailureThreshold: want a whole number, got the value of ${SECRET}",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
