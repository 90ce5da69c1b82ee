package meeting

// KIDEpoch returns the roster epoch a KID belongs to (the KID layout is in
// makeKID: epoch ≪ 16 | sender index ≪ 8 | generation).
func KIDEpoch(kid uint64) uint64 {
	epoch, _, _ := splitKID(kid)
	return epoch
}
