// Package phantom generates synthetic chest X-ray phantoms with lung and infection masks.
//
// Each sample is a deterministic function of (seed, split, index). An image is rendered at
// 256x256 as a sum of attenuations in a canonical body frame (trunk with shoulders and neck,
// two lungs with rounded apices, sharp costophrenic angles and diaphragm domes, a heart shadow
// that makes the cardiac notch, mediastinum, spine, trachea, posterior and anterior ribs,
// clavicles, vessel trees from the hila, a 1/f texture), seen through a random acquisition
// (rotation, scale, shift, window/gamma, blur, noise, vignetting, occasional markers), and
// area-downsampled to the requested size (masks: majority of each block).
//
// Infection cases carry soft ground-glass blobs, mostly in the outer and lower lung zones,
// adding 10-30% of the lung-to-tissue contrast on top of the vessels; the infection mask is
// the blob field above half its maximum, intersected with the lung mask. About a third of
// the samples are normal (empty infection mask). The lung mask excludes the heart.
package phantom

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/dmseg/dmseg/kernels/imageio"
)

// Version changes whenever the rendered pixels change; it enters fingerprints.
const Version = 1

// Render is the internal rendering resolution.
const Render = 256

// Task selects the mask a sample is paired with.
type Task string

// Tasks.
const (
	Lung      Task = "lung"
	Infection Task = "infection"
)

// ParseTask validates a task name.
func ParseTask(s string) (Task, error) {
	switch Task(s) {
	case Lung, Infection:
		return Task(s), nil
	}
	return "", fmt.Errorf("phantom: unknown task %q (want lung or infection)", s)
}

// Split names a data split; each has its own random stream.
type Split string

// Splits.
const (
	Train Split = "train"
	Val   Split = "val"
	Test  Split = "test"
)

// ParseSplit validates a split name.
func ParseSplit(s string) (Split, error) {
	switch Split(s) {
	case Train, Val, Test:
		return Split(s), nil
	}
	return "", fmt.Errorf("unknown split %q (want train, val or test)", s)
}

func splitSalt(s Split) uint64 {
	switch s {
	case Train:
		return 0x1000000000
	case Val:
		return 0x2000000000
	default:
		return 0x3000000000
	}
}

// Sample is one rendered phantom at the requested size: image plus both masks (0/255).
type Sample struct {
	Image, Lung, Infection *imageio.Gray
	Normal                 bool // no infection
}

// Mask returns the mask for a task.
func (s *Sample) Mask(t Task) *imageio.Gray {
	if t == Infection {
		return s.Infection
	}
	return s.Lung
}

// Generate renders sample `index` of `split` for `seed` at size x size (size >= 1).
// The result depends only on (seed, split, index, size).
func Generate(seed uint64, split Split, index, size int) *Sample {
	r := newRenderer(seed, split, index)
	img, lung, inf := r.render()
	s := &Sample{Normal: r.normal}
	if size == Render {
		s.Image, s.Lung, s.Infection = img, lung, inf
	} else {
		s.Image = imageio.ResizeArea(img, size, size)
		s.Lung = imageio.ResizeMajority(lung, size, size)
		s.Infection = imageio.ResizeMajority(inf, size, size)
	}
	return s
}

// ---------------------------------------------------------------------------------------------
// rendering

const (
	lutN   = 1024
	lutMin = -1.6
	lutMax = 1.6
	canvN  = 256 // canonical rasters cover [-canvR, canvR]^2
	canvR  = 1.25
	infN   = 128
)

type rib struct {
	y0, slope, curv, th, amp float64
	anterior                 bool
}

