package imapproxy

import (
	"bytes"
	"errors"
	"strings"

	"github.com/roost-mail/roost/frontend/imapwire"
)

// Selection and return options of LIST-EXTENDED (RFC 5258) and the
// extensions Cyrus knows, as bits.
const (
	selSubscribed = 1 << iota
	selRemote
	selRecursiveMatch
	selSpecialUse
	selMetadata
)

const (
	retSubscribed = 1 << iota
	retChildren
	retSpecialUse
	retStatus
	retMyRights
	retMetadata
)

// listArgs is a parsed LIST command.
type listArgs struct {
	// extended: selection options, several patterns or return options
	// were given, and the reply follows RFC 5258 (\NonExistent rather
	// than \Noselect).
	extended bool
	sel, ret int
	ref      string
	patterns []string
	// status is the STATUS return option's parenthesised items, as sent.
	status string
	// selWords and ret are the selection options and the return
	// options' list as sent, to write the LIST again for a backend.
	selWords []string
	retText  string
}

var errListSyntax = errors.New("invalid syntax in LIST command")

// parseListArgs parses what follows LIST: [(selection)] reference
// pattern-or-patterns [RETURN (options)].
func parseListArgs(rest []byte) (listArgs, error) {
	var a listArgs
	b := rest
	if opts, after, ok := parenthesised(b); ok {
		a.extended = true
		a.selWords = strings.Fields(opts)
		for _, o := range strings.Fields(strings.ToUpper(opts)) {
			switch o {
			case "SUBSCRIBED":
				a.sel |= selSubscribed
				a.ret |= retSubscribed
			case "REMOTE":
				a.sel |= selRemote
			case "RECURSIVEMATCH":
				a.sel |= selRecursiveMatch
			case "SPECIAL-USE":
				a.sel |= selSpecialUse
				a.ret |= retSpecialUse
			case "METADATA":
				a.sel |= selMetadata
				a.ret |= retMetadata
			case "VENDOR.CMU-DAV", "VENDOR.CMU-INCLUDE-DELETED", "VENDOR.FM-INCLUDE-NONEXISTENT":
				// Cyrus's own; nothing of them reaches the cache's answer.
			default:
				return a, errListSyntax
			}
		}
		if a.sel&selRecursiveMatch != 0 && a.sel&^(selRecursiveMatch|selRemote) == 0 {
			return a, errListSyntax // RFC 5258: RECURSIVEMATCH needs another selection option
		}
		b = after
	}
	ref, b, err := imapwire.ParseAString(b)
	if err != nil || ref.Kind == imapwire.ArgLiteral {
		return a, errListSyntax
	}
	a.ref = string(ref.Value)
	if list, after, ok := parenthesised(b); ok {
		a.extended = true
		for p := " " + list; strings.TrimSpace(p) != ""; {
			arg, more, err := imapwire.ParseListMailbox([]byte(p))
			if err != nil || arg.Kind == imapwire.ArgLiteral {
				return a, errListSyntax
			}
			if len(arg.Value) > 0 {
				a.patterns = append(a.patterns, string(arg.Value))
			}
			p = string(more)
		}
		b = after
	} else {
		pat, after, err := imapwire.ParseListMailbox(b)
		if err != nil || pat.Kind == imapwire.ArgLiteral {
			return a, errListSyntax
		}
		a.patterns = []string{string(pat.Value)}
		b = after
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return a, nil
	}
	word, after, _ := bytes.Cut(bytes.TrimLeft(b, " "), []byte(" "))
	if !strings.EqualFold(string(word), "RETURN") {
		return a, errListSyntax
	}
	opts, after, ok := parenthesised(append([]byte(" "), after...))
	if !ok || len(bytes.TrimSpace(after)) > 0 {
		return a, errListSyntax
	}
	a.extended = true
	a.retText = opts
	for o := opts; o != ""; {
		o = strings.TrimLeft(o, " ")
		word, more, _ := strings.Cut(o, " ")
		if i := strings.IndexByte(word, '('); i == 0 {
			return a, errListSyntax // a list where an option belongs
		} else if i > 0 {
			word, more = word[:i], o[i:]
		}
		o = more
		switch strings.ToUpper(word) {
		case "SUBSCRIBED":
			a.ret |= retSubscribed
		case "CHILDREN":
			a.ret |= retChildren
		case "SPECIAL-USE":
			a.ret |= retSpecialUse
		case "MYRIGHTS":
			a.ret |= retMyRights
		case "STATUS", "METADATA":
			items, after, ok := parenthesised([]byte(" " + strings.TrimLeft(o, " ")))
			if !ok {
				return a, errListSyntax
			}
			if strings.EqualFold(word, "STATUS") {
				a.ret |= retStatus
				a.status = items
			} else {
				a.ret |= retMetadata
			}
			o = string(after)
		case "":
		default:
			return a, errListSyntax
		}
	}
	return a, nil
}

// parenthesised returns the text inside a parenthesised list that starts
// b after its leading space, nested lists included, and what follows it.
func parenthesised(b []byte) (inside string, rest []byte, ok bool) {
	t := bytes.TrimLeft(b, " ")
	if len(t) == 0 || t[0] != '(' {
		return "", b, false
	}
	depth, quoted := 0, false
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			if depth--; depth == 0 {
				return string(t[1:i]), t[i+1:], true
			}
		}
	}
	return "", b, false
}

// canonicalPattern joins the reference and a pattern as Cyrus's
// canonical_list_pattern does, with one separator where both have one.
func canonicalPattern(ref, pattern string, sep byte) string {
	if ref != "" && ref[len(ref)-1] == sep && pattern != "" && pattern[0] == sep {
		ref = ref[:len(ref)-1]
	}
	return ref + pattern
}
