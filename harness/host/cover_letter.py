#!/usr/bin/env python3
"""The cover letter patch from patches/cover-letter.txt (called by export.sh)."""
import re, sys
path, subject, date, blurb = sys.argv[1:5]
text = open(path).read()
text = text.replace("*** SUBJECT HERE ***", subject, 1)
text = text.replace("*** BLURB HERE ***", blurb.rstrip("\n"), 1)
text = re.sub(r"^Date: .*$", "Date: " + date, text, count=1, flags=re.M)
open(path, "w").write(text)
