package app_test

import (
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/app/apptest"
)

// The lobby speaks to the host as the host (not "what the host will
// see"), to a joiner as a joiner, and its microphone meter says what it is.
func TestLobbyCopyForHostAndJoiner(t *testing.T) {
	lockUI(t)
	a := newApp(t, t.TempDir(), nil)
	createIdentity(t, a, "Ada", "")
	has := func(sub string) bool {
		return slices.ContainsFunc(labelTexts(a.Window().Content()), func(s string) bool { return strings.Contains(s, sub) })
	}
	a.ShowHostLobby()
	if has("What the host will see") || has("The host sees") {
		t.Fatal("the host's lobby speaks of the host as someone else")
	}
	if !has("You are the host") || !has("Microphone level") {
		t.Fatalf("host lobby: %q", labelTexts(a.Window().Content()))
	}
	tap(a.LobbyView().Back)
	h := a.HomeView()
	setText(h.Link, validLink(t))
	tap(h.Join)
	if !has("What the host will see") || has("You are the host") || !has("Microphone level") {
		t.Fatalf("joiner lobby: %q", labelTexts(a.Window().Content()))
	}
}

// The name can be changed in the lobby, before joining: the lobby shows
// the new one and the join request carries it.
func TestLobbyChangeNameBeforeJoining(t *testing.T) {
	lockUI(t)
	m := apptest.NewMeeting()
	fa := test.NewTempApp(t)
	conn := apptest.NewConnector(m)
	a, err := app.New(fa, app.Config{Dir: t.TempDir(), KDF: fastKDF, Connector: conn, Devices: apptest.Devices{}})
	if err != nil {
		t.Fatal(err)
	}
	createIdentity(t, a, "Ada", "")
	h := a.HomeView()
	setText(h.Link, validLink(t))
	tap(h.Join)
	tap(findButton(t, a.Window().Content(), "Change name"))
	v := a.IdentityView()
	setText(v.Name, "Ada L.")
	tap(v.Save)
	eventually(t, "the lobby with the new name", func() bool {
		return a.LobbyView() != nil && slices.ContainsFunc(labelTexts(a.Window().Content()), func(s string) bool { return strings.Contains(s, `"Ada L."`) })
	})
	tap(a.LobbyView().Enter)
	eventually(t, "the join request", func() bool { return len(conn.Joins()) == 1 })
	if got := conn.Joins()[0].Name; got != "Ada L." {
		t.Fatalf("joined as %q", got)
	}
}
