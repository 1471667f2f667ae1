# Test program: echoes each input with a running count ("n"). A line with
# "poison": true makes it fail (exit 3) — or, with argv[1] == "not-json",
# print a line that is not JSON — unless argv[1] == "fixed".
import os
import sys

import orjson

mode = sys.argv[1] if len(sys.argv) > 1 else "exit"
n = 0
for line in sys.stdin.buffer:
    v = orjson.loads(line)
    if isinstance(v, dict) and v.get("poison") and mode != "fixed":
        if mode == "not-json":
            os.write(1, b"this is not json\n")
            continue
        sys.exit(3)
    n += 1
    os.write(1, orjson.dumps({"n": n, "v": v}, option=orjson.OPT_APPEND_NEWLINE))
