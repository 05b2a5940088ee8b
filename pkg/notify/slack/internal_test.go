package slack

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 30 ", 30 * time.Second},
		{"-5", 0},
		{"soon", 0},
		{"999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.header, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.header, got, tc.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"0123456789abc", 10, "012345678…"},
		{"🔴🔴🔴🔴🔴🔴", 7, "🔴🔴🔴…"}, // an emoji counts as two characters
		{"abcdef &amp; more", 10, "abcdef…"},
		{"abc &lt;x&gt; tail", 12, "abc &lt;x…"},
		{"line one\n\nline two", 11, "line one…"},
	} {
		got := truncate(tc.in, tc.limit)
		if got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
		if textLen(got) > tc.limit {
			t.Errorf("truncate(%q, %d) is %d long", tc.in, tc.limit, textLen(got))
		}
	}
}

func TestSlackCode(t *testing.T) {
	for in, want := range map[string]string{
		"no_service\n":          "no_service",
		"invalid_payload":       "invalid_payload",
		"<html>oops</html>":     "",
		"Post \"https://x\"":    "",
		strings.Repeat("a", 65): "",
	} {
		if got := slackCode([]byte(in)); got != want {
			t.Errorf("slackCode(%q) = %q, want %q", in, got, want)
		}
	}
}
