package audioproc

// cgo binding to speexdsp 1.2 (C API): the MDF echo canceller, the
// preprocessor (noise suppression and residual echo suppression) and the
// resampler. Each wrapper owns one C state and is used by one goroutine.

/*
#cgo pkg-config: speexdsp
#include <stdlib.h>
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>
#include <speex/speex_resampler.h>

static int sotto_pp_set_int(SpeexPreprocessState *st, int req, int v) {
	return speex_preprocess_ctl(st, req, &v);
}
static int sotto_pp_get_int(SpeexPreprocessState *st, int req) {
	int v = 0;
	speex_preprocess_ctl(st, req, &v);
	return v;
}
static int sotto_echo_set_rate(SpeexEchoState *st, int rate) {
	return speex_echo_ctl(st, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
}
static int sotto_resample(SpeexResamplerState *st, const spx_int16_t *in, spx_uint32_t inLen, spx_int16_t *out, spx_uint32_t outCap) {
	spx_uint32_t il = inLen, ol = outCap;
	int err = speex_resampler_process_int(st, 0, in, &il, out, &ol);
	if (err != 0) return -1;
	return (int)ol;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// echoCanceller is speexdsp's multidelay block frequency-domain (MDF)
// adaptive filter: it subtracts the estimate of the far-end signal's echo
// from the microphone.
type echoCanceller struct {
	st *C.SpeexEchoState
}

func newEchoCanceller(frame, tail, rate int) (*echoCanceller, error) {
	st := C.speex_echo_state_init(C.int(frame), C.int(tail))
	if st == nil {
		return nil, errors.New("audioproc: echo canceller init failed")
	}
	C.sotto_echo_set_rate(st, C.int(rate))
	return &echoCanceller{st: st}, nil
}

// cancel writes mic minus the estimated echo of ref into out (all one
// frame long).
func (e *echoCanceller) cancel(mic, ref, out []int16) {
	C.speex_echo_cancellation(e.st, (*C.spx_int16_t)(unsafe.Pointer(&mic[0])),
		(*C.spx_int16_t)(unsafe.Pointer(&ref[0])), (*C.spx_int16_t)(unsafe.Pointer(&out[0])))
}

// reset forgets the adapted filter (after a jump of the reference delay).
func (e *echoCanceller) reset() { C.speex_echo_state_reset(e.st) }

func (e *echoCanceller) close() {
	if e.st != nil {
		C.speex_echo_state_destroy(e.st)
		e.st = nil
	}
}

// preprocessor is speexdsp's spectral preprocessor: noise suppression and,
// linked to the echo canceller, residual echo suppression.
type preprocessor struct {
	st *C.SpeexPreprocessState
}

func newPreprocessor(frame, rate int, noiseSuppressDB int, echo *echoCanceller) (*preprocessor, error) {
	st := C.speex_preprocess_state_init(C.int(frame), C.int(rate))
	if st == nil {
		return nil, errors.New("audioproc: preprocessor init failed")
	}
	p := &preprocessor{st: st}
	// Denoise stays on: speexdsp applies residual echo suppression only
	// through the denoiser's gains. With noise suppression switched off
	// the noise floor is 0 dB, so only echo is attenuated.
	C.sotto_pp_set_int(st, C.SPEEX_PREPROCESS_SET_DENOISE, 1)
	C.sotto_pp_set_int(st, C.SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, C.int(noiseSuppressDB))
	C.sotto_pp_set_int(st, C.SPEEX_PREPROCESS_SET_AGC, 0) // Sotto's own AGC (agc.go)
	C.sotto_pp_set_int(st, C.SPEEX_PREPROCESS_SET_DEREVERB, 0)
	if echo != nil {
		C.sotto_pp_set_int(st, C.SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, echoSuppressDB)
		C.sotto_pp_set_int(st, C.SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, echoSuppressActiveDB)
		if C.speex_preprocess_ctl(st, C.SPEEX_PREPROCESS_SET_ECHO_STATE, unsafe.Pointer(echo.st)) != 0 {
			p.close()
			return nil, errors.New("audioproc: linking the residual echo suppressor failed")
		}
	}
	return p, nil
}

// run processes one frame in place and returns the speech probability
// (percent) speexdsp estimated for it.
func (p *preprocessor) run(frame []int16) int {
	C.speex_preprocess_run(p.st, (*C.spx_int16_t)(unsafe.Pointer(&frame[0])))
	return int(C.sotto_pp_get_int(p.st, C.SPEEX_PREPROCESS_GET_PROB))
}

func (p *preprocessor) close() {
	if p.st != nil {
		C.speex_preprocess_state_destroy(p.st)
		p.st = nil
	}
}

// resampler is speexdsp's windowed-sinc resampler for one mono stream.
type resampler struct {
	st *C.SpeexResamplerState
}

// resamplerQuality trades cost for stop-band attenuation (0…10);
// 5 is speexdsp's VoIP default.
const resamplerQuality = 5

func newResampler(from, to int) (*resampler, error) {
	var e C.int
	st := C.speex_resampler_init(1, C.spx_uint32_t(from), C.spx_uint32_t(to), resamplerQuality, &e)
	if st == nil || e != 0 {
		return nil, fmt.Errorf("audioproc: resampler %d→%d Hz init failed (%d)", from, to, int(e))
	}
	return &resampler{st: st}, nil
}

// process resamples in into out and returns how many samples it wrote.
func (r *resampler) process(in, out []int16) int {
	n := C.sotto_resample(r.st, (*C.spx_int16_t)(unsafe.Pointer(&in[0])), C.spx_uint32_t(len(in)),
		(*C.spx_int16_t)(unsafe.Pointer(&out[0])), C.spx_uint32_t(len(out)))
	return max(int(n), 0)
}

func (r *resampler) close() {
	if r.st != nil {
		C.speex_resampler_destroy(r.st)
		r.st = nil
	}
}

// Residual echo suppression: the attenuation of what the linear filter
// leaves, in far-end-only talk and while the near end talks too (lower,
// so double talk stays intelligible).
var (
	echoSuppressDB       C.int = -60
	echoSuppressActiveDB C.int = -25
)
