# The bank-transfer program from "Event Streaming Like it's 1978", in jq: one
# transfer per input, balances kept in the foreach state ([balances, outcome]),
# one outcome per transfer. Run with -n (transfers come from `inputs`) and -c
# (one JSON line per outcome):
#
#   jq -cn -f examples/exec/transfers.jq < transfers.jsonl
#   sluice exec --input transfers --output transfer-outcomes -- jq -cn -f examples/exec/transfers.jq
#
# Balances are doubles, added and subtracted in input order: the same answers,
# bit for bit, as the Python and Node versions.
foreach inputs as $t ([{}, null];
  (.[0][$t.source] // 0) as $have
  | if $t.source == "sweep" or $have >= $t.amount then
      # (the target's balance is read before setpath: a later read would copy the object)
      (if $t.target == $t.source then $have - $t.amount else .[0][$t.target] // 0 end) as $to
      | [(.[0] | setpath([$t.source]; $have - $t.amount) | setpath([$t.target]; $to + $t.amount)), "approve"]
    else
      [.[0], "deny"]
    end;
  $t + {outcome: .[1]})
