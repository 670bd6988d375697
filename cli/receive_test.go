package cli

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestPortInUse: a receiver whose port is taken says what to do.
func TestPortInUse(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
	var out, errOut bytes.Buffer
	code := Main([]string{"--home", t.TempDir(), "receive", "--port", port, "--accept", "all", "--dir", t.TempDir()},
		strings.NewReader(""), &out, &errOut)
	if code != ExitError {
		t.Errorf("exit %d, want %d", code, ExitError)
	}
	want := "address already in use; is another ferry receive running? Use --port 0 for any free port\n"
	if !strings.HasPrefix(errOut.String(), "ferry: listen on UDP port "+port) || !strings.HasSuffix(errOut.String(), want) {
		t.Errorf("stderr %q, want the port and …%q", errOut.String(), want)
	}
}
