package app_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/app/apptest"
	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/crypto/safety"
	"github.com/sottohq/sotto/internal/call"
)

// fastKDF keeps Argon2id cheap in tests; the keystore format is the same.
var fastKDF = identity.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

func newApp(t *testing.T, dir string, m *apptest.Meeting) *app.App {
	t.Helper()
	fa := test.NewTempApp(t)
	if m == nil {
		m = apptest.NewMeeting()
	}
	a, err := app.New(fa, app.Config{
		Dir: dir, KDF: fastKDF, DefaultRelay: "relay.example:8443",
		Connector: apptest.NewConnector(m), Devices: apptest.Devices{},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Window().Resize(fyne.NewSize(1100, 760))
	a.Window().Show()
	return a
}

// The test driver runs UI work on whichever goroutine asks for it. So that
// the app's background work (key derivation results, meeting events, video
// frames) never touches widgets while a test does, a test holds uiMu while
// it runs and lets the app's work in only while it waits in eventually.
var uiMu sync.Mutex

func serialised(f func()) {
	uiMu.Lock()
	defer uiMu.Unlock()
	f()
}

func TestMain(m *testing.M) {
	app.SetDispatch(serialised, serialised)
	os.Exit(m.Run())
}

// lockUI makes the calling test the UI goroutine until it ends.
func lockUI(t *testing.T) {
	uiMu.Lock()
	t.Cleanup(uiMu.Unlock)
}

// eventually polls cond for up to 10 s, letting the app's background work
// reach the UI between polls.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		uiMu.Unlock()
		time.Sleep(10 * time.Millisecond)
		uiMu.Lock()
	}
}

func tap(b fyne.Tappable)               { test.Tap(b) }
func typ(e *widget.Entry, s string)     { test.Type(e, s) }
func setText(e *widget.Entry, s string) { e.SetText(s) }

// createIdentity runs the first-run screen to completion.
func createIdentity(t *testing.T, a *app.App, name, pass string) {
	t.Helper()
	v := a.FirstRunView()
	if v == nil {
		t.Fatal("first-run screen not shown")
	}
	typ(v.Name, name)
	typ(v.Pass, pass)
	typ(v.Confirm, pass)
	tap(v.Create)
	eventually(t, "home screen", func() bool { return a.HomeView() != nil })
}

func TestCreateIdentityThenUnlock(t *testing.T) {
	lockUI(t)
	dir := t.TempDir()
	a := newApp(t, dir, nil)
	v := a.FirstRunView()
	if !v.Warning.Visible() {
		t.Fatal("empty-passphrase warning hidden while the passphrase is empty")
	}
	typ(v.Pass, "x")
	if v.Warning.Visible() {
		t.Fatal("empty-passphrase warning shown with a passphrase")
	}
	// Mismatched confirmation is refused without creating anything.
	typ(v.Name, "Ada")
	typ(v.Confirm, "y")
	tap(v.Create)
	if v.Error.Text == "" || identity.Exists(filepath.Join(dir, identity.KeystoreFileName)) {
		t.Fatalf("mismatched passphrases: error %q, keystore created anyway?", v.Error.Text)
	}
	setText(v.Confirm, "x")
	tap(v.Create)
	eventually(t, "home screen", func() bool { return a.HomeView() != nil })
	fp := a.HomeView().Fingerprint.Text

	path := filepath.Join(dir, identity.KeystoreFileName)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// Second start: unlock screen; a wrong passphrase is a clear message
	// and leaves the file untouched.
	b := newApp(t, dir, nil)
	u := b.UnlockView()
	if u == nil {
		t.Fatal("unlock screen not shown on second start")
	}
	typ(u.Pass, "wrong")
	tap(u.Unlock)
	eventually(t, "wrong-passphrase message", func() bool { return u.Error.Text == app.TextWrongPassphrase })
	if b.HomeView() != nil {
		t.Fatal("home shown after a wrong passphrase")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("keystore changed after a wrong passphrase")
	}
	typ(u.Pass, "x")
	tap(u.Unlock)
	eventually(t, "home after unlock", func() bool { return b.HomeView() != nil })
	if got := b.HomeView().Fingerprint.Text; got != fp {
		t.Fatalf("fingerprint after unlock %q, want %q", got, fp)
	}
}

