#!/usr/bin/env python3
"""Prints one line per test of an llmspec --json results file: verdict, suite and test, and what
decided it (for a failure: the first check's subject and expectation; for an error or a skip: its
message with run-specific numbers removed). The lines are stable from run to run, so a change in
any verdict shows as a diff against the expected-verdicts file.

An expected-verdicts file may annotate a line: `<line>  # why it may change`, for instance a verdict
that depends on the CPU. Annotations are left out of the comparison and kept by UPDATE=1.

  verdicts.py RESULTS.json                 the verdict lines of a run
  verdicts.py --strip EXPECTED             the expected lines without their annotations
  verdicts.py --keep-notes NEW EXPECTED    NEW's lines with EXPECTED's annotations carried over
"""
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


NOTE = "  # "


def split_note(text: str) -> tuple[str, str]:
    verdict, _, note = text.rstrip("\n").partition(NOTE)
    return verdict.rstrip(), note


def main() -> None:
    if sys.argv[1] == "--strip":
        for text in open(sys.argv[2]):
            print(split_note(text)[0])
        return
    if sys.argv[1] == "--keep-notes":
        notes = {}
        for text in open(sys.argv[3]):
            verdict, note = split_note(text)
            # A note belongs to the test, whatever its verdict now.
            notes[verdict.split(None, 1)[-1].split("  [")[0]] = note
        for text in open(sys.argv[2]):
            verdict = text.rstrip("\n")
            note = notes.get(verdict.split(None, 1)[-1].split("  [")[0])
            print(verdict + (NOTE + note if note else ""))
        return
    results = json.load(open(sys.argv[1]))
    for suite in results["suites"]:
        for test in suite["tests"]:
            print(line(suite["suite"], test))


if __name__ == "__main__":
    main()
