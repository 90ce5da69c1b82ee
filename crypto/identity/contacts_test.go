package identity

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func openTestContacts(t *testing.T, path string, clk *clock) *Contacts {
	t.Helper()
	c, err := OpenContacts(path)
	if err != nil {
		t.Fatal(err)
	}
	c.now = clk.now
	return c
}

func observe(t *testing.T, c *Contacts, name string, pub Public, want Status) {
	t.Helper()
	got, err := c.Observe(name, pub)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Observe(%q) = %v, want %v", name, got, want)
	}
}

func TestContactsLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), ContactsFileName)
	clk := &clock{time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	c := openTestContacts(t, path, clk)
	alice := mustGenerate(t).Public()

	if _, ok := c.Get(alice); ok {
		t.Fatal("empty store knows alice")
	}
	observe(t, c, "Alice", alice, StatusNew)
	clk.t = clk.t.Add(time.Hour)
	observe(t, c, "Alice", alice, StatusKnown)

	rec, ok := c.Get(alice)
	if !ok || rec.Name != "Alice" || rec.Verified || rec.ID != alice.FingerprintString() || !rec.Public.Equal(alice) {
		t.Fatalf("record %+v", rec)
	}
	if !rec.FirstSeen.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) || !rec.LastSeen.Equal(clk.t) {
		t.Fatalf("seen times %v %v", rec.FirstSeen, rec.LastSeen)
	}

	if err := c.MarkVerified(alice); err != nil {
		t.Fatal(err)
	}
	observe(t, c, "Alice", alice, StatusVerified)

	// Everything survives a reopen.
	c2 := openTestContacts(t, path, clk)
	rec2, ok := c2.Get(alice)
	if !ok || !rec2.Verified || rec2.Name != "Alice" || !rec2.FirstSeen.Equal(rec.FirstSeen) {
		t.Fatalf("reopened record %+v", rec2)
	}
	observe(t, c2, "Alice", alice, StatusVerified)

	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("contacts file mode: %v %v", fi.Mode(), err)
	}
}

func TestContactsKeyChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), ContactsFileName)
	c := openTestContacts(t, path, &clock{time.Unix(1e9, 0)})
	alice, mallory := mustGenerate(t).Public(), mustGenerate(t).Public()

	observe(t, c, "Alice", alice, StatusNew)
	if err := c.MarkVerified(alice); err != nil {
		t.Fatal(err)
	}
	// A different key under the same name (case and spacing ignored).
	observe(t, c, "  aLiCe ", mallory, StatusKeyChanged)
	// The warning is about a change: the name now points at the new key, so
	// seeing it again is "known", not another change.
	observe(t, c, "Alice", mallory, StatusKnown)
	// The old key coming back under the name is a change again.
	observe(t, c, "Alice", alice, StatusKeyChanged)
	if rec, _ := c.Get(alice); rec.Verified {
		t.Fatal("key change kept the verified flag")
	}
	// Known keys under a new name are not a change, and a name a key used
	// before stays associated with it.
	observe(t, c, "Alice B.", alice, StatusKnown)
	observe(t, c, "Alice", mallory, StatusKeyChanged)

	// Reopen: the name association is persisted.
	c2 := openTestContacts(t, path, &clock{time.Unix(2e9, 0)})
	observe(t, c2, "alice", alice, StatusKeyChanged)
}

func TestContactsVerifiedKeyTakingAName(t *testing.T) {
	c := openTestContacts(t, filepath.Join(t.TempDir(), "c.json"), &clock{time.Unix(1e9, 0)})
	alice, bob := mustGenerate(t).Public(), mustGenerate(t).Public()
	observe(t, c, "Alice", alice, StatusNew)
	observe(t, c, "Bob", bob, StatusNew)
	if err := c.MarkVerified(bob); err != nil {
		t.Fatal(err)
	}
	// Bob's verified key now calls itself Alice: warn and clear verified,
	// so the user must look again before trusting "Alice".
	observe(t, c, "Alice", bob, StatusKeyChanged)
	if rec, _ := c.Get(bob); rec.Verified || rec.Name != "Alice" {
		t.Fatalf("record after taking a name: %+v", rec)
	}
}

func TestContactsEmptyName(t *testing.T) {
	c := openTestContacts(t, filepath.Join(t.TempDir(), "c.json"), &clock{time.Unix(1e9, 0)})
	a, b := mustGenerate(t).Public(), mustGenerate(t).Public()
	observe(t, c, "", a, StatusNew)
	observe(t, c, "   ", b, StatusNew)
	observe(t, c, "", b, StatusKnown)
}

func TestContactsMarkVerifiedUnknown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	c := openTestContacts(t, path, &clock{time.Unix(1e9, 0)})
	if err := c.MarkVerified(mustGenerate(t).Public()); !errors.Is(err, ErrUnknownContact) {
		t.Fatalf("MarkVerified unknown: %v", err)
	}
	if Exists(path) {
		t.Fatal("failed MarkVerified created the file")
	}
}

