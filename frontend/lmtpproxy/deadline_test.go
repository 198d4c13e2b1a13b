package lmtpproxy

import (
	"testing"
	"time"
)

// A deadline renewed at every read moves only once it has come a tenth of
// its length closer, and always stays within its length of the last use.
func TestRenewal(t *testing.T) {
	var sets []time.Time
	r := renewal{length: 200 * time.Millisecond, set: func(at time.Time) error {
		sets = append(sets, at)
		return nil
	}}
	for range 1000 {
		r.renew()
	}
	if len(sets) != 1 {
		t.Fatalf("%d deadlines set for reads in a moment, want 1", len(sets))
	}
	for time.Until(sets[0]) >= r.length-r.length/10 {
		r.renew()
	}
	r.renew()
	last := time.Now()
	if len(sets) != 2 {
		t.Fatalf("%d deadlines set once a tenth of the length went by, want 2", len(sets))
	}
	if at := sets[len(sets)-1]; at.Before(last.Add(r.length-r.length/10)) || at.After(last.Add(r.length)) {
		t.Errorf("deadline %v after the last use, want within %v of it", at.Sub(last), r.length)
	}
	off := renewal{set: func(time.Time) error { t.Fatal("a deadline set without a length"); return nil }}
	off.renew()
}
