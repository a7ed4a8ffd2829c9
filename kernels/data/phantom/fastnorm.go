package phantom

import "math"

// gaussBits is the number of random bits per fast normal draw; gaussTab has 1<<gaussBits
// entries and one 64-bit word feeds five draws.
const gaussBits = 12

// gaussTab holds the standard normal quantiles at the equiprobable points (k+0.5)/4096,
// rescaled to unit variance: indexing it with a uniform 12-bit integer gives a draw from a
// 4096-point distribution with mean 0 (the table is symmetric), variance 1 and tails cut at
// about 3.7 sigma, which after blurring or averaging is indistinguishable from a Gaussian.
var gaussTab = func() *[1 << gaussBits]float32 {
	const m = 1 << gaussBits
	var q [m]float64
	ss := 0.0
	for k := range q {
		p := (float64(k) + 0.5) / m
		q[k] = math.Sqrt2 * math.Erfinv(2*p-1)
		ss += q[k] * q[k]
	}
	scale := 1 / math.Sqrt(ss/m)
	var t [m]float32
	for k := range q {
		t[k] = float32(q[k] * scale)
	}
	return &t
}()

// normGen is a fast deterministic source of approximately standard normal draws: a
// SplitMix64 stream whose words are cut into five 12-bit indices into gaussTab.
type normGen struct {
	state, word uint64
	left        int
}

func newNormGen(seed uint64) normGen { return normGen{state: seed} }

// next returns the next draw.
func (g *normGen) next() float32 {
	if g.left == 0 {
		g.refill()
	}
	g.left--
	v := gaussTab[g.word&(1<<gaussBits-1)]
	g.word >>= gaussBits
	return v
}

func (g *normGen) refill() {
	g.state += 0x9E3779B97F4A7C15
	z := g.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	g.word = z ^ (z >> 31)
	g.left = 64 / gaussBits
}
