package pairing

import (
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	testID     = "N7XMZDAWQ5KV2PHOWFZLQKAGXK4U5B3VYRDIOO3RSYWMXGMSB6QQ"
	testSecret = "YFDTB4ZQ6XWR2H3KMPLJNAE7SU"
)

func TestParseCode(t *testing.T) {
	good := []string{
		"FERRY:1/192.168.1.23:47011/" + testID + "/" + testSecret,
		"FERRY:1/192.168.1.23:47011,10.0.0.5:47011/" + testID + "/" + testSecret,
		"FERRY:1/[FD00::1]:1,127.0.0.1:65535/" + testID + "/" + testSecret,
	}
	for _, s := range good {
		c, err := ParseCode(s)
		if err != nil {
			t.Errorf("ParseCode(%q): %v", s, err)
			continue
		}
		if c.String() != s {
			t.Errorf("round trip: %q became %q", s, c.String())
		}
		if c.Mode() != ModeQR || string(c.prs()) != testSecret {
			t.Errorf("code %q: mode %v prs %q", s, c.Mode(), c.prs())
		}
	}
	if c, err := ParseCode(" \n" + good[0] + "\r\n"); err != nil || c.String() != good[0] {
		t.Errorf("surrounding space: %v", err)
	}

	bad := map[string]string{
		"lower case prefix":     "ferry:1/192.168.1.23:47011/" + testID + "/" + testSecret,
		"version 2":             "FERRY:2/192.168.1.23:47011/" + testID + "/" + testSecret,
		"no address":            "FERRY:1//" + testID + "/" + testSecret,
		"hostname":              "FERRY:1/LAPTOP.LOCAL:47011/" + testID + "/" + testSecret,
		"port 0":                "FERRY:1/192.168.1.23:0/" + testID + "/" + testSecret,
		"leading zero port":     "FERRY:1/192.168.1.23:047011/" + testID + "/" + testSecret,
		"no port":               "FERRY:1/192.168.1.23/" + testID + "/" + testSecret,
		"lower-case IPv6":       "FERRY:1/[fd00::1]:47011/" + testID + "/" + testSecret,
		"non-canonical IPv6":    "FERRY:1/[FD00:0::1]:47011/" + testID + "/" + testSecret,
		"IPv6 zone":             "FERRY:1/[FE80::1%ETH0]:47011/" + testID + "/" + testSecret,
		"v4-in-v6":              "FERRY:1/[::FFFF:10.0.0.1]:47011/" + testID + "/" + testSecret,
		"unspecified":           "FERRY:1/0.0.0.0:47011/" + testID + "/" + testSecret,
		"multicast":             "FERRY:1/224.0.0.251:5353/" + testID + "/" + testSecret,
		"empty address":         "FERRY:1/192.168.1.23:47011,/" + testID + "/" + testSecret,
		"dashed ID":             "FERRY:1/192.168.1.23:47011/N7XM-ZDAW-Q5KV-2PHO-WFZL-QKAG-XK4U-5B3V-YRDI-OO3R-SYWM-XGMS-B6QQ/" + testSecret,
		"lower-case ID":         "FERRY:1/192.168.1.23:47011/" + strings.ToLower(testID) + "/" + testSecret,
		"short ID":              "FERRY:1/192.168.1.23:47011/" + testID[:51] + "/" + testSecret,
		"non-canonical ID":      "FERRY:1/192.168.1.23:47011/" + testID[:51] + "R/" + testSecret,
		"short secret":          "FERRY:1/192.168.1.23:47011/" + testID + "/" + testSecret[:25],
		"lower-case secret":     "FERRY:1/192.168.1.23:47011/" + testID + "/" + strings.ToLower(testSecret),
		"secret with 1":         "FERRY:1/192.168.1.23:47011/" + testID + "/" + testSecret[:25] + "1",
		"extra field":           "FERRY:1/192.168.1.23:47011/" + testID + "/" + testSecret + "/NLAPTOP",
		"inner space":           "FERRY:1/192.168.1.23:47011 /" + testID + "/" + testSecret,
		"too many addresses":    "FERRY:1/" + strings.Repeat("10.0.0.1:1,", 8) + "10.0.0.1:1/" + testID + "/" + testSecret,
		"far too long":          "FERRY:1/" + strings.Repeat("1", 1000),
		"empty":                 "",
		"prefix only":           "FERRY:1/",
		"a PIN":                 "123456",
		"trailing slash":        "FERRY:1/192.168.1.23:47011/" + testID + "/" + testSecret + "/",
		"secret in the ID slot": "FERRY:1/192.168.1.23:47011/" + testSecret + "/" + testID,
	}
	for name, s := range bad {
		if _, err := ParseCode(s); !errors.Is(err, ErrBadCode) {
			t.Errorf("%s: ParseCode(%q) err = %v, want ErrBadCode", name, s, err)
		}
	}
}

