package fec

// Decoder window and bounds.
const (
	// decoderWindow is how many media packets behind the newest a
	// Decoder keeps for rebuilding (a power of two): a block lies wholly
	// before its parity, and MaxBlock plus reordering fit easily.
	decoderWindow = 256
	// maxPending bounds the parity packets kept waiting for a second
	// packet of their group (two or more missing).
	maxPending = 32
)

// DecoderStats counts what a Decoder did.
type DecoderStats struct {
	Parity    uint64 // parity packets received
	Recovered uint64 // media packets rebuilt
	Useless   uint64 // parity whose group was complete, or too old
	Malformed uint64 // parity that broke the layout or named an impossible block
}

// Decoder rebuilds lost media packets of one video stream from its parity
// packets (stage 2 of the receive pipeline, before reassembly). It keeps a
// copy of the recent media packets only once a parity packet has been
// seen, so a stream without parity costs nothing. Everything it reads is
// untrusted: sizes and ranges are bounded, and a rebuilt packet is as
// untrusted as a received one. A Decoder is not safe for concurrent use.
type Decoder struct {
	active  bool
	started bool
	highest uint64
	slots   []dslot
	pending []pending
	buf     []byte
	stats   DecoderStats
}

type dslot struct {
	ext     uint64
	full    bool
	ts      uint32
	marker  bool
	payload []byte
}

type pending struct {
	base uint64 // extended sequence number of the block's first packet
	h    Header // PayloadXOR owned by the pending entry
}

// Stats returns the decoder's counters.
func (d *Decoder) Stats() DecoderStats { return d.stats }

// unwrap extends seq around the highest sequence number seen.
func (d *Decoder) unwrap(seq uint16) uint64 {
	if !d.started {
		d.started = true
		d.highest = 1<<32 | uint64(seq)
		return d.highest
	}
	ext := uint64(int64(d.highest) + int64(int16(seq-uint16(d.highest))))
	d.highest = max(d.highest, ext)
	return ext
}

// Media records a received media packet and calls emit for each packet
// its arrival lets the decoder rebuild (with the rebuilt packet's sequence
// number; the payload is only valid during the call).
func (d *Decoder) Media(seq uint16, ts uint32, marker bool, payload []byte, emit func(seq uint16, p Packet)) {
	ext := d.unwrap(seq)
	if !d.active || len(payload) > MaxPayload {
		return
	}
	d.store(ext, ts, marker, payload)
	for i := 0; i < len(d.pending); i++ {
		pd := &d.pending[i]
		if ext < pd.base || ext >= pd.base+uint64(pd.h.N) || !Protects(int(ext-pd.base), pd.h.M, pd.h.J) {
			continue
		}
		if d.try(pd.base, pd.h, emit) {
			d.pending = append(d.pending[:i], d.pending[i+1:]...)
			i--
		}
	}
}

// Parity records a received parity packet (its RTP sequence number, and
// payload) and calls emit for the packet it rebuilds, if any.
func (d *Decoder) Parity(seq uint16, payload []byte, emit func(seq uint16, p Packet)) error {
	d.stats.Parity++
	ext := d.unwrap(seq)
	h, err := Parse(payload)
	if err != nil {
		d.stats.Malformed++
		return err
	}
	// The block lies before its parity: parity j of M follows the
	// block's last packet by j+1.
	back := uint16(seq - h.Base)
	if int(back) < h.N || int(back) > h.N+h.M+decoderWindow/2 || ext < uint64(back) {
		d.stats.Malformed++
		return ErrMalformed
	}
	base := ext - uint64(back)
	if !d.active {
		// The first parity: nothing before it was kept.
		d.active = true
		d.slots = make([]dslot, decoderWindow)
		d.stats.Useless++
		return nil
	}
	if d.highest-base >= decoderWindow {
		d.stats.Useless++
		return nil
	}
	if d.try(base, h, emit) {
		return nil
	}
	// Two or more missing: wait for a retransmission of one of them.
	if len(d.pending) == maxPending {
		d.pending = d.pending[1:]
	}
	own := append([]byte(nil), payload...)
	h.PayloadXOR = own[HeaderLen:]
	d.pending = append(d.pending, pending{base: base, h: h})
	d.prune()
	return nil
}

// try rebuilds the missing packet of group (base, h) if exactly one is
// missing, and reports whether the group is settled (nothing left to
// rebuild, or nothing it could ever rebuild).
func (d *Decoder) try(base uint64, h Header, emit func(uint16, Packet)) bool {
	missing := -1
	var present [MaxBlock]Packet
	n := 0
	for i := h.J; i < h.N; i += h.M {
		s := &d.slots[(base+uint64(i))%decoderWindow]
		if s.full && s.ext == base+uint64(i) {
			present[n] = Packet{Timestamp: s.ts, Marker: s.marker, Payload: s.payload}
			n++
			continue
		}
		if missing >= 0 {
			return false
		}
		missing = i
	}
	if missing < 0 {
		d.stats.Useless++
		return true
	}
	p, err := Recover(d.buf, h, present[:n])
	if err != nil {
		d.stats.Malformed++
		return true
	}
	d.buf = p.Payload
	ext := base + uint64(missing)
	d.store(ext, p.Timestamp, p.Marker, p.Payload)
	d.stats.Recovered++
	emit(uint16(ext), p)
	return true
}

func (d *Decoder) store(ext uint64, ts uint32, marker bool, payload []byte) {
	if d.highest-ext >= decoderWindow {
		return
	}
	s := &d.slots[ext%decoderWindow]
	s.ext, s.full, s.ts, s.marker = ext, true, ts, marker
	s.payload = append(s.payload[:0], payload...)
}

// prune forgets parity whose block fell out of the window.
func (d *Decoder) prune() {
	kept := d.pending[:0]
	for _, pd := range d.pending {
		if d.highest-pd.base < decoderWindow {
			kept = append(kept, pd)
		} else {
			d.stats.Useless++
		}
	}
	d.pending = kept
}
