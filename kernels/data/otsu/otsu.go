// Package otsu is the classical non-learned segmentation baseline used to check that a data
// set is not trivially separable: Otsu's global threshold, connected components and DICE.
package otsu

// Threshold returns Otsu's threshold t for 8-bit pixels: the split {v <= t} / {v > t} that
// maximises the between-class variance (ties -> smallest t).
func Threshold(pix []uint8) int {
	var hist [256]float64
	for _, v := range pix {
		hist[v]++
	}
	total := float64(len(pix))
	sumAll := 0.0
	for i, h := range hist {
		sumAll += float64(i) * h
	}
	best, bestT := -1.0, 0
	w0, sum0 := 0.0, 0.0
	for t := 0; t < 255; t++ {
		w0 += hist[t]
		sum0 += float64(t) * hist[t]
		w1 := total - w0
		if w0 == 0 || w1 == 0 {
			continue
		}
		m0, m1 := sum0/w0, (sumAll-sum0)/w1
		between := w0 * w1 * (m0 - m1) * (m0 - m1)
		if between > best {
			best, bestT = between, t
		}
	}
	return bestT
}

// Components labels the 4-connected components of a binary mask (true = foreground).
// It returns labels (0 = background, 1..n) and each component's size (index 0 unused) and
// whether it touches the image border.
func Components(mask []bool, w, h int) (labels []int32, sizes []int, border []bool) {
	labels = make([]int32, w*h)
	sizes, border = []int{0}, []bool{false}
	stack := make([]int, 0, 64)
	for start := range mask {
		if !mask[start] || labels[start] != 0 {
			continue
		}
		id := int32(len(sizes))
		sizes, border = append(sizes, 0), append(border, false)
		labels[start] = id
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			sizes[id]++
			x, y := p%w, p/w
			if x == 0 || y == 0 || x == w-1 || y == h-1 {
				border[id] = true
			}
			for _, q := range [4]int{p - 1, p + 1, p - w, p + w} {
				if (q == p-1 && x == 0) || (q == p+1 && x == w-1) || q < 0 || q >= w*h {
					continue
				}
				if mask[q] && labels[q] == 0 {
					labels[q] = id
					stack = append(stack, q)
				}
			}
		}
	}
	return labels, sizes, border
}

// KeepLargest keeps the k largest components (skipping those touching the border when
// dropBorder is set) and returns the resulting mask.
func KeepLargest(mask []bool, w, h, k int, dropBorder bool) []bool {
	labels, sizes, border := Components(mask, w, h)
	keep := make([]bool, len(sizes))
	for n := 0; n < k; n++ {
		best := 0
		for id := 1; id < len(sizes); id++ {
			if !keep[id] && !(dropBorder && border[id]) && sizes[id] > sizes[best] {
				best = id
			}
		}
		if best == 0 {
			break
		}
		keep[best] = true
	}
	out := make([]bool, len(mask))
	for i, l := range labels {
		out[i] = keep[l]
	}
	return out
}

// Dice returns 2|A∩B|/(|A|+|B|), defined as 1 when both masks are empty.
func Dice(a, b []bool) float64 {
	inter, sa, sb := 0, 0, 0
	for i := range a {
		if a[i] {
			sa++
			if b[i] {
				inter++
			}
		}
		if b[i] {
			sb++
		}
	}
	if sa+sb == 0 {
		return 1
	}
	return 2 * float64(inter) / float64(sa+sb)
}

// Segment runs the baseline: Otsu threshold over the pixels selected by `within` (all pixels
// when nil), take the dark (v <= t) or bright (v > t) class inside `within`, keep the k largest
// 4-connected components (not touching the border when dropBorder).
func Segment(pix []uint8, w, h int, within []bool, dark bool, k int, dropBorder bool) []bool {
	sel := pix
	if within != nil {
		sel = nil
		for i, v := range pix {
			if within[i] {
				sel = append(sel, v)
			}
		}
		if len(sel) == 0 {
			return make([]bool, len(pix))
		}
	}
	t := Threshold(sel)
	m := make([]bool, len(pix))
	for i, v := range pix {
		if within != nil && !within[i] {
			continue
		}
		m[i] = (v <= uint8(t)) == dark
	}
	return KeepLargest(m, w, h, k, dropBorder)
}
