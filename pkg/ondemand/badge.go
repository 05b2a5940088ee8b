package ondemand

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wahealth/wahealth/pkg/health"
)

// badgeLabel is the left half of every badge.
const badgeLabel = "whatsapp"

// badge answers GET /badge.svg?entity=TYPE:id (or ?phoneNumber=...) with a shields-style SVG
// of the entity's last known status, read from the store.
func (h *handler) badge(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-cache")
	key, err := badgeKey(r.URL.Query())
	if err != nil {
		return err
	}
	st, err := h.o.Store.Load(r.Context())
	if err != nil {
		return internal("cannot read the stored state; the log line with this request id has the cause", err)
	}
	if st.Snapshot.Get(key) == nil {
		return &httpError{status: http.StatusNotFound, code: "unknown_entity",
			message: fmt.Sprintf("entity %s is not in the stored state (entities appear once a check cycle returned them)", truncate(key.String(), 100))}
	}
	var e EntityStatus
	for _, x := range buildStatus(st, h.o.Monitor.Targets, h.o.Now()).Entities {
		if x.Key() == key {
			e = x
		}
	}
	msg := string(e.CanSendMessage)
	if msg == "" {
		msg = "UNKNOWN"
	}
	if e.Stale {
		msg += " (stale)"
	}
	svg := renderBadge(badgeLabel, msg, badgeColor(e.CanSendMessage))
	hd := w.Header()
	hd.Set("Content-Type", "image/svg+xml; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	hd.Set("Content-Length", strconv.Itoa(len(svg)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(svg))
	return nil
}

// badgeKey reads the entity of a badge request: entity=TYPE:id, or phoneNumber=... for a
// phone number's entity.
func badgeKey(q url.Values) (health.Key, error) {
	ent, phone := q.Get("entity"), q.Get("phoneNumber")
	switch {
	case ent != "" && phone != "":
		return health.Key{}, badParam("entity", "give entity or phoneNumber, not both")
	case phone != "":
		p := health.NormalizePhone(phone)
		if !digits(p) || len(p) > 32 {
			return health.Key{}, badParam("phoneNumber", "must be a phone number in international format, e.g. 8613800000001")
		}
		return health.Key{Type: health.PhoneNumber, ID: p}, nil
	case ent == "":
		return health.Key{}, badParam("entity", "required: TYPE:id, e.g. PHONE_NUMBER:8613800000001 (or give phoneNumber)")
	}
	typ, id, ok := strings.Cut(ent, ":")
	if !ok || typ == "" || id == "" || len(ent) > 200 {
		return health.Key{}, badParam("entity", "must be TYPE:id, e.g. PHONE_NUMBER:8613800000001 or WABA:1000001")
	}
	k := health.Key{Type: health.EntityType(strings.ToUpper(typ)), ID: id}
	if k.Type == health.PhoneNumber {
		k.ID = health.NormalizePhone(k.ID)
	}
	return k, nil
}

// digits reports whether s is a non-empty string of ASCII digits.
func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// badgeColor is the colour of a status on a badge (shields' palette).
func badgeColor(s health.Status) string {
	switch s {
	case health.Available:
		return "#4c1"
	case health.Limited:
		return "#dfb317"
	case health.Blocked:
		return "#e05d44"
	}
	return "#9f9f9f"
}

// renderBadge draws a two-part badge like shields.io's flat style.
func renderBadge(label, msg, color string) string {
	lw, mw := textWidth(label)+10, textWidth(msg)+10
	total := lw + mw
	l, m := html.EscapeString(label), html.EscapeString(msg)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`, total, l, m)
	fmt.Fprintf(&b, `<title>%s: %s</title>`, l, m)
	b.WriteString(`<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`)
	fmt.Fprintf(&b, `<clipPath id="r"><rect width="%d" height="20" rx="3" fill="#fff"/></clipPath>`, total)
	fmt.Fprintf(&b, `<g clip-path="url(#r)"><rect width="%d" height="20" fill="#555"/><rect x="%d" width="%d" height="20" fill="%s"/><rect width="%d" height="20" fill="url(#s)"/></g>`,
		lw, lw, mw, color, total)
	b.WriteString(`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="110">`)
	for _, part := range []struct {
		text   string
		x, len int
	}{{l, lw * 5, (lw - 10) * 10}, {m, lw*10 + mw*5, (mw - 10) * 10}} {
		fmt.Fprintf(&b, `<text aria-hidden="true" x="%d" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" textLength="%d">%s</text>`, part.x, part.len, part.text)
		fmt.Fprintf(&b, `<text x="%d" y="140" transform="scale(.1)" fill="#fff" textLength="%d">%s</text>`, part.x, part.len, part.text)
	}
	b.WriteString(`</g></svg>`)
	return b.String()
}

// textWidth estimates the width in pixels of s in 11px Verdana, the badge font.
func textWidth(s string) int {
	w := 0.0
	for _, c := range s {
		switch {
		case c == ' ':
			w += 3.9
		case strings.ContainsRune("ijlI.,:;'|!()[]", c):
			w += 3.6
		case strings.ContainsRune("frt", c):
			w += 4.6
		case c == 'm' || c == 'w':
			w += 9.4
		case c == 'M' || c == 'W':
			w += 10.6
		case c >= 'A' && c <= 'Z':
			w += 7.6
		case c >= '0' && c <= '9':
			w += 7.0
		case c >= 'a' && c <= 'z':
			w += 6.6
		default:
			w += 7.0
		}
	}
	return int(w + 0.5)
}
