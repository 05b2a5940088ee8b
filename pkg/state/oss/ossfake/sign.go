package ossfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// The V4 signature, computed here from OSS's public description ("Include a V4 signature in
// the Authorization header") rather than by calling the SDK's signer, so that a disagreement
// between the two shows up as a failed request:
//
//	CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
//	                   AdditionalHeaders \n HashedPayload
//	StringToSign     = "OSS4-HMAC-SHA256" \n x-oss-date \n Scope \n hex(SHA256(CanonicalRequest))
//	Scope            = date/region/oss/aliyun_v4_request
//	SigningKey       = HMAC(HMAC(HMAC(HMAC("aliyun_v4"+secret, date), region), "oss"), "aliyun_v4_request")
//	Signature        = hex(HMAC(SigningKey, StringToSign))
const (
	algorithm       = "OSS4-HMAC-SHA256"
	terminator      = "aliyun_v4_request"
	product         = "oss"
	unsignedPayload = "UNSIGNED-PAYLOAD"
)

// signInput is what a V4 signature covers.
type signInput struct {
	method string
	// bucket and key are decoded; bucket is "" for service-level requests.
	bucket, key string
	rawQuery    string
	header      http.Header
	host        string
	// additional names the optional headers the client chose to sign (lower case).
	additional []string
	// datetime is the x-oss-date value (20060102T150405Z).
	datetime string
	region   string
}

// uriEncode percent-encodes every byte outside RFC 3986's unreserved set (A-Z a-z 0-9 - _ . ~),
// in upper-case hex, leaving "/" alone when keepSlash is set.
func uriEncode(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', keepSlash && c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// canonicalURI is the encoded resource path: /bucket/key for object requests, /bucket/ for
// bucket requests and / for service requests.
func canonicalURI(bucket, key string) string {
	if bucket == "" {
		return "/"
	}
	return uriEncode("/"+bucket+"/"+key, true)
}

// canonicalQuery decodes the query and encodes it again the canonical way: keys and values
// URI-encoded, sorted by encoded key, "key=value" or just "key" for an empty value.
func canonicalQuery(rawQuery string) string {
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		// An unparsable query cannot be signed canonically; signing it as sent makes the
		// signature fail to match, which is the right answer.
		return rawQuery
	}
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(values))
	for k, vs := range values {
		v := ""
		if len(vs) > 0 {
			v = vs[0]
		}
		pairs = append(pairs, pair{uriEncode(k, false), uriEncode(v, false)})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].k < pairs[j].k })
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		if p.v != "" {
			b.WriteByte('=')
			b.WriteString(p.v)
		}
	}
	return b.String()
}

// signedByDefault reports the headers every V4 signature covers.
func signedByDefault(lower string) bool {
	return strings.HasPrefix(lower, "x-oss-") || lower == "content-type" || lower == "content-md5"
}

// canonicalHeaders lists the signed headers, lower-case names sorted, values trimmed and joined
// with commas, one "name:value\n" line each.
func canonicalHeaders(in signInput) string {
	additional := map[string]bool{}
	for _, h := range in.additional {
		additional[h] = true
	}
	values := map[string][]string{}
	for name, vs := range in.header {
		lower := strings.ToLower(name)
		if signedByDefault(lower) || additional[lower] {
			values[lower] = append(values[lower], vs...)
		}
	}
	if additional["host"] {
		values["host"] = []string{in.host}
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		trimmed := make([]string, len(values[n]))
		for i, v := range values[n] {
			trimmed[i] = strings.TrimSpace(v)
		}
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(strings.Join(trimmed, ","))
		b.WriteByte('\n')
	}
	return b.String()
}

// canonicalRequest builds the canonical request of in.
func canonicalRequest(in signInput) string {
	payload := in.header.Get("x-oss-content-sha256")
	if payload == "" {
		payload = unsignedPayload
	}
	return strings.Join([]string{
		in.method,
		canonicalURI(in.bucket, in.key),
		canonicalQuery(in.rawQuery),
		canonicalHeaders(in),
		strings.Join(in.additional, ";"),
		payload,
	}, "\n")
}

// stringToSign builds the string to sign of in.
func stringToSign(in signInput) string {
	sum := sha256.Sum256([]byte(canonicalRequest(in)))
	return algorithm + "\n" + in.datetime + "\n" + scope(in.datetime[:8], in.region) + "\n" + hex.EncodeToString(sum[:])
}

// scope is the credential scope of a signing date and region.
func scope(date, region string) string {
	return date + "/" + region + "/" + product + "/" + terminator
}

// signature computes the hex V4 signature of in with secret.
func signature(secret string, in signInput) string {
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	k := mac([]byte("aliyun_v4"+secret), in.datetime[:8])
	k = mac(k, in.region)
	k = mac(k, product)
	k = mac(k, terminator)
	return hex.EncodeToString(mac(k, stringToSign(in)))
}

// authHeader is a parsed V4 Authorization header.
type authHeader struct {
	accessKeyID, date, region, product, terminator string
	additional                                     []string
	signature                                      string
}

// parseAuthorization parses "OSS4-HMAC-SHA256 Credential=ak/date/region/oss/aliyun_v4_request,
// AdditionalHeaders=a;b, Signature=hex". ok is false when the header is not of that form.
func parseAuthorization(v string) (a authHeader, ok bool) {
	alg, rest, found := strings.Cut(v, " ")
	if !found || alg != algorithm {
		return a, false
	}
	var credential string
	for field := range strings.SplitSeq(rest, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(field), "=")
		if !found {
			return a, false
		}
		switch k {
		case "Credential":
			credential = val
		case "AdditionalHeaders":
			if val == "" {
				return a, false
			}
			for h := range strings.SplitSeq(val, ";") {
				a.additional = append(a.additional, strings.ToLower(strings.TrimSpace(h)))
			}
		case "Signature":
			a.signature = val
		default:
			return a, false
		}
	}
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || a.signature == "" {
		return a, false
	}
	a.accessKeyID, a.date, a.region, a.product, a.terminator = parts[0], parts[1], parts[2], parts[3], parts[4]
	return a, a.accessKeyID != ""
}
