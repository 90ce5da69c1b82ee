package capture

// Every capture driver is compiled in and registers itself in mediadevices'
// process-global driver manager at init. The synthetic drivers are always
// present so that tests, demos and the headless bot can choose them by
// option (SyntheticVideo, SyntheticAudio) while the app chooses real
// devices by ID or label: nothing here ever picks "the first" device.
//
// Import order note: camera's init clears previously registered video
// drivers; Go initialises these imports in import-path order, so the camera
// driver registers before screen and videotest. Sotto never calls
// camera.Initialize again for the same reason.
import (
	_ "github.com/pion/mediadevices/pkg/driver/audiotest"
	_ "github.com/pion/mediadevices/pkg/driver/camera"
	_ "github.com/pion/mediadevices/pkg/driver/microphone"
	_ "github.com/pion/mediadevices/pkg/driver/screen"
	_ "github.com/pion/mediadevices/pkg/driver/videotest"
)
