package sframe

import "github.com/sottohq/sotto/crypto/internal/replay"

// Anti-replay, RFC 9605 §7.4 and §9.3: a receiver accepts each CTR of a KID
// at most once. Each KID has a crypto/internal/replay window with the SFrame
// CTR as the index (the sliding-window scheme of RFC 3711 §3.3.2).

// ReplayWindow is the number of counters, ending at the highest CTR
// accepted for a KID, that the receiver remembers. A frame whose CTR is
// ReplayWindow or more below the highest accepted one is rejected as too
// old. 1024 frames is over 10 s of audio and video at Sotto's rates.
const ReplayWindow = replay.Size
