//go:build webrtcapm

package audioproc

// webrtc-audio-processing 0.3 (Debian's libwebrtc-audio-processing-dev,
// legacy AEC with the extended filter and delay-agnostic mode), bound only
// for the comparison bench (webrtcapm_test.go):
//
//	go test -tags webrtcapm -run WebRTC -v ./media/audioproc/

/*
#cgo pkg-config: webrtc-audio-processing
#cgo CXXFLAGS: -std=c++11
#cgo LDFLAGS: -lstdc++
#include "webrtcapm.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

type webrtcAPM struct{ a *C.sotto_apm }

func newWebrtcAPM(cfg Config) (*webrtcAPM, error) {
	b := func(v bool) C.int {
		if v {
			return 1
		}
		return 0
	}
	a := C.sotto_apm_new(b(cfg.EchoCancellation), b(cfg.NoiseSuppression), b(cfg.GainControl), b(cfg.HighPass))
	if a == nil {
		return nil, errors.New("webrtc apm: create failed")
	}
	return &webrtcAPM{a: a}, nil
}

// process runs one 10 ms frame at 48 kHz: ref is the far end played
// during it, mic is processed in place.
func (w *webrtcAPM) process(mic, ref []float32) error {
	if e := C.sotto_apm_process(w.a, (*C.float)(unsafe.Pointer(&mic[0])), (*C.float)(unsafe.Pointer(&ref[0])), C.int(len(mic)), SampleRate); e != 0 {
		return fmt.Errorf("webrtc apm: error %d", int(e))
	}
	return nil
}

func (w *webrtcAPM) close() { C.sotto_apm_free(w.a) }
