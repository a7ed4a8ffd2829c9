// Package notebooktest executes the GoNB notebooks of notebooks/ headless as part of
// `go test`: it runs scripts/notebooks.sh in check-only mode (the committed notebooks
// are not rewritten) when Jupyter and GoNB are installed, skips otherwise, and fails
// when DMSEG_REQUIRE_NOTEBOOKS=1 and they are missing. It also checks the
// error detector (scripts/check-notebook.py) on synthetic executed notebooks.
package notebooktest
