// Command dmseg reproduces the thesis "Diffusion Models and their Applications":
// data, diffusion schedules and samplers, networks, training, artifacts and figures.
//
// Every subcommand lives in its own file of this package and registers itself
// with register(); `dmseg help` lists them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/runners"
	_ "github.com/dmseg/dmseg/kernels/runners/bbdmseg"    // registers the bbdm-seg runner
	_ "github.com/dmseg/dmseg/kernels/runners/ddpmseg"    // registers the ddpm-seg runner
	_ "github.com/dmseg/dmseg/kernels/runners/ddpmuncond" // registers the ddpm-uncond runner
	_ "github.com/dmseg/dmseg/kernels/runners/latentseg"  // registers the ldm-seg and lbbdm-seg runners
	_ "github.com/dmseg/dmseg/kernels/runners/unetseg"    // registers the unet-seg runner
	_ "github.com/dmseg/dmseg/kernels/runners/vqgan"      // registers the vqgan runner
	"github.com/gomlx/gomlx/backends"
)

type command struct {
	name    string
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

// register adds a subcommand; called from init() of each cmd_*.go file.
func register(name, summary string, run func(args []string) error) {
	if _, dup := commands[name]; dup {
		panic("dmseg: duplicate command " + name)
	}
	commands[name] = command{name, summary, run}
}

func usage() {
	fmt.Fprintf(os.Stderr, `dmseg: reproduce "Diffusion Models and their Applications" (ELTE, 2024) in Go on GoMLX.

Usage: dmseg <command> [flags]   (dmseg <command> --help for a command's flags)

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, `
Backends (--backend or $%s): %s. "auto" picks CUDA, then the XLA CPU plugin, then pure Go.
`, engine.EnvBackend, strings.Join(engine.Names, ", "))
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "help" || name == "-h" || name == "--help" {
		if len(os.Args) > 2 {
			if c, ok := commands[os.Args[2]]; ok {
				_ = c.run([]string{"--help"})
				return
			}
		}
		usage()
		return
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "dmseg: unknown command %q\n\n", name)
		usage()
		os.Exit(2)
	}
	if err := c.run(os.Args[2:]); err != nil {
		if err == flag.ErrHelp {
			return
		}
		fmt.Fprintf(os.Stderr, "dmseg %s: %v\n", name, err)
		os.Exit(1)
	}
}

// newFlags makes a FlagSet whose --help prints the summary, usage line and flags.
func newFlags(name, usageLine, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: dmseg %s %s\n\n%s\n\nFlags:\n", name, usageLine, strings.TrimSpace(help))
		fs.PrintDefaults()
	}
	return fs
}

// inRange checks an integer flag against its allowed range, naming both.
func inRange(flag string, v, lo, hi int64) error {
	if v < lo || v > hi {
		return fmt.Errorf("--%s must be in %d..%d, got %d", flag, lo, hi, v)
	}
	return nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// flagSet reports whether a flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// backendFlag adds --backend to a FlagSet.
func backendFlag(fs *flag.FlagSet) *string {
	return fs.String("backend", "", "compute backend: "+strings.Join(engine.Names, ", ")+
		" (default $"+engine.EnvBackend+", else auto)")
}

// openBackend creates the backend and prints the one-line "backend=..." stamp (and any warning) to stderr.
func openBackend(requested string) (backends.Backend, engine.Info, error) {
	b, info, err := engine.New(requested)
	if err != nil {
		return nil, info, err
	}
	if info.Warning != "" {
		fmt.Fprintln(os.Stderr, "warning:", info.Warning)
	}
	fmt.Fprintln(os.Stderr, info.String())
	return b, info, nil
}

// artifactHelp is the help text of --artifact in the commands that use a trained model.
const artifactHelp = "artifact id, unique prefix, or experiment name: its newest artifact of the experiment's current " +
	"definition, as the tables use (required)"

// openArtifact opens --artifact: an experiment name means its newest artifact trained with the
// experiment's current definition (runners.CurrentArtifact), not a newer trial of an earlier
// or later definition; when every artifact of the experiment is of another definition, the
// newest one is used and a note on w names it.
func openArtifact(w io.Writer, root, ref string) (*artifacts.Artifact, error) {
	a, err := runners.CurrentArtifact(root, ref)
	if errors.Is(err, runners.ErrOutdated) {
		if a, err = artifacts.Open(root, ref); err == nil {
			fmt.Fprintf(w, "note: no artifact of %s matches its current definition; using its newest artifact %s\n", ref, a.Manifest.ID)
		}
	}
	return a, err
}
