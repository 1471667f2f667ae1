# The bank-transfer program (transfers.py) speaking Sluice's checkpoint
# protocol (docs/exec.md), so recovery replays nothing:
#   {"sluice":"restore","state":S}  -> first line after a restart: take S as the balances
#   {"sluice":"checkpoint","id":N}  -> reply {"sluice":"state","id":N,"state":<balances>}
#                                      (after every outcome before it: os.write does not buffer)
#
#   sluice exec --protocol --input transfers --output transfer-outcomes -- python3 examples/exec/transfers_protocol.py
import os
import sys

import orjson

balances = {}

for line in sys.stdin.buffer:
    if not line.strip():
        continue
    t = orjson.loads(line)
    control = t.get("sluice")
    if control == "restore":
        balances = t["state"]
        continue
    if control == "checkpoint":
        reply = {"sluice": "state", "id": t["id"], "state": balances}
        os.write(1, orjson.dumps(reply, option=orjson.OPT_APPEND_NEWLINE))
        continue
    src, tgt, amount = t["source"], t["target"], t["amount"]
    if src == "sweep" or balances.get(src, 0) >= amount:
        balances[src] = balances.get(src, 0) - amount
        balances[tgt] = balances.get(tgt, 0) + amount
        t["outcome"] = "approve"
    else:
        t["outcome"] = "deny"
    os.write(1, orjson.dumps(t, option=orjson.OPT_APPEND_NEWLINE))
