package app_test

import (
	"slices"
	"strings"
	"testing"
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