func TestParsePINAndSecret(t *testing.T) {
	for _, s := range []string{"000000", "123456", " 999999\n"} {
		p, err := ParsePIN(s)
		if err != nil || string(p) != strings.TrimSpace(s) {
			t.Errorf("ParsePIN(%q) = %q, %v", s, p, err)
		}
	}
	for _, s := range []string{"", "12345", "1234567", "12345a", "123 456", "１２３４５６", "-12345"} {
		if _, err := ParsePIN(s); !errors.Is(err, ErrBadPIN) {
			t.Errorf("ParsePIN(%q) err = %v", s, err)
		}
	}
	code := "FERRY:1/192.168.1.23:47011/" + testID + "/" + testSecret
	if s, err := ParseSecret("042042"); err != nil || s.Mode() != ModePIN {
		t.Errorf("ParseSecret(PIN) = %v, %v", s, err)
	}
	if s, err := ParseSecret(code + "\n"); err != nil || s.Mode() != ModeQR {
		t.Errorf("ParseSecret(code) = %v, %v", s, err)
	}
	if _, err := ParseSecret("hello"); !errors.Is(err, ErrBadPIN) || !errors.Is(err, ErrBadCode) {
		t.Errorf("ParseSecret(hello) err = %v", err)
	}
	if p := newPIN(); len(p) != 6 || strings.Trim(string(p), "0123456789") != "" {
		t.Errorf("newPIN() = %q", p)
	}
}

func FuzzParseCode(f *testing.F) {
	// Seeds are in testdata/fuzz/FuzzParseCode.
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCode(s)
		if err != nil {
			if !errors.Is(err, ErrBadCode) {
				t.Fatalf("error %v is not ErrBadCode", err)
			}
			return
		}
		text := c.String()
		if text != strings.Trim(s, " \t\r\n") {
			t.Fatalf("accepted %q but it prints as %q", s, text)
		}
		c2, err := ParseCode(text)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("re-parse of %q: %+v, %v", text, c2, err)
		}
		if text != strings.ToUpper(text) || !utf8.ValidString(text) {
			t.Fatalf("code text %q is not upper-case ASCII", text)
		}
	})
}

// zbarimg decodes QR codes; the Debian package is zbar-tools.
func zbarimg(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("zbarimg")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("zbarimg not found (apt-get install zbar-tools)")
		}
		t.Skip("zbarimg not found (apt-get install zbar-tools)")
	}
	return path
}

func decodeQR(t *testing.T, bin, file string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), bin, "--raw", "-q", file).Output()
	if err != nil {
		t.Fatalf("zbarimg %s: %v", file, err)
	}
	return strings.TrimRight(string(out), "\n")
}

func sampleCode(t *testing.T) string {
	c, err := ParseCode("FERRY:1/192.168.1.23:47011,[FD00::23]:47011/" + testID + "/" + testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return c.String()
}

func TestQRPNGRoundTrip(t *testing.T) {
	bin := zbarimg(t)
	text := sampleCode(t)
	img, err := QRPNG(text, 320)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "pair.png")
	if err := os.WriteFile(file, img, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := decodeQR(t, bin, file); got != text {
		t.Fatalf("zbarimg read %q, want %q", got, text)
	}
	if _, err := QRPNG(text, 0); err == nil {
		t.Error("QRPNG size 0 succeeded")
	}
}

// The terminal rendering is what a phone camera sees: turn the half-block
// characters back into modules, draw them, and decode that.
func TestQRTerminalRoundTrip(t *testing.T) {
	bin := zbarimg(t)
	text := sampleCode(t)
	for _, tc := range []struct {
		invert bool
		quiet  int
	}{{false, 4}, {true, 4}, {false, 1}, {true, 2}} {
		invert := tc.invert
		s, err := QRTerminal(text, tc.quiet, 0, invert)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		if n := len(lines); n > 30 {
			t.Errorf("QR code is %d terminal lines", n)
		}
		// glyph → (top lit, bottom lit)
		halves := map[rune][2]bool{' ': {false, false}, '█': {true, true}, '▀': {true, false}, '▄': {false, true}}
		const scale, margin = 4, 8 // margin: the terminal's background around the code
		width := utf8.RuneCountInString(lines[0])
		img := image.NewGray(image.Rect(-margin*scale, -margin*scale, (width+margin)*scale, (len(lines)*2+margin)*scale))
		if !invert { // a dark terminal
			draw.Draw(img, img.Bounds(), image.Black, image.Point{}, draw.Src)
		} else {
			draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
		}
		for row, line := range lines {
			col := 0
			for _, r := range line {
				h, ok := halves[r]
				if !ok {
					t.Fatalf("unexpected glyph %q", r)
				}
				for half := range 2 {
					// A lit glyph shows the terminal's foreground; with
					// invert false that is a light module.
					dark := h[half] == invert
					c := color.Gray{Y: 255}
					if dark {
						c = color.Gray{Y: 0}
					}
					for dy := range scale {
						for dx := range scale {
							img.SetGray(col*scale+dx, (row*2+half)*scale+dy, c)
						}
					}
				}
				col++
			}
		}
		file := filepath.Join(t.TempDir(), "term.png")
		fh, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(fh, img); err != nil {
			t.Fatal(err)
		}
		fh.Close()
		if got := decodeQR(t, bin, file); got != text {
			t.Fatalf("invert=%v, quiet zone %d: zbarimg read %q, want %q", invert, tc.quiet, got, text)
		}
	}
}
