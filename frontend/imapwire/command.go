package imapwire

import "fmt"

// Command is the start of a command line: all the proxy must understand
// to route a command it otherwise forwards unparsed.
type Command struct {
	// Tag is the client's tag, byte for byte; replies must echo it.
	Tag string
	// Name is the command name in upper case, since IMAP keywords are
	// case-insensitive (RFC 9051 §9), e.g. "SELECT" or "UID".
	Name string
	// Sub is the upper-cased command after UID (FETCH, STORE, COPY, MOVE,
	// SEARCH, EXPUNGE...), so a caller can route UID variants like their
	// plain forms; empty for any other command.
	Sub string
}

// ParseCommand parses the tag, the command name and, after UID, the
// sub-command at the start of line, the Line of a command's first part.
// The rest, returned as is, is empty or starts with the space before the
// first argument. On a syntax error the Command holds what was parsed
// (the tag, once there is one), so the reply can be tagged.
func ParseCommand(line []byte) (Command, []byte, error) {
	var c Command
	tag, rest := span(line, isTagChar)
	if len(tag) == 0 {
		return c, line, fmt.Errorf("%w: missing or invalid tag", ErrSyntax)
	}
	c.Tag = string(tag)
	name, rest, err := parseWord(rest)
	if err != nil {
		return c, rest, fmt.Errorf("%w: missing or invalid command name", ErrSyntax)
	}
	c.Name = upper(name)
	if c.Name != "UID" {
		return c, rest, nil
	}
	sub, rest, err := parseWord(rest)
	if err != nil {
		return c, rest, fmt.Errorf("%w: missing or invalid UID command", ErrSyntax)
	}
	c.Sub = upper(sub)
	return c, rest, nil
}

// parseWord parses SP atom, where the atom ends the line or is followed
// by a space.
func parseWord(b []byte) (word, rest []byte, err error) {
	if len(b) == 0 || b[0] != ' ' {
		return nil, b, ErrSyntax
	}
	word, rest = span(b[1:], isAtomChar)
	if len(word) == 0 || len(rest) > 0 && rest[0] != ' ' {
		return nil, b, ErrSyntax
	}
	return word, rest, nil
}

// span splits b after its longest prefix of octets for which ok holds.
func span(b []byte, ok func(byte) bool) (prefix, rest []byte) {
	i := 0
	for i < len(b) && ok(b[i]) {
		i++
	}
	return b[:i], b[i:]
}

// upper returns b with ASCII letters in upper case. Unlike
// strings.ToUpper it leaves other octets alone, even invalid UTF-8.
func upper(b []byte) string {
	u := make([]byte, len(b))
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		u[i] = c
	}
	return string(u)
}

// isAtomChar reports an ATOM-CHAR (RFC 9051 §9): any CHAR but
// atom-specials. Octets above 0x7F are accepted too: clients send raw
// UTF-8 mailbox names, and refusing what the backend would take would
// make the proxy less transparent than the backend is strict.
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']', 0x7f:
		return false
	}
	return c > 0x1f
}

// isAStringChar reports an ASTRING-CHAR: an ATOM-CHAR or "]".
func isAStringChar(c byte) bool { return c == ']' || isAtomChar(c) }

// isTagChar reports an octet of a tag: an ASTRING-CHAR but "+".
func isTagChar(c byte) bool { return c != '+' && isAStringChar(c) }

// isListChar reports an octet of an unquoted LIST pattern: an
// ASTRING-CHAR or a wildcard.
func isListChar(c byte) bool { return c == '%' || c == '*' || isAStringChar(c) }
