// Command zipdir zips the regular files of a directory into a zip file, each at the zip's
// root, for Function Compute code packages on machines without the zip program (it needs only
// Go). Executable files are stored with mode 0755, others with 0644, and every timestamp is
// 1980-01-01 UTC, so the same files always give the same zip.
//
// Usage: go run ./scripts/zipdir DIR OUT.zip
package main

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// epoch is the timestamp of every entry: the earliest a zip's DOS date can hold.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: zipdir DIR OUT.zip")
		os.Exit(2)
	}
	if err := zipDir(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "zipdir:", err)
		os.Exit(1)
	}
}

// zipDir writes the regular files directly inside dir to a new zip file out (replacing it),
// sorted by name. A subdirectory or a special file is an error: an FC package here is flat.
func zipDir(dir, out string) (err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file (the package must be flat)", filepath.Join(dir, e.Name()))
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) == 0 {
		return fmt.Errorf("%s: no files to zip", dir)
	}

	tmp, err := os.CreateTemp(filepath.Dir(out), ".zipdir-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	zw := zip.NewWriter(tmp)
	for _, name := range names {
		if err = addFile(zw, filepath.Join(dir, name), name); err != nil {
			_ = tmp.Close()
			return err
		}
	}
	if err = zw.Close(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// addFile stores the file at path under name, with a normalised mode and the fixed timestamp.
func addFile(zw *zip.Writer, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return errors.New(path + ": not a regular file")
	}
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: epoch}
	h.SetMode(normalMode(info.Mode()))
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

// normalMode is 0755 for a file anyone may execute, else 0644.
func normalMode(m fs.FileMode) fs.FileMode {
	if m.Perm()&0o111 != 0 {
		return 0o755
	}
	return 0o644
}
