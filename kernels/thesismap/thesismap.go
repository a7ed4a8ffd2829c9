// Package thesismap maps every numbered equation, algorithm, table and figure
// of the thesis to the Go code, config or output that implements or
// regenerates it. The list of thesis items is typed in once (Items); the
// implementations are taken from doc comments, which cite items with a line
//
//	thesis: eq2 alg1-ddpm
//
// (keys of Items, separated by spaces or commas). Scan reads those lines from
// every non-test Go file under kernels/; Markdown writes thesis/MAP.md, which
// make reproduce regenerates and compares, so a removed or renamed function
// shows up as a changed map, and the package's test fails when an item that
// needs an implementation has none.
package thesismap

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Kinds of item.
const (
	Equation  = "equation"
	Algorithm = "algorithm"
	Table     = "table"
	Figure    = "figure"
)

// Item is one numbered item of the thesis.
type Item struct {
	Key     string // citation key, e.g. "eq2", "alg1-ddpm", "table6", "fig13"
	Kind    string
	Label   string // as printed, e.g. "Eq. (2)", "Algorithm 2 (in Figure 3)"
	Section string // thesis section
	What    string
	// Literature marks figures reproduced from papers (nothing to implement).
	Literature bool
	// Planned names the issue that will implement an item not implemented yet.
	Planned int
}

