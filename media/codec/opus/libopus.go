package opus

// #cgo pkg-config: opus
// #include <stdlib.h>
// #include <opus.h>
//
// // opus_encoder_ctl is variadic, which cgo cannot call: one wrapper per
// // request Sotto uses.
// static int sotto_enc_set(OpusEncoder *e, int req, opus_int32 v) {
// 	switch (req) {
// 	case OPUS_SET_BITRATE_REQUEST: return opus_encoder_ctl(e, OPUS_SET_BITRATE(v));
// 	case OPUS_SET_VBR_REQUEST: return opus_encoder_ctl(e, OPUS_SET_VBR(v));
// 	case OPUS_SET_DTX_REQUEST: return opus_encoder_ctl(e, OPUS_SET_DTX(v));
// 	case OPUS_SET_INBAND_FEC_REQUEST: return opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(v));
// 	case OPUS_SET_PACKET_LOSS_PERC_REQUEST: return opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(v));
// 	case OPUS_SET_COMPLEXITY_REQUEST: return opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(v));
// 	case OPUS_SET_SIGNAL_REQUEST: return opus_encoder_ctl(e, OPUS_SET_SIGNAL(v));
// 	}
// 	return OPUS_UNIMPLEMENTED;
// }
// static int sotto_enc_lookahead(OpusEncoder *e, opus_int32 *v) {
// 	return opus_encoder_ctl(e, OPUS_GET_LOOKAHEAD(v));
// }
// static int sotto_dec_reset(OpusDecoder *d) {
// 	return opus_decoder_ctl(d, OPUS_RESET_STATE);
// }
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// errorOf maps a negative libopus return code to a Go error.
func errorOf(code C.int) error {
	switch code {
	case C.OPUS_BAD_ARG:
		return ErrBadArgument
	case C.OPUS_BUFFER_TOO_SMALL:
		return ErrBufferTooSmall
	case C.OPUS_INVALID_PACKET:
		return ErrMalformed
	default:
		return fmt.Errorf("%w (code %d)", ErrInternal, int(code))
	}
}

// Encoder defaults.
const (
	// DefaultBitrate is the CBR target: 32 kbit/s mono keeps libopus in
	// its wideband/super-wideband SILK or hybrid modes for speech, with
	// room for the LBRR (FEC) copy of the previous frame.
	DefaultBitrate = 32000
	// MinBitrate and MaxBitrate bound SetBitrate (libopus accepts
	// 500…512000; below 6 kbit/s speech is unintelligible).
	MinBitrate = 6000
	MaxBitrate = 256000
	// maxEncoded bounds one encoded 20 ms packet (1275 bytes, RFC 6716
	// §3.2.1, one frame).
	maxEncoded = 1275
)

// EncoderParams configures NewEncoder. Zero values take defaults.
type EncoderParams struct {
	// Bitrate in bits/s (default DefaultBitrate).
	Bitrate int
	// VBR turns variable bitrate on. Sotto always sends CBR (packet
	// sizes would reveal speech); VBR exists for the cost measurement.
	VBR bool
	// LossPercent is the initial expected packet loss (0…100) that
	// tunes the in-band FEC.
	LossPercent int
	// NoFEC turns in-band FEC off (measurements only).
	NoFEC bool
}

// Encoder encodes 48 kHz mono float32 PCM, 20 ms per packet, with libopus
// (application VoIP, DTX off). Its methods are safe for concurrent use:
// the capture goroutine encodes while the RTCP goroutine sets the loss.
type Encoder struct {
	mu  sync.Mutex
	st  *encState
	out [maxEncoded]byte
}

// encState holds the C pointer apart from the Encoder so that a cleanup
// can free it when the Encoder is dropped without Close, and Close can
// tell the cleanup it has already been freed.
type encState struct{ p *C.OpusEncoder }

func freeEncoder(s *encState) {
	if s.p != nil {
		C.opus_encoder_destroy(s.p)
		s.p = nil
	}
}

