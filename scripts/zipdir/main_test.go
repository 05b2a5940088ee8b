package main

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type entry struct {
	Name     string
	Mode     fs.FileMode
	Modified time.Time
	Body     string
}

// readZip returns the entries of the zip file at path, in order.
func readZip(t *testing.T, path string) []entry {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer zr.Close()
	var out []entry
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("open %s in zip: %v", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s in zip: %v", f.Name, err)
		}
		out = append(out, entry{Name: f.Name, Mode: f.Mode(), Modified: f.Modified.UTC(), Body: string(b)})
	}
	return out
}

func writeFiles(t *testing.T, dir string, files map[string]fs.FileMode) {
	t.Helper()
	for name, mode := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("contents of "+name), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
}

func TestZipDir(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]fs.FileMode
		want  []entry
	}{
		{
			name:  "binary and config",
			files: map[string]fs.FileMode{"checker": 0o755, "wahealth.yaml": 0o644},
			want: []entry{
				{Name: "checker", Mode: 0o755, Modified: epoch, Body: "contents of checker"},
				{Name: "wahealth.yaml", Mode: 0o644, Modified: epoch, Body: "contents of wahealth.yaml"},
			},
		},
		{
			name:  "modes are normalised",
			files: map[string]fs.FileMode{"b": 0o700, "a": 0o600, "c": 0o444},
			want: []entry{
				{Name: "a", Mode: 0o644, Modified: epoch, Body: "contents of a"},
				{Name: "b", Mode: 0o755, Modified: epoch, Body: "contents of b"},
				{Name: "c", Mode: 0o644, Modified: epoch, Body: "contents of c"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			out := filepath.Join(t.TempDir(), "pkg.zip")
			if err := zipDir(dir, out); err != nil {
				t.Fatalf("zipDir: %v", err)
			}
			if diff := cmp.Diff(tt.want, readZip(t, out)); diff != "" {
				t.Errorf("zip entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestZipDirIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]fs.FileMode{"ondemand": 0o755, "wahealth.yaml": 0o644})
	out := filepath.Join(t.TempDir(), "pkg.zip")
	if err := zipDir(dir, out); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	for _, name := range []string{"ondemand", "wahealth.yaml"} {
		if err := os.Chtimes(filepath.Join(dir, name), later, later); err != nil {
			t.Fatal(err)
		}
	}
	if err := zipDir(dir, out); err != nil { // replaces the existing zip
		t.Fatal(err)
	}
	second, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("zipping the same files twice gave different zips (%d and %d bytes)", len(first), len(second))
	}
}

func TestZipDirRejects(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantErr string
	}{
		{"empty directory", func(*testing.T, string) {}, "no files to zip"},
		{"subdirectory", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, "must be flat"},
		{"symlink", func(t *testing.T, dir string) {
			if err := os.Symlink("/etc/hostname", filepath.Join(dir, "link")); err != nil {
				t.Skip("no symlinks here:", err)
			}
		}, "must be flat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			out := filepath.Join(t.TempDir(), "pkg.zip")
			err := zipDir(dir, out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("zipDir error = %v, want one containing %q", err, tt.wantErr)
			}
			if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
				t.Errorf("a failed zipDir left %s behind (stat: %v)", out, statErr)
			}
		})
	}
}