// Items are the thesis's numbered items. The thesis numbers its algorithms per
// figure: "Algorithm 2" is DDPM sampling in Figure 2, annealed Langevin
// dynamics in Figure 3 and BBDM sampling in Figure 6, so the keys say which.
var Items = []Item{
	{Key: "eq1", Kind: Equation, Label: "Eq. (1)", Section: "1.1", What: "forward step q(x_t|x_{t-1}) = N(sqrt(1-beta_t) x_{t-1}, beta_t I)"},
	{Key: "eq2", Kind: Equation, Label: "Eq. (2)", Section: "1.1", What: "marginal q(x_t|x_0) = N(sqrt(abar_t) x_0, (1-abar_t) I)"},
	{Key: "eq3", Kind: Equation, Label: "Eq. (3)", Section: "1.1", What: "variational bound on -log p(x_0), simplified to L_simple"},
	{Key: "eq4", Kind: Equation, Label: "Eq. (4)", Section: "1.3", What: "Brownian bridge p(x_t|x_0, x_T), the BBDM forward process"},
	{Key: "eq5", Kind: Equation, Label: "Eq. (5)", Section: "1.3", What: "BBDM reverse transition p_theta(x_{t-1}|x_t, y), starting from x_T = y"},
	{Key: "eq6", Kind: Equation, Label: "Eq. (6)", Section: "1.4", What: "DDIM's non-Markovian q_sigma(x_{t-1}|x_t, x_0)"},
	{Key: "eq7", Kind: Equation, Label: "Eq. (7)", Section: "1.4", What: "the predicted x_0: f_theta(x_t) = (x_t - sqrt(1-abar_t) eps_theta)/sqrt(abar_t)"},
	{Key: "eq8", Kind: Equation, Label: "Eq. (8)", Section: "1.4", What: "DDIM's generative process p_theta(x_{t-1}|x_t) = q_sigma(x_{t-1}|x_t, f_theta(x_t))"},
	{Key: "alg1-ddpm", Kind: Algorithm, Label: "Algorithm 1 (in Figure 2)", Section: "1.1", What: "DDPM training"},
	{Key: "alg2-ddpm", Kind: Algorithm, Label: "Algorithm 2 (in Figure 2)", Section: "1.1", What: "DDPM ancestral sampling"},
	{Key: "alg2-langevin", Kind: Algorithm, Label: "Algorithm 2 (in Figure 3)", Section: "1.2", What: "annealed Langevin dynamics (NCSN)"},
	{Key: "alg3-em", Kind: Algorithm, Label: "Algorithm 3 (in Figure 4)", Section: "1.2", What: "Euler-Maruyama for the reverse SDE"},
	{Key: "alg1-bbdm", Kind: Algorithm, Label: "Algorithm 1 (in Figure 6)", Section: "1.3", What: "BBDM training"},
	{Key: "alg2-bbdm", Kind: Algorithm, Label: "Algorithm 2 (in Figure 6)", Section: "1.3", What: "BBDM sampling"},
	{Key: "table1", Kind: Table, Label: "Table 1", Section: "3.4", What: "lung segmentation metrics of the DDPMs"},
	{Key: "table2", Kind: Table, Label: "Table 2", Section: "3.5", What: "infection segmentation metrics of the DDPMs"},
	{Key: "table3", Kind: Table, Label: "Table 3", Section: "4.1", What: "BBDM segmentation metrics", Planned: 12},
	{Key: "table4", Kind: Table, Label: "Table 4", Section: "5.2", What: "LDM segmentation metrics", Planned: 13},
	{Key: "table5", Kind: Table, Label: "Table 5", Section: "5.2", What: "LBBDM segmentation metrics", Planned: 13},
	{Key: "table6", Kind: Table, Label: "Table 6", Section: "appendix", What: "U-Net hyperparameters"},
	{Key: "table7", Kind: Table, Label: "Table 7", Section: "appendix", What: "BBDM hyperparameters", Planned: 12},
	{Key: "table8", Kind: Table, Label: "Table 8", Section: "appendix", What: "conditional DDPM hyperparameters"},
	{Key: "table9", Kind: Table, Label: "Table 9", Section: "appendix", What: "VQ-GAN f4 hyperparameters", Planned: 13},
	{Key: "table10", Kind: Table, Label: "Table 10", Section: "appendix", What: "VQ-GAN f8 hyperparameters", Planned: 13},
	{Key: "fig1", Kind: Figure, Label: "Figure 1", Section: "1.1", What: "forward and reverse processes (Ho et al.)", Literature: true},
	{Key: "fig2", Kind: Figure, Label: "Figure 2", Section: "1.1", What: "DDPM training and sampling algorithms (Ho et al.)", Literature: true},
	{Key: "fig3", Kind: Figure, Label: "Figure 3", Section: "1.2", What: "Langevin dynamics algorithm (Croitoru et al.)", Literature: true},
	{Key: "fig4", Kind: Figure, Label: "Figure 4", Section: "1.2", What: "Euler-Maruyama algorithm (Croitoru et al.)", Literature: true},
	{Key: "fig5", Kind: Figure, Label: "Figure 5", Section: "1.3", What: "BBDM vs DDPM (Li et al.)", Literature: true},
	{Key: "fig6", Kind: Figure, Label: "Figure 6", Section: "1.3", What: "BBDM algorithms (Li et al.)", Literature: true},
	{Key: "fig7", Kind: Figure, Label: "Figure 7", Section: "1.4", What: "accelerated DDIM process (Song et al.)", Literature: true},
	{Key: "fig8", Kind: Figure, Label: "Figure 8", Section: "1.5", What: "LDM architecture (Rombach et al.)", Literature: true},
	{Key: "fig9", Kind: Figure, Label: "Figure 9", Section: "1.5", What: "BBDM architecture (Li et al.)", Literature: true},
	{Key: "fig10", Kind: Figure, Label: "Figure 10", Section: "2.3", What: "synthetic chest X-rays from the DDPM"},
	{Key: "fig11", Kind: Figure, Label: "Figure 11", Section: "2.4", What: "U-Net architecture (Ronneberger et al.)", Literature: true},
	{Key: "fig12", Kind: Figure, Label: "Figure 12", Section: "2.4", What: "an image, noised, after one U-Net pass"},
	{Key: "fig13", Kind: Figure, Label: "Figure 13", Section: "3.4", What: "generated vs true lung masks (concatenation, addition)"},
	{Key: "fig14", Kind: Figure, Label: "Figure 14", Section: "3.5", What: "generated vs true infection masks (addition, concatenation)"},
	{Key: "fig15", Kind: Figure, Label: "Figure 15", Section: "4.1", What: "BBDM generated vs true masks", Planned: 12},
	{Key: "fig16", Kind: Figure, Label: "Figure 16", Section: "5.1", What: "CLAHE VQ-GAN reconstructions", Planned: 13},
	{Key: "fig17", Kind: Figure, Label: "Figure 17", Section: "5.2", What: "LDMs and LBBDMs across downsampling rates", Planned: 13},
}

// Lookup returns the item with a key.
func Lookup(key string) (Item, bool) {
	for _, it := range Items {
		if it.Key == key {
			return it, true
		}
	}
	return Item{}, false
}

// Cite is one implementation of an item: a documented Go declaration.
type Cite struct {
	Key    string
	Symbol string // e.g. "kernels/diffusion/ddpm.QSample", "kernels/experiments (package)"
	File   string // relative to the root, slash-separated
	Line   int
}

var tagLine = regexp.MustCompile(`(?m)^thesis:\s*(.+)$`)

