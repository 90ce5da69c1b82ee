package app

import (
	"errors"
	"os"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/internal/call"
)

// Texts shown on the first-run and unlock screens (tests compare them).
const (
	textEmptyPassphrase = "Without a passphrase, anyone who can read this computer's files can copy your identity and impersonate you. Choose one unless this computer is yours alone and its disk is encrypted."
	textMismatch        = "The two passphrases differ."
	textWrongPassphrase = "Wrong passphrase. Nothing was changed; try again."
	textCorrupt         = "Your identity file is damaged and cannot be opened. It has not been changed or deleted; restore it from a backup."
)

// firstRunScreen creates an identity.
type firstRunScreen struct {
	name, pass, confirm *widget.Entry
	warning, errLabel   *widget.Label
	create              *widget.Button
	progress            *widget.ProgressBarInfinite
}

func (a *App) showFirstRun() {
	s := &firstRunScreen{
		name:     widget.NewEntry(),
		pass:     widget.NewPasswordEntry(),
		confirm:  widget.NewPasswordEntry(),
		warning:  widget.NewLabel(textEmptyPassphrase),
		errLabel: widget.NewLabel(""),
		progress: widget.NewProgressBarInfinite(),
	}
	s.name.SetPlaceHolder("Display name (others see it; it proves nothing)")
	s.pass.SetPlaceHolder("Passphrase (recommended)")
	s.confirm.SetPlaceHolder("Repeat the passphrase")
	s.warning.Wrapping = fyne.TextWrapWord
	s.warning.Importance = widget.WarningImportance
	s.errLabel.Importance = widget.DangerImportance
	s.errLabel.Wrapping = fyne.TextWrapWord
	s.progress.Hide()
	s.progress.Stop()
	s.create = widget.NewButton("Create identity", func() { a.createIdentity(s) })
	s.create.Importance = widget.HighImportance
	update := func(string) {
		if s.pass.Text == "" {
			s.warning.Show()
			s.create.SetText("Create identity without passphrase")
		} else {
			s.warning.Hide()
			s.create.SetText("Create identity")
		}
	}
	s.pass.OnChanged = func(t string) {
		update(t)
		s.clearMismatch()
	}
	s.confirm.OnChanged = func(string) { s.clearMismatch() }
	update("")
	// Enter in any field creates the identity, as the button does.
	for _, e := range []*widget.Entry{s.name, s.pass, s.confirm} {
		e.OnSubmitted = func(string) { a.createIdentity(s) }
	}

	title := widget.NewLabelWithStyle("Welcome to Sotto", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	intro := widget.NewLabel("Sotto has no accounts. Your identity is a key pair that lives only on this computer, encrypted with your passphrase. Others recognise you by its safety number, not by your name.")
	intro.Wrapping = fyne.TextWrapWord
	form := container.NewVBox(title, intro,
		widget.NewLabel("Display name"), s.name,
		widget.NewLabel("Passphrase"), s.pass, s.confirm,
		s.warning, s.errLabel, s.progress, s.create)
	a.setScreen(centered(form))
	a.firstRun = s
}

// clearMismatch takes back "the passphrases differ" once they agree.
func (s *firstRunScreen) clearMismatch() {
	if s.errLabel.Text == textMismatch && s.pass.Text == s.confirm.Text {
		s.errLabel.SetText("")
	}
}

func (a *App) createIdentity(s *firstRunScreen) {
	if s.progress.Visible() {
		return // already creating it
	}
	name := strings.TrimSpace(s.name.Text)
	// The meeting protocol's rule, counted in characters (call.CheckName).
	if err := call.CheckName(name); err != nil {
		s.errLabel.SetText(err.Error())
		return
	}
	switch {
	case s.pass.Text != s.confirm.Text:
		s.errLabel.SetText(textMismatch)
		return
	}
	s.errLabel.SetText("")
	pass := []byte(s.pass.Text)
	s.create.Disable()
	s.progress.Show()
	s.progress.Start()
	path, kdf := a.keystorePath(), a.kdf()
	// Key generation and Argon2id take a noticeable moment: off the UI thread.
	go func() {
		id, err := identity.Generate()
		if err == nil {
			err = identity.SaveWithParams(path, id, name, pass, kdf)
		}
		clear(pass)
		uiDo(func() {
			s.progress.Stop()
			s.progress.Hide()
			s.create.Enable()
			if err != nil {
				if id != nil {
					id.Destroy()
				}
				s.errLabel.SetText("Could not save your identity: " + errorText(err))
				return
			}
			a.self, a.selfName, a.emptyPassphrase = id, name, s.pass.Text == ""
			s.pass.SetText("")
			s.confirm.SetText("")
			a.showHome()
		})
	}()
}

// unlockScreen opens an existing keystore.
type unlockScreen struct {
	whose    *widget.Label
	pass     *widget.Entry
	errLabel *widget.Label
	unlock   *widget.Button
	progress *widget.ProgressBarInfinite
}

func (a *App) showUnlock() {
	s := &unlockScreen{
		pass:     widget.NewPasswordEntry(),
		errLabel: widget.NewLabel(""),
		progress: widget.NewProgressBarInfinite(),
	}
	s.errLabel.Importance = widget.DangerImportance
	s.errLabel.Wrapping = fyne.TextWrapWord
	s.progress.Hide()
	s.progress.Stop()
	s.unlock = widget.NewButton("Unlock", func() { a.unlockIdentity(s) })
	s.unlock.Importance = widget.HighImportance
	s.pass.OnSubmitted = func(string) { a.unlockIdentity(s) }
	s.pass.SetPlaceHolder("Passphrase (leave empty if you chose none)")
	title := widget.NewLabelWithStyle("Unlock your identity", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	s.whose = widget.NewLabel(a.whoseIdentity())
	s.whose.Wrapping = fyne.TextWrapWord
	a.setScreen(centered(container.NewVBox(title, s.whose, s.pass, s.errLabel, s.progress, s.unlock)))
	a.unlock = s
	a.win.Canvas().Focus(s.pass)
	if need, err := identity.NeedsPassphrase(a.keystorePath()); err == nil && !need {
		// Stored without a passphrase: there is nothing to ask.
		a.unlockIdentity(s)
	}
}

// whoseIdentity says which identity the unlock screen opens. Its name is
// encrypted with it (so the file does not say who uses Sotto here); what
// is known without the passphrase is where it is and when it last changed.
func (a *App) whoseIdentity() string {
	text := "Your identity stored in " + a.cfg.Dir
	if fi, err := os.Stat(a.keystorePath()); err == nil {
		text += ", last changed " + fi.ModTime().Format("2 January 2006 at 15:04")
	}
	return text + ". Its name and keys are encrypted with your passphrase, so they show once it is unlocked."
}

func (a *App) unlockIdentity(s *unlockScreen) {
	if s.progress.Visible() {
		return
	}
	pass := []byte(s.pass.Text)
	s.unlock.Disable()
	s.errLabel.SetText("")
	s.progress.Show()
	s.progress.Start()
	path := a.keystorePath()
	go func() {
		st, err := identity.Load(path, pass)
		clear(pass)
		uiDo(func() {
			s.progress.Stop()
			s.progress.Hide()
			s.unlock.Enable()
			switch {
			case errors.Is(err, identity.ErrWrongPassphrase):
				s.errLabel.SetText(textWrongPassphrase)
				s.pass.SetText("")
			case errors.Is(err, identity.ErrCorrupt), errors.Is(err, identity.ErrTruncated),
				errors.Is(err, identity.ErrNotKeystore), errors.Is(err, identity.ErrUnsupportedVersion):
				s.errLabel.SetText(textCorrupt)
			case err != nil:
				s.errLabel.SetText("Could not open your identity: " + errorText(err))
			default:
				a.self, a.selfName, a.emptyPassphrase = st.Identity, st.DisplayName, st.EmptyPassphrase
				s.pass.SetText("")
				a.showHome()
			}
		})
	}()
}

// centered places o in a scrollable column of readable width in the middle
// of the window.
func centered(o fyne.CanvasObject) fyne.CanvasObject {
	return container.NewVScroll(container.New(&columnLayout{width: 560}, o))
}
