# Test program with per-key state: for each transfer, the running count and
# sum of amounts of its source account. Partitioned by "source", N instances
# give each account the same answers as one instance.
import os
import sys

import orjson

totals = {}
for line in sys.stdin.buffer:
    t = orjson.loads(line)
    n, s = totals.get(t["source"], (0, 0))
    n, s = n + 1, s + t["amount"]
    totals[t["source"]] = (n, s)
    os.write(1, orjson.dumps({"source": t["source"], "n": n, "sum": s}, option=orjson.OPT_APPEND_NEWLINE))
