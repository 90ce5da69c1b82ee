package app_test

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"

	"github.com/sottohq/sotto/app"
)

// First run checks the name with the protocol's rule, in characters: a
// 64-character Chinese name is accepted (it was 192 bytes), 65 are refused
// with the count, and the long name does not widen the home screen.
func TestFirstRunChecksNameInCharacters(t *testing.T) {
	lockUI(t)
	a := newApp(t, t.TempDir(), nil)
	v := a.FirstRunView()
	typ(v.Name, strings.Repeat("名", 65))
	tap(v.Create)
	if !strings.Contains(v.Error.Text, "at most 64 characters; this one has 65") || a.HomeView() != nil {
		t.Fatalf("65 characters: error %q, home %v", v.Error.Text, a.HomeView() != nil)
	}
	long := strings.Repeat("名", 64)
	setText(v.Name, long)
	tap(v.Create)
	eventually(t, "home screen", func() bool { return a.HomeView() != nil })
	if a.SelfName() != long {
		t.Fatalf("name %q", a.SelfName())
	}
	// The widest 64 characters of Latin script must not widen the window
	// either.
	b := newApp(t, t.TempDir(), nil)
	createIdentity(t, b, strings.Repeat("W", 64), "")
	win := b.Window()
	win.Resize(fyne.NewSize(900, 700))
	if w := win.Content().MinSize().Width; w > 900 {
		t.Fatalf("the home screen needs %v px for the long name, more than the window's 900", w)
	}
}

// The name and the passphrase can be changed: the passphrase is asked
// first, and the next start unlocks with the new one and shows the new
// name.
func TestChangeNameAndPassphrase(t *testing.T) {
	lockUI(t)
	dir := t.TempDir()
	a := newApp(t, dir, nil)
	createIdentity(t, a, "Ada", "old")
	fp := a.HomeView().Fingerprint.Text
	v := a.ShowIdentitySettings()
	setText(v.Name, strings.Repeat("x", 65))
	tap(v.Save)
	if !strings.Contains(v.Error.Text, "at most 64 characters") {
		t.Fatalf("a 65-character name: %q", v.Error.Text)
	}
	setText(v.Name, "Ada Lovelace")
	typ(v.Current, "wrong")
	typ(v.Pass, "new")
	typ(v.Confirm, "new")
	tap(v.Save)
	eventually(t, "the wrong-passphrase message", func() bool { return strings.Contains(v.Error.Text, "Wrong passphrase") })
	if a.SelfName() != "Ada" {
		t.Fatal("changed without the passphrase")
	}
	typ(v.Current, "old")
	tap(v.Save)
	eventually(t, "the new name", func() bool { return a.SelfName() == "Ada Lovelace" })

	b := newApp(t, dir, nil)
	u := b.UnlockView()
	typ(u.Pass, "old")
	tap(u.Unlock)
	eventually(t, "the old passphrase refused", func() bool { return u.Error.Text == app.TextWrongPassphrase })
	typ(u.Pass, "new")
	tap(u.Unlock)
	eventually(t, "home after unlock", func() bool { return b.HomeView() != nil })
	if b.SelfName() != "Ada Lovelace" || b.HomeView().Fingerprint.Text != fp {
		t.Fatalf("after restart: name %q, fingerprint changed %v", b.SelfName(), b.HomeView().Fingerprint.Text != fp)
	}
}
