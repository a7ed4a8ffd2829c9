#!/usr/bin/env python3
"""Fails (exit 1) if an executed notebook holds an error: an output of type "error", or a stream
output on stderr containing "panic:" or a line "exit status N" (GoNB reports Go panics and
os.Exit that way while nbconvert exits 0). Usage: check-notebook.py EXECUTED.ipynb [NAME]"""
import json, re, sys

path = sys.argv[1]
name = sys.argv[2] if len(sys.argv) > 2 else path
with open(path) as f:
    nb = json.load(f)
problems = []
for i, cell in enumerate(nb.get("cells", [])):
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "error":
            problems.append(f"cell {i}: error output {out.get('ename')}: {out.get('evalue')}")
        elif kind == "stream":
            text = "".join(out.get("text", "")) if isinstance(out.get("text"), list) else out.get("text", "")
            if out.get("name") == "stderr" and ("panic:" in text or re.search(r"(?m)^\s*exit status \d+", text)):
                problems.append(f"cell {i}: stderr: {text.strip()[:600]}")
if problems:
    print(f"check-notebook: {name}:", file=sys.stderr)
    for p in problems:
        print("  " + p, file=sys.stderr)
    sys.exit(1)
print(f"check-notebook: {name}: no errors in {len(nb.get('cells', []))} cells", file=sys.stderr)
