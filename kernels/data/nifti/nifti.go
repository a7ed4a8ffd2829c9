// Package nifti reads NIfTI-1 single-file volumes (.nii or gzip-compressed .nii.gz) with the
// standard library only.
//
// Header facts used (NIfTI-1, 348 bytes): sizeof_hdr int32 at 0 (must be 348; its byte order
// gives the file's endianness), dim[8] int16 at 40, datatype int16 at 70, bitpix int16 at 72,
// pixdim[8] float32 at 76, vox_offset float32 at 108, scl_slope/scl_inter float32 at 112/116,
// magic "n+1\0" at 344. Voxels are stored x fastest, then y, then z; values are scaled by
// scl_slope/scl_inter when scl_slope is non-zero.
package nifti

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Volume is a 3-D scalar volume with voxel values as float32, Data[(z*NY+y)*NX+x].
type Volume struct {
	NX, NY, NZ int
	Pixdim     [3]float32 // voxel size along x, y, z (usually mm)
	Datatype   int16      // NIfTI datatype code of the stored voxels
	Data       []float32
}

// At returns the voxel value at (x, y, z).
func (v *Volume) At(x, y, z int) float32 { return v.Data[(z*v.NY+y)*v.NX+x] }

// datatype codes -> bytes per voxel
var dtSize = map[int16]int{2: 1, 4: 2, 8: 4, 16: 4, 64: 8, 256: 1, 512: 2, 768: 4}

// ReadFile reads a .nii or .nii.gz file.
func ReadFile(path string) (*Volume, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// Decode parses NIfTI-1 bytes, gunzipping them first when they start with the gzip magic.
func Decode(raw []byte) (*Volume, error) {
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("bad gzip stream: %v", err)
		}
		raw, err = io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("truncated or corrupt gzip stream: %v", err)
		}
	}
	if len(raw) < 348 {
		return nil, fmt.Errorf("file too short for a NIfTI-1 header (%d bytes < 348)", len(raw))
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if int32(bo.Uint32(raw[0:4])) != 348 {
		bo = binary.BigEndian
		if int32(bo.Uint32(raw[0:4])) != 348 {
			return nil, errors.New("not a NIfTI-1 file (sizeof_hdr != 348)")
		}
	}
	if magic := raw[344:348]; !bytes.Equal(magic, []byte("n+1\x00")) {
		return nil, fmt.Errorf("not a single-file NIfTI-1 volume (magic %q, want \"n+1\")", magic)
	}
	var dim [8]int
	for i := range dim {
		dim[i] = int(int16(bo.Uint16(raw[40+2*i:])))
	}
	if dim[0] < 1 || dim[0] > 7 {
		return nil, fmt.Errorf("bad dim[0]=%d", dim[0])
	}
	for i := 4; i <= dim[0]; i++ {
		if dim[i] != 1 {
			return nil, fmt.Errorf("only 3-D volumes are supported (dim[%d]=%d)", i, dim[i])
		}
	}
	nx, ny, nz := 1, 1, 1
	if dim[0] >= 1 {
		nx = dim[1]
	}
	if dim[0] >= 2 {
		ny = dim[2]
	}
	if dim[0] >= 3 {
		nz = dim[3]
	}
	if nx < 1 || ny < 1 || nz < 1 {
		return nil, fmt.Errorf("bad dimensions %dx%dx%d", nx, ny, nz)
	}
	dt := int16(bo.Uint16(raw[70:]))
	size, ok := dtSize[dt]
	if !ok {
		return nil, fmt.Errorf("unsupported NIfTI datatype %d", dt)
	}
	vox := float64(math.Float32frombits(bo.Uint32(raw[108:])))
	if math.IsNaN(vox) || vox > float64(len(raw)) {
		return nil, fmt.Errorf("vox_offset %g lies outside the %d-byte file", vox, len(raw))
	}
	off := int(vox)
	if off < 348 {
		off = 352
	}
	n := nx * ny * nz
	if len(raw) < off+n*size {
		return nil, fmt.Errorf("truncated voxel data: need %d bytes after offset %d, have %d", n*size, off, len(raw)-off)
	}
	slope := math.Float32frombits(bo.Uint32(raw[112:]))
	inter := math.Float32frombits(bo.Uint32(raw[116:]))
	v := &Volume{NX: nx, NY: ny, NZ: nz, Datatype: dt, Data: make([]float32, n)}
	for i := 0; i < 3; i++ {
		v.Pixdim[i] = math.Float32frombits(bo.Uint32(raw[80+4*i:]))
	}
	d := raw[off:]
	for i := 0; i < n; i++ {
		var x float32
		switch dt {
		case 2:
			x = float32(d[i])
		case 256:
			x = float32(int8(d[i]))
		case 4:
			x = float32(int16(bo.Uint16(d[2*i:])))
		case 512:
			x = float32(bo.Uint16(d[2*i:]))
		case 8:
			x = float32(int32(bo.Uint32(d[4*i:])))
		case 768:
			x = float32(bo.Uint32(d[4*i:]))
		case 16:
			x = math.Float32frombits(bo.Uint32(d[4*i:]))
		case 64:
			x = float32(math.Float64frombits(bo.Uint64(d[8*i:])))
		}
		if slope != 0 && !(slope == 1 && inter == 0) {
			x = x*slope + inter
		}
		v.Data[i] = x
	}
	return v, nil
}

// Encode writes a volume as uncompressed little-endian NIfTI-1 (float32 voxels, datatype 16);
// used by tests and tools that need to produce small volumes.
func Encode(v *Volume) []byte {
	buf := make([]byte, 352+4*len(v.Data))
	le := binary.LittleEndian
	le.PutUint32(buf[0:], 348)
	for i, d := range []int{3, v.NX, v.NY, v.NZ, 1, 1, 1, 1} {
		le.PutUint16(buf[40+2*i:], uint16(d))
	}
	le.PutUint16(buf[70:], 16)
	le.PutUint16(buf[72:], 32)
	le.PutUint32(buf[76:], math.Float32bits(1))
	for i := 0; i < 3; i++ {
		le.PutUint32(buf[80+4*i:], math.Float32bits(v.Pixdim[i]))
	}
	le.PutUint32(buf[108:], math.Float32bits(352))
	le.PutUint32(buf[112:], math.Float32bits(1))
	copy(buf[344:], "n+1\x00")
	for i, x := range v.Data {
		le.PutUint32(buf[352+4*i:], math.Float32bits(x))
	}
	return buf
}