// NewEncoder returns a 48 kHz mono VoIP encoder.
func NewEncoder(p EncoderParams) (*Encoder, error) {
	if p.Bitrate == 0 {
		p.Bitrate = DefaultBitrate
	}
	var code C.int
	enc := C.opus_encoder_create(SampleRate, 1, C.OPUS_APPLICATION_VOIP, &code)
	if code != C.OPUS_OK || enc == nil {
		return nil, fmt.Errorf("opus: new encoder: %w", errorOf(code))
	}
	e := &Encoder{st: &encState{p: enc}}
	runtime.AddCleanup(e, freeEncoder, e.st)
	vbr, fec := 0, 1
	if p.VBR {
		vbr = 1
	}
	if p.NoFEC {
		fec = 0
	}
	for _, s := range []struct {
		req C.int
		v   int
	}{
		{C.OPUS_SET_VBR_REQUEST, vbr},
		{C.OPUS_SET_DTX_REQUEST, 0},
		{C.OPUS_SET_INBAND_FEC_REQUEST, fec},
		{C.OPUS_SET_SIGNAL_REQUEST, C.OPUS_SIGNAL_VOICE},
		{C.OPUS_SET_COMPLEXITY_REQUEST, 10},
	} {
		if err := e.set(s.req, s.v); err != nil {
			e.Close()
			return nil, fmt.Errorf("opus: configure encoder: %w", err)
		}
	}
	if err := e.SetBitrate(p.Bitrate); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.SetPacketLossPercent(p.LossPercent); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Encoder) set(req C.int, v int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st.p == nil {
		return ErrClosed
	}
	if code := C.sotto_enc_set(e.st.p, req, C.opus_int32(v)); code != C.OPUS_OK {
		return errorOf(code)
	}
	return nil
}

// SetBitrate sets the target in bits/s (MinBitrate…MaxBitrate).
func (e *Encoder) SetBitrate(bps int) error {
	if bps < MinBitrate || bps > MaxBitrate {
		return fmt.Errorf("%w: bitrate %d", ErrBadArgument, bps)
	}
	return e.set(C.OPUS_SET_BITRATE_REQUEST, bps)
}

// SetPacketLossPercent tells the encoder how much loss to expect (0…100):
// libopus sizes the in-band FEC (LBRR) by it, and sends none at 0.
func (e *Encoder) SetPacketLossPercent(p int) error {
	if p < 0 || p > 100 {
		return fmt.Errorf("%w: loss %d%%", ErrBadArgument, p)
	}
	return e.set(C.OPUS_SET_PACKET_LOSS_PERC_REQUEST, p)
}

// Lookahead is the encoder's algorithmic delay in samples at 48 kHz.
func (e *Encoder) Lookahead() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st.p == nil {
		return 0
	}
	var v C.opus_int32
	if C.sotto_enc_lookahead(e.st.p, &v) != C.OPUS_OK {
		return 0
	}
	return int(v)
}

// Encode encodes one 20 ms frame (FrameSamples mono samples in −1…1) and
// returns the packet, which is only valid until the next call; the caller
// copies it (or seals it) before encoding again.
func (e *Encoder) Encode(pcm []float32) ([]byte, error) {
	if len(pcm) != FrameSamples {
		return nil, fmt.Errorf("%w: %d samples, want %d", ErrBadArgument, len(pcm), FrameSamples)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st.p == nil {
		return nil, ErrClosed
	}
	n := C.opus_encode_float(e.st.p, (*C.float)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)),
		(*C.uchar)(unsafe.Pointer(&e.out[0])), C.opus_int32(len(e.out)))
	if n < 0 {
		return nil, fmt.Errorf("opus: encode: %w", errorOf(C.int(n)))
	}
	return e.out[:n], nil
}

// Close frees the encoder; later calls return ErrClosed.
func (e *Encoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	freeEncoder(e.st)
	return nil
}

// Decoder decodes one Opus stream to float32 PCM at 48 kHz with libopus.
// It is not safe for concurrent use.
type Decoder struct {
	st       *decState
	channels int
}

