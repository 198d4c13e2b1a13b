package imapwire

import (
	"bytes"
	"fmt"
)

// ArgKind is the form an argument was sent in.
type ArgKind uint8

// Forms of an astring (RFC 9051 §9).
const (
	ArgAtom    ArgKind = iota + 1 // INBOX
	ArgQuoted                     // "Sent Items"
	ArgLiteral                    // {5} or {5+}, its octets in the part's Literal
)

// String names the form, for logs and test failures.
func (k ArgKind) String() string {
	switch k {
	case ArgAtom:
		return "atom"
	case ArgQuoted:
		return "quoted"
	case ArgLiteral:
		return "literal"
	}
	return fmt.Sprintf("ArgKind(%d)", uint8(k))
}

// Arg is one argument as the client sent it and as it reads.
type Arg struct {
	Kind ArgKind
	// Raw is the argument's octets as sent: the atom, the quoted string
	// with its quotes and escapes, or the literal header. The proxy
	// forwards these to keep the client's own encoding of a name.
	Raw []byte
	// Value is the argument decoded: the atom, or the quoted string
	// without quotes and escapes. For a literal it is nil: the value is
	// the literal's octets (Reader.ReadLiteral).
	Value []byte
}

// ParseAString parses the astring after the space that starts b: an
// atom, a quoted string or, at the very end of b, a literal header. A
// mailbox name is an astring. b must be a tail of a Part's Line (as
// ParseCommand or a previous ParseAString returns it), since a literal
// header counts as one only at the end of the line. Raw and Value alias b
// unless Value needed unescaping. The rest is returned as is; it is empty
// or starts with whatever followed the argument.
func ParseAString(b []byte) (Arg, []byte, error) {
	return parseArg(b, isAStringChar)
}

// ParseListMailbox is ParseAString for LIST and LSUB's mailbox pattern
// (RFC 9051 list-mailbox), whose unquoted form may hold the wildcards %
// and *.
func ParseListMailbox(b []byte) (Arg, []byte, error) {
	return parseArg(b, isListChar)
}

func parseArg(b []byte, atomChar func(byte) bool) (Arg, []byte, error) {
	if len(b) < 2 || b[0] != ' ' {
		return Arg{}, b, fmt.Errorf("%w: missing argument", ErrSyntax)
	}
	s := b[1:]
	switch {
	case s[0] == '"':
		return parseQuoted(s)
	case s[0] == '{':
		return parseLiteralArg(s)
	case bytes.HasPrefix(s, []byte("~{")):
		return Arg{}, b, fmt.Errorf("%w: binary literal as a string", ErrSyntax)
	}
	atom, rest := span(s, atomChar)
	if len(atom) == 0 {
		return Arg{}, b, fmt.Errorf("%w: invalid argument", ErrSyntax)
	}
	return Arg{Kind: ArgAtom, Raw: atom, Value: atom}, rest, nil
}

// parseQuoted parses the quoted string that starts s. Only \" and \\ are
// escapes (RFC 9051 quoted-specials); 8-bit octets are taken as UTF-8.
func parseQuoted(s []byte) (Arg, []byte, error) {
	var value []byte // nil until an escape makes a copy necessary
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			if value == nil {
				value = s[1:i]
			}
			return Arg{Kind: ArgQuoted, Raw: s[:i+1], Value: value}, s[i+1:], nil
		case '\\':
			if i+1 == len(s) || s[i+1] != '"' && s[i+1] != '\\' {
				return Arg{}, s, fmt.Errorf("%w: invalid escape in quoted string", ErrSyntax)
			}
			if value == nil {
				value = append(make([]byte, 0, len(s)), s[1:i]...)
			}
			i++
			value = append(value, s[i])
		case 0, '\r', '\n':
			return Arg{}, s, fmt.Errorf("%w: control octet in quoted string", ErrSyntax)
		default:
			if value != nil {
				value = append(value, c)
			}
		}
	}
	return Arg{}, s, fmt.Errorf("%w: unterminated quoted string", ErrSyntax)
}

// parseLiteralArg parses the literal header that must make up all of s.
func parseLiteralArg(s []byte) (Arg, []byte, error) {
	digits := s[1:]
	digits = digits[:len(digits)-len(bytes.TrimLeft(digits, "0123456789"))]
	end := s[1+len(digits):]
	if len(digits) == 0 || !bytes.Equal(end, []byte("}")) && !bytes.Equal(end, []byte("+}")) {
		return Arg{}, s, fmt.Errorf("%w: invalid literal header, or not at the end of the line", ErrSyntax)
	}
	return Arg{Kind: ArgLiteral, Raw: s}, s[len(s):], nil
}
