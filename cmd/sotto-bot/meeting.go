package main

// Meeting protocol mode of sotto-bot: the bot joins through the waiting
// room with its own identity and gets per-sender keys from the meeting
// protocol instead of -test-key.

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/call"
)

// meetingConfig fills cfg for -host or -link.
func meetingConfig(o options, cfg *call.Config) error {
	if o.host == (o.link != "") {
		return errors.New("give exactly one of -host and -link")
	}
	switch o.admit {
	case "ask":
		cfg.Policy = meeting.PolicyAsk
	case "verified":
		cfg.Policy = meeting.PolicyAdmitVerified
	case "all":
		cfg.Policy = meeting.PolicyAdmitAll
	default:
		return fmt.Errorf("unknown -admit %q (ask, verified or all)", o.admit)
	}
	if o.host {
		mid, err := meeting.ParseMeetingID(o.meeting)
		if err != nil {
			return fmt.Errorf("meeting id: %w", err)
		}
		addr, insecure, err := call.ParseRelay(o.relay)
		if err != nil {
			return fmt.Errorf("-relay: %w", err)
		}
		cfg.Host = true
		cfg.Link = meeting.Link{Relay: addr, Insecure: insecure, Invite: meeting.Invite{MeetingID: mid}}
	} else {
		l, err := meeting.ParseLink(o.link)
		if err != nil {
			return err
		}
		cfg.Link = l
	}
	id, name, err := loadIdentity(o.identity, o.name)
	if err != nil {
		return err
	}
	if name == "" {
		name = defaultName
	}
	cfg.Self, cfg.Name = id, name
	return nil
}

// announceLink gives the host's link to the operator: in the -link-out
// file when there is one, else on stderr. The link's fragment is the
// invite key, so it goes to the bot's log stream only when there is no file
// for it.
func announceLink(linkOut, link string, stderr io.Writer) error {
	if linkOut == "" {
		fmt.Fprintln(stderr, "sotto-bot: meeting link:", link)
		return nil
	}
	if err := os.WriteFile(linkOut, []byte(link+"\n"), 0o600); err != nil {
		return fmt.Errorf("write link: %w", err)
	}
	return nil
}
