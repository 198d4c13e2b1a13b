package namespace

import (
	"encoding/base64"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// utf7 is the modified base64 of RFC 3501 section 5.1.3: ',' for '/', no
// padding.
var utf7 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// encodeUTF7 spells UTF-8 text in IMAP's modified UTF-7, as Cyrus's
// charset_to_imaputf7 does for a +detail: printable ASCII stays, '&'
// becomes "&-", every other run goes as base64 of its UTF-16 between '&'
// and '-'. Invalid UTF-8 becomes U+FFFD.
func encodeUTF7(s string) string {
	if isPlainASCII(s) {
		return strings.ReplaceAll(s, "&", "&-")
	}
	var b strings.Builder
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		raw := make([]byte, 0, 2*len(run))
		for _, u := range run {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(utf7.EncodeToString(raw))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			if r == utf8.RuneError {
				r = '\uFFFD'
			}
			run = utf16.AppendRune(run, r)
		}
	}
	flush()
	return b.String()
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
