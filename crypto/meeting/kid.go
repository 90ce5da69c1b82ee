package meeting

// The SFrame KID of a member's frame key (docs/PROTOCOL.md §6.6):
//
//	kid = epoch << 16 | member index << 8 | generation
//
// Bits 63–16 are the roster epoch, bits 15–8 the sender's index in that
// epoch's roster (MaxMembers fits in 8 bits) and bits 7–0 the generation,
// which counts re-keys within an epoch: when the host is gone (§6.8) and
// every RekeyInterval (§6.6). This file is the only place that knows the
// layout.

const (
	// kidEpochShift is the position of the epoch in a KID.
	kidEpochShift = 16
	// kidIndexShift is the position of the member index in a KID.
	kidIndexShift = 8
	// kidByteMask extracts the member index or the generation.
	kidByteMask = 0xff
	// maxGeneration is the largest generation in a KID (8 bits).
	maxGeneration = kidByteMask
)

// KIDEpoch returns the roster epoch a frame key ID belongs to: its bits
// 63–16 (§6.6). The media side uses it to tell which epoch a key or a frame
// is from without knowing the rest of the layout.
func KIDEpoch(kid uint64) uint64 { return kid >> kidEpochShift }

func makeKID(epoch uint64, index, gen int) uint64 {
	return epoch<<kidEpochShift | uint64(index)<<kidIndexShift | uint64(gen)
}

func splitKID(kid uint64) (epoch uint64, index, gen int) {
	return KIDEpoch(kid), int(kid >> kidIndexShift & kidByteMask), kidGeneration(kid)
}

// kidGeneration returns the generation of a KID: its low 8 bits.
func kidGeneration(kid uint64) int { return int(kid & kidByteMask) }
