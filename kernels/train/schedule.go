package train

import (
	"fmt"
	"math"
)

// LRConfig selects the learning-rate schedule.
//
//   - "constant": LR at every step.
//   - "linear": linear decay from LR at step 1 to LRFinal at the last step
//     (the thesis's Ch. 4 uses 1e-5 -> 1e-7).
//   - "plateau": reduce-on-plateau. The mean training loss is taken over
//     windows of PlateauWindow steps; a window improves when its mean is below
//     best*(1-PlateauThreshold). After PlateauPatience windows without
//     improvement the rate is multiplied by PlateauFactor (not below
//     PlateauMinLR) and the count restarts.
type LRConfig struct {
	Schedule         string  `json:"schedule"`
	LR               float64 `json:"lr"`
	LRFinal          float64 `json:"lr_final,omitempty"`
	PlateauWindow    int64   `json:"plateau_window,omitempty"`
	PlateauPatience  int     `json:"plateau_patience,omitempty"`
	PlateauFactor    float64 `json:"plateau_factor,omitempty"`
	PlateauThreshold float64 `json:"plateau_threshold,omitempty"`
	PlateauMinLR     float64 `json:"plateau_min_lr,omitempty"`
}

// Validate reports a configuration that cannot work.
func (c LRConfig) Validate() error {
	if !(c.LR > 0) || math.IsInf(c.LR, 0) {
		return fmt.Errorf("learning rate must be a positive number, got %v", c.LR)
	}
	switch c.Schedule {
	case "constant", "":
	case "linear":
		if c.LRFinal < 0 || c.LRFinal > c.LR {
			return fmt.Errorf("linear schedule: lr_final must be in [0, lr], got %v", c.LRFinal)
		}
	case "plateau":
		if c.PlateauWindow < 1 || c.PlateauPatience < 1 || !(c.PlateauFactor > 0 && c.PlateauFactor < 1) {
			return fmt.Errorf("plateau schedule needs plateau_window >= 1, plateau_patience >= 1 and 0 < plateau_factor < 1 (got %d, %d, %v)",
				c.PlateauWindow, c.PlateauPatience, c.PlateauFactor)
		}
	default:
		return fmt.Errorf("unknown learning-rate schedule %q (want constant, linear or plateau)", c.Schedule)
	}
	return nil
}

// LRState is the schedule's host-side state; it is saved in every checkpoint
// so a resumed run takes exactly the same rates.
type LRState struct {
	Current   float64 `json:"current"`
	Best      float64 `json:"best"` // best window mean so far (valid when HasBest)
	HasBest   bool    `json:"has_best"`
	BadWins   int     `json:"bad_windows"`
	WinSum    float64 `json:"window_sum"`
	WinCount  int64   `json:"window_count"`
	Reduction int     `json:"reductions"`
}

// NewLRState is the state before the first step.
func NewLRState(c LRConfig) LRState {
	return LRState{Current: c.LR}
}

// Rate returns the learning rate for step (1-based) of totalSteps.
func (c LRConfig) Rate(s *LRState, step, totalSteps int64) float64 {
	switch c.Schedule {
	case "linear":
		if totalSteps <= 1 {
			return c.LR
		}
		f := float64(step-1) / float64(totalSteps-1)
		return c.LR + (c.LRFinal-c.LR)*f
	case "plateau":
		return s.Current
	default:
		return c.LR
	}
}

// Observe feeds the loss of a finished step to the schedule (used by "plateau").
func (c LRConfig) Observe(s *LRState, loss float64) {
	if c.Schedule != "plateau" {
		return
	}
	s.WinSum += loss
	s.WinCount++
	if s.WinCount < c.PlateauWindow {
		return
	}
	mean := s.WinSum / float64(s.WinCount)
	s.WinSum, s.WinCount = 0, 0
	if !s.HasBest || mean < s.Best*(1-c.PlateauThreshold) {
		s.Best, s.HasBest = mean, true
		s.BadWins = 0
		return
	}
	s.BadWins++
	if s.BadWins >= c.PlateauPatience {
		s.Current = math.Max(s.Current*c.PlateauFactor, c.PlateauMinLR)
		s.BadWins = 0
		s.Reduction++
	}
}
