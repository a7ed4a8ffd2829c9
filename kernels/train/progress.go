package train

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/dmseg/dmseg/kernels/atomicfile"
)

// progressBar draws "step/total [====>   ] loss img/s ETA" on a terminal
// (rewriting one line) or prints a line every 10 s to a log file.
type progressBar struct {
	w        io.Writer
	total    int64
	tty      bool
	last     time.Time
	lossEMA  float64
	haveLoss bool
	drawn    bool
	// stepsPerEpoch > 0 adds the epoch to the line.
	stepsPerEpoch int64
}

func newProgressBar(w io.Writer, total, start int64) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressBar{w: w, total: total, tty: tty}
}

func (p *progressBar) update(step int64, loss, imgPerSec, elapsed float64, doneThisRun int64) {
	if p.haveLoss {
		p.lossEMA = 0.98*p.lossEMA + 0.02*loss
	} else {
		p.lossEMA, p.haveLoss = loss, true
	}
	now := time.Now()
	interval := 10 * time.Second
	if p.tty {
		interval = 200 * time.Millisecond
	}
	if step != p.total && now.Sub(p.last) < interval {
		return
	}
	p.last = now
	eta := "?"
	if doneThisRun > 0 {
		eta = fmtDur(elapsed / float64(doneThisRun) * float64(p.total-step))
	}
	const width = 24
	fill := int(float64(width) * float64(step) / float64(p.total))
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	line := fmt.Sprintf("step %d/%d [%s] loss %.4g (smoothed %.4g) %.1f img/s ETA %s",
		step, p.total, bar, loss, p.lossEMA, imgPerSec, eta)
	if p.stepsPerEpoch > 0 {
		line = fmt.Sprintf("epoch %.2f ", float64(step)/float64(p.stepsPerEpoch)) + line
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progressBar) finish() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func fmtDur(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	h := int(d.Hours())
	m := int(d.Minutes()) % 60
	sec := int(d.Seconds()) % 60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, sec)
	}
	return fmt.Sprintf("%dm%02ds", m, sec)
}

const csvHeader = "step,loss,lr,grad_norm,train_seconds"

func writeCSVHeader(path string) error {
	return atomicfile.Write(path, []byte(csvHeader+"\n"))
}

// checkHistory checks that loss.csv holds one row for every logged step up to
// the checkpoint's step (every multiple of LogEvery), in order: a deleted,
// shortened or edited history would give the artifact a gappy loss curve.
func checkHistory(path string, step int64, cfg Config) error {
	rows, err := ReadLossCSV(path)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%s is missing but the checkpoint is at step %d: the loss history is lost; start over without --resume", path, step)
		}
		return err
	}
	every := max(cfg.Resolved().LogEvery, 1)
	want := int64(1)
	n := int64(0)
	for _, r := range rows {
		if r.Step > step {
			break // written after the checkpoint: dropped on resume
		}
		want = (n + 1) * every
		if r.Step != want {
			return fmt.Errorf("%s: row %d is step %d, want %d: the loss history before the checkpoint (step %d) was changed; restore it or start over without --resume", path, n+1, r.Step, want, step)
		}
		n++
	}
	if n != step/every {
		return fmt.Errorf("%s holds %d rows up to step %d, the checkpoint at step %d needs %d: the loss history was shortened; restore it or start over without --resume", path, n, n*every, step, step/every)
	}
	return nil
}

// truncateCSV drops the rows after step (written after the last checkpoint),
// so a resumed run appends exactly where the checkpoint stands.
func truncateCSV(path string, step int64) error {
	rows, err := ReadLossCSV(path)
	if err != nil {
		if os.IsNotExist(err) {
			return writeCSVHeader(path)
		}
		return err
	}
	var b strings.Builder
	b.WriteString(csvHeader + "\n")
	for _, r := range rows {
		if r.Step <= step {
			b.WriteString(r.line)
			b.WriteByte('\n')
		}
	}
	return atomicfile.Write(path, []byte(b.String()))
}

// LossRow is one row of loss.csv.
type LossRow struct {
	Step         int64
	Loss, LR     float64
	GradNorm     float64
	TrainSeconds float64
	line         string
}

// ReadLossCSV reads a loss.csv written by Run.
func ReadLossCSV(path string) ([]LossRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var rows []LossRow
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if lineNo == 1 {
			if line != csvHeader {
				return nil, fmt.Errorf("%s: unexpected header %q (want %q)", path, line, csvHeader)
			}
			continue
		}
		if line == "" {
			continue
		}
		fs := strings.Split(line, ",")
		if len(fs) != 5 {
			return nil, fmt.Errorf("%s:%d: want 5 fields, got %d", path, lineNo, len(fs))
		}
		var r LossRow
		var errs [5]error
		r.Step, errs[0] = strconv.ParseInt(fs[0], 10, 64)
		r.Loss, errs[1] = strconv.ParseFloat(fs[1], 64)
		r.LR, errs[2] = strconv.ParseFloat(fs[2], 64)
		r.GradNorm, errs[3] = strconv.ParseFloat(fs[3], 64)
		r.TrainSeconds, errs[4] = strconv.ParseFloat(fs[4], 64)
		for _, e := range errs {
			if e != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, lineNo, e)
			}
		}
		r.line = line
		rows = append(rows, r)
	}
	return rows, sc.Err()
}
