package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/runners"
)

func init() {
	register("train", "train a named experiment and store a versioned artifact", runTrain)
}

func runTrain(args []string) error {
	fs := newFlags("train", "--experiment NAME [--steps N] [--resume] [--out DIR]", `
Trains a named experiment (a fully specified configuration: data, network, diffusion, optimiser,
sampling) on the chosen backend. Checkpoints go to --out (default .cache/runs/NAME) atomically
every few minutes; Ctrl-C (SIGINT/SIGTERM) writes a checkpoint and stops; --resume continues
bit-identically on the same backend. When the step budget is reached the run is stored as
artifacts/<id>/ (see dmseg artifacts). A NaN/Inf loss stops the run and keeps the last good
checkpoint.

Experiments: `+strings.Join(experiments.Names(), ", "))
	name := fs.String("experiment", "", "experiment name (required)")
	steps := fs.Int64("steps", 0, "override the experiment's step budget (changes the config hash)")
	data := fs.String("data", "", "train a segmentation experiment on COVID-QU-Ex instead of the phantom: covidqu:/path/to/download "+
		"(Kaggle layout; the experiment's name gains -covidqu)")
	resume := fs.Bool("resume", false, "continue from the checkpoint in --out")
	out := fs.String("out", "", "working folder for checkpoints and the loss curve (default .cache/runs/NAME)")
	stopAt := fs.Int64("stop-at", 0, "stop with a checkpoint after this step (for testing resume)")
	artifactsRoot := fs.String("artifacts", "", "artifacts folder (default $DMSEG_ARTIFACTS or <checkout>/artifacts)")
	devices := fs.Int("devices", 1, "train data-parallel on N devices of the backend (the XLA CPU plugin exposes several; batch size must be a multiple of N)")
	list := fs.Bool("list", false, "list the experiments with their descriptions and exit")
	be := backendFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *list {
		for _, n := range experiments.Names() {
			e, _ := experiments.Get(n)
			fmt.Printf("%s (kind %s)\n    model %s, %d steps x batch %d, lr %s %g\n    %s\n", n, e.Kind, e.Model, e.Train.Steps, e.Train.BatchSize, e.Train.LR.Schedule, e.Train.LR.LR, e.Description)
		}
		fmt.Println("\nExperiment kinds (runner: implemented, or the issue that implements it):")
		for _, s := range experiments.KindSpecs {
			state := fmt.Sprintf("planned, issue %d", s.Issue)
			if _, err := runners.Get(s.Kind); err == nil {
				state = "implemented"
			}
			fmt.Printf("  %-12s chapter %-12s %s\n      data: %s\n      loss: %s; sampler: %s\n      evaluation: %s\n", s.Kind, s.Chapter, state, s.Data, s.Loss, s.Sampler, s.Evaluation)
		}
		return nil
	}
	if *name == "" {
		fs.Usage()
		return errors.New("--experiment is required")
	}
	e, err := experiments.Get(*name)
	if err != nil {
		return err
	}
	if flagSet(fs, "steps") {
		if err := inRange("steps", *steps, 1, 1e9); err != nil {
			return err
		}
		e.Train.Steps = *steps
	}
	if err := inRange("stop-at", *stopAt, 0, 1e9); err != nil {
		return err
	}
	if err := inRange("devices", int64(*devices), 1, 1024); err != nil {
		return err
	}
	if *data != "" {
		root, ok := strings.CutPrefix(*data, "covidqu:")
		if !ok || root == "" {
			return fmt.Errorf("--data %q: want covidqu:/path/to/COVID-QU-Ex", *data)
		}
		if e, err = e.WithCOVIDQU(root); err != nil {
			return err
		}
	}
	backend, info, err := openBackend(*be)
	if err != nil {
		return err
	}
	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "\nsignal received: checkpointing after this step (send again to abort)")
		stop.Store(true)
		<-sig
		os.Exit(130)
	}()
	r, err := runners.Get(e.Kind)
	if err != nil {
		return err
	}
	res, err := r.Train(e, runners.TrainOptions{
		Backend: backend, Info: info, WorkDir: *out, ArtifactsRoot: *artifactsRoot,
		Resume: *resume, StopAtStep: *stopAt, Stop: stop.Load, Devices: *devices,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s; trained %d steps in %.0f s (%.1f img/s this run)\n", info, res.Train.Step, res.Train.TrainSeconds, res.Train.ImagesPerSec)
	if res.Artifact != nil {
		fmt.Println(res.Artifact.Manifest.ID)
	}
	return nil
}