type renderer struct {
	rng    *rand.Rand
	normal bool

	// acquisition
	cosT, sinT, invScale, sx, sy float64
	lo, hi, gamma, blur, noise   float64
	vignette, bg                 float64
	marker                       bool
	markerX, markerY             int

	// anatomy
	tissue, lungAir, heartAmp, edge float64
	apex, costo                     [2]float64
	med, lat                        [2][lutN]float64 // |u| bounds by v
	dome                            [2][lutN]float64 // lower v bound by |u|
	bodyHW                          [lutN]float64
	neckTop                         float64
	hx, hy, ha, hb, hc, hs          float64 // heart ellipse centre, semi-axes, cos/sin of tilt
	ribs                            []rib
	ribAmp                          float64
	clav                            [2][4]float64 // x0,y0,x1,y1 (u>0 side; mirrored)
	clavTh, clavAmp                 float64
	spineW, spineAmp, spinePh       float64
	trachX, trachW                  float64
	vessels                         []float32 // canvN^2
	vesAmp, texAmp                  float64
	tex                             []float64 // (Render/2)^2, 1/f texture in image space
	breast, breastV                 float64
	inf                             []float32 // infN^2 blob field, normalised to max 1
	infAmp                          float64
}

func (r *renderer) u(lo, hi float64) float64 { return lo + (hi-lo)*r.rng.Float64() }

func lutIndex(v float64) (int, float64) {
	f := (v - lutMin) / (lutMax - lutMin) * (lutN - 1)
	if f <= 0 {
		return 0, 0
	}
	if f >= lutN-1 {
		return lutN - 2, 1
	}
	i := int(f)
	return i, f - float64(i)
}

func lut(t *[lutN]float64, v float64) float64 {
	i, a := lutIndex(v)
	return t[i] + a*(t[i+1]-t[i])
}

func lutV(i int) float64 { return lutMin + float64(i)*(lutMax-lutMin)/(lutN-1) }

