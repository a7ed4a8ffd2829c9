package phantom

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// goldenHash pins the rendered bytes of Version; whenever it changes, bump Version
// (it enters dataset fingerprints) and update the hash.
const goldenVersion = 2
const goldenHash = "1d2c01053f4bcddbe8483f5b032dd38c6b59c084c7537056562620d14a440d81"

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
