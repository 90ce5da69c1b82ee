// Package app is Sotto's desktop user interface, built with Fyne. It is the
// only package that imports Fyne. It receives the network, devices and media
// engine through the interfaces in services.go, so the same screens run on
// the real engine and, in tests, on Fyne's test driver with small fakes.
//
// Threading: every widget change happens on the UI goroutine. Work that can
// take time (key derivation, connecting, decoding, scaling video) runs on
// its own goroutine and hands results over with fyne.Do.
//go:generate go run ../assets/icongen -o icon.png
//go:generate go run fyne.io/tools/cmd/fyne@v1.7.4 bundle -o bundled.go -package app icon.png

package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"

	"github.com/sottohq/sotto/crypto/identity"
)

// Config holds what New needs.
type Config struct {
	// Dir holds the keystore and contacts files (identity.DefaultDir()).
	Dir string
	// KDF overrides the keystore's Argon2id costs; zero means the default.
	// Only tests set it.
	KDF identity.KDFParams
	// DefaultRelay is the relay address used when settings name none.
	DefaultRelay string
	// Connector starts meetings. Their protocol consults the contacts
	// store handed over in each request and reports its answers
	// (Member.Contact, ContactStatus); the app never asks the store about
	// members itself.
	Connector Connector
	Devices   Devices
}

// App is the running desktop application: one window whose content is one
// of the screens below, with an alert bar over its top.
type App struct {
	fa  fyne.App
	win fyne.Window
	cfg Config

	contacts *identity.Contacts
	self     *identity.Identity
	selfName string
	// emptyPassphrase marks an identity stored without a passphrase.
	emptyPassphrase bool

	alerts  *alertBar
	body    *fyne.Container
	overlay *fyne.Container // holds the alerts over any screen (alertLayout)
	// alertHolder is where the alerts are now: overlay, or a meeting's
	// video area.
	alertHolder *fyne.Container

	// The current screen; exactly one is non-nil.
	firstRun *firstRunScreen
	unlock   *unlockScreen
	home     *homeScreen
	lobby    *lobbyScreen
	meeting  *meetingScreen

	// connecting is the progress dialog while a meeting starts.
	connecting dialog.Dialog
	// lastMedia is the lobby's choice for the meeting being started.
	lastMedia *MediaChoice
	// lastVerify is the most recent verification dialog (for tests).
	lastVerify *verifyDialog
	// identityForm is the open name and passphrase dialog (for tests).
	identityForm *identityForm
}

// New builds the window and shows the first-run screen, or the unlock
// screen when a keystore exists. It does not show the window.
func New(fa fyne.App, cfg Config) (*App, error) {
	if cfg.Connector == nil || cfg.Devices == nil {
		return nil, errors.New("app: connector and devices are required")
	}
	if cfg.Dir == "" {
		d, err := identity.DefaultDir()
		if err != nil {
			return nil, err
		}
		cfg.Dir = d
	}
	contacts, err := identity.OpenContacts(filepath.Join(cfg.Dir, identity.ContactsFileName))
	if err != nil {
		// A damaged contacts file must not be overwritten: refuse to start
		// and let the user move it away.
		return nil, fmt.Errorf("app: %w", err)
	}
	a := &App{fa: fa, cfg: cfg, contacts: contacts}
	a.win = fa.NewWindow("Sotto")
	a.win.Resize(fyne.NewSize(1100, 760))
	a.win.SetIcon(resourceIconPng)
	a.bindKeys() // desktop.go
	a.alerts = newAlertBar()
	a.body = container.NewStack()
	// The alerts lie over the screen, never pushing it down: over its top
	// (a meeting places them over its video instead, placeAlerts).
	a.overlay = container.New(alertLayout{}, a.alerts.box)
	a.alertHolder = a.overlay
	a.alerts.changed = a.layoutAlerts
	a.win.SetContent(container.NewStack(a.body, a.overlay))
	a.win.SetCloseIntercept(a.requestClose)
	a.win.SetOnClosed(func() {
		if a.meeting != nil {
			a.meeting.leave()
		}
		if a.lobby != nil {
			a.lobby.stop()
		}
		if a.self != nil {
			a.self.Destroy()
		}
		windowClosed.Store(true) // shutdown.go
	})
	if identity.Exists(a.keystorePath()) {
		a.showUnlock()
	} else {
		a.showFirstRun()
	}
	return a, nil
}

