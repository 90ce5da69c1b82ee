package identity

// Keystore file format, version 1 (docs/PROTOCOL.md §1.4). Integers are
// big-endian.
//
//	header (71 bytes, also the AEAD associated data):
//	  magic        8   "SOTTOKEY"
//	  version      1   0x01
//	  flags        1   bit 0: the passphrase is empty; other bits zero
//	  kdf time     4   Argon2id passes (RFC 9106 §3.1, t)
//	  kdf memory   4   Argon2id memory in KiB (m)
//	  kdf threads  1   Argon2id lanes (p)
//	  salt        16   Argon2id salt, random
//	  nonce       24   XChaCha20-Poly1305 nonce, random
//	  length       4   ciphertext length, tag included
//	  header sum   8   SHA-256(all header bytes above)[:8]
//	ciphertext  length  XChaCha20-Poly1305(key, nonce, plaintext, header)
//	file sum    32   SHA-256(header ‖ ciphertext)
//
//	plaintext:
//	  ed25519 seed   32
//	  x25519 scalar  32
//	  name length     2
//	  display name   UTF-8
//
// key = Argon2id(passphrase, salt, t, m, p, 32 bytes).
//
// The two unkeyed checksums do not protect against an attacker (the AEAD
// does); they let Load tell accidental damage (ErrCorrupt, ErrTruncated) from
// a wrong passphrase, so a user is never told to retype a passphrase when
// their file is broken.

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// keystoreMagic opens every keystore file.
	keystoreMagic = "SOTTOKEY"
	// keystoreVersion is the only format version this code reads and writes.
	keystoreVersion = 0x01
	// flagEmptyPassphrase marks a file saved with an empty passphrase.
	flagEmptyPassphrase = 0x01
	// saltSize is the Argon2id salt length (RFC 9106 §3.1 recommends 16 bytes).
	saltSize = 16
	// headerSumSize is the truncated SHA-256 over the header fields.
	headerSumSize = 8
	// fileSumSize is the SHA-256 over header and ciphertext.
	fileSumSize = sha256.Size
	// headerSize is the full header length including its checksum.
	headerSize = len(keystoreMagic) + 1 + 1 + 4 + 4 + 1 + saltSize + chacha20poly1305.NonceSizeX + 4 + headerSumSize
	// MaxDisplayNameSize bounds a display name in bytes of UTF-8.
	MaxDisplayNameSize = 256
	// minPlaintext is the plaintext with an empty display name.
	minPlaintext = seedSize + ExchangeKeySize + 2
	// minCiphertext and maxCiphertext bound the length field.
	minCiphertext = minPlaintext + chacha20poly1305.Overhead
	maxCiphertext = minCiphertext + MaxDisplayNameSize
	// maxFileSize bounds how much Load reads.
	maxFileSize = headerSize + maxCiphertext + fileSumSize

	// Bounds on KDF parameters read from a file, so a crafted file cannot
	// make Load allocate or compute without limit.
	maxKDFTime      = 64
	maxKDFMemoryKiB = 1 << 20 // 1 GiB
	maxKDFThreads   = 16

	// KeystoreFileName is the keystore's file name inside DefaultDir.
	KeystoreFileName = "identity.key"
	// ContactsFileName is the contacts store's file name inside DefaultDir.
	ContactsFileName = "contacts.json"
	// configDirEnv overrides DefaultDir, so several identities can live on
	// one machine (for example to test a meeting with oneself).
	configDirEnv = "SOTTO_CONFIG_DIR"
)

// Keystore errors. Each names one distinct condition; none carries key
// material, passphrases or display names.
var (
	ErrNotFound           = errors.New("identity: keystore not found")
	ErrNotKeystore        = errors.New("identity: file is not a sotto keystore")
	ErrUnsupportedVersion = errors.New("identity: unsupported keystore version")
	ErrTruncated          = errors.New("identity: keystore file is truncated")
	ErrCorrupt            = errors.New("identity: keystore file is corrupt")
	ErrWrongPassphrase    = errors.New("identity: wrong passphrase")
	ErrDisplayName        = errors.New("identity: display name is not valid UTF-8 or is too long")
	ErrKDFParams          = errors.New("identity: key derivation parameters out of range")
)

// KDFParams are the Argon2id cost parameters (RFC 9106 §3.1).
type KDFParams struct {
	Time      uint32 // passes, t
	MemoryKiB uint32 // memory, m, in KiB
	Threads   uint8  // lanes, p
}

// DefaultKDFParams returns the parameters Save uses: t=3, m=64 MiB, p=2,
// the memory-constrained choice of RFC 9106 §4 with p lowered to the two
// cores a modest laptop can spare. Deriving takes well under a second.
func DefaultKDFParams() KDFParams {
	return KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}
}

