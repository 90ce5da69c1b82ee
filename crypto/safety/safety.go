// Package safety computes safety numbers: the 60 digits two people compare,
// out loud or by scanning a QR code, to be sure each holds the other's real
// identity key and no one sits in between.
//
// The numbers are Signal's numeric fingerprints, bit for bit, so the
// published vectors apply (libsignal NumericFingerprintGenerator, version 0):
//
//	hash_0 = 0x0000 ‖ key ‖ stableID
//	hash_i = SHA-512(hash_{i-1} ‖ key)    for i = 1..iterations
//
// The first 30 bytes of hash_iterations, read as six 5-byte big-endian
// integers each reduced mod 100000 and zero-padded to 5 digits, are that
// party's 30 digits. The two parties' digit strings are sorted and joined, so
// both sides display the same 60 digits.
//
// For Sotto identities, key is identity.Public.SafetyKey() and the stable ID
// is empty (docs/PROTOCOL.md §2): a Sotto identity is its keys, nothing else.
//
// This package knows nothing of identities; it works on byte strings.
package safety

import (
	"crypto/sha512"
	"fmt"
	"strings"
)

const (
	// Iterations is the number of SHA-512 rounds Sotto uses, Signal's value.
	Iterations = 5200
	// fingerprintVersion is the 2-byte version prefix of hash_0.
	fingerprintVersion = 0
	// chunks is the number of 5-digit groups per party.
	chunks = 6
	// chunkBytes is the number of hash bytes behind each 5-digit group.
	chunkBytes = 5
	// chunkModulus reduces a chunk to 5 decimal digits.
	chunkModulus = 100000
	// GroupSize is the number of digits per displayed group.
	GroupSize = 5
	// PartyDigitsLen is the number of digits per party.
	PartyDigitsLen = chunks * GroupSize
	// NumberLen is the length of a full safety number in digits.
	NumberLen = 2 * PartyDigitsLen
)

// partyHash returns hash_iterations for one party (see the package comment).
func partyHash(key, id []byte, iterations int) []byte {
	if iterations < 1 {
		panic("safety: iterations must be positive")
	}
	h := sha512.New()
	h.Write([]byte{fingerprintVersion >> 8, fingerprintVersion & 0xff})
	h.Write(key)
	h.Write(id)
	h.Write(key)
	sum := h.Sum(make([]byte, 0, sha512.Size))
	for i := 1; i < iterations; i++ {
		h.Reset()
		h.Write(sum)
		h.Write(key)
		sum = h.Sum(sum[:0])
	}
	return sum
}

// digits encodes the first 30 bytes of a party hash as 30 decimal digits.
func digits(hash []byte) string {
	var b strings.Builder
	b.Grow(PartyDigitsLen)
	for i := range chunks {
		c := hash[i*chunkBytes : (i+1)*chunkBytes]
		v := uint64(c[0])<<32 | uint64(c[1])<<24 | uint64(c[2])<<16 | uint64(c[3])<<8 | uint64(c[4])
		fmt.Fprintf(&b, "%05d", v%chunkModulus)
	}
	return b.String()
}

// PartyDigits returns one party's 30 digits. iterations must be positive.
func PartyDigits(key, id []byte, iterations int) string {
	return digits(partyHash(key, id, iterations))
}

// Number returns the 60-digit safety number for two parties with Sotto's
// iteration count. Swapping local and remote gives the same number.
func Number(localKey, localID, remoteKey, remoteID []byte) string {
	return NumberIterations(localKey, localID, remoteKey, remoteID, Iterations)
}

// NumberIterations is Number with an explicit iteration count, for test
// vectors made with other counts. iterations must be positive.
func NumberIterations(localKey, localID, remoteKey, remoteID []byte, iterations int) string {
	return combine(PartyDigits(localKey, localID, iterations), PartyDigits(remoteKey, remoteID, iterations))
}

// combine joins two parties' digits, smaller first, as libsignal's
// DisplayableFingerprint does, so both sides show the same string.
func combine(local, remote string) string {
	if local <= remote {
		return local + remote
	}
	return remote + local
}

// Groups splits a number into groups of GroupSize digits (12 for a safety
// number); a trailing partial group is kept as is.
func Groups(number string) []string {
	out := make([]string, 0, (len(number)+GroupSize-1)/GroupSize)
	for len(number) > GroupSize {
		out = append(out, number[:GroupSize])
		number = number[GroupSize:]
	}
	if number != "" {
		out = append(out, number)
	}
	return out
}

// Format returns the number as space-separated groups of five digits, the
// form people read to each other: "05206 74423 …".
func Format(number string) string {
	return strings.Join(Groups(number), " ")
}
