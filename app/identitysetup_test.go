package app_test

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
)

// Enter creates the identity from any field, and "the passphrases
// differ" goes once they agree.
func TestFirstRunEnterSubmitsAndMismatchClears(t *testing.T) {
	lockUI(t)
	a := newApp(t, t.TempDir(), nil)
	v := a.FirstRunView()
	typ(v.Name, "Ada")
	typ(v.Pass, "secret")
	typ(v.Confirm, "secreT")
	v.Confirm.TypedKey(&fyneKeyReturn)
	if v.Error.Text == "" || a.HomeView() != nil {
		t.Fatalf("Enter with differing passphrases: error %q", v.Error.Text)
	}
	mismatch := v.Error.Text
	v.Confirm.TypedKey(&fyneKeyBackspace)
	if v.Error.Text != mismatch {
		t.Fatalf("the message changed while they still differ: %q", v.Error.Text)
	}
	typ(v.Confirm, "t")
	if v.Error.Text != "" {
		t.Fatalf("%q stays after the passphrases agree", v.Error.Text)
	}
	v.Name.TypedKey(&fyneKeyReturn)
	eventually(t, "home after Enter", func() bool { return a.HomeView() != nil })
}

// The unlock screen says which identity it opens; an identity stored
// without a passphrase opens by itself.
func TestUnlockSaysWhoseAndSkipsEmptyPassphrase(t *testing.T) {
	lockUI(t)
	dir := t.TempDir()
	a := newApp(t, dir, nil)
	createIdentity(t, a, "Ada", "pw")
	b := newApp(t, dir, nil)
	u := b.UnlockView()
	if u == nil {
		t.Fatal("no unlock screen for an identity with a passphrase")
	}
	if w := u.Whose(b); !strings.Contains(w, dir) || !strings.Contains(w, "last changed") {
		t.Fatalf("the unlock screen says %q", w)
	}

	dir2 := t.TempDir()
	c := newApp(t, dir2, nil)
	createIdentity(t, c, "Bea", "")
	d := newApp(t, dir2, nil)
	eventually(t, "home without Unlock", func() bool { return d.HomeView() != nil })
	if d.SelfName() != "Bea" {
		t.Fatalf("opened %q", d.SelfName())
	}
}

var (
	fyneKeyReturn    = fyne.KeyEvent{Name: fyne.KeyReturn}
	fyneKeyBackspace = fyne.KeyEvent{Name: fyne.KeyBackspace}
)
