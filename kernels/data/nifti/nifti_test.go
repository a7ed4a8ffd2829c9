package nifti

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"strings"
	"testing"
)

func TestRoundTripAndGzip(t *testing.T) {
	v := &Volume{NX: 3, NY: 2, NZ: 2, Pixdim: [3]float32{1, 2, 3}, Data: []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -11.5}}
	raw := Encode(v)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	for _, b := range [][]byte{raw, gz.Bytes()} {
		got, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.NX != 3 || got.NY != 2 || got.NZ != 2 || got.Pixdim != v.Pixdim || got.At(2, 1, 1) != -11.5 || got.At(1, 0, 1) != 7 {
			t.Fatalf("decoded %+v", got)
		}
	}
}

func TestInt16BigEndianAndScaling(t *testing.T) {
	// hand-built big-endian int16 volume 2x1x1 with scl_slope 2, scl_inter 1
	raw := make([]byte, 352+4)
	be := binary.BigEndian
	be.PutUint32(raw[0:], 348)
	for i, d := range []int16{3, 2, 1, 1, 1, 1, 1, 1} {
		be.PutUint16(raw[40+2*i:], uint16(d))
	}
	be.PutUint16(raw[70:], 4)
	be.PutUint32(raw[108:], 0x43b00000) // 352.0
	be.PutUint32(raw[112:], 0x40000000) // 2.0
	be.PutUint32(raw[116:], 0x3f800000) // 1.0
	copy(raw[344:], "n+1\x00")
	be.PutUint16(raw[352:], uint16(0xfffd)) // -3
	be.PutUint16(raw[354:], 100)
	v, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if v.Data[0] != -5 || v.Data[1] != 201 {
		t.Fatalf("got %v, want [-5 201]", v.Data)
	}
}

func TestErrors(t *testing.T) {
	good := Encode(&Volume{NX: 2, NY: 2, NZ: 2, Data: make([]float32, 8)})
	bad := append([]byte(nil), good...)
	copy(bad[344:], "ni1\x00")
	dt := append([]byte(nil), good...)
	dt[70] = 99
	cases := map[string][]byte{
		"too short":         good[:100],
		"sizeof_hdr":        append([]byte{1, 2, 3, 4}, good[4:]...),
		"truncated voxel":   good[:len(good)-3],
		"single-file":       bad,
		"unsupported NIfTI": dt,
		"truncated or corru": func() []byte {
			var b bytes.Buffer
			z := gzip.NewWriter(&b)
			z.Write(good)
			z.Close()
			return b.Bytes()[:40]
		}(),
	}
	for want, b := range cases {
		_, err := Decode(b)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want error containing %q, got %v", want, err)
		}
	}
}
