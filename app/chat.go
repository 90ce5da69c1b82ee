package app

import (
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// maxChatLines bounds the chat history kept on screen.
const maxChatLines = 500

// maxChatInput bounds an outgoing chat message in bytes (the protocol's
// limit, crypto/meeting.MaxChat).
const maxChatInput = 2000

func (s *meetingScreen) sendChat() {
	text := s.chatEntry.Text
	if text == "" {
		return
	}
	if len(text) > maxChatInput {
		s.a.alerts.show(Alert{Kind: AlertWarning, Key: "chatlen", Text: "That message is too long to send."})
		return
	}
	s.chatEntry.SetText("")
	s.addChat(s.a.selfName, text, time.Now(), true)
	s.call("send the message", func() error { return s.m.SendChat(text) })
}

func (s *meetingScreen) addChat(name, text string, at time.Time, self bool) {
	head := widget.NewLabelWithStyle(displayName(name)+"  "+at.Format("15:04"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	if self {
		head.Importance = widget.HighImportance
	}
	body := widget.NewLabel(text)
	body.Wrapping = fyne.TextWrapWord
	s.chatLog.Add(container.NewVBox(head, body))
	if n := len(s.chatLog.Objects); n > maxChatLines {
		s.chatLog.Objects = s.chatLog.Objects[n-maxChatLines:]
		s.chatLog.Refresh()
	}
	s.chatScroll.ScrollToBottom()
}
