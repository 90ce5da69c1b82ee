package app_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/app/apptest"
)

// speakerDevices offers the synthetic camera and microphone and a list of
// speakers, as the engine's playback-device list would.
type speakerDevices struct {
	apptest.Devices
	speakers []app.Device
}

func (d speakerDevices) Speakers() []app.Device { return d.speakers }

// shareConnector hands out a meeting whose screen sharing can be made to
// fail, and records requests like apptest.Connector.
type shareConnector struct {
	*apptest.Connector
	m *shareMeeting
}

func (c shareConnector) Host(ctx context.Context, req app.HostRequest) (app.Meeting, error) {
	if _, err := c.Connector.Host(ctx, req); err != nil {
		return nil, err
	}
	return c.m, nil
}

func (c shareConnector) Join(ctx context.Context, req app.JoinRequest) (app.Meeting, error) {
	if _, err := c.Connector.Join(ctx, req); err != nil {
		return nil, err
	}
	return c.m, nil
}

type shareMeeting struct {
	*apptest.Meeting
	fail atomic.Pointer[error] // returned by SetScreenShare(true) when set
}

func (m *shareMeeting) SetScreenShare(on bool) error {
	m.Meeting.SetScreenShare(on)
	if err := m.fail.Load(); on && err != nil {
		return *err
	}
	return nil
}

func newShareApp(t *testing.T, m *shareMeeting, speakers []app.Device) (*app.App, *apptest.Connector) {
	t.Helper()
	inner := apptest.NewConnector(m.Meeting)
	a, err := app.New(test.NewTempApp(t), app.Config{
		Dir: t.TempDir(), KDF: fastKDF, DefaultRelay: "relay.example:8443",
		Connector: shareConnector{inner, m}, Devices: speakerDevices{speakers: speakers},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Window().Resize(fyne.NewSize(1100, 760))
	a.Window().Show()
	createIdentity(t, a, "Ada", "")
	return a, inner
}

// findSelect returns the select among o's parts whose options include
// label.
func findSelect(t *testing.T, o fyne.CanvasObject, label string) *widget.Select {
	t.Helper()
	var s *widget.Select
	walk(o, func(o fyne.CanvasObject) {
		if x, ok := o.(*widget.Select); ok && slices.Contains(x.Options, label) {
			s = x
		}
	})
	if s == nil {
		t.Fatalf("no select offering %q", label)
	}
	return s
}

func shareCalls(m *apptest.Meeting) []string {
	var out []string
	for _, c := range m.Calls() {
		if len(c) > 14 && c[:14] == "SetScreenShare" {
			out = append(out, c)
		}
	}
	return out
}

// The meeting's screen-share control: "Share screen" starts sharing and
// becomes "Stop sharing"; tapping again stops; when the engine cannot
// share, the control returns to "Share screen" with an alert saying why.
func TestScreenShareButton(t *testing.T) {
	lockUI(t)
	m := &shareMeeting{Meeting: apptest.NewMeeting()}
	a, _ := newShareApp(t, m, []app.Device{{ID: "spk0", Label: "Test speaker"}})
	hostMeeting(t, a, m.Meeting)
	content := a.Window().Content()

	tap(findButton(t, content, "Share screen"))
	eventually(t, "share call", func() bool { return len(shareCalls(m.Meeting)) == 1 })
	stop := findButton(t, content, "Stop sharing")
	if got := shareCalls(m.Meeting); got[0] != "SetScreenShare true" {
		t.Fatalf("calls %v", got)
	}
	tap(stop)
	eventually(t, "stop call", func() bool { return len(shareCalls(m.Meeting)) == 2 })
	share := findButton(t, content, "Share screen")
	if got := shareCalls(m.Meeting); got[1] != "SetScreenShare false" {
		t.Fatalf("calls %v", got)
	}

	fail := errors.New("no screen found to share")
	m.fail.Store(&fail)
	tap(share)
	eventually(t, "the control back at Share screen after the failure", func() bool {
		return share.Text == "Share screen" && hasAlert(a, app.AlertDanger, "Could not share the screen.")
	})
	if got := shareCalls(m.Meeting); len(got) != 3 || got[2] != "SetScreenShare true" {
		t.Fatalf("calls %v", got)
	}
}

// The speaker picker in Settings lists exactly the playback devices the
// engine reports; the saved choice is preselected in the lobby and handed
// to the connector when joining.
func TestSpeakerPickerListsDevicesAndChoiceIsUsed(t *testing.T) {
	lockUI(t)
	speakers := []app.Device{
		{ID: "default", Label: "System default output"},
		{ID: "6869", Label: "Headphones"},
		{ID: "7370", Label: "Speakers (default)"},
	}
	m := &shareMeeting{Meeting: apptest.NewMeeting()}
	a, conn := newShareApp(t, m, speakers)

	tap(findButton(t, a.Window().Content(), "Settings"))
	overlay := a.Window().Canvas().Overlays().Top()
	if overlay == nil {
		t.Fatal("no settings dialog")
	}
	sel := findSelect(t, overlay, "Headphones")
	want := []string{"System default output", "Headphones", "Speakers (default)"}
	if !slices.Equal(sel.Options, want) {
		t.Fatalf("speaker options %q, want %q", sel.Options, want)
	}
	if sel.Selected != "System default output" {
		t.Fatalf("preselected %q before any choice", sel.Selected)
	}
	sel.SetSelected("Headphones")
	tap(findButton(t, overlay, "Save"))
	if a.Window().Canvas().Overlays().Top() != nil {
		t.Fatal("settings dialog still open after Save")
	}

	setText(a.HomeView().Link, validLink(t))
	tap(a.HomeView().Join)
	lv := a.LobbyView()
	if lv == nil {
		t.Fatal("no lobby")
	}
	if s := findSelect(t, a.Window().Content(), "Headphones"); s.Selected != "Headphones" {
		t.Fatalf("lobby speaker %q, want the saved Headphones", s.Selected)
	}
	tap(lv.Enter)
	eventually(t, "join request", func() bool { return len(conn.Joins()) == 1 })
	if got := conn.Joins()[0].Media.Speaker; got != "6869" {
		t.Fatalf("joined with speaker %q, want the chosen device's ID", got)
	}
}
