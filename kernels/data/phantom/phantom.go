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
	"sync"

	"github.com/dmseg/dmseg/kernels/imageio"
)

// Version changes whenever the rendered pixels change; it enters fingerprints.
const Version = 2

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
// The result depends only on (seed, split, index, size). It is safe for concurrent use.
func Generate(seed uint64, split Split, index, size int) *Sample {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	r := newRenderer(seed, split, index, sc)
	s := &Sample{Normal: r.normal}
	if size == Render {
		s.Image, s.Lung, s.Infection = imageio.NewGray(Render, Render), imageio.NewGray(Render, Render), imageio.NewGray(Render, Render)
		r.render(s.Image, s.Lung, s.Infection)
	} else {
		img, lung, inf := sc.img, sc.lung, sc.inf
		clear(lung.Pix)
		clear(inf.Pix)
		r.render(img, lung, inf)
		s.Image = imageio.ResizeArea(img, size, size)
		s.Lung = imageio.ResizeMajority(lung, size, size)
		s.Infection = imageio.ResizeMajority(inf, size, size)
	}
	return s
}

// scratch holds the per-sample working buffers, reused across samples through a pool so
// that generation does not churn the garbage collector. Every buffer is fully rewritten
// (or cleared) before use, so reuse cannot leak one sample into the next.
type scratch struct {
	rend           renderer  // the renderer itself (its look-up tables are large)
	vals, blur     []float32 // half^2: display image, horizontal blur pass
	bones, vessels []float32 // canvN^2 canonical rasters
	blobs          []float32 // infN^2 infection field
	tex            [2][]float64
	img, lung, inf *imageio.Gray // Render^2 outputs before downsampling
	rowPad, rowOut []float32     // half (+ blur padding)
	rowUp          []float32     // Render
}

var scratchPool = sync.Pool{New: func() any {
	n := Render
	return &scratch{
		vals: make([]float32, half*half), blur: make([]float32, half*half),
		bones: make([]float32, canvN*canvN), vessels: make([]float32, canvN*canvN),
		blobs: make([]float32, infN*infN),
		tex:   [2][]float64{make([]float64, half*half), make([]float64, half*half)},
		img:   imageio.NewGray(n, n), lung: imageio.NewGray(n, n), inf: imageio.NewGray(n, n),
		rowPad: make([]float32, half+16), rowOut: make([]float32, half), rowUp: make([]float32, n),
	}
}}

// ---------------------------------------------------------------------------------------------
// rendering

