package capture

import (
	"errors"
	"fmt"
	"sort"

	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/driver"
)

// Kind is what a capture device produces.
type Kind int

// Device kinds.
const (
	KindCamera Kind = iota + 1
	KindMicrophone
	KindScreen
)

func (k Kind) String() string {
	switch k {
	case KindCamera:
		return "camera"
	case KindMicrophone:
		return "microphone"
	case KindScreen:
		return "screen"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Labels under which mediadevices registers its synthetic drivers.
const (
	SyntheticVideoLabel = "VideoTest"
	SyntheticAudioLabel = "AudioTest"
)

// Device is one capture device known to the driver manager.
type Device struct {
	Kind Kind
	// ID is the driver ID: unique in this process, different next run.
	ID string
	// Label is the driver's stable label (a device path for cameras, the
	// backend device ID for microphones, "X11Screen0" for screens). Store
	// this to remember a user's choice across runs.
	Label string
	// Name is a human-readable name when the driver provides one.
	Name string
	// Synthetic marks mediadevices' test pattern and sine sources.
	Synthetic bool
}

// DisplayName is the best name to show a user.
func (d Device) DisplayName() string {
	if d.Name != "" {
		return d.Name
	}
	return d.Label
}

// Devices lists the capture devices, via mediadevices.EnumerateDevices,
// sorted by kind, synthetic last, then label.
func Devices() ([]Device, error) {
	infos := mediadevices.EnumerateDevices()
	out := make([]Device, 0, len(infos))
	for _, info := range infos {
		dev := Device{ID: info.DeviceID, Label: info.Label}
		switch {
		case info.DeviceType == driver.Screen:
			dev.Kind = KindScreen
		case info.Kind == mediadevices.VideoInput:
			dev.Kind = KindCamera
		case info.Kind == mediadevices.AudioInput:
			dev.Kind = KindMicrophone
		default:
			continue
		}
		if d := lookupDriver(info.DeviceID); d != nil {
			dev.Name = d.Info().Name
		}
		dev.Synthetic = (dev.Kind == KindCamera && dev.Label == SyntheticVideoLabel) ||
			(dev.Kind == KindMicrophone && dev.Label == SyntheticAudioLabel)
		out = append(out, dev)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Synthetic != b.Synthetic {
			return !a.Synthetic
		}
		return a.Label < b.Label
	})
	return out, nil
}

func lookupDriver(id string) driver.Driver {
	ds := driver.GetManager().Query(driver.FilterID(id))
	if len(ds) != 1 {
		return nil
	}
	return ds[0]
}

// errNoDevice is returned when no device matches the requested ID or label.
var errNoDevice = errors.New("capture: no such device")

// findDevice resolves an ID, label or name of the given kind. An empty
// query is an error: Sotto never falls back to "the first" device (on a
// machine without sound hardware that would be ALSA's null device).
func findDevice(kind Kind, query string) (driver.Driver, error) {
	if query == "" {
		return nil, fmt.Errorf("capture: no %s chosen", kind)
	}
	devs, err := Devices()
	if err != nil {
		return nil, err
	}
	var byLabel, byName []Device
	for _, d := range devs {
		if d.Kind != kind {
			continue
		}
		switch query {
		case d.ID:
			if drv := lookupDriver(d.ID); drv != nil {
				return drv, nil
			}
		case d.Label:
			byLabel = append(byLabel, d)
		case d.Name:
			byName = append(byName, d)
		}
	}
	for _, set := range [][]Device{byLabel, byName} {
		if len(set) > 1 {
			return nil, fmt.Errorf("capture: %d %s devices share that label; choose by ID", len(set), kind)
		}
		if len(set) == 1 {
			if drv := lookupDriver(set[0].ID); drv != nil {
				return drv, nil
			}
		}
	}
	return nil, fmt.Errorf("%w (%s)", errNoDevice, kind)
}
