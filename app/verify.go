package app

import (
	"errors"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/safety"
)

// safetyColumns is how many 5-digit groups share a line: 12 groups show as
// 3 lines of 4, the layout people read aloud.
const safetyColumns = 4

// verifyDialog shows one member's safety number.
type verifyDialog struct {
	dlg    dialog.Dialog
	groups []string
	qr     []byte // scannable form shown as QR
	status *widget.Label
	mark   *widget.Button
}

// safetyNumber returns the 60-digit safety number between the user and pub
// (docs/PROTOCOL.md §2: key = SafetyKey, empty stable ID).
func (a *App) safetyNumber(pub identity.Public) string {
	return safety.Number(a.self.Public().SafetyKey(), nil, pub.SafetyKey(), nil)
}

// showVerify opens the verification dialog for the identity pub, presented
// as name. code, if not nil, adds the meeting security code. onChange runs
// after the user marks the key verified.
func (a *App) showVerify(name string, pub identity.Public, code *SecurityCode, onChange func()) *verifyDialog {
	number := a.safetyNumber(pub)
	v := &verifyDialog{
		groups: safety.Groups(number),
		qr:     safety.Scannable(a.self.Public().SafetyKey(), nil, pub.SafetyKey(), nil),
		status: widget.NewLabel(""),
	}
	grid := container.NewGridWithColumns(safetyColumns)
	for _, g := range v.groups {
		l := widget.NewLabelWithStyle(g, fyne.TextAlignCenter, fyne.TextStyle{Monospace: true})
		grid.Add(l)
	}
	v.status.Wrapping = fyne.TextWrapWord
	v.mark = widget.NewButtonWithIcon("Mark as verified", iconVerified, func() {
		if err := a.markVerified(name, pub); err != nil {
			v.status.SetText("Could not save: " + errorText(err))
			return
		}
		v.setStatus(true)
		if onChange != nil {
			onChange()
		}
	})
	c, ok := a.contacts.Get(pub)
	v.setStatus(ok && c.Verified)

	explain := widget.NewLabel("Compare these 60 digits with " + displayName(name) + " in person or over a channel you already trust (a call where you recognise their voice), or scan each other's code. If they match, nobody sits between you.")
	explain.Wrapping = fyne.TextWrapWord
	content := container.NewVBox(explain, grid, container.NewCenter(qrImage(string(v.qr), 200)), v.status, v.mark)
	if code != nil {
		content.Add(widget.NewSeparator())
		content.Add(securityCodeView(*code))
	}
	v.dlg = dialog.NewCustom("Safety number with "+displayName(name), "Close", container.NewVScroll(content), a.win)
	v.dlg.Resize(fyne.NewSize(560, 660))
	v.dlg.Show()
	a.lastVerify = v
	return v
}

func (v *verifyDialog) setStatus(verified bool) {
	if verified {
		v.status.SetText("You have verified this key.")
		v.status.Importance = widget.SuccessImportance
		v.mark.Disable()
	} else {
		v.status.SetText("Not verified yet.")
		v.status.Importance = widget.WarningImportance
		v.mark.Enable()
	}
	v.status.Refresh()
}

// markVerified records pub as verified, adding it to contacts if needed.
func (a *App) markVerified(name string, pub identity.Public) error {
	err := a.contacts.MarkVerified(pub)
	if errors.Is(err, identity.ErrUnknownContact) {
		if _, err = a.contacts.Observe(name, pub); err != nil {
			return err
		}
		err = a.contacts.MarkVerified(pub)
	}
	return err
}

// securityCodeView shows the meeting security code as digits and words.
func securityCodeView(code SecurityCode) fyne.CanvasObject {
	title := widget.NewLabelWithStyle("Meeting security code", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	digits := widget.NewLabelWithStyle(code.Digits, fyne.TextAlignCenter, fyne.TextStyle{Monospace: true})
	words := widget.NewLabelWithStyle(strings.Join(code.Words, " "), fyne.TextAlignCenter, fyne.TextStyle{Italic: true})
	words.Wrapping = fyne.TextWrapWord
	explain := widget.NewLabel("Everyone in the meeting sees the same code exactly when everyone holds the same keys and member list. Read it out loud: if anyone's differs, someone is being deceived.")
	explain.Wrapping = fyne.TextWrapWord
	return container.NewVBox(title, digits, words, explain)
}

// displayName is a name for sentences; members may present an empty one.
func displayName(name string) string {
	if strings.TrimSpace(name) == "" {
		return "this member"
	}
	return name
}