func (p KDFParams) valid() bool {
	return p.Time >= 1 && p.Time <= maxKDFTime &&
		p.MemoryKiB >= 8*uint32(p.Threads) && p.MemoryKiB <= maxKDFMemoryKiB &&
		p.Threads >= 1 && p.Threads <= maxKDFThreads
}

// Stored is what a keystore holds.
type Stored struct {
	Identity    *Identity
	DisplayName string
	// EmptyPassphrase reports that the file is protected by the empty
	// passphrase only; the UI should warn that anyone with the file has
	// the identity.
	EmptyPassphrase bool
}

// DefaultDir returns the directory holding Sotto's keystore and contacts:
// $SOTTO_CONFIG_DIR if set, else os.UserConfigDir()/sotto. It does not
// create the directory; Save does (mode 0700).
func DefaultDir() (string, error) {
	if d := os.Getenv(configDirEnv); d != "" {
		return d, nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("identity: locate config directory: %w", err)
	}
	return filepath.Join(base, "sotto"), nil
}

// Exists reports whether a regular file is at path.
func Exists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// Save writes id and displayName to path, encrypted under passphrase with
// DefaultKDFParams. The write is atomic: after a crash or error the file is
// either the old one or the new one.
func Save(path string, id *Identity, displayName string, passphrase []byte) error {
	return SaveWithParams(path, id, displayName, passphrase, DefaultKDFParams())
}

// SaveWithParams is Save with explicit Argon2id costs. Use it only to make
// tests fast; real keystores use DefaultKDFParams.
func SaveWithParams(path string, id *Identity, displayName string, passphrase []byte, p KDFParams) error {
	if !p.valid() {
		return fmt.Errorf("save keystore: %w", ErrKDFParams)
	}
	if len(displayName) > MaxDisplayNameSize || !utf8.ValidString(displayName) {
		return fmt.Errorf("save keystore: %w", ErrDisplayName)
	}
	file, err := sealKeystore(id, displayName, passphrase, p)
	if err != nil {
		return fmt.Errorf("save keystore: %w", err)
	}
	if err := writeFileAtomic(path, file); err != nil {
		return fmt.Errorf("save keystore: %w", err)
	}
	return nil
}

func sealKeystore(id *Identity, displayName string, passphrase []byte, p KDFParams) ([]byte, error) {
	seed, scalar := id.secrets()
	plaintext := make([]byte, 0, minPlaintext+len(displayName))
	plaintext = append(plaintext, seed...)
	plaintext = append(plaintext, scalar...)
	plaintext = binary.BigEndian.AppendUint16(plaintext, uint16(len(displayName)))
	plaintext = append(plaintext, displayName...)
	defer clear(plaintext)
	clear(seed)
	clear(scalar)

	var flags byte
	if len(passphrase) == 0 {
		flags |= flagEmptyPassphrase
	}
	header := make([]byte, 0, headerSize)
	header = append(header, keystoreMagic...)
	header = append(header, keystoreVersion, flags)
	header = binary.BigEndian.AppendUint32(header, p.Time)
	header = binary.BigEndian.AppendUint32(header, p.MemoryKiB)
	header = append(header, p.Threads)
	saltAt := len(header)
	header = append(header, make([]byte, saltSize+chacha20poly1305.NonceSizeX)...)
	if _, err := io.ReadFull(rand.Reader, header[saltAt:]); err != nil {
		return nil, fmt.Errorf("random salt and nonce: %w", err)
	}
	header = binary.BigEndian.AppendUint32(header, uint32(len(plaintext)+chacha20poly1305.Overhead))
	sum := sha256.Sum256(header)
	header = append(header, sum[:headerSumSize]...)

	salt := header[saltAt : saltAt+saltSize]
	nonce := header[saltAt+saltSize : saltAt+saltSize+chacha20poly1305.NonceSizeX]
	aead, err := keystoreAEAD(passphrase, salt, p)
	if err != nil {
		return nil, err
	}
	file := aead.Seal(header, nonce, plaintext, header)
	fileSum := sha256.Sum256(file)
	return append(file, fileSum[:]...), nil
}

func keystoreAEAD(passphrase, salt []byte, p KDFParams) (cipher.AEAD, error) {
	key := argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, chacha20poly1305.KeySize)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("cipher: %w", err)
	}
	return aead, nil
}

// Load reads and decrypts the keystore at path. It never modifies the file.
// Errors wrap exactly one of ErrNotFound, ErrNotKeystore,
// ErrUnsupportedVersion, ErrTruncated, ErrCorrupt or ErrWrongPassphrase
// (test with errors.Is), or an I/O error.
func Load(path string, passphrase []byte) (*Stored, error) {
	file, err := readKeystore(path)
	if err != nil {
		return nil, fmt.Errorf("load keystore: %w", err)
	}
	st, err := openKeystore(file, passphrase)
	if err != nil {
		return nil, fmt.Errorf("load keystore: %w", err)
	}
	return st, nil
}