func TestContactsList(t *testing.T) {
	c := openTestContacts(t, filepath.Join(t.TempDir(), "c.json"), &clock{time.Unix(1e9, 0)})
	observe(t, c, "zoe", mustGenerate(t).Public(), StatusNew)
	observe(t, c, "Bea", mustGenerate(t).Public(), StatusNew)
	observe(t, c, "adam", mustGenerate(t).Public(), StatusNew)
	observe(t, c, "bea", mustGenerate(t).Public(), StatusKeyChanged)
	list := c.List()
	if len(list) != 4 {
		t.Fatalf("List has %d entries", len(list))
	}
	var got []string
	for _, rec := range list {
		got = append(got, strings.ToLower(rec.Name))
	}
	if strings.Join(got, ",") != "adam,bea,bea,zoe" {
		t.Fatalf("List order %v", got)
	}
	if list[1].ID > list[2].ID {
		t.Fatal("equal names not ordered by ID")
	}
	// Returned records are copies.
	list[0].Public.Signing[0] ^= 0xff
	if c.List()[0].Public.Signing[0] == list[0].Public.Signing[0] {
		t.Fatal("List exposes the store's key bytes")
	}
}

func TestContactsRejectsBadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	c := openTestContacts(t, path, &clock{time.Unix(1e9, 0)})
	pub := mustGenerate(t).Public()
	forged := pub.clone()
	forged.Exchange[0] ^= 1
	if _, err := c.Observe("x", forged); !errors.Is(err, ErrBadBinding) {
		t.Errorf("unbound key: %v", err)
	}
	if _, err := c.Observe(strings.Repeat("n", MaxDisplayNameSize+1), pub); !errors.Is(err, ErrDisplayName) {
		t.Errorf("long name: %v", err)
	}
	if _, err := c.Observe("\xff", pub); !errors.Is(err, ErrDisplayName) {
		t.Errorf("invalid UTF-8: %v", err)
	}
	if len(c.List()) != 0 || Exists(path) {
		t.Fatal("rejected input was stored")
	}
}

func TestContactsFailedWriteChangesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.json")
	c := openTestContacts(t, path, &clock{time.Unix(1e9, 0)})
	alice, mallory := mustGenerate(t).Public(), mustGenerate(t).Public()
	observe(t, c, "Alice", alice, StatusNew)
	before, _ := os.ReadFile(path)

	injected := errors.New("injected")
	rename = func(string, string) error { return injected }
	t.Cleanup(func() { rename = os.Rename })
	if _, err := c.Observe("Alice", mallory); !errors.Is(err, injected) {
		t.Fatalf("Observe with failing write: %v", err)
	}
	if err := c.MarkVerified(alice); !errors.Is(err, injected) {
		t.Fatalf("MarkVerified with failing write: %v", err)
	}
	rename = os.Rename

	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("failed write changed the file")
	}
	if _, ok := c.Get(mallory); ok {
		t.Fatal("failed Observe changed memory")
	}
	if rec, _ := c.Get(alice); rec.Verified {
		t.Fatal("failed MarkVerified changed memory")
	}
	// Because the failed Observe changed nothing, the warning still comes.
	observe(t, c, "Alice", mallory, StatusKeyChanged)
}

func TestContactsCorruptFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.json")
	c := openTestContacts(t, path, &clock{time.Unix(1e9, 0)})
	a, b := mustGenerate(t).Public(), mustGenerate(t).Public()
	observe(t, c, "A", a, StatusNew)
	observe(t, c, "B", b, StatusNew)
	good, _ := os.ReadFile(path)

	edit := func(fn func(g map[string]any)) []byte {
		var g map[string]any
		if err := json.Unmarshal(good, &g); err != nil {
			t.Fatal(err)
		}
		fn(g)
		out, _ := json.Marshal(g)
		return out
	}
	contacts := func(g map[string]any) []any { return g["contacts"].([]any) }
	cases := map[string]struct {
		data []byte
		want error
	}{
		"not json":      {[]byte("{"), ErrContactsCorrupt},
		"trailing":      {append(good, []byte("{}")...), ErrContactsCorrupt},
		"unknown field": {edit(func(g map[string]any) { g["extra"] = 1 }), ErrContactsCorrupt},
		"version":       {edit(func(g map[string]any) { g["version"] = 2 }), ErrContactsVersion},
		"id mismatch": {edit(func(g map[string]any) {
			contacts(g)[0].(map[string]any)["id"] = contacts(g)[1].(map[string]any)["id"]
		}), ErrContactsCorrupt},
		"bad key": {edit(func(g map[string]any) {
			contacts(g)[0].(map[string]any)["public"] = "AAAA"
		}), ErrContactsCorrupt},
		"dangling name": {edit(func(g map[string]any) {
			g["names"].(map[string]any)["zed"] = strings.Repeat("0", 64)
		}), ErrContactsCorrupt},
		"unnormalised name": {edit(func(g map[string]any) {
			g["names"].(map[string]any)["Zed"] = contacts(g)[0].(map[string]any)["id"]
		}), ErrContactsCorrupt},
	}
	bad := filepath.Join(dir, "bad.json")
	for name, tc := range cases {
		if err := os.WriteFile(bad, tc.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenContacts(bad); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// The untouched file still opens, and a missing one is an empty store.
	if c, err := OpenContacts(path); err != nil || len(c.List()) != 2 {
		t.Fatalf("good file: %v", err)
	}
	if c, err := OpenContacts(filepath.Join(dir, "missing.json")); err != nil || len(c.List()) != 0 {
		t.Fatalf("missing file: %v", err)
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{StatusNew: "new", StatusKnown: "known", StatusVerified: "verified", StatusKeyChanged: "key changed", 0: "Status(0)"} {
		if s.String() != want {
			t.Errorf("%d: %q", int(s), s.String())
		}
	}
}
