package sframe_test

import (
	"fmt"

	"github.com/sottohq/sotto/crypto/sframe"
)

func Example() {
	baseKey := []byte("0123456789abcdef") // from the meeting's key exchange
	const kid = 0x0102

	snd, err := sframe.NewSender(sframe.AES128GCMSHA256_128, kid, baseKey)
	if err != nil {
		panic(err)
	}
	defer snd.Destroy()
	rcv := sframe.NewReceiver(sframe.AES128GCMSHA256_128)
	defer rcv.Destroy()
	if err := rcv.SetKey(kid, baseKey); err != nil {
		panic(err)
	}

	metadata := []byte("stream 1") // authenticated, not encrypted
	frame, err := snd.Seal(nil, []byte("encoded frame"), metadata)
	if err != nil {
		panic(err)
	}
	pt, h, err := rcv.Open(nil, frame, metadata)
	if err != nil {
		panic(err)
	}
	fmt.Printf("kid=%#x ctr=%d overhead=%d %q\n", h.KID, h.CTR, len(frame)-len(pt), pt)

	_, _, err = rcv.Open(nil, frame, metadata)
	fmt.Println(err)
	// Output:
	// kid=0x102 ctr=0 overhead=19 "encoded frame"
	// sframe: replayed or too old frame
}
