#!/usr/bin/env python3
"""Prints one line per test of an llmspec --json results file: verdict, suite and test, and what
decided it (for a failure: the first check's subject and expectation; for an error or a skip: its
message with run-specific numbers removed). The lines are stable from run to run, so a change in
any verdict shows as a diff against the expected-verdicts file."""
import json
import re
import sys


def normalize(text: str) -> str:
    text = re.sub(r"https?://[^\s/]+", "URL", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    return text


def line(suite: str, test: dict) -> str:
    verdict = test["verdict"]
    # An advisory case never fails a run, and whether a base model meets it may vary from run
    # to run: it is tracked as passing.
    if verdict == "advisory":
        verdict = "passed"
    detail = ""
    if verdict == "failed" and test["failures"]:
        f = test["failures"][0]
        detail = f"{f['subject']}: expected {f['expected']}"
    elif verdict in ("error", "skipped"):
        detail = test["message"]
    return f"{verdict:8} {suite} :: {test['name']}" + (f"  [{normalize(detail)}]" if detail else "")


def main() -> None:
    results = json.load(open(sys.argv[1]))
    for suite in results["suites"]:
        for test in suite["tests"]:
            print(line(suite["suite"], test))


if __name__ == "__main__":
    main()
