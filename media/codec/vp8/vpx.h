// Thin C helpers around libvpx's VP8 encoder and decoder for package vp8.
// Go passes plane and output pointers for the duration of one call only;
// nothing here retains Go memory (libvpx copies the source picture into its
// lookahead buffer).
#ifndef SOTTO_VP8_VPX_H
#define SOTTO_VP8_VPX_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>

typedef struct {
	unsigned int width, height;
	unsigned int timebase_den;  /* timebase is 1/timebase_den seconds */
	unsigned int bitrate_kbps;
	unsigned int kf_max_dist;
	int cpu_used;
	unsigned int threads;
	int error_resilient;
	unsigned int drop_frame_thresh;
	unsigned int min_q, max_q;
	unsigned int max_intra_pct;
	int screen_content;
} sotto_enc_params;

typedef struct {
	vpx_codec_ctx_t ctx;
	vpx_codec_enc_cfg_t cfg;
	vpx_image_t img;
} sotto_enc;

static int sotto_enc_open(sotto_enc **out, const sotto_enc_params *p) {
	sotto_enc *e = calloc(1, sizeof(sotto_enc));
	if (!e) return VPX_CODEC_MEM_ERROR;
	vpx_codec_err_t err = vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &e->cfg, 0);
	if (err) { free(e); return err; }
	vpx_codec_enc_cfg_t *c = &e->cfg;
	c->g_w = p->width;
	c->g_h = p->height;
	c->g_timebase.num = 1;
	c->g_timebase.den = p->timebase_den;
	c->g_threads = p->threads;
	c->g_error_resilient = p->error_resilient ? VPX_ERROR_RESILIENT_DEFAULT : 0;
	c->g_lag_in_frames = 0;          /* realtime: no lookahead */
	c->g_pass = VPX_RC_ONE_PASS;
	c->rc_end_usage = VPX_CBR;
	c->rc_target_bitrate = p->bitrate_kbps;
	c->rc_min_quantizer = p->min_q;
	c->rc_max_quantizer = p->max_q;
	c->rc_undershoot_pct = 100;
	c->rc_overshoot_pct = 15;
	c->rc_buf_initial_sz = 500;      /* milliseconds */
	c->rc_buf_optimal_sz = 600;
	c->rc_buf_sz = 1000;
	c->rc_dropframe_thresh = p->drop_frame_thresh;
	c->rc_resize_allowed = 0;
	c->kf_mode = VPX_KF_AUTO;
	c->kf_min_dist = 0;
	c->kf_max_dist = p->kf_max_dist;
	err = vpx_codec_enc_init(&e->ctx, vpx_codec_vp8_cx(), c, 0);
	if (err) { free(e); return err; }
	if ((err = vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, p->cpu_used)) ||
	    (err = vpx_codec_control(&e->ctx, VP8E_SET_NOISE_SENSITIVITY, 0u)) ||
	    (err = vpx_codec_control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, 1u)) ||
	    (err = vpx_codec_control(&e->ctx, VP8E_SET_TOKEN_PARTITIONS, (int)VP8_ONE_TOKENPARTITION)) ||
	    (err = vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, p->max_intra_pct)) ||
	    (err = vpx_codec_control(&e->ctx, VP8E_SET_SCREEN_CONTENT_MODE, p->screen_content ? 1u : 0u))) {
		vpx_codec_destroy(&e->ctx);
		free(e);
		return err;
	}
	vpx_img_wrap(&e->img, VPX_IMG_FMT_I420, p->width, p->height, 1, (unsigned char *)1);
	e->img.planes[0] = e->img.planes[1] = e->img.planes[2] = NULL;
	*out = e;
	return 0;
}

static int sotto_enc_set_bitrate(sotto_enc *e, unsigned int kbps) {
	e->cfg.rc_target_bitrate = kbps;
	return vpx_codec_enc_config_set(&e->ctx, &e->cfg);
}

/* Encodes one I420 picture. Output packets are concatenated into out.
 * Returns a vpx error, or -1 if out is too small (out_len then holds the
 * size needed). *is_key is set when the frame is a keyframe; *out_len is 0
 * when the encoder dropped the frame. */
static int sotto_enc_encode(sotto_enc *e,
		unsigned char *y, unsigned char *u, unsigned char *v,
		int ystride, int cstride, int64_t pts, unsigned long dur, int force_kf,
		unsigned char *out, size_t out_cap, size_t *out_len, int *is_key) {
	e->img.planes[0] = y; e->img.planes[1] = u; e->img.planes[2] = v;
	e->img.stride[0] = ystride; e->img.stride[1] = cstride; e->img.stride[2] = cstride;
	vpx_codec_err_t err = vpx_codec_encode(&e->ctx, &e->img, pts, dur,
		force_kf ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME);
	e->img.planes[0] = e->img.planes[1] = e->img.planes[2] = NULL;
	*out_len = 0;
	*is_key = 0;
	if (err) return err;
	size_t need = 0;
	int overflow = 0;
	vpx_codec_iter_t iter = NULL;
	const vpx_codec_cx_pkt_t *pkt;
	while ((pkt = vpx_codec_get_cx_data(&e->ctx, &iter)) != NULL) {
		if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
		if (pkt->data.frame.flags & VPX_FRAME_IS_KEY) *is_key = 1;
		if (need + pkt->data.frame.sz > out_cap) overflow = 1;
		else memcpy(out + need, pkt->data.frame.buf, pkt->data.frame.sz);
		need += pkt->data.frame.sz;
	}
	*out_len = need;
	return overflow ? -1 : 0;
}

static void sotto_enc_close(sotto_enc *e) {
	vpx_codec_destroy(&e->ctx);
	free(e);
}

static int sotto_dec_open(vpx_codec_ctx_t **out, unsigned int threads) {
	vpx_codec_ctx_t *ctx = calloc(1, sizeof(vpx_codec_ctx_t));
	if (!ctx) return VPX_CODEC_MEM_ERROR;
	vpx_codec_dec_cfg_t cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.threads = threads;
	vpx_codec_err_t err = vpx_codec_dec_init(ctx, vpx_codec_vp8_dx(), &cfg, 0);
	if (err) { free(ctx); return err; }
	*out = ctx;
	return 0;
}

/* Decodes one whole frame. *img is NULL when libvpx produced no picture
 * (for example a frame that is not shown). *corrupt reports whether the
 * decoder considers the picture corrupted (a missing reference). */
static int sotto_dec_decode(vpx_codec_ctx_t *ctx, const unsigned char *data,
		unsigned int size, vpx_image_t **img, int *corrupt) {
	*img = NULL;
	*corrupt = 0;
	vpx_codec_err_t err = vpx_codec_decode(ctx, data, size, NULL, 0);
	if (err) return err;
	vpx_codec_iter_t iter = NULL;
	vpx_image_t *first = vpx_codec_get_frame(ctx, &iter);
	while (vpx_codec_get_frame(ctx, &iter) != NULL) {}
	int c = 0;
	if (vpx_codec_control(ctx, VP8D_GET_FRAME_CORRUPTED, &c) == VPX_CODEC_OK) *corrupt = c;
	*img = first;
	return 0;
}

static void sotto_dec_close(vpx_codec_ctx_t *ctx) {
	vpx_codec_destroy(ctx);
	free(ctx);
}

#endif
