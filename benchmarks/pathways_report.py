"""The table ``benchmarks.pathways`` prints at the end: per backend and runner set-up, careflow's median against the
raw flow's, their ratio and the issue's target (latency ≤ 1.2 × raw, throughput ≥ 0.8 × raw).

Input (``results``): backend → set-up (``serve``, ``2 workers``) → side (``careflow``, ``raw``) →
``{"sequence": [[start, resume 1→2, resume 2→3, resume 3→4] seconds, …], "batch": [[all suspended s, all first
notified s, how many waited, longest task opened → message sent s, longest message stored → sent s], …]}``; careflow's side also
has ``"opened_to_sent"`` and ``"stored_to_sent"``: every step's task opened (message stored) → its message sent, s.
"""
from __future__ import annotations

import statistics

LATENCY_TARGET, THROUGHPUT_TARGET = 1.2, 0.8
NOTIFY_TARGET = 2.0  # seconds from a task's opening to its agency's message sent (issue 17)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _waiting(batch: list[float], concurrent: int) -> float:
    """How many of the batch's pathways waited (those whose flow run ended instead are not counted)."""
    return batch[2] if len(batch) > 2 else concurrent


def _rows(figures: dict, concurrent: int) -> list[tuple[str, float, float, str, float, str]]:
    """(what, careflow, raw, unit, ratio careflow/raw, verdict) for one set-up."""
    cf, raw = figures["careflow"], figures["raw"]
    rows = []
    for index, what in ((0, "start → first notified"), (1, "answer → next notified, step 1→2"),
                        (3, "answer → next notified, step 3→4")):
        c = _median([s[index] for s in cf["sequence"]])
        r = _median([s[index] for s in raw["sequence"]])
        rows.append((what, c, r, "s", c / r, "met" if c / r <= LATENCY_TARGET else "missed"))
    c = _median([_waiting(b, concurrent) / b[0] for b in cf["batch"]])
    r = _median([_waiting(b, concurrent) / b[0] for b in raw["batch"]])
    rows.append((f"{concurrent} at once → all suspended", c, r, "/s", c / r,
                 "met" if c / r >= THROUGHPUT_TARGET else "missed"))
    c = _median([_waiting(b, concurrent) / b[1] for b in cf["batch"]])
    r = _median([_waiting(b, concurrent) / b[1] for b in raw["batch"]])
    rows.append((f"{concurrent} at once → all first notified", c, r, "/s", c / r, "(info)"))
    return rows


def print_tables(results: dict, concurrent: int) -> None:
    """Print one table per backend and set-up, and whether the fourth step is no slower than the first."""
    for backend, setups in results.items():
        for setup, figures in setups.items():
            n = len(figures["careflow"]["sequence"])
            print(f"\n{backend}, {setup} (medians of {n}; raw = the same served or pooled Prefect flow)")
            print(f"  {'':42} {'careflow':>10} {'raw':>10}  {'careflow/raw':>12}  target")
            for what, c, r, unit, ratio, verdict in _rows(figures, concurrent):
                bound = f"≤ {LATENCY_TARGET}" if unit == "s" else f"≥ {THROUGHPUT_TARGET}"
                print(f"  {what:42} {c:>8.2f}{unit:<2} {r:>8.2f}{unit:<2}  {ratio:>12.2f}  "
                      f"{bound if verdict != '(info)' else ''} {verdict}")
            delays = figures["careflow"].get("opened_to_sent", [])
            slowest = [b[3] for b in figures["careflow"]["batch"] if len(b) > 3]
            stored = figures["careflow"].get("stored_to_sent", [])
            stored_batch = [b[4] for b in figures["careflow"]["batch"] if len(b) > 4]
            if delays:
                print(f"  careflow task opened → its message sent: median {_median(delays):.2f} s, longest "
                      f"{max(delays):.2f} s of {len(delays)} (one pathway at a time); longest in a batch "
                      f"{max(slowest, default=float('nan')):.2f} s; target ≤ {NOTIFY_TARGET:.0f} s: "
                      + ("met" if max(delays) <= NOTIFY_TARGET else "missed"))
            if stored:
                print(f"    of which message stored → sent (the send loop): median {_median(stored):.2f} s, longest "
                      f"{max(stored):.2f} s; longest in a batch {max(stored_batch, default=float('nan')):.2f} s")
            sequences = figures["careflow"]["sequence"]
            first, fourth = _median([s[1] for s in sequences]), _median([s[3] for s in sequences])
            print(f"  careflow step 3→4 vs 1→2: {fourth:.2f} s vs {first:.2f} s: "
                  + ("no slower (met)" if fourth <= first else "slower (missed)"))
