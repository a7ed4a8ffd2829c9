// Package brainmri turns the one real brain MRI shipped by Debian (insighttoolkit5-examples,
// Apache-2.0; see itk/NOTICE) into 2-D image/mask pairs for the task "brain".
//
// The volume KmeansTest_T1UCharRaw (T1, 128x128x62, int16 values 0-255) is cut into slices
// along z (coronal sections in this volume); the mask is label > 0 of
// KmeansTest_T1RawSkullStrip (labels 0, 4, 5, 6). Slices are flipped vertically (NIfTI y
// points up, image rows point down), clamped to 0-255, and
// area-downsampled (masks: majority) to the requested size. Only slices whose brain fraction at
// 64x64 is at least MinBrainFraction are used. The split keeps neighbouring slices together:
// consecutive runs of BlockLen slices go to train, train, val, train, test, ... and the first
// slice of a run whose split differs from the previous run's is dropped as a buffer, so no two
// slices from different splits are adjacent.
package brainmri

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/dmseg/dmseg/kernels/data/nifti"
	"github.com/dmseg/dmseg/kernels/imageio"
)

//go:embed itk/KmeansTest_T1UCharRaw.nii.gz itk/KmeansTest_T1RawSkullStrip.nii.gz itk/NOTICE
var files embed.FS

// File names inside the embedded folder.
const (
	ImageFile = "itk/KmeansTest_T1UCharRaw.nii.gz"
	LabelFile = "itk/KmeansTest_T1RawSkullStrip.nii.gz"
)

// Split parameters.
const (
	MinBrainFraction = 0.05
	BlockLen         = 4
)

var pattern = []string{"train", "train", "val", "train", "test"}

// Slice is one slice pair.
type Slice struct {
	Z           int
	Split       string
	Image, Mask *imageio.Gray
}

var (
	once          sync.Once
	img, lab      *nifti.Volume
	loadErr       error
	fingerprintHx string
)

func load() {
	h := sha256.New()
	read := func(name string) *nifti.Volume {
		raw, err := files.ReadFile(name)
		if err != nil {
			loadErr = err
			return nil
		}
		fmt.Fprintf(h, "%s\n%d\n", name, len(raw))
		h.Write(raw)
		v, err := nifti.Decode(raw)
		if err != nil {
			loadErr = fmt.Errorf("%s: %w", name, err)
		}
		return v
	}
	img = read(ImageFile)
	lab = read(LabelFile)
	if loadErr == nil && (img.NX != lab.NX || img.NY != lab.NY || img.NZ != lab.NZ) {
		loadErr = fmt.Errorf("brainmri: image %dx%dx%d and labels %dx%dx%d differ", img.NX, img.NY, img.NZ, lab.NX, lab.NY, lab.NZ)
	}
	fingerprintHx = hex.EncodeToString(h.Sum(nil))
}

// Volumes returns the decoded image and label volumes.
func Volumes() (image, labels *nifti.Volume, err error) {
	once.Do(load)
	return img, lab, loadErr
}

// Fingerprint is the sha256 of the embedded file names and contents.
func Fingerprint() (string, error) {
	once.Do(load)
	return fingerprintHx, loadErr
}

// RawSlice returns slice z at full resolution (image clamped to 0-255, mask 0/255).
func RawSlice(z int) (image, mask *imageio.Gray, err error) {
	iv, lv, err := Volumes()
	if err != nil {
		return nil, nil, err
	}
	if z < 0 || z >= iv.NZ {
		return nil, nil, fmt.Errorf("brainmri: slice %d out of range [0,%d)", z, iv.NZ)
	}
	image, mask = imageio.NewGray(iv.NX, iv.NY), imageio.NewGray(iv.NX, iv.NY)
	for y := 0; y < iv.NY; y++ {
		row := iv.NY - 1 - y
		for x := 0; x < iv.NX; x++ {
			v := iv.At(x, y, z)
			image.Pix[row*iv.NX+x] = uint8(min(max(v, 0), 255) + 0.5)
			if lv.At(x, y, z) > 0 {
				mask.Pix[row*iv.NX+x] = 255
			}
		}
	}
	return image, mask, nil
}

// Slices returns the usable slices at size x size with their split ("train", "val", "test"),
// in increasing z. Slices dropped as split buffers are not returned.
func Slices(size int) ([]Slice, error) {
	iv, _, err := Volumes()
	if err != nil {
		return nil, err
	}
	var usable []Slice
	for z := 0; z < iv.NZ; z++ {
		im, m, err := RawSlice(z)
		if err != nil {
			return nil, err
		}
		m64 := imageio.ResizeMajority(m, 64, 64)
		fg := 0
		for _, v := range m64.Pix {
			if v != 0 {
				fg++
			}
		}
		if float64(fg)/float64(len(m64.Pix)) < MinBrainFraction {
			continue
		}
		usable = append(usable, Slice{Z: z, Image: imageio.ResizeArea(im, size, size), Mask: imageio.ResizeMajority(m, size, size)})
	}
	var out []Slice
	prev := ""
	for b := 0; b*BlockLen < len(usable); b++ {
		split := pattern[b%len(pattern)]
		blk := usable[b*BlockLen : min((b+1)*BlockLen, len(usable))]
		for i, s := range blk {
			if i == 0 && prev != "" && split != prev {
				continue // buffer slice between different splits
			}
			s.Split = split
			out = append(out, s)
		}
		prev = split
	}
	return out, nil
}
