package imapwire

import (
	"bytes"
	"fmt"
)

// ResponseKind tells the three kinds of server response apart.
type ResponseKind uint8

// Kinds of response (RFC 9051 §2.2.2).
const (
	ResponseUntagged     ResponseKind = iota + 1 // * ...
	ResponseContinuation                         // + ...
	ResponseTagged                               // A1 OK ...
)

// String names the kind, for logs and test failures.
func (k ResponseKind) String() string {
	switch k {
	case ResponseUntagged:
		return "untagged"
	case ResponseContinuation:
		return "continuation"
	case ResponseTagged:
		return "tagged"
	}
	return fmt.Sprintf("ResponseKind(%d)", uint8(k))
}

// Response is what the proxy reads from the start of a backend's
// response: enough to find the tagged completion of a command and to act
// on status and response codes, nothing of the data it pipes through.
type Response struct {
	Kind ResponseKind
	// Tag is a tagged response's tag.
	Tag string
	// Status is OK, NO or BAD for a tagged response; OK, NO, BAD, BYE or
	// PREAUTH for an untagged status response; empty otherwise.
	Status string
	// Name is an untagged data response's keyword in upper case, after
	// its number if it has one: "FETCH" for "* 12 FETCH (...)", "LIST",
	// "CAPABILITY".
	Name string
	// Code is a status response's response code in upper case, without
	// its brackets and arguments: "UNAVAILABLE", "COPYUID".
	Code string
	// CodeArgs is what follows the code's name inside the brackets, as
	// sent: "38505 304,319:320 3956:3958" for COPYUID.
	CodeArgs string
	// Text is a status response's human-readable text after any code, or
	// a continuation request's text or base64 data.
	Text string
}

// ParseResponse parses line, the Line of a response's first part. Only a
// status response or continuation request is parsed to its end; of a data
// response only the keyword is. On a syntax error the Response holds what
// was parsed (Kind, and Tag once there is one).
func ParseResponse(line []byte) (Response, error) {
	if len(line) > 0 && line[0] == '+' {
		text := line[1:]
		if len(text) > 0 && text[0] == ' ' {
			text = text[1:]
		}
		return Response{Kind: ResponseContinuation, Text: string(text)}, nil
	}
	if bytes.HasPrefix(line, []byte("* ")) {
		return parseUntagged(line[1:])
	}
	tag, rest := span(line, isTagChar)
	if len(tag) == 0 {
		return Response{}, fmt.Errorf("%w: response with no tag", ErrSyntax)
	}
	resp := Response{Kind: ResponseTagged, Tag: string(tag)}
	status, rest, err := parseWord(rest)
	if err != nil {
		return resp, fmt.Errorf("%w: tagged response with no status", ErrSyntax)
	}
	resp.Status = upper(status)
	switch resp.Status {
	case "OK", "NO", "BAD":
	default:
		resp.Status = ""
		return resp, fmt.Errorf("%w: tagged response with status %q", ErrSyntax, status)
	}
	resp.parseText(rest)
	return resp, nil
}

// parseUntagged parses what follows the "*" of an untagged response.
func parseUntagged(b []byte) (Response, error) {
	resp := Response{Kind: ResponseUntagged}
	word, rest, err := parseWord(b)
	if err == nil && isNumber(word) {
		word, rest, err = parseWord(rest)
	}
	if err != nil {
		return resp, fmt.Errorf("%w: untagged response with no keyword", ErrSyntax)
	}
	if !isStatus(word) {
		resp.Name = upper(word)
		return resp, nil
	}
	resp.Status = upper(word)
	resp.parseText(rest)
	return resp, nil
}

// parseText parses a status response's resp-text: [SP ["[" code "]" SP]
// text]. A "[" with no "]" is taken as text.
func (resp *Response) parseText(b []byte) {
	b = bytes.TrimPrefix(b, []byte(" "))
	if len(b) > 0 && b[0] == '[' {
		if end := bytes.IndexByte(b, ']'); end > 0 {
			name, args, _ := bytes.Cut(b[1:end], []byte(" "))
			resp.Code, resp.CodeArgs = upper(name), string(args)
			b = bytes.TrimPrefix(b[end+1:], []byte(" "))
		}
	}
	resp.Text = string(b)
}

func isNumber(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}
