"""Run every part, print the table and the summary, write bench/results.json.

Exits 0 whether or not every figure is within budget (the summary line says); exits
non-zero only when the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import authorizer, coldstart, dynamo, hashing, mail, mfa, report, sessions
from bench.common import ROOT, Row, apply_environment

PARTS: dict[str, Callable[[], list[Row]]] = {
    "authorizer": authorizer.run,
    "dynamodb": dynamo.run,
    "email": mail.run,
    "sessions": sessions.run,
    "mfa": mfa.run,
    "coldstart": coldstart.run,
    "passwords": hashing.run,
}

METHODS = {
    "authorizer": (
        "functions/authorizer/app.py's lambda_handler on events/authorizer_valid.json; "
        "keys from a loopback stand-in of the Parameters and Secrets extension. Each "
        "round times every contender over the same batch of new tokens (order rotated); "
        "a figure is the median over rounds of its time per call / stock jwt.decode's in "
        "the same round (the budgets), or / the floor's or joserfc's (for information)."
    ),
    "DynamoDB": (
        "HTTP requests to DynamoDB counted by a botocore before-send.dynamodb hook on "
        "boto3's default session (inherited by the handlers' clients), under moto with "
        "the tables of template.yaml."
    ),
    "email": (
        "the same hooks, plus before-send.sqs for the mail jobs; signup, verify_email, "
        "password_reset and the mailer under moto with the template's tables and queues; "
        "the mailer run on one queued job at a time; budgets are DynamoDB round trips at "
        "most + SQS SendMessage exactly. Signup's answer time: whole handler calls for a "
        "new and a taken email, interleaved, median(new) / median(taken)."
    ),
    "sessions": (
        "the same hooks; login, the authorizer, sessions and account under moto; each "
        "route's events/ file with the authorizer handler's own context for a login's "
        "access token (sid included); budgets are DynamoDB round trips at most (+ SQS "
        "SendMessage exactly, for the notices); logout-all counted with 1 and 30 sessions."
    ),
    "mfa": (
        "the same hooks; login, verify (POST /auth/mfa/verify), refresh and the MFA "
        "function under moto, an account enrolled through the routes; budgets are DynamoDB "
        "round trips at most (+ SQS SendMessage exactly); the MFA login's round trips and "
        "answer time (login + verify, whole handler calls, 15 interleaved rounds, medians) "
        "as ratios to a password login's in the same run."
    ),
    "login": (
        "per warm login: whole handler call - time inside passwords.verify_password/"
        "hash_password - time from before-send to before-parse of each DynamoDB request "
        "(moto standing in for DynamoDB); median."
    ),
    "cold start": (
        "compileall first; per run a fresh `python -c` taking perf_counter around the "
        "import of functions/<name>/app.py by path (module init included, interpreter "
        "start-up excluded), and around each floor's imports (the authorizer's: jwt + "
        "cryptography EC + Logger() + http.client; an HTTP function's: boto3 + "
        "boto3.client('dynamodb') + jwt + Logger() + Metrics()) the same way; every round "
        "runs the floors and the functions interleaved (order rotated); a budget is the "
        "median over rounds of function / its floor in the same round, ≤ 1.25x."
    ),
    "passwords": "informational; one core of this machine.",
}


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "bench" / "results.json",
        help="where to write the results (default bench/results.json)",
    )
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    parser.add_argument(
        "--only",
        choices=sorted(PARTS),
        action="append",
        help="run only this part (repeatable); the default runs them all",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    apply_environment()  # the functions' environment; never the caller's AWS settings
    info = report.machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['python']}", flush=True)
    started = time.perf_counter()
    rows: list[Row] = []
    for name, part in PARTS.items():
        if arguments.only and name not in arguments.only:
            continue
        part_started = time.perf_counter()
        print(f"... {name}", end="", flush=True)
        rows += part()
        print(f" {time.perf_counter() - part_started:.1f} s", flush=True)
    seconds = time.perf_counter() - started
    print()
    print(report.text_table(rows))
    print()
    print(report.notes(rows))
    print()
    print("How:")
    for section in dict.fromkeys(row.section for row in rows):
        print(f"- {section}: {METHODS.get(section, '')}")
    if arguments.markdown:
        print()
        print(report.markdown_table(rows))
    within, budgeted = report.summary(rows)
    arguments.json.parent.mkdir(parents=True, exist_ok=True)
    report.write_json(arguments.json, rows, info, seconds)
    print()
    print(f"{within} of {budgeted} within budget ({seconds:.0f} s; results in {arguments.json})")
    for row in rows:
        if row.passed is False:
            print(f"  over budget: {row.figure}: {row.shown} (budget {row.budget})")
    sys.stdout.flush()
    return 0
