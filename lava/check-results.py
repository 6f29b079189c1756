#!/usr/bin/env python3
"""Checks a lava-run job's results: lava-run prints its log as one
{"dt", "lvl", "msg"} object a line (YAML flow, or JSON) and writes the job's own result to
OUTPUT/result.yaml. Prints every result and exits 0 only when the job
passed and every CASE named (definition/case, e.g. 0_arch/uname-m) passed.

  check-results.py LOG RESULT_YAML CASE...
"""
import sys

import yaml


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    log, result_file, want = sys.argv[1], sys.argv[2], sys.argv[3:]
    results = []
    with open(log, errors="replace") as f:
        for line in f:
            if '"lvl": "results"' not in line and "lvl: results" not in line:
                continue
            try:
                entries = yaml.safe_load(line)
            except yaml.YAMLError:
                continue
            if isinstance(entries, dict):
                entries = [entries]
            for e in entries or []:
                if isinstance(e, dict) and e.get("lvl") == "results" and isinstance(e.get("msg"), dict):
                    results.append(e["msg"])
    ok = True
    print("lava-run results:")
    for r in results:
        print("  %s/%s: %s" % (r.get("definition"), r.get("case"), r.get("result")))
    with open(result_file) as f:
        job = yaml.safe_load(f)
    print("%s: %s" % (result_file, job))
    if job.get("result") != "pass":
        print("FAIL: the job did not pass: %s" % job.get("error_msg"))
        ok = False
    for name in want:
        definition, _, case = name.partition("/")
        got = [r for r in results if r.get("definition") == definition and r.get("case") == case]
        if not got:
            print("FAIL: no result for %s" % name)
            ok = False
        elif any(r.get("result") != "pass" for r in got):
            print("FAIL: %s did not pass" % name)
            ok = False
        else:
            print("PASS: %s" % name)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