const (
	lutN   = 512
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
	sc     *scratch

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
	tex                             []float64 // half^2, 1/f texture in image space
	breast, breastV                 float64
	inf                             []float32 // infN^2 blob field, normalised to max 1
	infAmp                          float64

	// bounds derived from the anatomy, for skipping work
	lungV0, lungV1 float64 // v range of both lungs
	latMax         float64 // largest lateral lung extent |u|
	bodyMax        float64 // largest trunk half width
	heartM         float64 // heart bounding half-size (see heartAt)
	noiseGen       normGen // per-pixel detector noise
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

func newRenderer(seed uint64, split Split, index int, sc *scratch) *renderer {
	r := &sc.rend
	*r = renderer{rng: rand.New(rand.NewPCG(seed, splitSalt(split)^(uint64(index)*0x9E3779B97F4A7C15))), sc: sc}
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
	r.lungV0 = math.Min(r.apex[0], r.apex[1])
	r.lungV1 = math.Max(r.costo[0], r.costo[1]) + 0.01
	for s := 0; s < 2; s++ {
		for _, l := range r.lat[s] {
			r.latMax = math.Max(r.latMax, l)
		}
	}
	for _, w := range r.bodyHW {
		r.bodyMax = math.Max(r.bodyMax, w)
	}
	r.heartM = math.Max(r.ha, r.hb) * 1.001
	r.vessels = r.drawVessels()
	r.tex = r.texture()
	if !r.normal {
		r.infAmp = r.u(0.1, 0.3) * r.lungAir
		r.inf = r.blobs()
	}
	r.noiseGen = newNormGen(r.rng.Uint64())
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

// lungAt reports whether canonical (u, v) is inside a lung (hard boundary), with its soft
// depth in [0, 1] (distance to the nearest lung boundary over the edge width) and its height
// dd above the diaphragm dome.
func (r *renderer) lungAt(u, v float64) (inside bool, soft, dd float64) {
	if v <= r.lungV0 || v >= r.lungV1 {
		return false, 0, 0
	}
	au, s := u, 1
	if u < 0 {
		au, s = -u, 0
	}
	if v <= r.apex[s] || v >= r.costo[s]+0.01 {
		return false, 0, 0
	}
	i, a := lutIndex(v)
	med := r.med[s][i] + a*(r.med[s][i+1]-r.med[s][i])
	lat := r.lat[s][i] + a*(r.lat[s][i+1]-r.lat[s][i])
	dm, dl := au-med, lat-au
	if dm <= 0 || dl <= 0 {
		return false, 0, 0
	}
	dd = lut(&r.dome[s], au) - v
	if dd <= 0 {
		return false, 0, 0
	}
	d := min(dm, dl, dd, v-r.apex[s])
	return true, clamp01(d / r.edge), dd
}

// bodyHalfWidth is the trunk's half width at canonical height v (0 above the neck).
func (r *renderer) bodyHalfWidth(v float64) float64 {
	if v <= r.neckTop {
		return 0
	}
	return lut(&r.bodyHW, v)
}

// heartAt returns the ellipse radius^2 of (u, v) in the heart frame (< 1 inside); far
// outside the heart's bounding box it returns 2 without evaluating the ellipse.
func (r *renderer) heartAt(u, v float64) float64 {
	// hr < 1 puts (du, dv') (dv' = 0.45 dv below the centre) inside an ellipse with
	// semi-axes ha, hb, so |du| < M and -M < dv < M/0.45 with M = max(ha, hb)
	du, dv := u-r.hx, v-r.hy
	if du >= r.heartM || du <= -r.heartM || dv >= r.heartM/0.45 || dv <= -r.heartM {
		return 2
	}
	if dv > 0 { // the lower half is stretched so the heart sits on the diaphragm
		dv *= 0.45
	}
	a := (du*r.hc + dv*r.hs) / r.ha
	b := (-du*r.hs + dv*r.hc) / r.hb
	return a*a + b*b
}

// infAt bilinearly samples the infection field at canonical (u, v) (0 outside its raster).
func (r *renderer) infAt(u, v float64) float64 {
	const infScale = infN / (2 * canvR)
	gx, gy := u*infScale+(infN/2-0.5), v*infScale+(infN/2-0.5)
	if !(gx >= 0 && gy >= 0 && gx < infN-1 && gy < infN-1) {
		return 0
	}
	x, y := int(gx), int(gy)
	ax, ay := float32(gx-float64(x)), float32(gy-float64(y))
	fb := r.inf[y*infN+x:]
	top := fb[0] + ax*(fb[1]-fb[0])
	bot := fb[infN] + ax*(fb[infN+1]-fb[infN])
	return float64(top + ay*(bot-top))
}

// drawVessels rasterises two branching vessel trees from the hila into a canonical raster.
func (r *renderer) drawVessels() []float32 {
	ras := r.sc.vessels
	clear(ras)
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

// texture makes a 1/f (amplitude halves per octave) noise field at half^2 in image space.
func (r *renderer) texture() []float64 {
	g := newNormGen(r.rng.Uint64())
	n := 4
	cur := r.sc.tex[0][:n*n]
	for i := range cur {
		cur[i] = float64(g.next())
	}
	amp := 1.0
	var xi0, xi1 [half]int
	var xa [half]float64
	for lvl := 1; n < half; lvl++ {
		m := 2 * n
		next := r.sc.tex[lvl%2][:m*m]
		// bilinear x2 upsampling with edge clamping; the x and y weights are the same table
		for x := 0; x < m; x++ {
			fx := (float64(x)+0.5)/2 - 0.5
			x0 := int(math.Floor(fx))
			xa[x] = fx - float64(x0)
			xi1[x] = min(max(x0+1, 0), n-1)
			xi0[x] = min(max(x0, 0), n-1)
		}
		for y := 0; y < m; y++ {
			ay, y0, y1 := xa[y], xi0[y], xi1[y]
			r0, r1 := cur[y0*n:y0*n+n], cur[y1*n:y1*n+n]
			out := next[y*m : y*m+m]
			for x := range out {
				x0, x1, ax := xi0[x], xi1[x], xa[x]
				t := r0[x0] + ax*(r0[x1]-r0[x0])
				b := r1[x0] + ax*(r1[x1]-r1[x0])
				out[x] = t + ay*(b-t)
			}
		}
		amp *= 0.5
		for i := range next {
			next[i] += amp * float64(g.next())
		}
		cur, n = next, m
	}
	return cur
}

// blobs builds the infection field (normalised to max 1) on an infN^2 canonical raster.
func (r *renderer) blobs() []float32 {
	field := r.sc.blobs
	clear(field)
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
			if in, _, _ := r.lungAt(cu, cv); in && r.heartAt(cu, cv) > 1 {
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

// buildBones rasterises ribs, clavicles, spine and trachea (attenuation units) column by
// column into a canonical canvN^2 raster.
func (r *renderer) buildBones() []float32 {
	ras := r.sc.bones
	clear(ras)
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
	var vert [canvN]float64 // vertebral body modulation of the spine by row
	for y := range vert {
		v := -canvR + (float64(y)+0.5)*px
		vert[y] = 0.75 + 0.25*math.Cos(2*math.Pi*(v/0.11+r.spinePh))
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
				ras[y*canvN+col] += float32(r.spineAmp * w * vert[y])
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

// render draws the Render^2 image, lung mask and infection mask into img, lung and inf
// (the masks must be zero on entry).
//
// The masks are evaluated exactly at every Render^2 pixel. The image is smooth at that
// scale (soft lung edges, blurred bones), so its attenuation is rendered at half resolution,
// blurred there, upsampled bilinearly to Render^2, and only then given its per-pixel noise
// and quantised.
func (r *renderer) render(img, lung, inf *imageio.Gray) {
	r.renderMasks(lung.Pix, inf.Pix)
	vals := r.sc.vals
	r.renderImage(vals)
	if r.marker { // an "L", drawn before the blur like a lead marker on the detector
		mx, my := r.markerX/2, r.markerY/2
		for y := my; y < my+7; y++ {
			for x := mx; x < mx+5; x++ {
				if x < mx+2 || y > my+4 {
					vals[y*half+x] = 0.97
				}
			}
		}
	}
	r.blurHalf(vals)
	r.upsampleNoiseQuantize(vals, img.Pix)
}

// half is the resolution at which the image (not the masks) is rendered.
const half = Render / 2

// span returns the pixel range [p0, p1) of [0, n) outside which a0 + p*da lies outside
// (lo, hi); it may be wider than the exact set, never narrower.
func span(a0, da, lo, hi float64, n int) (int, int) {
	if da == 0 {
		if a0 > lo && a0 < hi {
			return 0, n
		}
		return 0, 0
	}
	p, q := (lo-a0)/da, (hi-a0)/da
	if p > q {
		p, q = q, p
	}
	p, q = max(p-1, 0), min(q+1, float64(n))
	if p >= q {
		return 0, 0
	}
	return int(p), int(math.Ceil(q))
}

// rowStart returns the canonical (u, v) of pixel 0 of row py on an n x n image grid and the
// step (du, dv) from one pixel to the next.
func (r *renderer) rowStart(py, n int) (u0, v0, du, dv float64) {
	q0 := 0.5/float64(n/2) - 1
	qy := (float64(py)+0.5)/float64(n/2) - 1
	dq := 1 / float64(n/2)
	u0 = (r.cosT*q0-r.sinT*qy)*r.invScale + r.sx
	v0 = (r.sinT*q0+r.cosT*qy)*r.invScale + r.sy
	return u0, v0, r.cosT * dq * r.invScale, r.sinT * dq * r.invScale
}

// renderMasks sets the lung mask (inside a lung and the trunk, outside the heart) and the
// infection mask (infection field above half its maximum, inside the lung mask) on the
// Render^2 grid, visiting only the pixels whose row position can reach a lung.
func (r *renderer) renderMasks(lung, inf []uint8) {
	const n = Render
	for py := 0; py < n; py++ {
		u0, v0, du, dv := r.rowStart(py, n)
		a, b := span(v0, dv, r.lungV0, r.lungV1, n)
		c, d := span(u0, du, -r.latMax, r.latMax, n)
		lrow, irow := lung[py*n:py*n+n], inf[py*n:py*n+n]
		for px := max(a, c); px < min(b, d); px++ {
			u, v := u0+float64(px)*du, v0+float64(px)*dv
			if in, _, _ := r.lungAt(u, v); !in || math.Abs(u) >= r.bodyHalfWidth(v) || r.heartAt(u, v) < 1 {
				continue
			}
			lrow[px] = 255
			if r.inf != nil && r.infAt(u, v) > 0.5 {
				irow[px] = 255
			}
		}
	}
}

// renderImage fills vals (half^2) with display values in [0, 1]: the summed attenuation of
// every structure through the window/gamma transfer, times the vignetting.
func (r *renderer) renderImage(vals []float32) {
	const n = half
	bones := r.buildBones()
	// display transfer: window + gamma as a lookup table over attenuation
	const tfN = 2048
	const tfLo, tfHi = -0.5, 1.5
	const tfScale = tfN / (tfHi - tfLo)
	var tf [tfN + 2]float32
	for i := 0; i <= tfN; i++ {
		a := tfLo + (tfHi-tfLo)*float64(i)/tfN
		tf[i] = float32(math.Pow(clamp01((a-r.lo)/(r.hi-r.lo)), r.gamma))
	}
	tf[tfN+1] = tf[tfN]
	var q2 [n]float64
	for p := range q2 {
		q := (float64(p)+0.5)/(n/2) - 1
		q2[p] = q * q
	}
	const canvScale = canvN / (2 * canvR)
	pix := r.invScale / (n / 2) // pixel size in canonical units
	vig := r.vignette / 2
	for py := 0; py < n; py++ {
		u0, v0, du, dv := r.rowStart(py, n)
		trow := r.tex[py*n : py*n+n]
		vrow := vals[py*n : py*n+n]
		a0, b0 := span(v0, dv, r.neckTop-pix, 10, n)
		c0, d0 := span(u0, du, -r.bodyMax-pix, r.bodyMax+pix, n)
		p0, p1 := max(a0, c0), min(b0, d0)
		for px := 0; px < n; px++ {
			tex := trow[px]
			a := r.bg + r.texAmp*tex
			if px >= p0 && px < p1 {
				a += r.attenuation(u0+float64(px)*du, v0+float64(px)*dv, tex, bones, canvScale, pix)
			}
			var x float32
			if f := (a - tfLo) * tfScale; f <= 0 {
				x = tf[0]
			} else if f >= tfN {
				x = tf[tfN]
			} else {
				fi := int(f)
				x = tf[fi] + float32(f-float64(fi))*(tf[fi+1]-tf[fi])
			}
			vrow[px] = x * float32(1-vig*(q2[px]+q2[py]))
		}
	}
}

// attenuation sums the trunk's structures at canonical (u, v) (0 outside the trunk).
//
// The trunk's outline is a hard edge; it is anti-aliased by weighting everything with the
// fraction of a pixel (pix canonical units wide) that lies inside the outline.
func (r *renderer) attenuation(u, v, tex float64, bones []float32, canvScale, pix float64) float64 {
	hw := lut(&r.bodyHW, v)
	au := math.Abs(u)
	cover := clamp01((hw-au)/pix+0.5) * clamp01((v-r.neckTop)/pix+0.5)
	if cover <= 0 {
		return 0
	}
	t := min(au/hw, 1)
	th := math.Sqrt(1-t*t) * clamp01((v-r.neckTop)*20)
	a := r.tissue * (0.55 + 0.45*th)
	// breast / pectoral soft tissue over the lower lateral chest
	if bd := (v - r.breastV) * (1 / 0.3); bd > -1 && bd < 1 {
		a += r.breast * (1 - bd*bd) * clamp01((au-0.2)*(1/0.3))
	}
	heartSoft := clamp01((1 - r.heartAt(u, v)) * (1 / 0.35))
	// bilinear position in the canonical bone/vessel raster
	fx, fy := u*canvScale+(canvN/2-0.5), v*canvScale+(canvN/2-0.5)
	var ci int
	var cax, cay float32
	cok := fx >= 0 && fy >= 0 && fx < canvN-1 && fy < canvN-1
	if cok {
		x, y := int(fx), int(fy)
		ci, cax, cay = y*canvN+x, float32(fx-float64(x)), float32(fy-float64(y))
	}
	if in, soft, dd := r.lungAt(u, v); in {
		depth := soft * (0.75 + 0.25*th) * (0.55 + 0.45*clamp01(dd*5))
		a -= r.lungAir * depth * (1 - 0.85*heartSoft)
		if cok {
			ves := r.vessels[ci:]
			top := ves[0] + cax*(ves[1]-ves[0])
			bot := ves[canvN] + cax*(ves[canvN+1]-ves[canvN])
			a += r.vesAmp * float64(top+cay*(bot-top)) * soft
		}
		if r.inf != nil {
			a += r.infAmp * r.infAt(u, v) * soft * (1 + 0.5*tex)
		}
	}
	a += r.heartAmp * heartSoft
	if cok {
		bn := bones[ci:]
		top := bn[0] + cax*(bn[1]-bn[0])
		bot := bn[canvN] + cax*(bn[canvN+1]-bn[canvN])
		a += float64(top + cay*(bot-top))
	}
	return a * cover
}

// blurHalf applies a separable Gaussian blur (sigma r.blur Render pixels, i.e. r.blur/2
// half-resolution pixels; edge clamping) to the half^2 image in place.
func (r *renderer) blurHalf(vals []float32) {
	const n = half
	sigma := r.blur / 2
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
	tmp := r.sc.blur
	pad := r.sc.rowPad[:n+2*rad]
	rows := make([][]float32, len(k))
	for y := 0; y < n; y++ { // horizontal pass into tmp
		row := vals[y*n : (y+1)*n]
		copy(pad[rad:], row)
		for i := 0; i < rad; i++ {
			pad[i], pad[rad+n+i] = row[0], row[n-1]
		}
		for i := range k {
			rows[i] = pad[i : i+n]
		}
		weightedSum(tmp[y*n:(y+1)*n], k, rows)
	}
	for y := 0; y < n; y++ { // vertical pass back into vals
		for i := range k {
			yy := min(max(y+i-rad, 0), n-1)
			rows[i] = tmp[yy*n : (yy+1)*n]
		}
		weightedSum(vals[y*n:(y+1)*n], k, rows)
	}
}

// upsampleNoiseQuantize upsamples the half^2 image src bilinearly (pixel centres aligned,
// edge clamping) to Render^2, adds Gaussian noise of standard deviation r.noise (one draw
// per pixel, row-major) and quantises to 8 bits into dst.
func (r *renderer) upsampleNoiseQuantize(src []float32, dst []uint8) {
	const n = half
	g := r.noiseGen
	noise := float32(r.noise)
	col := r.sc.rowOut[:n]
	out := r.sc.rowUp[:Render]
	for py := 0; py < Render; py++ {
		// Render row py sits at half-row (py-0.5)/2: between rows j0 and j1 with weights w0, w1
		j := py / 2
		j0, j1, w0, w1 := j-1, j, float32(0.25), float32(0.75)
		if py%2 == 1 {
			j0, j1, w0, w1 = j, j+1, 0.75, 0.25
		}
		j0, j1 = max(j0, 0), min(j1, n-1)
		s0, s1 := src[j0*n:j0*n+n], src[j1*n:j1*n+n]
		for x := range col {
			col[x] = w0*s0[x] + w1*s1[x]
		}
		out[0] = col[0]
		for x := 0; x < n-1; x++ {
			a, b := col[x], col[x+1]
			out[2*x+1] = 0.75*a + 0.25*b
			out[2*x+2] = 0.25*a + 0.75*b
		}
		out[Render-1] = col[n-1]
		drow := dst[py*Render : py*Render+Render]
		for x, v := range out {
			v += noise * g.next()
			switch {
			case v <= 0:
				drow[x] = 0
			case v >= 1:
				drow[x] = 255
			default:
				drow[x] = uint8(v*255 + 0.5)
			}
		}
	}
}

// weightedSum sets out[x] = k[0]*rows[0][x] + k[1]*rows[1][x] + ... in float32. Kernels of
// 3 and 5 taps (blur radius 1-2) keep the sum in a register.
func weightedSum(out []float32, k []float32, rows [][]float32) {
	n := len(out)
	switch len(k) {
	case 3:
		w0, w1, w2 := k[0], k[1], k[2]
		r0, r1, r2 := rows[0][:n], rows[1][:n], rows[2][:n]
		for x := range out {
			out[x] = w0*r0[x] + w1*r1[x] + w2*r2[x]
		}
	case 5:
		w0, w1, w2, w3, w4 := k[0], k[1], k[2], k[3], k[4]
		r0, r1, r2, r3, r4 := rows[0][:n], rows[1][:n], rows[2][:n], rows[3][:n], rows[4][:n]
		for x := range out {
			out[x] = w0*r0[x] + w1*r1[x] + w2*r2[x] + w3*r3[x] + w4*r4[x]
		}
	default:
		clear(out)
		for i, w := range k {
			r := rows[i][:n]
			for x := range out {
				out[x] += w * r[x]
			}
		}
	}
}
