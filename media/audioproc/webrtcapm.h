//go:build webrtcapm

// C shim over webrtc-audio-processing 0.3's C++ API, for the library
// comparison of BENCHMARKS.md only (build tag webrtcapm).
#ifndef SOTTO_WEBRTCAPM_H
#define SOTTO_WEBRTCAPM_H
#ifdef __cplusplus
extern "C" {
#endif
typedef struct sotto_apm sotto_apm;
sotto_apm *sotto_apm_new(int aec, int ns, int agc, int hpf);
int sotto_apm_process(sotto_apm *a, float *mic, const float *ref, int n, int rate);
void sotto_apm_free(sotto_apm *a);
#ifdef __cplusplus
}
#endif
#endif
