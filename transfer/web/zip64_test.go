package web

import (
	"archive/zip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A zip past 4 GiB: a sparse 4.5 GiB file and a small one after it (whose
// offset is past 4 GiB), checked by unzip -t and archive/zip. It writes
// 4.5 GiB to the temporary folder and reads it twice, about a minute on
// these machines, so it runs only with FERRY_ZIP64=1.
func TestZip64(t *testing.T) {
	if os.Getenv("FERRY_ZIP64") != "1" {
		t.Skip("writes a 4.5 GiB zip; set FERRY_ZIP64=1 to run it")
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "z", "big.bin")
	os.MkdirAll(filepath.Dir(big), 0o755)
	const bigSize = 4<<30 + 512<<20
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(bigSize); err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("end"), bigSize-3)
	f.Close()
	small := write(t, filepath.Join(dir, "z", "zz-small.txt"), 1000)
	s, err := Share([]string{filepath.Join(dir, "z")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	zpath := filepath.Join(dir, "all.zip")
	zf, err := os.Create(zpath)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteZip(context.Background(), zf); err != nil {
		t.Fatal(err)
	}
	zf.Close()
	if out, err := exec.Command("unzip", "-t", zpath).CombinedOutput(); err != nil {
		t.Fatalf("unzip -t: %v\n%s", err, out)
	} else {
		t.Logf("unzip -t:\n%s", out)
	}
	zr, err := zip.OpenReader(zpath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 2 || zr.File[0].UncompressedSize64 != bigSize {
		t.Fatalf("entries %d, first size %d", len(zr.File), zr.File[0].UncompressedSize64)
	}
	r, err := zr.File[1].Open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != string(small) {
		t.Fatalf("the entry past 4 GiB differs: %v", err)
	}
}
