package identity

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fastKDF keeps tests quick; real keystores use DefaultKDFParams.
var fastKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

const testName = "Ada Quietly"

var testPass = []byte("correct horse battery staple")

// errorLeaks reports whether err's text reveals the passphrase, the display
// name or any private or public key bytes of id.
func errorLeaks(t *testing.T, err error, id *Identity, pass []byte) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	seed, scalar := id.secrets()
	pub := id.Public()
	needles := []string{testName, strings.ToLower(testName)}
	if len(pass) > 0 {
		needles = append(needles, string(pass))
	}
	for _, b := range [][]byte{seed, scalar, pub.Signing, pub.Exchange[:]} {
		needles = append(needles, string(b), hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b)[:20])
	}
	for _, n := range needles {
		if strings.Contains(msg, n) {
			t.Fatalf("error %q reveals secret or user data", msg)
		}
	}
}

func saveTest(t *testing.T, dir string, pass []byte) (string, *Identity, []byte) {
	t.Helper()
	id := mustGenerate(t)
	path := filepath.Join(dir, KeystoreFileName)
	if err := SaveWithParams(path, id, testName, pass, fastKDF); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, id, data
}

func TestKeystoreRoundTrip(t *testing.T) {
	path, id, _ := saveTest(t, t.TempDir(), testPass)
	st, err := Load(path, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Identity.Destroy()
	if !bytes.Equal(st.Identity.Public().Marshal(), id.Public().Marshal()) {
		t.Fatal("loaded identity differs")
	}
	if st.DisplayName != testName || st.EmptyPassphrase {
		t.Fatalf("loaded name %q empty %v", st.DisplayName, st.EmptyPassphrase)
	}
	msg := []byte("m")
	if !id.Public().Verify(msg, st.Identity.Sign(msg)) {
		t.Fatal("loaded identity cannot sign for the saved one")
	}
	peer := mustGenerate(t)
	s1, _ := st.Identity.ECDH(peer.Public())
	s2, _ := id.ECDH(peer.Public())
	if !bytes.Equal(s1, s2) {
		t.Fatal("loaded identity has a different exchange key")
	}
	// Unicode names and the maximum size survive.
	long := strings.Repeat("é", MaxDisplayNameSize/2)
	if err := SaveWithParams(path, id, long, testPass, fastKDF); err != nil {
		t.Fatal(err)
	}
	if st, err := Load(path, testPass); err != nil || st.DisplayName != long {
		t.Fatalf("long name: %v", err)
	}
}

func TestKeystoreDefaultParams(t *testing.T) {
	d := DefaultKDFParams()
	if d.Time < 3 || d.MemoryKiB < 64*1024 || d.Threads < 1 {
		t.Fatalf("default KDF params too weak: %+v", d)
	}
	path := filepath.Join(t.TempDir(), "k")
	id := mustGenerate(t)
	if err := Save(path, id, testName, testPass); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	h, _, err := parseKeystore(data)
	if err != nil {
		t.Fatal(err)
	}
	if h.kdf != d {
		t.Fatalf("file records %+v, want %+v", h.kdf, d)
	}
	if _, err := Load(path, testPass); err != nil {
		t.Fatal(err)
	}
}

func TestKeystoreWrongPassphrase(t *testing.T) {
	path, id, _ := saveTest(t, t.TempDir(), testPass)
	for _, p := range [][]byte{[]byte("correct horse battery stapl"), nil, append(bytes.Clone(testPass), 0)} {
		_, err := Load(path, p)
		if !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("passphrase %q: %v", p, err)
		}
		errorLeaks(t, err, id, testPass)
	}
}

