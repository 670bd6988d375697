package pairing

import (
	"errors"
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// maxPNGSize bounds QRPNG's image side, in pixels.
const maxPNGSize = 4096

// ErrQRTooLarge: the QR code does not fit in the size asked for.
var ErrQRTooLarge = errors.New("the QR code does not fit")

// QRTerminal renders text as a QR code for a terminal: half-block
// characters, two modules a character row, with a quiet zone of quiet
// modules on each side (the standard asks for 4; a phone reads a terminal's
// code with 1 or 2). It takes the highest recovery level, Medium or Low,
// whose code is at most maxSide modules wide, quiet zone included (0: no
// limit); ErrQRTooLarge if neither is. With invert false the glyphs draw the
// light modules, which suits a terminal with light text on a dark
// background; invert suits dark text on a light background.
func QRTerminal(text string, quiet, maxSide int, invert bool) (string, error) {
	for _, level := range []qrcode.RecoveryLevel{qrcode.Medium, qrcode.Low} {
		q, err := qrcode.New(text, level)
		if err != nil {
			return "", fmt.Errorf("render QR code: %w", err)
		}
		q.DisableBorder = true
		bits := q.Bitmap()
		if side := len(bits) + 2*quiet; maxSide > 0 && side > maxSide {
			continue
		}
		return halfBlocks(withQuietZone(bits, quiet), invert), nil
	}
	return "", ErrQRTooLarge
}

// withQuietZone surrounds a code's modules with n light modules a side.
func withQuietZone(bits [][]bool, n int) [][]bool {
	side := len(bits) + 2*n
	out := make([][]bool, side)
	for y := range out {
		out[y] = make([]bool, side)
		if y >= n && y < n+len(bits) {
			copy(out[y][n:], bits[y-n])
		}
	}
	return out
}

// halfBlocks draws modules (true: dark) two rows a line. A lit half shows
// the terminal's foreground: a light module unless invert.
func halfBlocks(bits [][]bool, invert bool) string {
	lit := func(y, x int) bool { return y < len(bits) && bits[y][x] == invert }
	glyphs := [2][2]string{{" ", "▄"}, {"▀", "█"}} // [top lit][bottom lit]
	var b strings.Builder
	for y := 0; y < len(bits); y += 2 {
		for x := range bits[y] {
			top, bottom := 0, 0
			if lit(y, x) {
				top = 1
			}
			if lit(y+1, x) {
				bottom = 1
			}
			b.WriteString(glyphs[top][bottom])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// QRPNG renders text as a size×size PNG QR code (dark on light, quiet zone
// included), recovery level Medium.
func QRPNG(text string, size int) ([]byte, error) {
	if size <= 0 || size > maxPNGSize {
		return nil, fmt.Errorf("render QR code: size %d, want 1 to %d", size, maxPNGSize)
	}
	png, err := qrcode.Encode(text, qrcode.Medium, size)
	if err != nil {
		return nil, fmt.Errorf("render QR code: %w", err)
	}
	return png, nil
}
