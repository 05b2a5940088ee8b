package ondemand_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the status page's screenshot to docs/status-page.png")

// screenshotPath is where -update-screenshot writes, relative to this package.
const screenshotPath = "../../docs/status-page.png"

// chromiumPath finds the browser: $CHROMIUM_PATH, else chromium on $PATH. Without one the
// test is skipped, unless WAHEALTH_REQUIRE_BROWSER=1 (CI) makes that a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium is not installed (apt-get install -y chromium, or set CHROMIUM_PATH): the status page is not tested in a browser"
	if os.Getenv("WAHEALTH_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + ", and WAHEALTH_REQUIRE_BROWSER=1 requires it")
	}
	t.Skip(msg)
	return ""
}

// browserRow is what a person sees of one entity row.
type browserRow struct {
	Entity    string `json:"entity"`
	Status    string `json:"status"`
	Text      string `json:"text"`
	Group     string `json:"group"`
	RowColor  string `json:"rowColor"`
	PillColor string `json:"pillColor"`
	Height    int    `json:"height"`
}

// readRows collects the rows of the page as rendered: their text, the WABA heading above
// them, and their computed colours.
const readRows = `Array.from(document.querySelectorAll("tr.entity")).map(tr => ({
	entity: tr.dataset.entity,
	status: tr.dataset.status,
	text: tr.innerText.replace(/\s+/g, " ").trim(),
	group: tr.closest("section").querySelector("h2").innerText.replace(/\s+/g, " ").trim(),
	rowColor: getComputedStyle(tr).backgroundColor,
	pillColor: getComputedStyle(tr.querySelector(".pill")).backgroundColor,
	height: Math.round(tr.getBoundingClientRect().height),
}))`