func TestDamagedKeystoreIsNotOverwritten(t *testing.T) {
	lockUI(t)
	dir := t.TempDir()
	a := newApp(t, dir, nil)
	createIdentity(t, a, "Ada", "pw")
	path := filepath.Join(dir, identity.KeystoreFileName)
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b := newApp(t, dir, nil)
	u := b.UnlockView()
	typ(u.Pass, "pw")
	tap(u.Unlock)
	eventually(t, "damaged-file message", func() bool { return u.Error.Text == app.TextCorrupt })
	after, _ := os.ReadFile(path)
	if !bytes.Equal(data, after) {
		t.Fatal("damaged keystore was modified")
	}
}

func validLink(t *testing.T) string {
	t.Helper()
	var l meeting.Link
	l.Relay = "relay.example:8443"
	rand.Read(l.MeetingID[:])
	rand.Read(l.HostFingerprint[:])
	rand.Read(l.InviteKey[:])
	return l.String()
}

func TestJoinByLink(t *testing.T) {
	lockUI(t)
	m := apptest.NewMeeting()
	a := newApp(t, t.TempDir(), m)
	createIdentity(t, a, "Ada", "")
	h := a.HomeView()

	for _, bad := range []string{"", "https://example.com/x", "sotto://relay.example:8443/nothex#AAAA", validLink(t)[:40]} {
		setText(h.Link, bad)
		tap(h.Join)
		if !strings.Contains(h.JoinError.Text, "not a valid invite link") || a.LobbyView() != nil {
			t.Fatalf("malformed link %q: error %q, lobby %v", bad, h.JoinError.Text, a.LobbyView() != nil)
		}
	}

	link := validLink(t)
	setText(h.Link, "  "+link+"\n")
	tap(h.Join)
	lv := a.LobbyView()
	if lv == nil {
		t.Fatalf("valid link did not open the lobby (error %q)", h.JoinError.Text)
	}
	if lv.Invite.Relay != "relay.example:8443" || lv.Invite.Link != link {
		t.Fatalf("lobby invite %+v", lv.Invite)
	}
	tap(lv.Enter)
	eventually(t, "meeting screen", func() bool { return a.MeetingView() != nil })
	mv := a.MeetingView()
	if !mv.Progress.Visible() || mv.ProgressText.Text != string(app.TaskAdmission) {
		t.Fatalf("joiner does not see admission progress (%q)", mv.ProgressText.Text)
	}
	m.Emit(app.Admitted{})
	eventually(t, "admission progress gone", func() bool { return !mv.Progress.Visible() })
}

func newPeer(t *testing.T) identity.Public {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Destroy)
	return id.Public()
}

// hostMeeting signs up, hosts a meeting on the fake and returns its view.
func hostMeeting(t *testing.T, a *app.App, m *apptest.Meeting) *app.MeetingView {
	t.Helper()
	a.HostNow(true, app.MediaChoice{CameraOn: true, MicOn: true})
	eventually(t, "meeting screen", func() bool { return a.MeetingView() != nil })
	return a.MeetingView()
}

// hostedMeeting starts the app, creates Ada's identity and hosts a meeting
// on a fresh scripted meeting.
func hostedMeeting(t *testing.T) (*app.App, *apptest.Meeting, *app.MeetingView) {
	t.Helper()
	m := apptest.NewMeeting()
	a := newApp(t, t.TempDir(), m)
	createIdentity(t, a, "Ada", "")
	return a, m, hostMeeting(t, a, m)
}

func selfMember(a *app.App) app.Member {
	return app.Member{ID: "self", Name: "Ada", Self: true, Host: true}
}