func TestKeystoreEmptyPassphrase(t *testing.T) {
	dir := t.TempDir()
	path, _, _ := saveTest(t, dir, nil)
	st, err := Load(path, []byte{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.EmptyPassphrase {
		t.Fatal("empty passphrase not reported")
	}
	if need, err := NeedsPassphrase(path); err != nil || need {
		t.Fatalf("NeedsPassphrase = %v, %v; want false", need, err)
	}
	if _, err := Load(path, testPass); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("non-empty passphrase on empty-passphrase file: %v", err)
	}

	path2, _, _ := saveTest(t, t.TempDir(), testPass)
	if need, err := NeedsPassphrase(path2); err != nil || !need {
		t.Fatalf("NeedsPassphrase = %v, %v; want true", need, err)
	}
	if st, _ := Load(path2, testPass); st.EmptyPassphrase {
		t.Fatal("non-empty passphrase reported as empty")
	}
}

func TestKeystoreTruncated(t *testing.T) {
	dir := t.TempDir()
	path, id, data := saveTest(t, dir, testPass)
	trunc := filepath.Join(dir, "trunc")
	for n := 0; n < len(data); n++ {
		if err := os.WriteFile(trunc, data[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(trunc, testPass)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(data), err)
		}
		errorLeaks(t, err, id, testPass)
	}
	if _, err := Load(path, testPass); err != nil {
		t.Fatal(err)
	}
}

func TestKeystoreFlippedBytes(t *testing.T) {
	dir := t.TempDir()
	_, id, data := saveTest(t, dir, testPass)
	bad := filepath.Join(dir, "bad")
	for i := range data {
		want := ErrCorrupt
		switch {
		case i < len(keystoreMagic):
			want = ErrNotKeystore
		case i == len(keystoreMagic):
			want = ErrUnsupportedVersion
		}
		for _, mask := range []byte{0x01, 0x80} {
			b := bytes.Clone(data)
			b[i] ^= mask
			if err := os.WriteFile(bad, b, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(bad, testPass)
			if !errors.Is(err, want) {
				t.Fatalf("byte %d ^ %#x: got %v, want %v", i, mask, err, want)
			}
			errorLeaks(t, err, id, testPass)
		}
	}
	// Trailing data is corruption, not truncation.
	if err := os.WriteFile(bad, append(bytes.Clone(data), 0), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad, testPass); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}
}

// reseal recomputes both checksums after a deliberate edit, as an attacker
// could: only the AEAD stands between the edit and acceptance.
func reseal(b []byte) []byte {
	b = bytes.Clone(b)
	hs := sha256.Sum256(b[:headerSize-headerSumSize])
	copy(b[headerSize-headerSumSize:headerSize], hs[:headerSumSize])
	fs := sha256.Sum256(b[:len(b)-fileSumSize])
	copy(b[len(b)-fileSumSize:], fs[:])
	return b
}

func TestKeystoreForgedFile(t *testing.T) {
	dir := t.TempDir()
	_, id, data := saveTest(t, dir, testPass)
	bad := filepath.Join(dir, "forged")
	load := func(b []byte) error {
		if err := os.WriteFile(bad, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(bad, testPass)
		errorLeaks(t, err, id, testPass)
		return err
	}
	if err := load(reseal(data)); err != nil {
		t.Fatalf("resealing an untouched file broke it: %v", err)
	}
	flagsAt := len(keystoreMagic) + 1
	saltAt := flagsAt + 1 + 4 + 4 + 1
	nonceAt := saltAt + saltSize
	// Every header field is associated data and every ciphertext byte is
	// authenticated: a forged edit fails as one opaque error.
	for name, at := range map[string]int{
		"flags": flagsAt, "salt": saltAt, "nonce": nonceAt,
		"ciphertext": headerSize, "tag": len(data) - fileSumSize - 1,
	} {
		b := bytes.Clone(data)
		b[at] ^= 0x01
		if err := load(reseal(b)); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("forged %s: %v", name, err)
		}
	}
	// Unknown flag bits and out-of-range KDF costs are refused before any
	// key derivation (a crafted file must not make Load allocate 4 GiB).
	b := bytes.Clone(data)
	b[flagsAt] |= 0x02
	if err := load(reseal(b)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unknown flag: %v", err)
	}
	for _, mem := range []uint32{0, 1<<20 + 1, 1 << 31} {
		b := bytes.Clone(data)
		binary.BigEndian.PutUint32(b[flagsAt+1+4:], mem)
		start := time.Now()
		if err := load(reseal(b)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("memory %d KiB: %v", mem, err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("memory %d KiB: refusing took %v", mem, time.Since(start))
		}
	}
}

func TestKeystoreVersion(t *testing.T) {
	dir := t.TempDir()
	_, _, data := saveTest(t, dir, testPass)
	bad := filepath.Join(dir, "v")
	for _, v := range []byte{0x00, 0x02, 0xff} {
		b := bytes.Clone(data)
		b[len(keystoreMagic)] = v
		if err := os.WriteFile(bad, reseal(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(bad, testPass); !errors.Is(err, ErrUnsupportedVersion) {
			t.Errorf("version %d: %v", v, err)
		}
		if _, err := NeedsPassphrase(bad); !errors.Is(err, ErrUnsupportedVersion) {
			t.Errorf("NeedsPassphrase, version %d: %v", v, err)
		}
	}
}

func TestKeystoreNotFoundAndNotKeystore(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	if Exists(missing) {
		t.Fatal("Exists on missing file")
	}
	if _, err := Load(missing, testPass); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if Exists(dir) {
		t.Fatal("Exists on a directory")
	}
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("{\"not\": \"a keystore\"}"), 0o600)
	if _, err := Load(other, testPass); !errors.Is(err, ErrNotKeystore) {
		t.Fatalf("json file: %v", err)
	}
	os.WriteFile(other, []byte("SO"), 0o600)
	if _, err := Load(other, testPass); !errors.Is(err, ErrTruncated) {
		t.Fatalf("magic prefix: %v", err)
	}
	os.WriteFile(other, []byte("XY"), 0o600)
	if _, err := Load(other, testPass); !errors.Is(err, ErrNotKeystore) {
		t.Fatalf("short non-keystore: %v", err)
	}
	path, _, _ := saveTest(t, dir, testPass)
	if !Exists(path) {
		t.Fatal("Exists false after Save")
	}
}

func TestKeystoreLoadNeverModifies(t *testing.T) {
	dir := t.TempDir()
	path, _, data := saveTest(t, dir, testPass)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{testPass, []byte("wrong"), nil} {
		Load(path, p)
		NeedsPassphrase(path)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file changed by Load: %v", err)
	}
	fi, _ := os.Stat(path)
	if !fi.ModTime().Equal(old) {
		t.Fatalf("mtime changed by Load: %v", fi.ModTime())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("Load left %d entries in the directory", len(entries))
	}
}

func TestKeystoreFileMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fresh", "sotto")
	path, _, _ := saveTest(t, dir, testPass)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Fatalf("keystore mode %o, want 600", m)
	}
	di, _ := os.Stat(dir)
	if m := di.Mode().Perm(); m != 0o700 {
		t.Fatalf("directory mode %o, want 700", m)
	}
	// Overwriting a file that somehow became world-readable fixes the mode.
	os.Chmod(path, 0o644)
	if err := SaveWithParams(path, mustGenerate(t), testName, testPass, fastKDF); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(path)
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Fatalf("rewritten keystore mode %o, want 600", m)
	}
}

func TestKeystoreAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	path, _, old := saveTest(t, dir, testPass)
	injected := errors.New("injected rename failure")
	rename = func(string, string) error { return injected }
	t.Cleanup(func() { rename = os.Rename })

	newID := mustGenerate(t)
	err := SaveWithParams(path, newID, "Someone Else", []byte("new pass"), fastKDF)
	if !errors.Is(err, injected) {
		t.Fatalf("Save with failing rename: %v", err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, old) {
		t.Fatal("failed Save changed the existing keystore")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("failed Save left %d entries (temporary file not removed)", len(entries))
	}
	rename = os.Rename
	if err := SaveWithParams(path, newID, "Someone Else", []byte("new pass"), fastKDF); err != nil {
		t.Fatal(err)
	}
	st, err := Load(path, []byte("new pass"))
	if err != nil || !st.Identity.Public().Equal(newID.Public()) {
		t.Fatalf("Save after recovery: %v", err)
	}
}

func TestKeystoreSaveRejects(t *testing.T) {
	dir := t.TempDir()
	id := mustGenerate(t)
	path := filepath.Join(dir, "k")
	if err := SaveWithParams(path, id, strings.Repeat("x", MaxDisplayNameSize+1), testPass, fastKDF); !errors.Is(err, ErrDisplayName) {
		t.Errorf("long name: %v", err)
	}
	if err := SaveWithParams(path, id, "bad\xffname", testPass, fastKDF); !errors.Is(err, ErrDisplayName) {
		t.Errorf("invalid UTF-8: %v", err)
	}
	for _, p := range []KDFParams{{}, {Time: 1, MemoryKiB: 4, Threads: 1}, {Time: 1, MemoryKiB: 64, Threads: 0}, {Time: 65, MemoryKiB: 64, Threads: 1}} {
		if err := SaveWithParams(path, id, testName, testPass, p); !errors.Is(err, ErrKDFParams) {
			t.Errorf("params %+v: %v", p, err)
		}
	}
	if Exists(path) {
		t.Fatal("rejected Save wrote a file")
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("SOTTO_CONFIG_DIR", "/somewhere/else")
	if d, err := DefaultDir(); err != nil || d != "/somewhere/else" {
		t.Fatalf("override: %q %v", d, err)
	}
	t.Setenv("SOTTO_CONFIG_DIR", "")
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	d, err := DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	if base, _ := os.UserConfigDir(); d != filepath.Join(base, "sotto") {
		t.Fatalf("DefaultDir = %q", d)
	}
}

// BenchmarkLoadDefault measures unlocking a keystore saved with
// DefaultKDFParams (dominated by Argon2id); BenchmarkLoadFast, with the
// test parameters, is the baseline cost of everything else.
func BenchmarkLoadDefault(b *testing.B) { benchmarkLoad(b, DefaultKDFParams()) }
func BenchmarkLoadFast(b *testing.B)    { benchmarkLoad(b, fastKDF) }

func benchmarkLoad(b *testing.B, p KDFParams) {
	path := filepath.Join(b.TempDir(), "k")
	if err := SaveWithParams(path, mustGenerate(b), testName, testPass, p); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		st, err := Load(path, testPass)
		if err != nil {
			b.Fatal(err)
		}
		st.Identity.Destroy()
	}
}

