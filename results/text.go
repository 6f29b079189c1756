package results

import (
	"strings"
	"unicode/utf8"
)

// The console is whatever bytes the guest wrote; the model keeps them as
// they came. Each writer makes them safe for its format here.

// xmlText makes s valid XML 1.0 character data: invalid UTF-8 becomes
// U+FFFD and the characters XML 1.0 does not allow at all (the C0
// controls but tab, newline and carriage return; U+FFFE, U+FFFF; lone
// surrogates, which Go never decodes) are dropped. encoding/xml escapes
// what remains.
func xmlText(s string) string {
	if isXMLClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteRune(utf8.RuneError)
		case xmlChar(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isXMLClean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// xmlChar is XML 1.0's Char production.
func xmlChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// lineText makes s one safe line of TAP: invalid UTF-8 and control
// characters (a newline would end the line, an escape sequence would
// reach the reader's terminal) become U+FFFD; tabs stay.
func lineText(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c < 0x20 && c != '\t' || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r == utf8.RuneError && n == 1 || r < 0x20 && r != '\t' || r >= 0x7f && r < 0xa0 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}