func TestWaitingRoomAdmitDeny(t *testing.T) {
	lockUI(t)
	a, m, mv := hostedMeeting(t)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a)}})

	bob, eve := newPeer(t), newPeer(t)
	m.Emit(app.WaitingChanged{Joiners: []app.Joiner{
		{ID: "j-bob", Name: "Bob", Public: bob, Contact: identity.StatusNew},
		{ID: "j-eve", Name: "Eve", Public: eve, Contact: identity.StatusNew},
	}})
	eventually(t, "two joiners listed", func() bool { return len(mv.Waiting.Objects) == 2 })

	// Each entry shows the real safety number, 12 groups of 5 digits.
	texts := labelTexts(mv.Waiting.Objects[0])
	hostKey := a.SelfPublic().SafetyKey()
	want := safety.Groups(safety.Number(hostKey, nil, bob.SafetyKey(), nil))
	found := false
	for _, s := range texts {
		if strings.Join(strings.Fields(s), " ") == strings.Join(want, " ") {
			found = true
		}
	}
	if !found || len(want) != 12 {
		t.Fatalf("waiting entry %q lacks the safety number %v", texts, want)
	}
	if !slices.Contains(texts, "new contact, not verified") {
		t.Fatalf("waiting entry lacks the contact status: %q", texts)
	}

	tap(findButton(t, mv.Waiting.Objects[0], "Admit"))
	tap(findButton(t, mv.Waiting.Objects[1], "Deny"))
	eventually(t, "admit and deny calls", func() bool {
		c := m.Calls()
		return slices.Contains(c, "Admit j-bob") && slices.Contains(c, "Deny j-eve")
	})
	if slices.Contains(m.Calls(), "Admit j-eve") || slices.Contains(m.Calls(), "Deny j-bob") {
		t.Fatalf("wrong joiner acted on: %v", m.Calls())
	}
}

func TestVerificationDialog(t *testing.T) {
	lockUI(t)
	a, m, mv := hostedMeeting(t)
	bob := newPeer(t)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a), {ID: "bob", Name: "Bob", Public: bob}}})
	eventually(t, "one unverified member shown", func() bool {
		return mv.UnverifiedCount() == 1 && strings.Contains(mv.Unverified.Text, "1 member not verified") && mv.TileBadge("bob") != nil
	})
	if mv.TileBadge("bob") != app.IconUnverified {
		t.Fatal("unverified tile has the wrong badge")
	}

	v := mv.Verify("bob")
	number := safety.Number(a.SelfPublic().SafetyKey(), nil, bob.SafetyKey(), nil)
	if len(v.Groups) != 12 || strings.Join(v.Groups, "") != number {
		t.Fatalf("groups %v, number %s", v.Groups, number)
	}
	for _, g := range v.Groups {
		if !regexp.MustCompile(`^[0-9]{5}$`).MatchString(g) {
			t.Fatalf("group %q is not 5 digits", g)
		}
	}
	// The QR code carries the scannable form that the other side accepts.
	peerView := safety.Scannable(bob.SafetyKey(), nil, a.SelfPublic().SafetyKey(), nil)
	if ok, err := safety.VerifyScanned(peerView, v.QR); !ok || err != nil {
		t.Fatalf("scannable form does not verify: %v %v", ok, err)
	}
	tap(v.Mark)
	c, ok := a.Contacts().Get(bob)
	if !ok || !c.Verified {
		t.Fatal("mark as verified did not reach the contacts store")
	}
	if mv.UnverifiedCount() != 0 || !strings.Contains(mv.Unverified.Text, "all members verified") {
		t.Fatalf("indicator after verifying: %q", mv.Unverified.Text)
	}
	if mv.TileBadge("bob") != app.IconVerified {
		t.Fatal("verified tile has the wrong badge")
	}
	for _, al := range a.Alerts() {
		if al.Key == "unverified" {
			t.Fatal("unverified alert still shown")
		}
	}
}

func TestAlerts(t *testing.T) {
	lockUI(t)
	a, m, mv := hostedMeeting(t)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a)}})
	// The protocol found Bob's name in the contacts with another key.
	newBob, carol := newPeer(t), newPeer(t)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a),
		{ID: "bob", Name: "Bob", Public: newBob, Contact: identity.StatusKeyChanged},
		{ID: "carol", Name: "Carol", Public: carol, Contact: identity.StatusNew},
	}})
	eventually(t, "joined, key-changed and unverified alerts", func() bool {
		return hasAlert(a, app.AlertDanger, "changed since you last met") && hasAlert(a, app.AlertInfo, "Carol joined") &&
			hasAlert(a, app.AlertWarning, "2 members are in this meeting not verified")
	})
	if mv.TileBadge("bob") != app.IconKeyChanged {
		t.Fatal("key-changed tile lacks its badge")
	}
	m.Emit(app.Undecryptable{Member: "carol"})
	eventually(t, "undecryptable alert", func() bool { return hasAlert(a, app.AlertDanger, "from Carol cannot be decrypted") })
	m.Emit(app.RelayInjected{Session: "ghost"})
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a), {ID: "bob", Name: "Bob", Public: newBob}}})
	eventually(t, "left and relay alerts", func() bool {
		return hasAlert(a, app.AlertInfo, "Carol left") && hasAlert(a, app.AlertDanger, "relay tried to add a participant")
	})
	// The undecryptable alert about Carol goes when Carol leaves.
	eventually(t, "stale undecryptable alert removed", func() bool { return !hasAlert(a, app.AlertDanger, "cannot be decrypted") })
}

