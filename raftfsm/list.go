package raftfsm

import "strings"

// ListOptions selects and orders entries. The zero value lists everything
// in Cyrus order.
type ListOptions struct {
	// Prefix keeps names that start with it.
	Prefix string
	// Pattern, if not nil, keeps names it matches.
	Pattern *Pattern
	// LocationPrefix keeps entries whose location starts with it, as
	// MUPDATE LIST does (RFC 3656 §4.6).
	LocationPrefix string
	// ByteOrder lists in byte order of names instead of Cyrus order.
	ByteOrder bool
	// After resumes a listing strictly after this name (a page token).
	After string
	// Limit stops after this many entries; 0 means no limit.
	Limit int
}

// list calls fn for each selected entry in order until fn returns false.
func (t *table) list(o ListOptions, fn func(*entry) bool) {
	prefix := o.Prefix
	if o.Pattern != nil {
		// Every match starts with the pattern's literal head; scan the
		// longer of the two ranges' common bound.
		if pp := o.Pattern.Prefix(); strings.HasPrefix(pp, prefix) {
			prefix = pp
		}
	}
	n := 0
	emit := func(e *entry) bool {
		if !o.keep(e) {
			return true
		}
		n++
		return fn(e) && (o.Limit == 0 || n < o.Limit)
	}
	if o.ByteOrder {
		t.byName.AscendGreaterOrEqual(probe(max(prefix, o.After)), func(e *entry) bool {
			return strings.HasPrefix(e.name, prefix) && emit(e)
		})
		return
	}
	t.listCyrus(prefix, o, emit)
}

// keep applies the filters that do not bound the scan.
func (o *ListOptions) keep(e *entry) bool {
	return (o.After == "" || e.name != o.After) &&
		strings.HasPrefix(e.name, o.Prefix) &&
		strings.HasPrefix(e.loc(), o.LocationPrefix) &&
		(o.Pattern == nil || o.Pattern.Match(e.name))
}

// listCyrus scans the names starting with prefix in dbname order. Those
// names are one key range when the prefix holds a '!' (its domain is
// known) or maps to itself. Otherwise they are two ranges: names without a
// domain, whose keys start with the mapped prefix, and names whose domain
// starts with the prefix, whose keys start with the prefix unmapped. The
// second range is gathered and merged into the first.
func (t *table) listCyrus(prefix string, o ListOptions, emit func(*entry) bool) {
	mapped := cyrusKey(prefix)
	if strings.Contains(prefix, "!") || mapped == prefix {
		t.scanKeys(mapped, o.After, func(e *entry) bool { return emit(e) })
		return
	}
	var domains []*entry
	t.scanKeys(prefix, o.After, func(e *entry) bool {
		if domainEnd(e.name) >= 0 && o.keep(e) {
			domains = append(domains, e)
		}
		return o.Limit == 0 || len(domains) < o.Limit
	})
	more := true
	t.scanKeys(mapped, o.After, func(e *entry) bool {
		for len(domains) > 0 && lessCyrus(domains[0], e) {
			if more = emit(domains[0]); !more {
				return false
			}
			domains = domains[1:]
		}
		more = emit(e)
		return more
	})
	for _, e := range domains {
		if !more || !emit(e) {
			return
		}
	}
}

// scanKeys calls fn, in key order, for entries whose key starts with
// keyPrefix and that sort after the name after (if not empty).
func (t *table) scanKeys(keyPrefix, after string, fn func(*entry) bool) {
	start := keyPrefix
	if after != "" {
		start = max(start, cyrusKey(after))
	}
	t.byKey.AscendGreaterOrEqual(probe(start), func(e *entry) bool {
		return keyHasPrefix(e.name, keyPrefix) && fn(e)
	})
}

func keyHasPrefix(name, keyPrefix string) bool {
	if len(name) < len(keyPrefix) {
		return false
	}
	dom := domainEnd(name)
	for i := 0; i < len(keyPrefix); i++ {
		if keyByte(name, i, dom) != keyPrefix[i] {
			return false
		}
	}
	return true
}