func newRenderer(seed uint64, split Split, index int) *renderer {
	r := &renderer{rng: rand.New(rand.NewPCG(seed, splitSalt(split)^(uint64(index)*0x9E3779B97F4A7C15)))}
	r.normal = r.rng.Float64() < 1.0/3
	// acquisition
	th := r.u(-6, 6) * math.Pi / 180
	r.cosT, r.sinT = math.Cos(th), math.Sin(th)
	r.invScale = 1 / r.u(0.88, 1.08)
	r.sx, r.sy = r.u(-0.06, 0.06), r.u(-0.04, 0.08)
	r.lo, r.hi = r.u(-0.05, 0.08), r.u(0.62, 0.8)
	r.gamma = math.Exp(r.u(-0.35, 0.35))
	r.blur = r.u(0.3, 1.3)
	r.noise = r.u(0.006, 0.03)
	r.vignette = r.u(0, 0.25)
	r.bg = r.u(0.0, 0.08)
	r.marker = r.rng.Float64() < 0.3
	r.markerX, r.markerY = 12+r.rng.IntN(40), 10+r.rng.IntN(30)
	if r.rng.IntN(2) == 0 {
		r.markerX = Render - 30 - r.markerX
	}
	// anatomy
	r.tissue = r.u(0.55, 0.7)
	r.lungAir = r.u(0.3, 0.42)
	r.heartAmp = r.u(0.04, 0.1)
	r.edge = r.u(0.03, 0.07)
	r.neckTop = r.u(-1.2, -1.05)
	neckHW, shoulderHW, waistHW := r.u(0.2, 0.26), r.u(0.95, 1.1), r.u(0.78, 0.88)
	shoulderV := r.u(-0.85, -0.72)
	for i := range r.bodyHW {
		v := lutV(i)
		switch {
		case v < shoulderV-0.18:
			r.bodyHW[i] = neckHW
		case v < shoulderV:
			t := (v - (shoulderV - 0.18)) / 0.18
			t = t * t * (3 - 2*t)
			r.bodyHW[i] = neckHW + (shoulderHW-neckHW)*t
		default:
			t := math.Min((v-shoulderV)/(1.2-shoulderV), 1)
			r.bodyHW[i] = shoulderHW + (waistHW-shoulderHW)*math.Sqrt(t)
		}
	}
	// heart (patient's left = image right, u > 0)
	r.hx, r.hy = r.u(0.06, 0.14), r.u(0.18, 0.28)
	r.ha, r.hb = r.u(0.24, 0.32), r.u(0.19, 0.25)
	tilt := r.u(-0.5, -0.2)
	r.hc, r.hs = math.Cos(tilt), math.Sin(tilt)
	// lungs: side 0 = image left (patient's right, wider, higher dome), side 1 = image right
	for s := 0; s < 2; s++ {
		r.apex[s] = r.u(-0.68, -0.58)
		r.costo[s] = r.u(0.45, 0.58) + 0.03*float64(s)
		med0 := r.u(0.07, 0.11)
		width := r.u(0.58, 0.68)
		if s == 1 {
			width -= r.u(0.02, 0.06)
		}
		a1, f1, p1 := r.u(0, 0.02), r.u(1, 3), r.u(0, 2*math.Pi)
		a2, f2, p2 := r.u(0, 0.012), r.u(0.5, 2), r.u(0, 2*math.Pi)
		knob := 0.0
		if s == 1 {
			knob = r.u(0.02, 0.06)
		}
		knobV := r.u(-0.42, -0.3)
		pinch := r.u(0.02, 0.06) // lateral tuck-in towards the costophrenic angle
		for i := 0; i < lutN; i++ {
			v := lutV(i)
			t := (v - r.apex[s]) / (r.costo[s] - r.apex[s])
			m := med0 + a2*math.Sin(2*math.Pi*f2*t+p2) + knob*math.Exp(-sq((v-knobV)/0.07))
			r.med[s][i] = m
			if t <= 0 {
				r.lat[s][i] = -1
				continue
			}
			tt := math.Min(t/0.72, 1)
			l := m + width*math.Pow(math.Sin(math.Pi/2*tt), 0.55)
			if t > 0.72 {
				l -= pinch * (t - 0.72) / 0.28
			}
			r.lat[s][i] = l + a1*math.Sin(2*math.Pi*f1*t+p1)*math.Min(1, 4*t)
		}
		// dome: lower boundary as a function of |u|
		domeH := r.u(0.1, 0.22)
		if s == 0 {
			domeH += 0.04
		}
		latMax := lut(&r.lat[s], r.costo[s])
		peak := r.u(0.35, 0.6)
		for i := 0; i < lutN; i++ {
			au := lutV(i)
			x := (au - med0) / (latMax - med0) // 0 medial, 1 costophrenic
			b := 0.0
			if x > 0 && x < 1 {
				if x < peak {
					b = math.Sin(math.Pi / 2 * x / peak)
				} else {
					b = math.Cos(math.Pi / 2 * (x - peak) / (1 - peak))
				}
				b = math.Pow(b, 0.7)
			}
			if x <= 0 {
				b = 0.6
			}
			r.dome[s][i] = r.costo[s] - domeH*b
		}
	}
	// ribs
	r.ribAmp = r.u(0.05, 0.11)
	nr := 9 + r.rng.IntN(3)
	y0, dy := r.u(-0.74, -0.66), r.u(0.1, 0.125)
	for k := 0; k < nr; k++ {
		r.ribs = append(r.ribs, rib{y0: y0 + float64(k)*dy + r.u(-0.01, 0.01), slope: r.u(0.2, 0.35),
			curv: r.u(0.8, 1.2) * (1 + 0.05*float64(k)), th: r.u(0.022, 0.032) * (1 + 0.04*float64(k)), amp: r.u(0.7, 1.1)})
	}
	for k := 0; k < 6; k++ {
		r.ribs = append(r.ribs, rib{y0: -0.5 + float64(k)*r.u(0.13, 0.15), slope: r.u(0.35, 0.5),
			th: r.u(0.025, 0.035), amp: r.u(0.25, 0.45), anterior: true})
	}
	r.clavTh, r.clavAmp = r.u(0.028, 0.04), r.u(0.1, 0.18)
	for s := 0; s < 2; s++ {
		r.clav[s] = [4]float64{r.u(0.06, 0.1), r.u(-0.66, -0.58), r.u(0.5, 0.62), r.u(-0.8, -0.68)}
	}
	r.spineW, r.spineAmp, r.spinePh = r.u(0.055, 0.075), r.u(0.08, 0.14), r.u(0, 1)
	r.trachX, r.trachW = r.u(-0.02, 0.03), r.u(0.03, 0.045)
	r.vesAmp = r.u(0.08, 0.16)
	r.texAmp = r.u(0.03, 0.06)
	r.breast, r.breastV = r.u(0, 0.12), r.u(0.2, 0.45)
	r.vessels = r.drawVessels()
	r.tex = r.texture()
	if !r.normal {
		r.infAmp = r.u(0.1, 0.3) * r.lungAir
		r.inf = r.blobs()
	}
	return r
}

