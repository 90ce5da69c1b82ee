package transport

import (
	"time"

	"github.com/sottohq/sotto/relay/rtx"
)

// RTT is the measured round trip to the relay, 0 before the first
// measurement: from the relay's receiver reports on the tracks this Conn
// publishes and from NACK round trips on the tracks it receives (package
// rtx). Receive pipelines scale their wait for retransmissions with it.
func (c *Conn) RTT() time.Duration {
	if c.rtt == nil {
		return 0
	}
	if d, ok := c.rtt.Get(); ok {
		return max(d, time.Microsecond) // measured, if shorter than that
	}
	return 0
}

// RetransmissionStats counts this Conn's NACKs and resends.
func (c *Conn) RetransmissionStats() rtx.Stats {
	if c.rtx == nil {
		return rtx.Stats{}
	}
	return c.rtx.Stats()
}

// Rebuilt tells the NACK generator that packet seq of the remote track
// ssrc was rebuilt from the relay's parity (relay/fec): it is no longer
// asked for.
func (c *Conn) Rebuilt(ssrc uint32, seq uint16) {
	if c.rtx != nil {
		c.rtx.Rebuilt(ssrc, seq)
	}
}
