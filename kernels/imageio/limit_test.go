package imageio

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
)

func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// A header claiming 100000x100000 gray pixels (10 GB) is refused from the
// header alone; a 1x1 image with a valid header still decodes.
func TestDecodeGrayRefusesHugeHeaders(t *testing.T) {
	header := func(w, h uint32) []byte {
		ihdr := make([]byte, 13)
		binary.BigEndian.PutUint32(ihdr[0:], w)
		binary.BigEndian.PutUint32(ihdr[4:], h)
		ihdr[8] = 8 // bit depth; colour type 0 = gray
		return append(append([]byte{}, pngMagic...), pngChunk("IHDR", ihdr)...)
	}
	_, err := DecodeGray(append(header(100000, 100000), pngChunk("IEND", nil)...))
	if err == nil || !strings.Contains(err.Error(), "100000x100000 is above the limit of 64 megapixels") {
		t.Errorf("huge header: %v", err)
	}
	ok, err := EncodePNG((&Gray{W: 1, H: 1, Pix: []uint8{7}}).Image())
	if err != nil {
		t.Fatal(err)
	}
	if g, err := DecodeGray(ok); err != nil || g.Pix[0] != 7 {
		t.Errorf("1x1: %v %v", g, err)
	}
}
