package phantom

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// goldenHash pins the rendered bytes of Version; whenever it changes, bump Version
// (it enters dataset fingerprints) and update the hash.
const goldenVersion = 1
const goldenHash = "65712ec07977530fbb4c130fcf2473450c0340fa01fcaa27597c83f4bd188302"

func sampleHash(seed uint64, splits []Split, n int, sizes []int) string {
	h := sha256.New()
	for _, sp := range splits {
		for i := 0; i < n; i++ {
			for _, size := range sizes {
				s := Generate(seed, sp, i, size)
				fmt.Fprintf(h, "%s %d %d %v|", sp, i, size, s.Normal)
				h.Write(s.Image.Pix)
				h.Write(s.Lung.Pix)
				h.Write(s.Infection.Pix)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestGolden(t *testing.T) {
	got := sampleHash(5, []Split{Train, Val, Test}, 6, []int{64, Render, 37})
	if Version != goldenVersion || got != goldenHash {
		t.Fatalf("phantom bytes: Version %d hash %s; pinned Version %d hash %s: if the rendering changed on purpose, bump Version and update the pin", Version, got, goldenVersion, goldenHash)
	}
}
