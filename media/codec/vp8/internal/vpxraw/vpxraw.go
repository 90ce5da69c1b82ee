// Package vpxraw is the benchmark baseline for Sotto's VP8 encoder: libvpx
// called directly, with the same settings (cpu-used −6, realtime deadline,
// error resilience, CBR), and nothing else: no Go-side checks, no output
// copy, no flags. Only benchmarks use it.
package vpxraw

/*
#cgo pkg-config: vpx
#include <stdlib.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vp8cx.h>

typedef struct {
	vpx_codec_ctx_t ctx;
	vpx_image_t img;
} raw_enc;

static raw_enc *raw_open(unsigned w, unsigned h, unsigned kbps, unsigned threads, unsigned drop) {
	raw_enc *e = calloc(1, sizeof(raw_enc));
	vpx_codec_enc_cfg_t cfg;
	if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0)) { free(e); return NULL; }
	cfg.g_w = w; cfg.g_h = h;
	cfg.g_timebase.num = 1; cfg.g_timebase.den = 90000;
	cfg.g_threads = threads;
	cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
	cfg.g_lag_in_frames = 0;
	cfg.g_pass = VPX_RC_ONE_PASS;
	cfg.rc_end_usage = VPX_CBR;
	cfg.rc_target_bitrate = kbps;
	cfg.rc_min_quantizer = 2; cfg.rc_max_quantizer = 63;
	cfg.rc_undershoot_pct = 100; cfg.rc_overshoot_pct = 15;
	cfg.rc_buf_initial_sz = 500; cfg.rc_buf_optimal_sz = 600; cfg.rc_buf_sz = 1000;
	cfg.rc_dropframe_thresh = drop;
	cfg.kf_mode = VPX_KF_AUTO; cfg.kf_max_dist = 90;
	if (vpx_codec_enc_init(&e->ctx, vpx_codec_vp8_cx(), &cfg, 0)) { free(e); return NULL; }
	vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, -6);
	vpx_codec_control(&e->ctx, VP8E_SET_NOISE_SENSITIVITY, 0u);
	vpx_codec_control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, 1u);
	vpx_codec_control(&e->ctx, VP8E_SET_TOKEN_PARTITIONS, (int)VP8_ONE_TOKENPARTITION);
	vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, 900u);
	vpx_img_wrap(&e->img, VPX_IMG_FMT_I420, w, h, 1, (unsigned char *)1);
	return e;
}

static long raw_encode(raw_enc *e, unsigned char *y, unsigned char *u, unsigned char *v,
		int ys, int cs, long long pts, unsigned long dur) {
	e->img.planes[0] = y; e->img.planes[1] = u; e->img.planes[2] = v;
	e->img.stride[0] = ys; e->img.stride[1] = cs; e->img.stride[2] = cs;
	if (vpx_codec_encode(&e->ctx, &e->img, pts, dur, 0, VPX_DL_REALTIME)) return -1;
	long size = 0;
	vpx_codec_iter_t it = NULL;
	const vpx_codec_cx_pkt_t *p;
	while ((p = vpx_codec_get_cx_data(&e->ctx, &it)) != NULL)
		if (p->kind == VPX_CODEC_CX_FRAME_PKT) size += p->data.frame.sz;
	return size;
}

static void raw_close(raw_enc *e) { vpx_codec_destroy(&e->ctx); free(e); }
*/
import "C"

import (
	"errors"
	"image"
	"unsafe"
)

// Encoder is a bare libvpx VP8 encoder.
type Encoder struct{ e *C.raw_enc }

// New opens the baseline encoder. drop is rc_dropframe_thresh (0: never
// drop a frame).
func New(width, height, kbps, threads, drop int) (*Encoder, error) {
	e := C.raw_open(C.uint(width), C.uint(height), C.uint(kbps), C.uint(threads), C.uint(drop))
	if e == nil {
		return nil, errors.New("vpxraw: open failed")
	}
	return &Encoder{e}, nil
}

// Encode encodes one I420 picture and returns the encoded size in bytes.
func (e *Encoder) Encode(img *image.YCbCr, pts, dur int64) int {
	return int(C.raw_encode(e.e,
		(*C.uchar)(unsafe.Pointer(&img.Y[0])), (*C.uchar)(unsafe.Pointer(&img.Cb[0])), (*C.uchar)(unsafe.Pointer(&img.Cr[0])),
		C.int(img.YStride), C.int(img.CStride), C.longlong(pts), C.ulong(dur)))
}

// Close releases the encoder.
func (e *Encoder) Close() { C.raw_close(e.e) }
