//go:build webrtcapm

// See webrtcapm.h.
#include <webrtc/modules/audio_processing/include/audio_processing.h>
#include <vector>
#include "webrtcapm.h"

struct sotto_apm {
	webrtc::AudioProcessing *apm;
	std::vector<float> scratch;
};

extern "C" sotto_apm *sotto_apm_new(int aec, int ns, int agc, int hpf) {
	webrtc::Config cfg;
	// What browsers ran with this version: the extended filter and the
	// delay-agnostic mode (the APM estimates the echo delay itself).
	cfg.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(true));
	cfg.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(true));
	cfg.Set<webrtc::ExperimentalAgc>(new webrtc::ExperimentalAgc(false));
	webrtc::AudioProcessing *apm = webrtc::AudioProcessing::Create(cfg);
	if (!apm) return nullptr;
	apm->echo_cancellation()->enable_drift_compensation(false);
	apm->echo_cancellation()->set_suppression_level(webrtc::EchoCancellation::kModerateSuppression);
	apm->echo_cancellation()->Enable(aec != 0);
	apm->noise_suppression()->set_level(webrtc::NoiseSuppression::kHigh);
	apm->noise_suppression()->Enable(ns != 0);
	apm->gain_control()->set_mode(webrtc::GainControl::kAdaptiveDigital);
	apm->gain_control()->set_target_level_dbfs(20); // −20 dBFS
	apm->gain_control()->Enable(agc != 0);
	apm->high_pass_filter()->Enable(hpf != 0);
	return new sotto_apm{apm, {}};
}

extern "C" int sotto_apm_process(sotto_apm *a, float *mic, const float *ref, int n, int rate) {
	webrtc::StreamConfig sc(rate, 1, false);
	a->scratch.resize(n);
	const float *r[1] = {ref};
	float *ro[1] = {a->scratch.data()};
	int err = a->apm->ProcessReverseStream(r, sc, sc, ro);
	if (err != 0) return err;
	a->apm->set_stream_delay_ms(0);
	float *m[1] = {mic};
	return a->apm->ProcessStream(m, sc, sc, m);
}

extern "C" void sotto_apm_free(sotto_apm *a) {
	delete a->apm;
	delete a;
}
