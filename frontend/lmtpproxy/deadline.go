package lmtpproxy

import "time"

// renewal moves a connection's deadline as the connection is used, so
// that it ends once idle for about its length. Setting a deadline changes
// a runtime timer, which at every read and write of a short reply costs
// more than the bytes: the deadline moves only once it has come a tenth
// of the length closer, so the connection ends between nine tenths of the
// length and the whole of it after its last use.
type renewal struct {
	length time.Duration // 0: no deadline
	set    func(time.Time) error
	at     time.Time // the deadline set last
}

func (r *renewal) renew() {
	if r.length <= 0 {
		return
	}
	now := time.Now()
	if r.at.Sub(now) > r.length-r.length/10 {
		return
	}
	r.at = now.Add(r.length)
	r.set(r.at)
}
