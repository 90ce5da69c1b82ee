package app

import (
	"errors"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/internal/call"
)

// identityForm changes the display name and the passphrase of the stored
// identity: the key pair stays, so fingerprint and safety numbers do not
// change.
type identityForm struct {
	name, current, pass, confirm *widget.Entry
	errLabel                     *widget.Label
	save                         *widget.Button
	dlg                          dialog.Dialog
}

// showIdentitySettings opens the name and passphrase dialog.
func (a *App) showIdentitySettings() {
	f := &identityForm{
		name:     widget.NewEntry(),
		current:  widget.NewPasswordEntry(),
		pass:     widget.NewPasswordEntry(),
		confirm:  widget.NewPasswordEntry(),
		errLabel: widget.NewLabel(""),
	}
	f.name.SetText(a.selfName)
	f.name.Validator = call.CheckName
	f.current.SetPlaceHolder("Current passphrase")
	f.pass.SetPlaceHolder("New passphrase (empty: keep the current one)")
	f.confirm.SetPlaceHolder("Repeat the new passphrase")
	f.errLabel.Importance = widget.DangerImportance
	f.errLabel.Wrapping = fyne.TextWrapWord
	items := []fyne.CanvasObject{widget.NewLabel("Display name"), f.name}
	if !a.emptyPassphrase {
		items = append(items, widget.NewLabel("Your passphrase, to change either"), f.current)
	}
	items = append(items, widget.NewLabel("New passphrase"), f.pass, f.confirm, f.errLabel)
	note := widget.NewLabel("Your key stays the same: others still see the same fingerprint and safety numbers. The new name shows from your next meeting.")
	note.Wrapping = fyne.TextWrapWord
	items = append(items, note)
	f.save = widget.NewButton("Save", func() { a.saveIdentitySettings(f) })
	f.save.Importance = widget.HighImportance
	cancel := widget.NewButton("Cancel", func() { f.dlg.Hide() })
	d := dialog.NewCustomWithoutButtons("Name and passphrase", container.NewVBox(items...), a.win)
	d.SetButtons([]fyne.CanvasObject{cancel, f.save})
	d.Resize(fyne.NewSize(480, 420))
	f.dlg = d
	a.identityForm = f
	d.Show()
}

func (a *App) saveIdentitySettings(f *identityForm) {
	name := strings.TrimSpace(f.name.Text)
	if err := call.CheckName(name); err != nil {
		f.errLabel.SetText(err.Error())
		return
	}
	if f.pass.Text != f.confirm.Text {
		f.errLabel.SetText(textMismatch)
		return
	}
	f.errLabel.SetText("")
	f.save.Disable()
	current, next := []byte(f.current.Text), []byte(f.pass.Text)
	path, kdf, self := a.keystorePath(), a.kdf(), a.self
	go func() {
		// The file is rewritten only by someone who knows its passphrase.
		st, err := identity.Load(path, current)
		if err == nil {
			st.Identity.Destroy()
			pass := next
			if len(pass) == 0 {
				pass = current
			}
			err = identity.SaveWithParams(path, self, name, pass, kdf)
		}
		empty := len(next) == 0 && len(current) == 0
		clear(current)
		clear(next)
		uiDo(func() {
			f.save.Enable()
			switch {
			case errors.Is(err, identity.ErrWrongPassphrase):
				f.errLabel.SetText("Wrong passphrase. Nothing was changed.")
				f.current.SetText("")
				return
			case err != nil:
				f.errLabel.SetText("Could not save your identity: " + errorText(err))
				return
			}
			f.current.SetText("")
			f.pass.SetText("")
			f.confirm.SetText("")
			f.dlg.Hide()
			a.selfName, a.emptyPassphrase = name, empty
			switch l := a.lobby; {
			case a.home != nil:
				a.showHome()
			case l != nil: // the lobby shows the name the host will see
				l.stop()
				a.showLobby(l.mode, l.invite, l.here)
			}
			a.alerts.show(Alert{Kind: AlertInfo, Text: "Saved. Others see your new name from your next meeting."})
		})
	}()
}