// Each way a meeting ends has its own words, shown as they are (not
// "The meeting ended: …" for all of them), and the app goes home.
func TestEndedShowsItsOwnWords(t *testing.T) {
	for _, reason := range []string{call.EndedRemoved, call.EndedDenied, call.EndedConnectionLost} {
		t.Run(reason[:12], func(t *testing.T) {
			lockUI(t)
			a, m, _ := hostedMeeting(t)
			m.Emit(app.Ended{Reason: reason})
			eventually(t, "the ending's own words", func() bool {
				for _, al := range a.Alerts() {
					if al.Text == reason {
						return a.MeetingView() == nil
					}
				}
				return false
			})
		})
	}
}

func TestVideoTilesShowFrames(t *testing.T) {
	lockUI(t)
	a, m, mv := hostedMeeting(t)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a), {ID: "bob", Name: "Bob", Public: newPeer(t)}}})
	eventually(t, "tiles", func() bool { return mv.TileShown("bob") == 0 && mv.TileShown("self") == 0 })
	if !mv.TilePlaceholderVisible("bob") {
		t.Fatal("tile without video does not show its placeholder")
	}
	for i := range 5 {
		m.Frame("bob", apptest.Pattern(64, 48, i))
	}
	eventually(t, "bob's frames shown", func() bool { return mv.TileShown("bob") >= 1 })
	if mv.TilePlaceholderVisible("bob") || !mv.TilePlaceholderVisible("self") {
		t.Fatal("placeholders wrong after video")
	}
	// A frame for someone not in the roster is dropped, not shown anywhere.
	m.Frame("ghost", apptest.Pattern(64, 48, 0))
	tap(mv.Mute)
	eventually(t, "mute call", func() bool { return slices.Contains(m.Calls(), "SetMicrophone false") })
	tap(mv.Leave)
	tap(findButton(t, topDialog(a), "Leave without a host"))
	eventually(t, "home after leaving", func() bool { return a.HomeView() != nil })
}

func hasAlert(a *app.App, kind app.AlertKind, sub string) bool {
	for _, al := range a.Alerts() {
		if al.Kind == kind && strings.Contains(al.Text, sub) {
			return true
		}
	}
	return false
}

// labelTexts collects the text of every label under o.
func labelTexts(o fyne.CanvasObject) []string {
	var out []string
	walk(o, func(o fyne.CanvasObject) {
		if l, ok := o.(*widget.Label); ok {
			out = append(out, l.Text)
		}
	})
	return out
}

// findButton returns the button labelled text among o's parts.
func findButton(t *testing.T, o fyne.CanvasObject, text string) *widget.Button {
	t.Helper()
	return findLabelled(t, o, text, func(b *widget.Button) string { return b.Text })
}

// findLabelled returns the widget of type W whose label is text among o's
// parts.
func findLabelled[W fyne.CanvasObject](t *testing.T, o fyne.CanvasObject, text string, label func(W) string) W {
	t.Helper()
	var found W
	ok := false
	walk(o, func(o fyne.CanvasObject) {
		if x, is := o.(W); is && label(x) == text {
			found, ok = x, true
		}
	})
	if !ok {
		t.Fatalf("no %T labelled %q", found, text)
	}
	return found
}

