package schedule

import (
	"fmt"
	"math"
	"sort"
)

// DDIM timestep spacings accepted by DDIMTimesteps.
const (
	// SpacingCompVis is CompVis's "uniform" ddim_discretize: range(0, T, T/S) + 1.
	// It gives 1, 1+c, 1+2c, ... (c = T div S): the +1 offset makes the last
	// network call at t = 1, not 0, and when S does not divide T it may return
	// more than S steps. Whenever c divides T-1 the +1 offset pushes the largest
	// timestep to T, one past the last index (an IndexError in the reference code):
	// for S = T (c = 1) this returns the full chain T-1, ..., 0 instead, like the
	// other spacings at S = T; every other such case (e.g. T = 1000 with S = 3, or
	// any T/2 < S < T) is rejected with an error suggesting "trailing" or "leading".
	SpacingCompVis = "compvis"
	// SpacingLeading is diffusers' "leading" (steps_offset 0): 0, r, 2r, ..., (S-1) r with r = T div S.
	SpacingLeading = "leading"
	// SpacingTrailing is diffusers' "trailing": round(T - k T/S) - 1 for k = 0..S-1; starts at T-1.
	SpacingTrailing = "trailing"
	// SpacingLinspace is diffusers' "linspace": round(linspace(0, T-1, S)); includes both 0 and T-1.
	SpacingLinspace = "linspace"
)

// SpacingNames lists the valid DDIM spacing names.
var SpacingNames = []string{SpacingCompVis, SpacingLeading, SpacingTrailing, SpacingLinspace}

// DDIMTimesteps returns the S (or, for "compvis", about S) 0-based timesteps
// visited by DDIM in SAMPLING order (descending). Each step goes from
// timesteps[k] to timesteps[k+1]; the last one goes to clean data (index -1).
func DDIMTimesteps(spacing string, T, S int) ([]int, error) {
	if T < 1 || T > MaxTimesteps {
		return nil, fmt.Errorf("schedule: DDIM needs T in 1..%d, got %d", MaxTimesteps, T)
	}
	if S < 1 || S > T {
		return nil, fmt.Errorf("schedule: DDIM needs 1 <= sample steps <= T=%d, got %d", T, S)
	}
	var ts []int
	switch spacing {
	case SpacingCompVis:
		c := T / S
		if S == T { // c = 1: the +1 offset would give 1..T; use the full chain T-1..0
			for t := 0; t < T; t++ {
				ts = append(ts, t)
			}
			break
		}
		for t := 0; t < T; t += c {
			if t+1 >= T {
				return nil, fmt.Errorf("schedule: DDIM spacing %q with T=%d, S=%d gives timestep %d = T, one past the last "+
					"index: CompVis's rule range(0, T, c) + 1 with c = T div S = %d adds its +1 offset to %d, the last "+
					"multiple of c below T (this happens whenever c divides T-1); use --spacing trailing or leading, "+
					"or an S for which c does not divide T-1", spacing, T, S, t+1, c, t)
			}
			ts = append(ts, t+1)
		}
	case SpacingLeading:
		r := T / S
		for k := 0; k < S; k++ {
			ts = append(ts, k*r)
		}
	case SpacingTrailing:
		r := float64(T) / float64(S)
		for k := 0; k < S; k++ {
			ts = append(ts, int(math.RoundToEven(float64(T)-float64(k)*r))-1)
		}
	case SpacingLinspace:
		for k := 0; k < S; k++ {
			ts = append(ts, int(math.RoundToEven(lin(0, float64(T-1), k, S))))
		}
	default:
		return nil, fmt.Errorf("schedule: unknown DDIM spacing %q (want one of %v)", spacing, SpacingNames)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(ts)))
	for k, t := range ts {
		if t < 0 || t >= T {
			return nil, fmt.Errorf("schedule: DDIM spacing %q with T=%d, S=%d gives timestep %d outside [0, %d)",
				spacing, T, S, t, T)
		}
		if k > 0 && t == ts[k-1] {
			return nil, fmt.Errorf("schedule: DDIM spacing %q with T=%d, S=%d repeats timestep %d", spacing, T, S, t)
		}
	}
	return ts, nil
}
