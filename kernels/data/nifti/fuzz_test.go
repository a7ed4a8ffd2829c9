package nifti

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"testing"
)

// FuzzDecode: any bytes give a volume whose data matches its dimensions or an
// error, never a panic or a runaway allocation (vox_offset near 2^63 included).
func FuzzDecode(f *testing.F) {
	v := &Volume{NX: 2, NY: 3, NZ: 1, Data: []float32{1, 2, 3, 4, 5, 6}}
	raw := Encode(v)
	f.Add(raw)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()
	f.Add(gz.Bytes())
	huge := append([]byte(nil), raw...)
	binary.LittleEndian.PutUint32(huge[108:], math.Float32bits(9.2e18))
	f.Add(huge)
	f.Add(raw[:100])
	f.Fuzz(func(t *testing.T, data []byte) {
		vol, err := Decode(data)
		if err == nil && len(vol.Data) != vol.NX*vol.NY*vol.NZ {
			t.Fatalf("%dx%dx%d volume with %d voxels", vol.NX, vol.NY, vol.NZ, len(vol.Data))
		}
	})
}

// The probe's header: vox_offset near 2^63 is a clear error.
func TestHugeVoxOffset(t *testing.T) {
	raw := Encode(&Volume{NX: 1, NY: 1, NZ: 1, Data: []float32{1}})
	binary.LittleEndian.PutUint32(raw[108:], math.Float32bits(9.2e18))
	if _, err := Decode(raw); err == nil {
		t.Fatal("accepted")
	}
}