// NeedsPassphrase reports whether the keystore at path was saved with a
// non-empty passphrase, so the UI knows whether to ask for one before Load.
// The flag is only checksummed here; Load authenticates it.
func NeedsPassphrase(path string) (bool, error) {
	file, err := readKeystore(path)
	if err != nil {
		return false, fmt.Errorf("inspect keystore: %w", err)
	}
	h, _, err := parseKeystore(file)
	if err != nil {
		return false, fmt.Errorf("inspect keystore: %w", err)
	}
	return h.flags&flagEmptyPassphrase == 0, nil
}

func readKeystore(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// One byte more than the largest valid file, to detect trailing data
	// without reading an arbitrarily large file.
	return io.ReadAll(io.LimitReader(f, int64(maxFileSize)+1))
}

type keystoreHeader struct {
	flags      byte
	kdf        KDFParams
	salt       []byte
	nonce      []byte
	ciphertext []byte
}

// parseKeystore checks the file's framing and checksums, in an order that
// makes each error name the first thing wrong: magic, version, header
// checksum, length, file checksum, then header fields.
func parseKeystore(file []byte) (keystoreHeader, []byte, error) {
	var h keystoreHeader
	if len(file) < len(keystoreMagic) {
		if bytes.HasPrefix([]byte(keystoreMagic), file) {
			return h, nil, ErrTruncated
		}
		return h, nil, ErrNotKeystore
	}
	if string(file[:len(keystoreMagic)]) != keystoreMagic {
		return h, nil, ErrNotKeystore
	}
	if len(file) < len(keystoreMagic)+1 {
		return h, nil, ErrTruncated
	}
	// The version is read before anything else is trusted: a later version
	// may lay out the rest differently.
	if v := file[len(keystoreMagic)]; v != keystoreVersion {
		return h, nil, ErrUnsupportedVersion
	}
	if len(file) < headerSize {
		return h, nil, ErrTruncated
	}
	header := file[:headerSize]
	sum := sha256.Sum256(header[:headerSize-headerSumSize])
	if subtle.ConstantTimeCompare(sum[:headerSumSize], header[headerSize-headerSumSize:]) != 1 {
		return h, nil, ErrCorrupt
	}
	rest := header[len(keystoreMagic)+1:]
	h.flags, rest = rest[0], rest[1:]
	h.kdf.Time, rest = binary.BigEndian.Uint32(rest), rest[4:]
	h.kdf.MemoryKiB, rest = binary.BigEndian.Uint32(rest), rest[4:]
	h.kdf.Threads, rest = rest[0], rest[1:]
	h.salt, rest = rest[:saltSize], rest[saltSize:]
	h.nonce, rest = rest[:chacha20poly1305.NonceSizeX], rest[chacha20poly1305.NonceSizeX:]
	n := binary.BigEndian.Uint32(rest)
	if n < minCiphertext || n > maxCiphertext {
		return h, nil, ErrCorrupt
	}
	total := headerSize + int(n) + fileSumSize
	if len(file) < total {
		return h, nil, ErrTruncated
	}
	if len(file) > total {
		return h, nil, ErrCorrupt
	}
	fileSum := sha256.Sum256(file[:headerSize+int(n)])
	if subtle.ConstantTimeCompare(fileSum[:], file[headerSize+int(n):]) != 1 {
		return h, nil, ErrCorrupt
	}
	if h.flags&^flagEmptyPassphrase != 0 || !h.kdf.valid() {
		return h, nil, ErrCorrupt
	}
	h.ciphertext = file[headerSize : headerSize+int(n)]
	return h, header, nil
}

func openKeystore(file, passphrase []byte) (*Stored, error) {
	h, header, err := parseKeystore(file)
	if err != nil {
		return nil, err
	}
	aead, err := keystoreAEAD(passphrase, h.salt, h.kdf)
	if err != nil {
		return nil, err
	}
	plaintext, err := aead.Open(nil, h.nonce, h.ciphertext, header)
	if err != nil {
		// The checksums passed, so the bytes are as written: the key is
		// wrong (or someone forged the file, which looks the same).
		return nil, ErrWrongPassphrase
	}
	defer clear(plaintext)
	seed, rest := plaintext[:seedSize], plaintext[seedSize:]
	scalar, rest := rest[:ExchangeKeySize], rest[ExchangeKeySize:]
	nameLen, rest := int(binary.BigEndian.Uint16(rest)), rest[2:]
	if nameLen != len(rest) || !utf8.Valid(rest) {
		return nil, ErrCorrupt
	}
	id, err := fromSecrets(seed, scalar)
	if err != nil {
		return nil, ErrCorrupt
	}
	return &Stored{
		Identity:        id,
		DisplayName:     string(rest),
		EmptyPassphrase: h.flags&flagEmptyPassphrase != 0,
	}, nil
}