func sq(x float64) float64 { return x * x }

func clamp01(x float64) float64 {
	if x < 0 {
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}

// lungBounds reports whether canonical (u, v) is inside lung side s (hard) and a soft depth in [0,1].
func (r *renderer) lungAt(u, v float64) (inside bool, soft float64) {
	au, s := u, 1
	if u < 0 {
		au, s = -u, 0
	}
	if v <= r.apex[s] || v >= r.costo[s]+0.01 {
		return false, 0
	}
	i, a := lutIndex(v)
	med := r.med[s][i] + a*(r.med[s][i+1]-r.med[s][i])
	lat := r.lat[s][i] + a*(r.lat[s][i+1]-r.lat[s][i])
	dm, dl := au-med, lat-au
	if dm <= 0 || dl <= 0 {
		return false, 0
	}
	dd := lut(&r.dome[s], au) - v
	if dd <= 0 {
		return false, 0
	}
	d := math.Min(math.Min(dm, dl), math.Min(dd, v-r.apex[s]))
	return true, clamp01(d / r.edge)
}

// heartAt returns the ellipse radius^2 of (u, v) in the heart frame (< 1 inside).
func (r *renderer) heartAt(u, v float64) float64 {
	du, dv := u-r.hx, v-r.hy
	if dv > 0 { // the lower half is stretched so the heart sits on the diaphragm
		dv *= 0.45
	}
	a := (du*r.hc + dv*r.hs) / r.ha
	b := (-du*r.hs + dv*r.hc) / r.hb
	return a*a + b*b
}

// canvSample bilinearly samples an n x n canonical raster covering [-canvR, canvR]^2.
func canvSample(ras []float32, n int, u, v float64) float64 {
	fx := (u+canvR)/(2*canvR)*float64(n) - 0.5
	fy := (v+canvR)/(2*canvR)*float64(n) - 0.5
	if fx < 0 || fy < 0 || fx >= float64(n-1) || fy >= float64(n-1) {
		return 0
	}
	x, y := int(fx), int(fy)
	ax, ay := fx-float64(x), fy-float64(y)
	i := y*n + x
	top := float64(ras[i]) + ax*float64(ras[i+1]-ras[i])
	bot := float64(ras[i+n]) + ax*float64(ras[i+n+1]-ras[i+n])
	return top + ay*(bot-top)
}

// drawVessels rasterises two branching vessel trees from the hila into a canonical raster.
func (r *renderer) drawVessels() []float32 {
	ras := make([]float32, canvN*canvN)
	px := 2 * canvR / canvN
	var branch func(x, y, ang, length, width float64, depth int)
	branch = func(x, y, ang, length, width float64, depth int) {
		// slightly curved segment
		bend := r.u(-0.3, 0.3)
		steps := int(length/(px*0.8)) + 1
		cx, cy := x, y
		for k := 0; k <= steps; k++ {
			t := float64(k) / float64(steps)
			a := ang + bend*t
			cx += math.Cos(a) * length / float64(steps)
			cy += math.Sin(a) * length / float64(steps)
			w := width * (1 - 0.3*t)
			rp := w/px + 0.5
			rp2 := rp * rp
			gain := math.Min(1, w/0.012)
			ix, iy := (cx+canvR)/px-0.5, (cy+canvR)/px-0.5
			x0, x1 := int(math.Floor(ix-rp)), int(math.Ceil(ix+rp))
			y0, y1 := int(math.Floor(iy-rp)), int(math.Ceil(iy+rp))
			for yy := max(y0, 0); yy <= min(y1, canvN-1); yy++ {
				dy2 := sq(float64(yy) - iy)
				for xx := max(x0, 0); xx <= min(x1, canvN-1); xx++ {
					d2 := (sq(float64(xx)-ix) + dy2) / rp2
					if d2 < 1 {
						val := float32(math.Sqrt(1-d2) * gain)
						if val > ras[yy*canvN+xx] {
							ras[yy*canvN+xx] = val
						}
					}
				}
			}
		}
		if depth == 0 {
			return
		}
		ea := ang + bend
		spread := r.u(0.3, 0.6)
		branch(cx, cy, ea-spread, length*r.u(0.6, 0.8), width*0.68, depth-1)
		branch(cx, cy, ea+spread, length*r.u(0.6, 0.8), width*0.68, depth-1)
	}
	for s := 0; s < 2; s++ {
		sign := float64(2*s - 1)
		hx, hy := sign*r.u(0.15, 0.2), r.u(-0.12, 0.0)
		nb := 3 + r.rng.IntN(2)
		for b := 0; b < nb; b++ {
			// fan from up-outward to down-outward (angles measured in image coordinates)
			base := -1.1 + 2.2*(float64(b)+r.u(0.2, 0.8))/float64(nb)
			ang := base
			if sign < 0 {
				ang = math.Pi - base
			}
			branch(hx, hy, ang, r.u(0.12, 0.2), r.u(0.012, 0.018), 3)
		}
	}
	return ras
}

// texture makes a 1/f (amplitude halves per octave) noise field at (Render/2)^2 in image space.
func (r *renderer) texture() []float64 {
	n := 4
	cur := make([]float64, n*n)
	for i := range cur {
		cur[i] = r.rng.NormFloat64()
	}
	amp := 1.0
	for n < Render/2 {
		m := 2 * n
		next := make([]float64, m*m)
		// bilinear x2 upsampling with edge clamping
		for y := 0; y < m; y++ {
			fy := (float64(y)+0.5)/2 - 0.5
			y0 := int(math.Floor(fy))
			ay := fy - float64(y0)
			y1 := min(max(y0+1, 0), n-1)
			y0 = min(max(y0, 0), n-1)
			for x := 0; x < m; x++ {
				fx := (float64(x)+0.5)/2 - 0.5
				x0 := int(math.Floor(fx))
				ax := fx - float64(x0)
				x1 := min(max(x0+1, 0), n-1)
				x0 = min(max(x0, 0), n-1)
				t := cur[y0*n+x0] + ax*(cur[y0*n+x1]-cur[y0*n+x0])
				b := cur[y1*n+x0] + ax*(cur[y1*n+x1]-cur[y1*n+x0])
				next[y*m+x] = t + ay*(b-t)
			}
		}
		amp *= 0.5
		for i := range next {
			next[i] += amp * r.rng.NormFloat64()
		}
		cur, n = next, m
	}
	return cur
}

// blobs builds the infection field (normalised to max 1) on an infN^2 canonical raster.
func (r *renderer) blobs() []float32 {
	field := make([]float32, infN*infN)
	px := 2 * canvR / infN
	nb := 1 + r.rng.IntN(6)
	for b := 0; b < nb; b++ {
		// centre inside a lung, biased to the outer and lower zones
		s := r.rng.IntN(2)
		var cu, cv float64
		for tries := 0; tries < 50; tries++ {
			t := 0.25 + 0.75*math.Sqrt(r.rng.Float64())
			cv = r.apex[s] + t*(r.costo[s]-r.apex[s])
			i, _ := lutIndex(cv)
			med, lat := r.med[s][i], r.lat[s][i]
			f := 0.35 + 0.6*math.Sqrt(r.rng.Float64())
			cu = med + f*(lat-med)
			if s == 0 {
				cu = -cu
			}
			if in, _ := r.lungAt(cu, cv); in && r.heartAt(cu, cv) > 1 {
				break
			}
		}
		sig := r.u(0.04, 0.12)
		sigV := sig * r.u(0.7, 1.4)
		amp := float32(r.u(0.6, 1))
		ix, iy := (cu+canvR)/px-0.5, (cv+canvR)/px-0.5
		rx, ry := 3*sig/px, 3*sigV/px
		for y := max(int(iy-ry), 0); y <= min(int(iy+ry)+1, infN-1); y++ {
			dy := (float64(y) - iy) * px / sigV
			for x := max(int(ix-rx), 0); x <= min(int(ix+rx)+1, infN-1); x++ {
				dx := (float64(x) - ix) * px / sig
				field[y*infN+x] += amp * float32(math.Exp(-0.5*(dx*dx+dy*dy)))
			}
		}
	}
	var mx float32
	for _, v := range field {
		mx = max(mx, v)
	}
	if mx > 0 {
		for i := range field {
			field[i] /= mx
		}
	}
	return field
}

// bilin holds the cell and weights of a bilinear sample in an n x n canonical raster.
type bilin struct {
	i      int
	ax, ay float32
	ok     bool
}

func canvPos(n int, u, v float64) bilin {
	fx := (u+canvR)/(2*canvR)*float64(n) - 0.5
	fy := (v+canvR)/(2*canvR)*float64(n) - 0.5
	if fx < 0 || fy < 0 || fx >= float64(n-1) || fy >= float64(n-1) {
		return bilin{}
	}
	x, y := int(fx), int(fy)
	return bilin{i: y*n + x, ax: float32(fx - float64(x)), ay: float32(fy - float64(y)), ok: true}
}

func (b bilin) sample(ras []float32, n int) float64 {
	if !b.ok {
		return 0
	}
	i := b.i
	top := ras[i] + b.ax*(ras[i+1]-ras[i])
	bot := ras[i+n] + b.ax*(ras[i+n+1]-ras[i+n])
	return float64(top + b.ay*(bot-top))
}

// buildBones rasterises ribs, clavicles, spine and trachea (attenuation units) column by
// column into a canonical canvN^2 raster.
func (r *renderer) buildBones() []float32 {
	ras := make([]float32, canvN*canvN)
	px := 2 * canvR / canvN
	band := func(col int, cy, th, amp float64, rim bool) {
		y0 := int(math.Floor((cy-th+canvR)/px - 0.5))
		y1 := int(math.Ceil((cy+th+canvR)/px - 0.5))
		for y := max(y0, 0); y <= min(y1, canvN-1); y++ {
			v := -canvR + (float64(y)+0.5)*px
			d := (v - cy) / th
			if d <= -1 || d >= 1 {
				continue
			}
			d2 := d * d
			p := math.Sqrt(1 - d2)
			if rim { // cortical rim brighter than the marrow
				p *= 0.55 + 0.45*d2*d2
			}
			ras[y*canvN+col] += float32(amp * p)
		}
	}
	for col := 0; col < canvN; col++ {
		u := -canvR + (float64(col)+0.5)*px
		au := math.Abs(u)
		for _, rb := range r.ribs {
			var c float64
			if rb.anterior {
				if au < 0.22 {
					continue
				}
				c = rb.y0 + rb.slope*(0.75-au)
			} else {
				x := au - 0.06
				if x < 0 {
					continue
				}
				c = rb.y0 - rb.slope*x + rb.curv*x*x
			}
			lim := lut(&r.bodyHW, c) * 0.93
			if au >= lim {
				continue
			}
			fade := clamp01((lim - au) / 0.05)
			band(col, c, rb.th, r.ribAmp*rb.amp*fade, true)
		}
		s := 0
		if u > 0 {
			s = 1
		}
		c := r.clav[s]
		if au > c[0] && au < c[2] {
			x := (au - c[0]) / (c[2] - c[0])
			band(col, c[1]+(c[3]-c[1])*x+0.03*math.Sin(2*math.Pi*x), r.clavTh, r.clavAmp, true)
		}
		if d := u / r.spineW; d > -1 && d < 1 {
			w := math.Sqrt(1 - d*d)
			for y := 0; y < canvN; y++ {
				v := -canvR + (float64(y)+0.5)*px
				vert := 0.75 + 0.25*math.Cos(2*math.Pi*(v/0.11+r.spinePh))
				ras[y*canvN+col] += float32(r.spineAmp * w * vert)
			}
		}
		if d := (u - r.trachX) / r.trachW; d > -1 && d < 1 {
			w := math.Sqrt(1 - d*d)
			for y := 0; y < canvN; y++ {
				v := -canvR + (float64(y)+0.5)*px
				if v < -0.25 {
					ras[y*canvN+col] -= float32(0.12 * w * clamp01((-0.25-v)/0.1))
				}
			}
		}
	}
	return ras
}

// render produces the 256x256 image, lung mask and infection mask.
func (r *renderer) render() (img, lung, inf *imageio.Gray) {
	const n = Render
	const tn = Render / 2
	vals := make([]float32, n*n)
	lung = imageio.NewGray(n, n)
	inf = imageio.NewGray(n, n)
	bones := r.buildBones()
	// display transfer: window + gamma as a lookup table over attenuation
	const tfN = 2048
	const tfLo, tfHi = -0.5, 1.5
	var tf [tfN + 1]float32
	for i := range tf {
		a := tfLo + (tfHi-tfLo)*float64(i)/tfN
		tf[i] = float32(math.Pow(clamp01((a-r.lo)/(r.hi-r.lo)), r.gamma))
	}
	var txi [n]int
	var txa [n]float64
	for px := 0; px < n; px++ {
		tx := (float64(px)+0.5)/2 - 0.5
		tx0 := min(max(int(math.Floor(tx)), 0), tn-2)
		txi[px], txa[px] = tx0, clamp01(tx-float64(tx0))
	}
	heartR := math.Max(r.ha, r.hb/0.45) + 0.4
	for py := 0; py < n; py++ {
		qy := (float64(py)+0.5)/(n/2) - 1
		ty := (float64(py)+0.5)/2 - 0.5
		ty0 := min(max(int(math.Floor(ty)), 0), tn-2)
		tay := clamp01(ty - float64(ty0))
		trow := r.tex[ty0*tn:]
		q0 := 0.5/(n/2) - 1
		dq := 1.0 / (n / 2)
		u := (r.cosT*q0-r.sinT*qy)*r.invScale + r.sx
		v := (r.sinT*q0+r.cosT*qy)*r.invScale + r.sy
		du, dv := r.cosT*dq*r.invScale, r.sinT*dq*r.invScale
		u, v = u-du, v-dv
		for px := 0; px < n; px++ {
			qx := q0 + float64(px)*dq
			u += du
			v += dv
			// 1/f texture, generated at half resolution in image space
			ti, tax := txi[px], txa[px]
			tt := trow[ti] + tax*(trow[ti+1]-trow[ti])
			tb := trow[ti+tn] + tax*(trow[ti+tn+1]-trow[ti+tn])
			tex := tt + tay*(tb-tt)
			a := r.bg
			hw := lut(&r.bodyHW, v)
			t := u / hw
			if t*t < 1 && v > r.neckTop {
				th := math.Sqrt(1-t*t) * clamp01((v-r.neckTop)/0.05)
				a += r.tissue * (0.55 + 0.45*th)
				// breast / pectoral soft tissue over the lower lateral chest
				if bd := (v - r.breastV) / 0.3; bd > -1 && bd < 1 {
					a += r.breast * (1 - bd*bd) * clamp01((math.Abs(u)-0.2)/0.3)
				}
				inL, soft := r.lungAt(u, v)
				hr := 2.0
				if math.Abs(u-r.hx) < heartR && math.Abs(v-r.hy) < heartR {
					hr = r.heartAt(u, v)
				}
				heartSoft := clamp01((1 - hr) / 0.35)
				cp := canvPos(canvN, u, v)
				if inL {
					depth := soft * (0.75 + 0.25*th) * (0.55 + 0.45*clamp01((lut(&r.dome[btoi(u > 0)], math.Abs(u))-v)/0.2))
					a -= r.lungAir * depth * (1 - 0.85*heartSoft)
					if hr >= 1 {
						lung.Pix[py*n+px] = 255
					}
					a += r.vesAmp * cp.sample(r.vessels, canvN) * soft
					if r.inf != nil {
						f := canvPos(infN, u, v).sample(r.inf, infN)
						if f > 0.5 && hr >= 1 {
							inf.Pix[py*n+px] = 255
						}
						a += r.infAmp * f * soft * (1 + 0.5*tex)
					}
				}
				a += r.heartAmp*heartSoft + cp.sample(bones, canvN)
			}
			a += r.texAmp * tex
			f := (a - tfLo) / (tfHi - tfLo) * tfN
			fi := int(f)
			var x float32
			if fi < 0 {
				x = tf[0]
			} else if fi >= tfN {
				x = tf[tfN]
			} else {
				x = tf[fi] + float32(f-float64(fi))*(tf[fi+1]-tf[fi])
			}
			vals[py*n+px] = x * float32(1-r.vignette*(qx*qx+qy*qy)/2)
		}
	}
	if r.marker {
		for y := r.markerY; y < r.markerY+14; y++ {
			for x := r.markerX; x < r.markerX+10; x++ {
				if x < r.markerX+3 || y > r.markerY+10 { // an "L"
					vals[y*n+x] = 0.97
				}
			}
		}
	}
	vals = gaussBlur(vals, n, r.blur)
	img = imageio.NewGray(n, n)
	noise := float32(r.noise)
	for i, x := range vals {
		x += noise * float32(r.rng.NormFloat64())
		img.Pix[i] = uint8(min(max(x, 0), 1)*255 + 0.5)
	}
	return img, lung, inf
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gaussBlur applies a separable Gaussian blur (sigma in pixels) with edge clamping.
func gaussBlur(src []float32, n int, sigma float64) []float32 {
	rad := int(math.Ceil(2 * sigma))
	k := make([]float32, 2*rad+1)
	sum := 0.0
	for i := range k {
		d := float64(i - rad)
		sum += math.Exp(-d * d / (2 * sigma * sigma))
	}
	for i := range k {
		d := float64(i - rad)
		k[i] = float32(math.Exp(-d*d/(2*sigma*sigma)) / sum)
	}
	tmp := make([]float32, n*n)
	pad := make([]float32, n+2*rad)
	for y := 0; y < n; y++ {
		row := src[y*n : (y+1)*n]
		copy(pad[rad:], row)
		for i := 0; i < rad; i++ {
			pad[i], pad[rad+n+i] = row[0], row[n-1]
		}
		out := tmp[y*n : (y+1)*n]
		for x := range out {
			var s float32
			for i, w := range k {
				s += w * pad[x+i]
			}
			out[x] = s
		}
	}
	out := make([]float32, n*n)
	for i, w := range k {
		for y := 0; y < n; y++ {
			yy := min(max(y+i-rad, 0), n-1)
			dst, srow := out[y*n:(y+1)*n], tmp[yy*n:(yy+1)*n]
			for x := range dst {
				dst[x] += w * srow[x]
			}
		}
	}
	return out
}
