package app_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wahealth/wahealth/pkg/state/oss/ossfake"
)

// The checker keeps its state in OSS (the wire-level fake): -init-state checks the bucket, and
// two cycles leave one document that the second cycle read.
func TestCheckerWithOSSState(t *testing.T) {
	fake := ossfake.New(ossfake.Options{})
	defer fake.Close()
	fake.CreateBucket("wahealth-state")
	fake.AddAccessKey("sim-access-key-id", "sim-access-key-secret") // -simulate signs with the simulator's key
	sc := writeFile(t, "scenario.yaml", scenario)
	cfg := writeFile(t, "c.yaml", `
custSpaceId: cs-1
cams: {maxRetries: -1}
state: {type: oss, endpoint: `+fake.Endpoint()+`, region: `+fake.Region()+`, bucket: wahealth-state}
targets:
  - {nodeType: phone, phoneNumber: "8613800000001"}
`)
	code, out, errOut := runChecker(t, nil, "-config", cfg, "-simulate", sc, "-init-state")
	if code != 0 || !strings.Contains(out, "OSS bucket wahealth-state is reachable") {
		t.Fatalf("init-state: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runChecker(t, nil, "-config", cfg, "-simulate", sc, "-json", "-every", "1ms", "-cycles", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"to": "BLOCKED"`) {
		t.Errorf("the second cycle did not see the change against the stored baseline:\n%s", out)
	}
	doc, ok := fake.Object("wahealth-state", "wahealth/state.json")
	if !ok {
		t.Fatalf("no state document; keys %v", fake.Keys("wahealth-state", ""))
	}
	var st struct {
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal(doc, &st); err != nil || st.Version < 2 {
		t.Errorf("state document version %d (%v)", st.Version, err)
	}
}
