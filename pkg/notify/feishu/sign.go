package feishu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
)

// Sign computes a custom bot's signature for a request made at timestampSeconds (Unix
// seconds): Feishu's documented recipe uses timestamp + "\n" + secret as the HMAC-SHA256 key
// over an empty message, encoded in standard base64. Feishu accepts it for one hour.
func Sign(secret string, timestampSeconds int64) (string, error) {
	h := hmac.New(sha256.New, []byte(strconv.FormatInt(timestampSeconds, 10)+"\n"+secret))
	if _, err := h.Write(nil); err != nil {
		return "", fmt.Errorf("sign feishu request: %w", err)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}