// FuzzOpenKeystore feeds hostile files to the reader: it must never panic,
// and anything it accepts must be exactly what was saved.
func FuzzOpenKeystore(f *testing.F) {
	// A fixed identity: fuzzing workers run this setup in their own
	// processes and must agree on what was saved.
	id, err := fromSecrets(bytes.Repeat([]byte{7}, seedSize), bytes.Repeat([]byte{9}, ExchangeKeySize))
	if err != nil {
		f.Fatal(err)
	}
	for _, pass := range [][]byte{testPass, nil} {
		data, err := sealKeystore(id, testName, pass, fastKDF)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, pass)
		f.Add(data[:headerSize], pass)
		f.Add(reseal(append(bytes.Clone(data[:len(data)-fileSumSize-1]), make([]byte, fileSumSize+1)...)), pass)
	}
	f.Add([]byte(keystoreMagic), []byte{})
	want := id.Public().Marshal()
	f.Fuzz(func(t *testing.T, file, pass []byte) {
		h, _, err := parseKeystore(file)
		if err != nil {
			return
		}
		if h.kdf != fastKDF {
			// Valid but costly parameters: parsing them was the test;
			// deriving a key here would only slow the fuzzer.
			return
		}
		st, err := openKeystore(file, pass)
		if err != nil {
			return
		}
		if !bytes.Equal(st.Identity.Public().Marshal(), want) || st.DisplayName != testName {
			t.Fatalf("accepted a file that is not the saved keystore: name %q", st.DisplayName)
		}
	})
}