// walk visits o and everything under it, widgets' parts included, except
// the parts of progress bars: making an infinite bar's renderer starts its
// animation, which the spinner tests must see only when the app starts it.
func walk(o fyne.CanvasObject, f func(fyne.CanvasObject)) {
	f(o)
	switch x := o.(type) {
	case *fyne.Container:
		for _, c := range x.Objects {
			walk(c, f)
		}
	case *widget.ProgressBarInfinite:
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(x).Objects() {
			walk(c, f)
		}
	}
}

// The protocol consults the contacts store; the app shows its answer and
// never asks the store itself (a second question would turn "key changed"
// into "known").
func TestContactStatusFromProtocol(t *testing.T) {
	lockUI(t)
	a, m, mv := hostedMeeting(t)
	bob := newPeer(t)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a), {ID: "bob", Name: "Bob", Public: bob}}})
	eventually(t, "member listed as being checked", func() bool {
		return slices.Contains(labelTexts(mv.Members), "not verified (checking contacts…)")
	})
	m.Emit(app.ContactStatus{Member: "bob", Status: identity.StatusKeyChanged})
	eventually(t, "key-changed alert and badge", func() bool {
		return hasAlert(a, app.AlertDanger, "The key of Bob changed") && mv.TileBadge("bob") == app.IconKeyChanged
	})
	if n := len(a.Contacts().List()); n != 0 {
		t.Fatalf("the app wrote %d contacts itself", n)
	}
	// A later roster (Contact still zero in it) keeps the answer.
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a), {ID: "bob", Name: "Bob", Public: bob, Muted: true}}})
	eventually(t, "roster applied", func() bool {
		return slices.Contains(labelTexts(mv.Members), "KEY CHANGED since you last met, not verified")
	})
}

func TestConnectFailureIsReported(t *testing.T) {
	lockUI(t)
	m := apptest.NewMeeting()
	fa := test.NewTempApp(t)
	conn := apptest.NewConnector(m)
	conn.Err = errors.New("relay unreachable")
	a, err := app.New(fa, app.Config{Dir: t.TempDir(), KDF: fastKDF, Connector: conn, Devices: apptest.Devices{}})
	if err != nil {
		t.Fatal(err)
	}
	createIdentity(t, a, "Ada", "")
	h := a.HomeView()
	setText(h.Link, validLink(t))
	tap(h.Join)
	tap(a.LobbyView().Enter)
	eventually(t, "failure alert", func() bool { return hasAlert(a, app.AlertDanger, "Could not start the meeting. Something went wrong") })
	if a.MeetingView() != nil {
		t.Fatal("meeting screen shown after a failed connection")
	}
	if j := conn.Joins(); len(j) != 1 || j[0].Name != "Ada" || j[0].Contacts == nil {
		t.Fatalf("join requests %+v", j)
	}
}

// The settings refuse a relay address a meeting could not use, before
// Save: empty (host on this computer) and the forms people write pass.
func TestSettingsValidateRelayAddress(t *testing.T) {
	for _, ok := range []string{"", "relay.example.org:443", "wss://relay.example.org:8443/ws", "ws://192.168.1.5:7717"} {
		if err := app.ValidateRelay(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://relay.example.org", "relay example.org", "ws://relay:99999", "wss:///ws"} {
		if err := app.ValidateRelay(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// "Copy invite link" copies the link and says so; without a link (a host
// role handed away) it says there is none and copies nothing.
func TestCopyInviteLinkNeverCopiesNothing(t *testing.T) {
	lockUI(t)
	a, m, _ := hostedMeeting(t)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a)}})
	btn := findButton(t, a.Window().Content(), "Copy invite link")
	clip := fyne.CurrentApp().Clipboard()
	clip.SetContent("before")
	tap(btn)
	if got := clip.Content(); got != "before" {
		t.Fatalf("copied %q without an invite link", got)
	}
	eventually(t, "the no-link notice", func() bool { return hasAlert(a, app.AlertInfo, "no invite link to copy") })
	if hasAlert(a, app.AlertInfo, "Invite link copied") {
		t.Fatal("claimed to copy an empty link")
	}
	m.Link = "sotto://relay.example:8443/00112233445566778899aabbccddeeff#AQ"
	tap(btn)
	if got := clip.Content(); got != m.Link {
		t.Fatalf("copied %q, want the link", got)
	}
	eventually(t, "the copied notice", func() bool { return hasAlert(a, app.AlertInfo, "Invite link copied") })
}
