// Package sframe implements Secure Frame (SFrame), RFC 9605: per-frame
// authenticated encryption of real-time media under per-sender keys.
//
// The package provides:
//
//   - the SFrame header (RFC 9605 §4.3), see [Header] and [ParseHeader];
//   - the five cipher suites of RFC 9605 §4.5 and §8.1, see [CipherSuite],
//     including the AES-CTR + HMAC compound AEAD of §4.5.1, see [NewAEAD];
//   - key and salt derivation (§4.4.2), see [DeriveKeySalt];
//   - a [Sender] that owns one KID and its CTR (§4.4.3, §9.1), and
//   - a [Receiver] that holds the decryption keys of many KIDs (§4.4.4) with
//     a per-KID anti-replay window (§7.4, §9.3).
//
// A base key is used for encryption or for decryption, never both
// (§4.4.1): a [Sender] and a [Receiver] never share key state.
//
// Seal and Open append to caller-provided buffers and allocate nothing per
// frame once warmed up. Every authentication failure is reported as the
// single opaque [ErrAuthentication].
package sframe
