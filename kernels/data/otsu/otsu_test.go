package otsu

import "testing"

func TestThresholdBimodal(t *testing.T) {
	// 30 pixels at 40, 70 at 200: any t in [40,199] separates; the between-class variance is
	// the same for all of them, so the smallest (40) is returned.
	pix := make([]uint8, 0, 100)
	for i := 0; i < 30; i++ {
		pix = append(pix, 40)
	}
	for i := 0; i < 70; i++ {
		pix = append(pix, 200)
	}
	if got := Threshold(pix); got != 40 {
		t.Fatalf("Threshold = %d, want 40", got)
	}
	// Three levels 0,100,255 (equal counts): hand computation gives best split {0,100}|{255}?
	// between(t=0) = 1/3*2/3*(0-177.5)^2 = 7001.4; between(t=100) = 2/3*1/3*(50-255)^2 = 9338.9.
	pix = []uint8{0, 100, 255}
	if got := Threshold(pix); got != 100 {
		t.Fatalf("Threshold three-level = %d, want 100", got)
	}
}

func TestComponentsAndLargest(t *testing.T) {
	// 5x4 mask: a 3-pixel L at the border, a 4-pixel square inside... (4-connectivity:
	// diagonal pixels are separate components).
	s := []string{
		"#....",
		"#.##.",
		"..##.",
		"....#",
	}
	w, h := 5, 4
	m := make([]bool, w*h)
	for y, row := range s {
		for x, c := range row {
			m[y*w+x] = c == '#'
		}
	}
	_, sizes, border := Components(m, w, h)
	if len(sizes) != 4 || sizes[1] != 2 || sizes[2] != 4 || sizes[3] != 1 || !border[1] || border[2] || !border[3] {
		t.Fatalf("sizes %v border %v", sizes, border)
	}
	k := KeepLargest(m, w, h, 1, false)
	if Dice(k, []bool{false, false, false, false, false, false, false, true, true, false, false, false, true, true, false, false, false, false, false, false}) != 1 {
		t.Fatalf("largest component wrong: %v", k)
	}
	if d := Dice([]bool{true, true, false}, []bool{true, false, false}); d != 2.0/3 {
		t.Fatalf("Dice = %v want 2/3", d)
	}
	if Dice([]bool{false}, []bool{false}) != 1 || Dice([]bool{true}, []bool{false}) != 0 {
		t.Fatal("Dice empty-case convention")
	}
}
