# The bank-transfer program from "Event Streaming Like it's 1978", as plain
# Python: JSON lines in, JSON lines out, balances in memory. Sluice runs it
# unmodified:  sluice exec --input transfers --output transfer-outcomes -- python3 examples/exec/transfers.py
import os
import sys

import orjson

balances = {}

for line in sys.stdin.buffer:
    if not line.strip():
        continue
    t = orjson.loads(line)
    src, tgt, amount = t["source"], t["target"], t["amount"]
    if src == "sweep" or balances.get(src, 0) >= amount:
        balances[src] = balances.get(src, 0) - amount
        balances[tgt] = balances.get(tgt, 0) + amount
        t["outcome"] = "approve"
    else:
        t["outcome"] = "deny"
    os.write(1, orjson.dumps(t, option=orjson.OPT_APPEND_NEWLINE))
