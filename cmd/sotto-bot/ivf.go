package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/codec/vp8"
	"github.com/sottohq/sotto/media/framing"
)

// IVF, the container libvpx's tools write VP8 to: a 32-byte file header,
// then per frame a 12-byte header and the frame. Integers little-endian.
const (
	// ivfFileHeaderLen: "DKIF", version u16, header size u16, FourCC,
	// width u16, height u16, timebase denominator u32, numerator u32,
	// frame count u32, unused u32.
	ivfFileHeaderLen = 32
	// ivfFrameHeaderLen: frame size u32, presentation timestamp u64.
	ivfFrameHeaderLen = 12
	// ivfSignature opens every IVF file.
	ivfSignature = "DKIF"
	// ivfFourCCVP8 marks a VP8 stream.
	ivfFourCCVP8 = "VP80"
	// maxIVFFrame bounds one frame, checked before reading it.
	maxIVFFrame = 1 << 20
)

// ivfSource plays a VP8 IVF file as the bot's camera: frames are sent as
// encoded in the file, paced by its timestamps, and the file loops at its
// end. Keyframe requests cannot be honoured; receivers recover at the
// file's next keyframe.
type ivfSource struct {
	f        *os.File
	r        *bufio.Reader
	num, den uint32 // timebase: a pts unit is num/den seconds

	start time.Time     // when media time 0 was due
	base  time.Duration // media time of the current loop's start
	last  time.Duration // media time of the last frame read
	step  time.Duration // frame interval, from the last two frames
	hdr   [ivfFrameHeaderLen]byte
}

func openIVF(path string) (*ivfSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open video file: %w", err)
	}
	s := &ivfSource{f: f, step: time.Second / 30}
	if err := s.rewind(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// rewind reads the file header again from the start.
func (s *ivfSource) rewind() error {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("video file: %w", err)
	}
	s.r = bufio.NewReader(s.f)
	var h [ivfFileHeaderLen]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		return fmt.Errorf("video file header: %w", err)
	}
	if string(h[0:4]) != ivfSignature || string(h[8:12]) != ivfFourCCVP8 {
		return errors.New("video file is not VP8 in IVF")
	}
	if size := binary.LittleEndian.Uint16(h[6:8]); size > ivfFileHeaderLen {
		if _, err := s.r.Discard(int(size) - ivfFileHeaderLen); err != nil {
			return fmt.Errorf("video file header: %w", err)
		}
	}
	s.den = binary.LittleEndian.Uint32(h[16:20])
	s.num = binary.LittleEndian.Uint32(h[20:24])
	if s.den == 0 || s.num == 0 {
		return errors.New("video file has no timebase")
	}
	return nil
}

func (s *ivfSource) next() ([]byte, time.Duration, error) {
	if _, err := io.ReadFull(s.r, s.hdr[:]); err != nil {
		return nil, 0, err
	}
	n := binary.LittleEndian.Uint32(s.hdr[0:4])
	if n == 0 || n > maxIVFFrame {
		return nil, 0, fmt.Errorf("video file frame of %d bytes", n)
	}
	pts := binary.LittleEndian.Uint64(s.hdr[4:12])
	frame := make([]byte, n)
	if _, err := io.ReadFull(s.r, frame); err != nil {
		return nil, 0, err
	}
	return frame, framing.DurationOfTicks(pts*uint64(s.num), s.den), nil
}

func (s *ivfSource) ReadFrame() (capture.Frame, error) {
	frame, pts, err := s.next()
	if errors.Is(err, io.EOF) {
		// Loop: the file starts again one frame after its last.
		s.base = s.last + s.step
		if err := s.rewind(); err != nil {
			return capture.Frame{}, err
		}
		frame, pts, err = s.next()
	}
	if err != nil {
		return capture.Frame{}, fmt.Errorf("read video file: %w", err)
	}
	pts += s.base
	if s.start.IsZero() {
		s.start = time.Now().Add(-pts)
	}
	if d := pts - s.last; d > 0 && d < time.Second {
		s.step = d
	}
	s.last = pts
	time.Sleep(time.Until(s.start.Add(pts)))
	return capture.Frame{Data: frame, Keyframe: vp8.IsKeyframe(frame), Duration: s.step, CaptureTime: time.Now(), Release: func() {}}, nil
}

func (s *ivfSource) RequestKeyframe() {}

func (s *ivfSource) Close() error { return s.f.Close() }
