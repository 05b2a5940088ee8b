package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wahealth/wahealth/pkg/app"
	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/cams/camssim"
	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/monitor"

	"github.com/wahealth/wahealth/pkg/state/oss/ossfake"
	"github.com/wahealth/wahealth/pkg/state/tablestore/otsfake"
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
	if !strings.Contains(out, `"to":"BLOCKED"`) {
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

// Two shards split the targets between them, each with its own state scope.
func TestShardsSplitTargetsAndState(t *testing.T) {
	sim := camssim.New(camssim.Options{AccessKeyID: "id", AccessKeySecret: "secret"})
	u, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dir := t.TempDir()
	var targets strings.Builder
	for i := range 12 {
		fmt.Fprintf(&targets, "  - {nodeType: phone, phoneNumber: \"86138%08d\"}\n", i)
	}
	cfg, err := config.Parse("t.yaml", []byte("custSpaceId: cs\ncams: {endpoint: "+u+"}\nstate: {path: "+filepath.Join(dir, "state.json")+"}\ntargets:\n"+targets.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Env{Credentials: &cams.Credentials{AccessKeyID: "id", AccessKeySecret: "secret"}, Console: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	total := 0
	for i := 1; i <= 2; i++ {
		m, sel, err := a.Shard(context.Background(), i, 2)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := m.Run(context.Background(), monitor.RunOptions{Select: sel})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Checked == 0 || rep.Checked == 12 {
			t.Errorf("shard %d/2 checked %d of 12", i, rep.Checked)
		}
		total += rep.Checked
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("state.shard-%d-of-2.json", i))); err != nil {
			t.Errorf("shard %d/2 state: %v", i, err)
		}
		if again, _, _ := a.Shard(context.Background(), i, 2); again != m {
			t.Error("a shard's monitor is not reused")
		}
	}
	if total != 12 {
		t.Errorf("the shards checked %d targets in all, want each of the 12 once", total)
	}
	if _, _, err := a.Shard(context.Background(), 3, 2); err == nil {
		t.Error("shard 3/2 accepted")
	}
}

// The checker keeps its state in Tablestore (the wire-level fake): -init-state creates the
// table, and two cycles leave one row (saved twice a cycle) whose second cycle saw the change.
func TestCheckerWithTablestoreState(t *testing.T) {
	fake := otsfake.New(otsfake.Options{Credentials: []otsfake.Credential{{AccessKeyID: "sim-access-key-id", AccessKeySecret: "sim-access-key-secret"}}})
	defer fake.Close()
	sc := writeFile(t, "scenario.yaml", scenario)
	cfg := writeFile(t, "c.yaml", `
custSpaceId: cs-1
cams: {maxRetries: -1}
state: {type: tablestore, endpoint: `+fake.URL()+`, instance: `+fake.Instance()+`, table: wahealth_state}
targets:
  - {nodeType: phone, phoneNumber: "8613800000001"}
`)
	code, out, errOut := runChecker(t, nil, "-config", cfg, "-simulate", sc, "-init-state")
	if code != 0 || !strings.Contains(out, "Tablestore table wahealth_state is ready") {
		t.Fatalf("init-state: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runChecker(t, nil, "-config", cfg, "-simulate", sc, "-json", "-every", "1ms", "-cycles", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"to":"BLOCKED"`) {
		t.Errorf("the second cycle did not see the change against the stored baseline:\n%s", out)
	}
	row, ok := fake.Row("wahealth_state", otsfake.Cell{Name: "scope", Value: "default"})
	if !ok {
		t.Fatalf("no state row; rows %v", fake.Rows("wahealth_state"))
	}
	// Each cycle saves twice: the new state with its outbox, then the delivery outcome.
	v, ok := row.Column("version")
	if !ok || v.Value != int64(4) {
		t.Errorf("version column %+v", v)
	}
}
