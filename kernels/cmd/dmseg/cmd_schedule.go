package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
)

func init() {
	register("schedule", "dump DDPM / DDIM / BBDM noise schedules (float64, 0-based timesteps)", runSchedule)
}

const scheduleHelp = `Prints a diffusion schedule computed in float64, indexed by the 0-based timestep of
the reference code (CompVis latent-diffusion, official BBDM): index i is the thesis's t = i+1 for DDPM.

  dmseg schedule ddpm --beta linear|sqrt-linear|cosine --steps T [--json]
      keys: betas, alphas, alphas_cumprod, alphas_cumprod_prev, posterior_variance,
            posterior_mean_coef1 (x_0), posterior_mean_coef2 (x_t)
      linear = Ho et al. linspace(1e-4, 0.02, T); sqrt-linear = CompVis "linear"
      (linspace of sqrt(beta), squared); cosine = Nichol & Dhariwal, s = 0.008.
  dmseg schedule ddim --steps T --sample-steps S --spacing compvis|leading|trailing|linspace [--json]
      key: timesteps, in sampling order (descending); the last step goes to clean data.
  dmseg schedule bbdm --mt linear|sin --steps T --max-var V --sample-steps S [--json]
      keys: m, delta, delta_cond (delta_{t|t-1}), posterior_variance, c_xt, c_yt, c_et
      (paper coefficients: mean = c_xt x_t + c_yt y - c_et * grad-prediction), timesteps
      (the official skip-step list; S >= T gives the full chain).`

func runSchedule(args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		fmt.Fprintf(os.Stderr, "Usage: dmseg schedule ddpm|ddim|bbdm [flags]\n\n%s\n\nRun `dmseg schedule KIND --help` for the flags of one kind.\n", scheduleHelp)
		if len(args) == 0 {
			return fmt.Errorf("missing schedule kind (ddpm, ddim or bbdm)")
		}
		return flag.ErrHelp
	}
	kind, rest := args[0], args[1:]
	fs := newFlags("schedule "+kind, "[flags]", scheduleHelp)
	steps := fs.Int("steps", 1000, "number of diffusion timesteps T")
	asJSON := fs.Bool("json", false, "print JSON (else a short table)")
	var out map[string]any
	switch kind {
	case "ddpm":
		beta := fs.String("beta", schedule.BetaLinear, "beta schedule: "+strings.Join(schedule.BetaNames, ", "))
		if err := fs.Parse(rest); err != nil {
			return err
		}
		s, err := schedule.NewDDPM(*beta, *steps)
		if err != nil {
			return err
		}
		out = map[string]any{
			"kind": "ddpm", "beta": s.Name, "steps": s.T,
			"betas": s.Betas, "alphas": s.Alphas, "alphas_cumprod": s.AlphasCumprod,
			"alphas_cumprod_prev": s.AlphasCumprodPrev, "posterior_variance": s.PosteriorVariance,
			"posterior_mean_coef1": s.PosteriorMeanCoef1, "posterior_mean_coef2": s.PosteriorMeanCoef2,
		}
	case "ddim":
		S := fs.Int("sample-steps", 50, "number of DDIM steps S")
		spacing := fs.String("spacing", schedule.SpacingCompVis, "timestep spacing: "+strings.Join(schedule.SpacingNames, ", "))
		if err := fs.Parse(rest); err != nil {
			return err
		}
		ts, err := schedule.DDIMTimesteps(*spacing, *steps, *S)
		if err != nil {
			return err
		}
		out = map[string]any{"kind": "ddim", "steps": *steps, "sample_steps": *S, "spacing": *spacing, "timesteps": ts}
	case "bbdm":
		mt := fs.String("mt", schedule.MtLinear, "m_t schedule: "+strings.Join(schedule.MtNames, ", ")+
			` ("sin" is the official code's exponential schedule)`)
		maxVar := fs.Float64("max-var", 1, "max_var s in delta_t = 2 s (m_t - m_t^2)")
		S := fs.Int("sample-steps", 200, "number of sampling steps (official skip-step rule; >= T: full chain)")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		s, err := schedule.NewBBDM(*mt, *steps, *maxVar)
		if err != nil {
			return err
		}
		ts, err := schedule.BBDMTimesteps(*steps, *S)
		if err != nil {
			return err
		}
		out = map[string]any{
			"kind": "bbdm", "mt": s.MtName, "steps": s.T, "max_var": s.MaxVar, "sample_steps": *S,
			"m": s.M, "delta": s.Delta, "delta_cond": s.DeltaCond, "posterior_variance": s.PosteriorVariance,
			"c_xt": s.CXt, "c_yt": s.CYt, "c_et": s.CEt, "timesteps": ts,
		}
	default:
		return fmt.Errorf("unknown schedule kind %q (want ddpm, ddim or bbdm)", kind)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		return enc.Encode(out)
	}
	printScheduleTable(out)
	return nil
}

// printScheduleTable prints the scalars and, for every array, its first three and last values.
func printScheduleTable(out map[string]any) {
	var keys []string
	for k, v := range out {
		switch v.(type) {
		case []float64, []int:
			keys = append(keys, k)
		default:
			fmt.Printf("%-22s %v\n", k, v)
		}
	}
	sortStrings(keys)
	for _, k := range keys {
		switch a := out[k].(type) {
		case []float64:
			n := len(a)
			fmt.Printf("%-22s [%d] %.6g %.6g %.6g ... %.6g\n", k, n, a[0], a[min(1, n-1)], a[min(2, n-1)], a[n-1])
		case []int:
			n := len(a)
			if n <= 12 {
				fmt.Printf("%-22s [%d] %v\n", k, n, a)
			} else {
				fmt.Printf("%-22s [%d] %v ... %v\n", k, n, a[:6], a[n-3:])
			}
		}
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