// Window returns the app's window.
func (a *App) Window() fyne.Window { return a.win }

func (a *App) keystorePath() string {
	return filepath.Join(a.cfg.Dir, identity.KeystoreFileName)
}

func (a *App) kdf() identity.KDFParams {
	if a.cfg.KDF == (identity.KDFParams{}) {
		return identity.DefaultKDFParams()
	}
	return a.cfg.KDF
}

// setScreen replaces the screen under the alert bar.
func (a *App) setScreen(o fyne.CanvasObject) {
	a.firstRun, a.unlock, a.home, a.lobby, a.meeting = nil, nil, nil, nil, nil
	for _, old := range a.body.Objects {
		stopSpinners(old)
	}
	a.placeAlerts(a.overlay)
	a.body.Objects = []fyne.CanvasObject{o}
	a.body.Refresh()
}

// placeAlerts moves the alerts into holder (an alertLayout container).
func (a *App) placeAlerts(holder *fyne.Container) {
	if a.alertHolder == holder {
		return
	}
	a.alertHolder.Remove(a.alerts.box)
	a.alertHolder = holder
	holder.Add(a.alerts.box)
}

// layoutAlerts places the alerts again (their number changed).
func (a *App) layoutAlerts() {
	if a.alertHolder != nil {
		a.alertHolder.Refresh()
	}
}

// UseIdentity skips first run and unlock with an identity held in memory
// (the demo uses a throw-away identity) and shows the home screen.
func (a *App) UseIdentity(id *identity.Identity, name string) {
	a.self = id
	a.selfName = name
	a.showHome()
}

// HostNow hosts a meeting straight away with the given options, as the
// demo does, skipping the lobby.
func (a *App) HostNow(onThisComputer bool, media MediaChoice) {
	a.lastMedia = &media
	a.startMeeting(func(ctx context.Context) (Meeting, error) {
		return a.cfg.Connector.Host(ctx, HostRequest{
			Self: a.self, Name: a.selfName, Contacts: a.contacts, OnThisComputer: onThisComputer,
			Relay: a.relaySetting(), Media: media,
		})
	}, true)
}

func (a *App) relaySetting() string {
	if r := a.fa.Preferences().String(prefRelay); r != "" {
		return r
	}
	return a.cfg.DefaultRelay
}

// errorText turns an error into a sentence for the user.
func errorText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return "Could not read or write " + pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// lockSVG is a padlock in Material style, for the encryption indicator.
const lockSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill="#000000" d="M18 8h-1V6c0-2.76-2.24-5-5-5S7 3.24 7 6v2H6c-1.1 0-2 .9-2 2v10c0 1.1.9 2 2 2h12c1.1 0 2-.9 2-2V10c0-1.1-.9-2-2-2zm-6 9c-1.1 0-2-.9-2-2s.9-2 2-2 2 .9 2 2-.9 2-2 2zM9 8V6c0-1.66 1.34-3 3-3s3 1.34 3 3v2H9z"/></svg>`

// icons used across screens. They are made before any Fyne app exists,
// so they come from the default theme, not the current one (which would
// log an error even for `sotto -h`).
var (
	iconLock       = theme.NewSuccessThemedResource(fyne.NewStaticResource("lock.svg", []byte(lockSVG)))
	iconVerified   = theme.NewSuccessThemedResource(theme.DefaultTheme().Icon(theme.IconNameConfirm))
	iconUnverified = theme.NewWarningThemedResource(theme.DefaultTheme().Icon(theme.IconNameQuestion))
	iconKeyChanged = theme.NewErrorThemedResource(theme.DefaultTheme().Icon(theme.IconNameWarning))
)

// uiDo and uiDoAndWait hand work to the UI goroutine. They are variables
// so the tests, where Fyne's test driver runs such work on the calling
// goroutine, can serialise it with their own actions.
var (
	uiDo        = func(f func()) { fyne.Do(whileOpen(f)) }
	uiDoAndWait = func(f func()) { fyne.DoAndWait(whileOpen(f)) }
)