// Scan reads every non-test Go file under root/kernels and returns the
// citations of their doc comments, sorted by key, then symbol. A key that is
// not in Items is an error naming the file and line.
func Scan(root string) ([]Cite, error) {
	var cites []Cite
	fset := token.NewFileSet()
	err := filepath.WalkDir(filepath.Join(root, "kernels"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		add := func(doc *ast.CommentGroup, symbol string) error {
			if doc == nil {
				return nil
			}
			for _, m := range tagLine.FindAllStringSubmatch(doc.Text(), -1) {
				for _, key := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ' ' || r == ',' }) {
					key = strings.TrimSuffix(key, ".")
					if _, ok := Lookup(key); !ok {
						return fmt.Errorf("%s:%d: %s cites unknown thesis item %q (known keys are in kernels/thesismap Items)", rel, fset.Position(doc.Pos()).Line, symbol, key)
					}
					cites = append(cites, Cite{Key: key, Symbol: symbol, File: rel, Line: fset.Position(doc.Pos()).Line})
				}
			}
			return nil
		}
		if err := add(f.Doc, pkg+" (package)"); err != nil {
			return err
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				name := d.Name.Name
				if d.Recv != nil && len(d.Recv.List) == 1 {
					name = recvName(d.Recv.List[0].Type) + "." + name
				}
				if err := add(d.Doc, pkg+"."+name); err != nil {
					return err
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					var names []string
					var doc *ast.CommentGroup
					switch s := s.(type) {
					case *ast.TypeSpec:
						names, doc = []string{s.Name.Name}, s.Doc
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names = append(names, n.Name)
						}
						doc = s.Doc
					}
					if doc == nil && len(d.Specs) == 1 {
						doc = d.Doc
					}
					if len(names) > 0 {
						if err := add(doc, pkg+"."+strings.Join(names, ", ")); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	})
	sort.SliceStable(cites, func(i, j int) bool {
		if cites[i].Key != cites[j].Key {
			return order(cites[i].Key) < order(cites[j].Key)
		}
		return cites[i].Symbol < cites[j].Symbol
	})
	return cites, err
}

func order(key string) int {
	for i, it := range Items {
		if it.Key == key {
			return i
		}
	}
	return len(Items)
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return "(*" + recvName(t.X) + ")"
	case *ast.Ident:
		return t.Name
	case *ast.IndexExpr:
		return recvName(t.X)
	}
	return "?"
}

// Missing lists the items that need an implementation (not literature, not
// planned) and have no citation.
func Missing(cites []Cite) []Item {
	have := map[string]bool{}
	for _, c := range cites {
		have[c.Key] = true
	}
	var out []Item
	for _, it := range Items {
		if !it.Literature && it.Planned == 0 && !have[it.Key] {
			out = append(out, it)
		}
	}
	return out
}

// Markdown is thesis/MAP.md: every item with its implementations (links
// relative to thesis/), or why it has none.
func Markdown(cites []Cite) string {
	by := map[string][]Cite{}
	for _, c := range cites {
		by[c.Key] = append(by[c.Key], c)
	}
	var b strings.Builder
	b.WriteString("# Thesis-to-code map\n\n")
	b.WriteString("Every numbered equation, algorithm, table and figure of the thesis, with the Go code that implements or regenerates it. " +
		"Generated by `make reproduce` (kernels/thesismap) from doc comments that carry a `thesis:` line; do not edit by hand.\n")
	kind := ""
	for _, it := range Items {
		if it.Kind != kind {
			kind = it.Kind
			fmt.Fprintf(&b, "\n## %ss\n\n| Item | Section | What | Implemented by |\n|---|---|---|---|\n", strings.ToUpper(kind[:1])+kind[1:])
		}
		var impl []string
		for _, c := range by[it.Key] {
			impl = append(impl, fmt.Sprintf("[`%s`](../%s)", c.Symbol, c.File)) // no line: the map changes only when citations do
		}
		cell := strings.Join(impl, "<br>")
		switch {
		case cell != "" && it.Planned > 0:
			cell += fmt.Sprintf("<br>our models: issue %d", it.Planned)
		case cell != "":
		case it.Literature:
			cell = "a figure from the literature (not regenerated)"
		case it.Planned > 0:
			cell = fmt.Sprintf("not yet: issue %d", it.Planned)
		default:
			cell = "**missing**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", it.Label, it.Section, strings.ReplaceAll(it.What, "|", "\\|"), cell)
	}
	return b.String()
}
