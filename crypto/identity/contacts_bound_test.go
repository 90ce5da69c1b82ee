package identity

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func newPublic(t *testing.T) Public {
	t.Helper()
	id, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	defer id.Destroy()
	return id.Public()
}

// Every identity that knocks is observed: a flood of new keys must not grow
// the store without bound, nor push out a verified contact, and the file
// must stay loadable.
func TestContactsAreBounded(t *testing.T) {
	old := maxContacts
	maxContacts = 8
	t.Cleanup(func() { maxContacts = old })
	path := filepath.Join(t.TempDir(), ContactsFileName)
	clk := &clock{time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	c := openTestContacts(t, path, clk)

	var verified []Public
	for i := range 3 {
		p := newPublic(t)
		observe(t, c, fmt.Sprintf("friend %d", i), p, StatusNew)
		if err := c.MarkVerified(p); err != nil {
			t.Fatal(err)
		}
		verified = append(verified, p)
	}
	var flood []Public
	for i := range 20 {
		clk.t = clk.t.Add(time.Minute)
		p := newPublic(t)
		observe(t, c, fmt.Sprintf("knocker %d", i), p, StatusNew)
		flood = append(flood, p)
	}
	if n := len(c.List()); n != maxContacts {
		t.Fatalf("%d contacts after the flood, want %d", n, maxContacts)
	}
	re := openTestContacts(t, path, clk)
	for _, p := range verified {
		if rec, ok := re.Get(p); !ok || !rec.Verified {
			t.Fatal("a verified contact was dropped")
		}
	}
	// The five most recently seen knockers fill the rest.
	for i, p := range flood {
		if _, ok := re.Get(p); ok != (i >= len(flood)-5) {
			t.Fatalf("knocker %d kept = %v", i, ok)
		}
	}
	// An evicted key's name no longer points at it: reusing the name with
	// a new key is not a key change.
	observe(t, re, "knocker 0", newPublic(t), StatusNew)

	// A store full of verified contacts refuses a new one and is unchanged.
	for _, rec := range re.List() {
		if err := re.MarkVerified(rec.Public); err != nil {
			t.Fatal(err)
		}
	}
	before := len(re.List())
	if _, err := re.Observe("one more", newPublic(t)); !errors.Is(err, ErrContactsFull) {
		t.Fatalf("observe into a full store: %v", err)
	}
	if len(re.List()) != before {
		t.Fatal("a refused observation changed the store")
	}
}
