package deploy_test

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// zipEntry is what the test checks of one file in a code package.
type zipEntry struct {
	Name string
	Mode fs.FileMode
}

// readPackage returns the entries of a code package and the contents of each.
func readPackage(t *testing.T, path string) ([]zipEntry, map[string][]byte) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer zr.Close()
	var entries []zipEntry
	bodies := map[string][]byte{}
	for _, f := range zr.File {
		entries = append(entries, zipEntry{Name: f.Name, Mode: f.Mode()})
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		bodies[f.Name] = b
	}
	return entries, bodies
}

// TestBuildPackage runs scripts/build.sh for real on the checker, with each zipper available,
// and checks the package FC gets: the Linux x86-64 binary named like the handler and the
// configuration, both at the root, the binary executable; a second build gives the same zip.
func TestBuildPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the checker; skipped with -short")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	layout := buildLayout(t)["checker"]
	wantConfig := readFile(t, exampleConfig)
	tools := []string{"go"}
	if _, err := exec.LookPath("zip"); err == nil {
		tools = append(tools, "zip")
	}
	for _, tool := range tools {
		t.Run(tool, func(t *testing.T) {
			dist := t.TempDir()
			env := buildScriptEnv("DIST_DIR="+dist, "ZIP_TOOL="+tool)
			// From another directory, with the configuration given relative to it.
			caller := filepath.Join(repoRoot(t), "examples")
			build := func() []byte {
				t.Helper()
				_, stderr, code := runBuildScript(t, caller, env, "--config", "fc/wahealth.yaml", "checker")
				if code != 0 {
					t.Fatalf("build.sh exit %d:\n%s", code, stderr)
				}
				b, err := os.ReadFile(filepath.Join(dist, "checker.zip"))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			first := build()

			entries, bodies := readPackage(t, filepath.Join(dist, "checker.zip"))
			want := []zipEntry{{Name: "checker", Mode: 0o755}, {Name: layout.Config, Mode: 0o644}}
			if diff := cmp.Diff(want, entries); diff != "" {
				t.Errorf("package entries (-want +got):\n%s", diff)
			}
			if !bytes.Equal(bodies[layout.Config], wantConfig) {
				t.Errorf("%s in the package differs from %s", layout.Config, exampleConfig)
			}
			bin, err := elf.NewFile(bytes.NewReader(bodies["checker"]))
			if err != nil {
				t.Fatalf("the checker binary is not an ELF file: %v", err)
			}
			if bin.Machine != elf.EM_X86_64 || bin.Class != elf.ELFCLASS64 {
				t.Errorf("the checker binary is %v %v, want x86-64 (FC's go1 runtime)", bin.Class, bin.Machine)
			}
			if _, _, code := runBuildScript(t, caller, env, "--verify", "checker"); code != 0 {
				t.Errorf("build.sh --verify checker: exit %d after a build with a configuration", code)
			}

			if second := build(); !bytes.Equal(first, second) {
				t.Errorf("two builds of the same sources gave different zips (%d and %d bytes): s deploy would upload again", len(first), len(second))
			}
		})
	}
}