type decState struct{ p *C.OpusDecoder }

func freeDecoder(s *decState) {
	if s.p != nil {
		C.opus_decoder_destroy(s.p)
		s.p = nil
	}
}

// NewDecoder returns a 48 kHz decoder producing channels (1 or 2)
// interleaved output channels.
func NewDecoder(channels int) (*Decoder, error) {
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("%w: %d channels", ErrBadArgument, channels)
	}
	var code C.int
	dec := C.opus_decoder_create(SampleRate, C.int(channels), &code)
	if code != C.OPUS_OK || dec == nil {
		return nil, fmt.Errorf("opus: new decoder: %w", errorOf(code))
	}
	d := &Decoder{st: &decState{p: dec}, channels: channels}
	runtime.AddCleanup(d, freeDecoder, d.st)
	return d, nil
}

// Channels is the number of interleaved output channels.
func (d *Decoder) Channels() int { return d.channels }

// Decode decodes one packet into pcm (interleaved, −1…1) and returns the
// number of samples per channel. pcm needs room for the packet's duration
// (MaxPacketSamples×channels always suffices). Invalid packets return an
// error and leave the decoder usable.
func (d *Decoder) Decode(packet []byte, pcm []float32) (int, error) {
	samples, err := checkPacket(packet)
	if err != nil {
		return 0, err
	}
	if len(pcm) < samples*d.channels {
		return 0, ErrBufferTooSmall
	}
	n, err := d.decode(packet, pcm[:samples*d.channels], false)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// DecodeFEC recovers the packet lost just before next from the in-band
// FEC (LBRR) data next carries, filling all of pcm: len(pcm)/channels is
// the lost packet's duration (FrameSamples for Sotto's 20 ms packets; a
// multiple of 2.5 ms). When next carries no FEC data libopus conceals
// instead, so the output is always usable. next itself must then be
// decoded with Decode as usual.
func (d *Decoder) DecodeFEC(next []byte, pcm []float32) (int, error) {
	if _, err := checkPacket(next); err != nil {
		return 0, err
	}
	if err := d.checkConceal(pcm); err != nil {
		return 0, err
	}
	return d.decode(next, pcm, true)
}

// Conceal fills pcm with the decoder's packet-loss concealment for audio
// that never arrived: len(pcm)/channels samples, a multiple of 2.5 ms
// (120 samples) up to MaxPacketSamples.
func (d *Decoder) Conceal(pcm []float32) (int, error) {
	if err := d.checkConceal(pcm); err != nil {
		return 0, err
	}
	return d.decode(nil, pcm, false)
}

func (d *Decoder) checkConceal(pcm []float32) error {
	n := len(pcm) / d.channels
	if n == 0 || n%concealStep != 0 || n > MaxPacketSamples || len(pcm)%d.channels != 0 {
		return fmt.Errorf("%w: %d samples to conceal", ErrBadArgument, len(pcm))
	}
	return nil
}

// decode calls opus_decode_float; pcm's length sets frame_size. Go memory
// is passed for the duration of the call only.
func (d *Decoder) decode(packet []byte, pcm []float32, fec bool) (int, error) {
	if d.st.p == nil {
		return 0, ErrClosed
	}
	var data *C.uchar
	if len(packet) > 0 {
		data = (*C.uchar)(unsafe.Pointer(&packet[0]))
	}
	flag := C.int(0)
	if fec {
		flag = 1
	}
	n := C.opus_decode_float(d.st.p, data, C.opus_int32(len(packet)),
		(*C.float)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)/d.channels), flag)
	if n < 0 {
		return 0, errorOf(C.int(n))
	}
	return int(n), nil
}

// Reset forgets the decoder's history (after a long gap).
func (d *Decoder) Reset() {
	if d.st.p != nil {
		C.sotto_dec_reset(d.st.p)
	}
}

// Close frees the decoder; later calls return ErrClosed.
func (d *Decoder) Close() error {
	freeDecoder(d.st)
	return nil
}