func TestStatusPageInBrowser(t *testing.T) {
	bin := chromiumPath(t)
	r := newRig(t, nil)
	r.cycle(t)
	r.cycle(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var browserLog bytes.Buffer
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
		chromedp.CombinedOutput(&browserLog),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	fail := func(what string, err error) {
		t.Helper()
		t.Fatalf("%s: %v\nbrowser output:\n%s", what, err, browserLog.String())
	}

	// The page is fetched the way a person's browser would with the token: as a header on
	// every request (the real authentication path, not a bypass).
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
		fail("enable network", err)
	}
	if _, err := chromedp.Call(bctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer " + token}}); err != nil {
		fail("set the token header", err)
	}
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1200, 900)); err != nil {
		fail("viewport", err)
	}
	resp, err := chromedp.RunResponse(bctx, chromedp.Navigate(r.srv.URL+"/status?format=html"))
	if err != nil {
		fail("open the status page", err)
	}
	if resp.Status != 200 {
		t.Fatalf("the status page answered %d", resp.Status)
	}

	title, err := chromedp.Run(bctx, chromedp.Title())
	if err != nil {
		fail("title", err)
	}
	if title != "BLOCKED · WhatsApp health · wahealth" {
		t.Errorf("title %q", title)
	}
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]browserRow](readRows))
	if err != nil {
		fail("read the rows", err)
	}
	byEntity := map[string]browserRow{}
	var order []string
	for _, row := range rows {
		byEntity[row.Entity] = row
		order = append(order, row.Group+" | "+row.Entity)
		if row.Height == 0 {
			t.Errorf("row %s is not visible", row.Entity)
		}
	}
	// Grouped by WABA, what sends first; a row without a WABA last.
	wantOrder := []string{
		"BLOCKED WABA 1000001 | PHONE_NUMBER:8613800000001",
		"BLOCKED WABA 1000001 | PHONE_NUMBER:8613800000002",
		"BLOCKED WABA 1000001 | WABA:1000001",
		"BLOCKED WABA 1000001 | BUSINESS:2000001",
		"BLOCKED WABA 1000001 | APP:cs-test",
		"LIMITED WABA 1000002 | PHONE_NUMBER:6281200000003",
		"LIMITED WABA 1000002 | MESSAGE_TEMPLATE:order_shipped:en_US",
		"LIMITED WABA 1000002 | WABA:1000002",
		"LIMITED WABA 1000002 | BUSINESS:2000002",
		"LIMITED WABA 1000002 | SOMETHING_NEW:1000002",
		"AVAILABLE WABA 1000003 | PHONE_NUMBER:6281200000004",
		"AVAILABLE WABA 1000003 | WABA:1000003",
		"AVAILABLE WABA 1000003 | BUSINESS:2000003",
	}
	if d := cmp.Diff(wantOrder, order); d != "" {
		t.Errorf("rows as shown (-want +got):\n%s", d)
	}

	// What a person reads in each row.
	texts := []struct {
		entity string
		want   []string
	}{
		{"PHONE_NUMBER:8613800000001", []string{"BLOCKED", "Phone number", "+8613800000001", "141006",
			"There is an error with the payment method.",
			"Fix: There was an error with your payment method. Please add a new payment method to the account.",
			"2026-11-28 09:10 UTC", "just now"}},
		{"WABA:1000001", []string{"BLOCKED", "WABA", "1000001", "141006", "Fix: There was an error with your payment method."}},
		{"PHONE_NUMBER:6281200000003", []string{"LIMITED", "+6281200000003", "No problems reported"}},
		{"BUSINESS:2000002", []string{"LIMITED", "Business", "141010", "The Business has not passed business verification.",
			"Fix: Visit business settings and start or resolve the business verification request."}},
		{"MESSAGE_TEMPLATE:order_shipped:en_US", []string{"AVAILABLE", "Template", "order_shipped (en_US)"}},
		{"SOMETHING_NEW:1000002", []string{"WEIRD_VALUE", "SOMETHING_NEW"}},
		{"PHONE_NUMBER:6281200000004", []string{"AVAILABLE", "2026-11-28 09:05 UTC", "5 min ago", "STALE", "last check failed"}},
	}
	for _, tt := range texts {
		row, ok := byEntity[tt.entity]
		if !ok {
			t.Errorf("no row for %s", tt.entity)
			continue
		}
		for _, want := range tt.want {
			if !strings.Contains(row.Text, want) {
				t.Errorf("row %s reads %q, without %q", tt.entity, row.Text, want)
			}
		}
	}
	if strings.Contains(byEntity["PHONE_NUMBER:8613800000002"].Text, "STALE") {
		t.Errorf("a fresh row is marked stale: %q", byEntity["PHONE_NUMBER:8613800000002"].Text)
	}

	// Colours: BLOCKED rows red, LIMITED amber, AVAILABLE green, an unknown status grey.
	colors := []struct {
		entity string
		is     func(rgb) bool
		what   string
	}{
		{"PHONE_NUMBER:8613800000001", rgb.reddish, "red"},
		{"WABA:1000001", rgb.reddish, "red"},
		{"PHONE_NUMBER:6281200000003", rgb.amber, "amber"},
		{"PHONE_NUMBER:8613800000002", rgb.greenish, "green"},
		{"SOMETHING_NEW:1000002", rgb.grey, "grey"},
	}
	for _, c := range colors {
		row := byEntity[c.entity]
		for _, css := range []string{row.RowColor, row.PillColor} {
			col, err := parseRGB(css)
			if err != nil {
				t.Errorf("%s: %v", c.entity, err)
			} else if !c.is(col) {
				t.Errorf("%s (%s) is coloured %s, not %s", c.entity, row.Status, css, c.what)
			}
		}
	}

	// The summary and the failing check are shown too.
	header, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(".counts").innerText + " | " +
		document.querySelector("#last-cycle").innerText + " | " + document.querySelector("#failing").innerText`))
	if err != nil {
		fail("read the summary", err)
	}
	header = strings.Join(strings.Fields(header), " ")
	for _, want := range []string{"2 blocked", "2 limited", "8 available", "1 unknown status", "3 stale",
		"4 targets checked, 1 failed", "Checks failing", "phone 6281200000004 in custSpace cs-test", "1 failed check in a row",
		"ServiceUnavailable (HTTP 503"} {
		if !strings.Contains(header, want) {
			t.Errorf("the page's summary %q lacks %q", header, want)
		}
	}

	// On a phone the page fits the screen: nothing scrolls sideways.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2))); err != nil {
		fail("phone viewport", err)
	}
	overflow, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
	if err != nil {
		fail("measure the phone layout", err)
	}
	if overflow > 0 {
		t.Errorf("on a 390 px wide phone the page scrolls sideways by %d px", overflow)
	}
	phoneRows, err := chromedp.Run(bctx, chromedp.Evaluate[[]browserRow](readRows))
	if err != nil {
		fail("read the rows on a phone", err)
	}
	for _, row := range phoneRows {
		if row.Entity == "PHONE_NUMBER:8613800000001" && !strings.Contains(row.Text, "Fix: There was an error with your payment method.") {
			t.Errorf("on a phone the blocked row reads %q", row.Text)
		}
	}

	if *updateScreenshot {
		if err := chromedp.Do(bctx, chromedp.EmulateViewport(1200, 900)); err != nil {
			fail("desktop viewport", err)
		}
		shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			fail("screenshot", err)
		}
		png := recompress(t, shot)
		if len(png) > 300<<10 {
			t.Errorf("the screenshot is %d KB, more than 300 KB", len(png)>>10)
		}
		if err := os.MkdirAll(filepath.Dir(screenshotPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(screenshotPath, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d KB)", screenshotPath, len(png)>>10)
	}
}

// rgb is a computed CSS colour.
type rgb struct{ r, g, b int }

// parseRGB reads getComputedStyle's "rgb(r, g, b)" or "rgba(r, g, b, a)".
func parseRGB(css string) (rgb, error) {
	var c rgb
	s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(css, "rgba("), "rgb("), ")")
	parts := strings.Split(s, ",")
	if len(parts) < 3 {
		return c, fmt.Errorf("colour %q: want rgb(r, g, b)", css)
	}
	for i, p := range []*int{&c.r, &c.g, &c.b} {
		v, err := strconv.Atoi(strings.TrimSpace(parts[i]))
		if err != nil {
			return c, fmt.Errorf("colour %q: %w", css, err)
		}
		*p = v
	}
	return c, nil
}

// reddish: red clearly above green and blue, which are close to each other.
func (c rgb) reddish() bool { return c.r-max(c.g, c.b) >= 15 && abs(c.g-c.b) <= 25 }

// amber: red at least green, both well above blue.
func (c rgb) amber() bool { return c.r >= c.g && c.g-c.b >= 40 && !c.reddish() }

// greenish: green above red and blue.
func (c rgb) greenish() bool { return c.g-max(c.r, c.b) >= 8 }

// grey: no channel stands out.
func (c rgb) grey() bool {
	return max(c.r, c.g, c.b)-min(c.r, c.g, c.b) <= 20 && !c.greenish() && !c.reddish()
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// recompress re-encodes a PNG at the best compression, to keep the README's picture small.
func recompress(t *testing.T, b []byte) []byte {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, img); err != nil {
		t.Fatalf("encode screenshot: %v", err)
	}
	return out.Bytes()
}
