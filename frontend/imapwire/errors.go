package imapwire

import "errors"

// Protocol errors. Each leaves the Reader usable: the caller answers the
// command (BAD, or NO for a literal it will not take) and reads on.
var (
	// ErrLineTooLong is a command line segment longer than
	// Options.MaxLine, which a server answers with BAD rather than
	// buffer without bound.
	ErrLineTooLong = errors.New("imapwire: line too long")
	// ErrLiteralTooLarge is a literal larger than the caller accepts.
	ErrLiteralTooLarge = errors.New("imapwire: literal too large")
	// ErrNUL is a NUL octet where only a binary literal (RFC 3516) may
	// carry one.
	ErrNUL = errors.New("imapwire: NUL octet outside a binary literal")
	// ErrSyntax is a malformed tag, command name, argument or response;
	// it is wrapped with what was wrong.
	ErrSyntax = errors.New("imapwire: syntax error")
)

// ErrNoLiteral reports a call to ReadLiteral when the last part carried
// no literal: a mistake of the caller.
var ErrNoLiteral = errors.New("imapwire: no literal to read")
