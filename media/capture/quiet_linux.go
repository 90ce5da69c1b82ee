package capture

// The sound libraries' own diagnostics. ALSA's library prints every
// failure to evaluate its configuration ("ALSA lib confmisc.c: cannot find
// card '0'"), and JACK's every failed connection to a JACK server, on
// standard error, for devices Sotto only lists and never uses; with
// libasound2-plugins installed that is a screenful at each start, even
// for `sotto -h` (the microphone driver lists devices at init). Sotto
// reports what matters itself (no device, device gone), so both libraries
// get a handler that drops their messages. It is installed by a C
// constructor, which runs when the program is loaded, before any Go
// package's init. SOTTO_SOUND_DEBUG=1 keeps the messages.

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef void (*sotto_alsa_handler)(const char *file, int line, const char *function, int err, const char *fmt, ...);
typedef void (*sotto_jack_handler)(const char *msg);

static void sotto_alsa_quiet(const char *file, int line, const char *function, int err, const char *fmt, ...) {}
static void sotto_jack_quiet(const char *msg) {}

__attribute__((constructor)) static void sotto_quiet_sound(void) {
	if (getenv("SOTTO_SOUND_DEBUG") != NULL) {
		return;
	}
	void *asound = dlopen("libasound.so.2", RTLD_NOW | RTLD_GLOBAL);
	if (asound != NULL) {
		int (*set)(sotto_alsa_handler) = (int (*)(sotto_alsa_handler))dlsym(asound, "snd_lib_error_set_handler");
		if (set != NULL) {
			set(sotto_alsa_quiet);
		}
	}
	void *jack = dlopen("libjack.so.0", RTLD_NOW | RTLD_GLOBAL);
	if (jack != NULL) {
		void (*seterr)(sotto_jack_handler) = (void (*)(sotto_jack_handler))dlsym(jack, "jack_set_error_function");
		void (*setinfo)(sotto_jack_handler) = (void (*)(sotto_jack_handler))dlsym(jack, "jack_set_info_function");
		if (seterr != NULL) {
			seterr(sotto_jack_quiet);
		}
		if (setinfo != NULL) {
			setinfo(sotto_jack_quiet);
		}
	}
}
*/
import "C"
