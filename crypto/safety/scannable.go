package safety

// Scannable form, the bytes a safety-number QR code carries
// (docs/PROTOCOL.md §2.3):
//
//	version (1) = 0x01 ‖ local (32) ‖ remote (32)
//
// local and remote are the first 32 bytes of each party's hash_iterations
// (with Iterations rounds), from the point of view of the device showing
// the code. This is the content of libsignal's CombinedFingerprints with a
// one-byte version instead of protobuf framing.

import (
	"crypto/subtle"
	"errors"
)

const (
	// scannableVersion is the first byte of a scannable form.
	scannableVersion = 0x01
	// scannableHashSize is how much of each party hash the form carries
	// (libsignal ScannableFingerprint keeps 32 bytes).
	scannableHashSize = 32
	// ScannableSize is the length of a scannable form.
	ScannableSize = 1 + 2*scannableHashSize
)

// Errors from ParseScannable and VerifyScanned.
var (
	ErrScannableLength  = errors.New("safety: scanned code has the wrong length")
	ErrScannableVersion = errors.New("safety: scanned code has an unsupported version")
	// ErrOwnCode means the scanned code is the local device's own code,
	// most likely photographed off the wrong screen.
	ErrOwnCode = errors.New("safety: scanned code is this device's own code")
)

// Scanned is a parsed scannable form.
type Scanned struct {
	Local  [scannableHashSize]byte // the showing device's party hash prefix
	Remote [scannableHashSize]byte // the party it is talking to
}

// Marshal returns the ScannableSize-byte encoding.
func (s Scanned) Marshal() []byte {
	b := make([]byte, 0, ScannableSize)
	b = append(b, scannableVersion)
	b = append(b, s.Local[:]...)
	return append(b, s.Remote[:]...)
}

// ParseScannable decodes a scannable form.
func ParseScannable(b []byte) (Scanned, error) {
	var s Scanned
	if len(b) == 0 {
		return s, ErrScannableLength
	}
	// Check the version first: a future version may have another length.
	if b[0] != scannableVersion {
		return s, ErrScannableVersion
	}
	if len(b) != ScannableSize {
		return s, ErrScannableLength
	}
	copy(s.Local[:], b[1:1+scannableHashSize])
	copy(s.Remote[:], b[1+scannableHashSize:])
	return s, nil
}

// Scannable returns the local device's scannable form for a conversation
// between local and remote.
func Scannable(localKey, localID, remoteKey, remoteID []byte) []byte {
	var s Scanned
	copy(s.Local[:], partyHash(localKey, localID, Iterations))
	copy(s.Remote[:], partyHash(remoteKey, remoteID, Iterations))
	return s.Marshal()
}

// VerifyScanned reports whether scanned, read from the other device's
// screen, matches local, this device's own Scannable. The other device
// computed its form with the parties the other way round, so a match means
// scanned.Local = local.Remote and scanned.Remote = local.Local (compared in
// constant time). A malformed form is an error; a well-formed one that does
// not match is (false, nil); this device's own code is ErrOwnCode.
func VerifyScanned(local, scanned []byte) (bool, error) {
	ours, err := ParseScannable(local)
	if err != nil {
		return false, err
	}
	theirs, err := ParseScannable(scanned)
	if err != nil {
		return false, err
	}
	match := subtle.ConstantTimeCompare(theirs.Local[:], ours.Remote[:]) &
		subtle.ConstantTimeCompare(theirs.Remote[:], ours.Local[:])
	if match == 1 {
		return true, nil
	}
	if subtle.ConstantTimeCompare(local, scanned) == 1 {
		return false, ErrOwnCode
	}
	return false, nil
}
