package camssim

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wahealth/wahealth/pkg/health"
)

func TestParseScenario(t *testing.T) {
	src := `
qps: 2.5
latency: 300ms
targets:
  - nodeType: phone
    custSpaceId: cs-demo
    phoneNumber: 8613800000001
    wabaId: "1000001"
    businessId: "2000001"
    steps:
      - {}
      -
      - phone: LIMITED
      - phone: {status: BLOKED, errors: [{code: "141006", description: d, solution: s}]}
        waba: {status: LIMITED}
      - fault: throttle
        times: 3
      - overall: BLOCKED
        app: {errors: [{code: "138025"}]}
        latency: 1s
        wabaId: w2
        omit: [business]
      - extra: [{type: SOMETHING_NEW, canSendMessage: WEIRD_VALUE, phoneNumber: "1", wabaId: w, businessId: b, templateCode: t, language: l, errors: [{code: "1"}]}]
  - nodeType: waba
    wabaId: "1000002"
`
	sc, err := ParseScenario([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &Scenario{
		QPS:     2.5,
		Latency: 300 * time.Millisecond,
		Targets: []Target{
			{
				NodeType: health.NodePhone, CustSpaceID: "cs-demo", PhoneNumber: "8613800000001", WabaID: "1000001", BusinessID: "2000001",
				Steps: []Step{
					{},
					{},
					{Phone: &Row{Status: "LIMITED"}},
					{Phone: &Row{Status: "BLOKED", Errors: []health.Error{{Code: "141006", Description: "d", Solution: "s"}}}, WABA: &Row{Status: "LIMITED"}},
					{Fault: FaultThrottle, Times: 3},
					{Overall: "BLOCKED", App: &Row{Errors: []health.Error{{Code: "138025"}}}, Latency: time.Second, WabaID: "w2", Omit: []string{"business"}},
					{Extra: []ExtraRow{{Type: "SOMETHING_NEW", CanSendMessage: "WEIRD_VALUE", PhoneNumber: "1", WabaID: "w", BusinessID: "b", TemplateCode: "t", Language: "l", Errors: []health.Error{{Code: "1"}}}}},
				},
			},
			{NodeType: health.NodeWABA, WabaID: "1000002"},
		},
	}
	if diff := cmp.Diff(want, sc); diff != "" {
		t.Errorf("scenario (-want +got):\n%s", diff)
	}
}

func TestParseScenarioErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // substring of the error
	}{
		{"unknown top-level key", "qsp: 5", "qsp: unknown key"},
		{"bad qps", "qps: fast", "qps: want a number"},
		{"negative qps", "qps: -1", "qps: want a number >= 0"},
		{"bad latency", "latency: 300", "latency: want a duration"},
		{"targets not a list", "targets: {a: 1}", "targets: want a list"},
		{"unknown target key", "targets: [{nodeType: phone, phoneNumber: '1', phone: x}]", "targets[0].phone: unknown key"},
		{"missing node type", "targets: [{phoneNumber: '1'}]", "targets[0].nodeType: required"},
		{"unknown node type", "targets: [{nodeType: business}]", `targets[0].nodeType: unknown node type "business"`},
		{"phone without number", "targets: [{nodeType: phone}]", "targets[0].phoneNumber: required"},
		{"template without language", "targets: [{nodeType: template, templateCode: t}]", "targets[0].language: required"},
		{"waba without id", "targets: [{nodeType: waba}]", "targets[0].wabaId: required"},
		{"unknown step key", "targets: [{nodeType: waba, wabaId: w}, {nodeType: phone, phoneNumber: '1', steps: [{}, {}, {phone: {statsu: BLOCKED}}]}]", "targets[1].steps[2].phone.statsu: unknown key"},
		{"unknown fault", "targets: [{nodeType: waba, wabaId: w, steps: [{fault: oops}]}]", `targets[0].steps[0].fault: unknown fault "oops"`},
		{"bad times", "targets: [{nodeType: waba, wabaId: w, steps: [{times: 0}]}]", "targets[0].steps[0].times: want an integer >= 1"},
		{"error without code", "targets: [{nodeType: waba, wabaId: w, steps: [{waba: {errors: [{description: d}]}}]}]", "targets[0].steps[0].waba.errors[0].code: required"},
		{"row of another node type", "targets: [{nodeType: waba, wabaId: w, steps: [{phone: BLOCKED}]}]", "targets[0].steps[0].phone: a waba query returns no such row"},
		{"bad omit", "targets: [{nodeType: template, templateCode: t, language: en, steps: [{omit: [phone]}]}]", "targets[0].steps[0].omit[0]"},
		{"extra without type", "targets: [{nodeType: waba, wabaId: w, steps: [{extra: [{canSendMessage: X}]}]}]", "targets[0].steps[0].extra[0].type: required"},
		{"fault with rows", "targets: [{nodeType: waba, wabaId: w, steps: [{fault: throttle, waba: BLOCKED}]}]", "targets[0].steps[0]: a fault step cannot"},
		{"row as list", "targets: [{nodeType: waba, wabaId: w, steps: [{waba: [BLOCKED]}]}]", "targets[0].steps[0].waba: want a status or a mapping"},
		{"duplicate key", "qps: 1\nqps: 2", "qps: duplicate key"},
		{"duplicate target", "targets: [{nodeType: phone, phoneNumber: '+1 2'}, {nodeType: phone, phoneNumber: '12'}]", "targets[1]: matches the same queries as targets[0]"},
		{"not yaml", "targets: [", "parse scenario"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(tc.src))
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if strings.HasPrefix(err.Error(), "C") {
				t.Errorf("error %q starts with a capital", err)
			}
		})
	}
}

func TestParseScenarioEmpty(t *testing.T) {
	for _, src := range []string{"", "# nothing\n", "targets: []"} {
		sc, err := ParseScenario([]byte(src))
		if err != nil || sc == nil || len(sc.Targets) != 0 {
			t.Errorf("ParseScenario(%q) = %+v, %v; want an empty scenario", src, sc, err)
		}
	}
}

func TestLoadScenario(t *testing.T) {
	sc, err := LoadScenario("testdata/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sc.QPS != 5 || len(sc.Targets) != 3 {
		t.Errorf("demo scenario: qps %v, %d targets; want 5 and 3", sc.QPS, len(sc.Targets))
	}
	if _, err := LoadScenario("testdata/missing.yaml"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: error %v, want one naming the file", err)
	}
}

func TestValidateProgrammatic(t *testing.T) {
	sc := &Scenario{Targets: []Target{{NodeType: "phone", PhoneNumber: "1", Steps: []Step{{Times: -1}, {Fault: "nope"}}}}}
	err := sc.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"targets[0].steps[0].times", "targets[0].steps[1].fault"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want it to name %s", err, want)
		}
	}
}

func FuzzParseScenario(f *testing.F) {
	f.Add([]byte(progressionScenario))
	f.Add([]byte("qps: 5\nlatency: 1s\ntargets: [{nodeType: waba, wabaId: w, steps: [{fault: denied}]}]"))
	f.Add([]byte("targets: [{nodeType: template, templateCode: t, language: en, steps: [{template: X, extra: [{type: Y}], omit: [app]}]}]"))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("targets: &t [{nodeType: phone, phoneNumber: '1', steps: [&s {phone: *s}]}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := ParseScenario(b)
		if err == nil {
			if sc == nil {
				t.Fatal("nil scenario without error")
			}
			if err := sc.Validate(); err != nil {
				t.Fatalf("parsed scenario does not validate: %v", err)
			}
		}
	})
}
