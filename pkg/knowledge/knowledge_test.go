package knowledge_test

import (
	"strings"
	"testing"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/knowledge"
)

func TestBuiltin(t *testing.T) {
	b := knowledge.Builtin()
	e, ok := b.Lookup("141006")
	if !ok || !strings.Contains(e.Fix, "payment method") || e.Level != "waba" {
		t.Errorf("141006: %+v", e)
	}
	if _, ok := b.Lookup("999999"); ok {
		t.Error("an unknown code was found")
	}
	// The calling-only marks agree with the domain's rule.
	for code, e := range b {
		if e.CallingOnly != health.CallingOnly(code) {
			t.Errorf("%s: callingOnly %v, health.CallingOnly %v", code, e.CallingOnly, health.CallingOnly(code))
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := map[string]string{
		"codes: [{meaning: m, fix: f, confidence: documented}]":                                                                 "codes[0]: code is required",
		"codes: [{code: '1', fix: f, confidence: documented}]":                                                                  "codes[0] (1): meaning and fix are required",
		"codes: [{code: '1', meaning: m, fix: f, confidence: rumour}]":                                                          "confidence must be documented, relayed or observed",
		"codes: [{code: '1', meaning: m, fix: f, confidence: observed}, {code: '1', meaning: m, fix: f, confidence: observed}]": "1 appears twice",
	}
	for in, want := range tests {
		if _, err := knowledge.Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", in, err, want)
		}
	}
}
