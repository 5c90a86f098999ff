#!/usr/bin/env python3
"""Writes the input data of the chart examples in this folder (one file per chart type).

Run from anywhere: `python3 examples/charts/make_data.py`. The output is deterministic: the
random numbers come from a seeded SplitMix64 generator written here (not Python's `random`, whose
algorithms may change between versions), and every number is written with fixed decimals, so a
rerun rewrites byte-identical files. The t2 example's data (t2.jsonl) is not made here.

Each function below simulates one process with a known cause of trouble injected at a known
point; the comments say what the chart is expected to catch. The tests in tests/CMakeLists.txt
(replay.example.charts.*) pin those signals, so a change here must come with a review of the
replay output and of the expectations there.
"""

import math
import os
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
START = datetime(2026, 3, 2, 6, 0, 0, tzinfo=timezone.utc)  # Monday, first shift


class Rng:
    """SplitMix64: small, fast, and the same sequence on every platform."""

    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def next64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)

    def uniform(self):
        """A number in (0, 1)."""
        return ((self.next64() >> 11) + 0.5) / float(1 << 53)

    def normal(self, mean=0.0, sd=1.0):
        """Box-Muller; one of the pair is discarded to keep the code simple."""
        u1, u2 = self.uniform(), self.uniform()
        return mean + sd * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def poisson(self, lam):
        """Knuth's method: fine for the small rates used here."""
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.uniform()
            if p <= limit:
                return k
            k += 1

    def binomial(self, n, p):
        return sum(1 for _ in range(n) if self.uniform() < p)

    def integer(self, lo, hi):
        """An integer in [lo, hi]."""
        return lo + int(self.uniform() * (hi - lo + 1))


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_jsonl(name, rows):
    """rows: lists of (key, text already formatted as JSON) pairs, written in order."""
    with open(os.path.join(HERE, name), "w", newline="\n") as f:
        for row in rows:
            f.write("{" + ",".join('"%s":%s' % (k, v) for k, v in row) + "}\n")


def q(s):
    return '"' + s + '"'


def write_csv(name, header_comment, columns, rows):
    with open(os.path.join(HERE, name), "w", newline="\n") as f:
        for line in header_comment:
            f.write("# " + line + "\n")
        f.write(",".join(columns) + "\n")
        for row in rows:
            f.write(",".join(row) + "\n")


def individuals():
    """Shaft outer diameter after cylindrical grinding, one shaft every 2 minutes.

    Centre 25.000 mm, sigma 0.004 mm. The first 25 shafts are the Phase I baseline. From shaft 41
    on, a skipped wheel dressing leaves the diameter 1.2 sigma large: no single shaft is beyond
    the 3-sigma limits at first, but the Western Electric zone tests see the pattern.
    """
    rng = Rng(121)
    rows = []
    for i in range(1, 71):
        mean = 25.000 + (0.0048 if i >= 41 else 0.0)
        value = rng.normal(mean, 0.004)
        rows.append([("characteristic", q("shaft_od")), ("value", "%.4f" % value),
                     ("ts", q(ts(START + timedelta(minutes=2 * (i - 1))))),
                     ("serial", q("SH26-%05d" % (4100 + i))), ("station", q("grind2")),
                     ("machine", q("GR-02")), ("operator", q("op14" if i <= 35 else "op22"))])
    write_jsonl("individuals.jsonl", rows)


def xbar_r():
    """Bore diameter turned on a CNC lathe: 5 consecutive parts every 15 minutes.

    Process 74.000 mm, sigma 0.010 mm; subgroups 1-20 are the Phase I baseline. In subgroup 26
    the insert chips on one part, which comes out 74.046 mm (out of spec, and a wide range); from
    subgroup 31 on tool wear moves the bore up by 0.7 sigma of a part.
    """
    rng = Rng(202)
    rows = []
    serial = 8800
    for g in range(1, 41):
        t0 = START + timedelta(minutes=15 * (g - 1))
        mean = 74.000 + (0.007 if g >= 31 else 0.0)
        for j in range(5):
            serial += 1
            value = rng.normal(mean, 0.010)
            if g == 26 and j == 2:
                value = 74.046
            rows.append([("characteristic", q("bore_diameter")), ("value", "%.4f" % value),
                         ("ts", q(ts(t0 + timedelta(seconds=40 * j)))),
                         ("serial", q("HB-%06d" % serial)), ("station", q("turn3")),
                         ("machine", q("LT-3")), ("lot", q("BAR-%d" % (1 + (serial - 8801) // 60)))])
    write_jsonl("xbar_r.jsonl", rows)


def xbar_s():
    """Fill volume of an 8-head rotary filler: one bottle from every head per sampling cycle.

    Known standard: 500.0 mL, sigma 1.2 mL. Each cycle is a labelled subgroup; in cycles 9 and 17
    a bottle was knocked over before weighing (7 values: the chart is variable-size). From cycle
    22 on head 3 is partly clogged and underfills by about 6 mL, which widens the spread within
    a cycle far more than it moves the cycle's mean.
    """
    rng = Rng(303)
    rows = []
    bottle = 0
    for cycle in range(1, 31):
        t0 = START + timedelta(minutes=10 * (cycle - 1))
        for head in range(1, 9):
            bottle += 1
            if (cycle, head) in ((9, 5), (17, 2)):
                continue
            value = rng.normal(500.0, 1.2)
            if cycle >= 22 and head == 3:
                value -= 6.0 + rng.normal(0.0, 0.3)
            rows.append(["fill_volume", ts(t0 + timedelta(seconds=3 * head)), "C%03d" % cycle,
                         "BT%06d" % (250000 + bottle), "fill1", "FL-1", "head%d" % head, "%.2f" % value])
    write_csv("xbar_s.csv",
              ["Fill volume (mL) of the 8 heads of filler FL-1, one bottle per head every 10 minutes.",
               "Columns other than the wire-format fields (here: head) are ignored by Shewhart."],
              ["characteristic", "ts", "subgroup", "serial", "station", "machine", "head", "value"], rows)


def ewma():
    """Coating weight on a coil coating line, one reading per minute from the gauge.

    Known standard: 28.0 g/m^2, sigma 0.5. From reading 61 on, a worn applicator roll adds 0.35
    (0.7 sigma): too small for rule 1 on single values, which the EWMA accumulates.
    """
    rng = Rng(404)
    rows = []
    for i in range(1, 121):
        mean = 28.0 + (0.35 if i >= 61 else 0.0)
        value = rng.normal(mean, 0.5)
        rows.append([("characteristic", q("coating_weight")), ("value", "%.3f" % value),
                     ("ts", q(ts(START + timedelta(minutes=i - 1)))), ("station", q("coat1")),
                     ("machine", q("CL-1")), ("lot", q("COIL-%d" % (7301 + (i - 1) // 40)))])
    write_jsonl("ewma.jsonl", rows)


def cusum():
    """Jaw temperature of a heat sealer, read every 30 seconds.

    Normally 185.0 degC, sigma 0.8; the first 20 readings are the Phase I baseline. Reading 35 is
    a single dip to 181.7 (a film splice passing the jaws): the absolute minimum of 182 degC fires
    `threshold`, the CUSUM does not react to one value. From reading 51 on a failing heater band
    leaves the jaw 0.8 degC (1 sigma) cold: no reading is below 182, but the lower CUSUM builds
    up and signals.
    """
    rng = Rng(505)
    rows = []
    for i in range(1, 91):
        mean = 185.0 - (0.8 if i >= 51 else 0.0)
        value = rng.normal(mean, 0.8)
        if i == 35:
            value = 181.7
        rows.append([("characteristic", q("seal_jaw_temp")), ("value", "%.2f" % value),
                     ("ts", q(ts(START + timedelta(seconds=30 * (i - 1))))),
                     ("serial", q("PK%07d" % (3300000 + i))), ("station", q("seal4")), ("machine", q("HS-4"))])
    write_jsonl("cusum.jsonl", rows)


def p():
    """Printed circuit boards failing automated optical inspection after reflow, per hour.

    The number of boards inspected in an hour varies (150 to 260): the p chart draws limits at
    each hour's n. About 3.5 % fail; hours 1-20 are the Phase I baseline. From hour 29 on a
    clogging stencil raises the rate to about 7 %.
    """
    rng = Rng(606)
    rows = []
    for h in range(1, 41):
        n = rng.integer(150, 260)
        rate = 0.07 if h >= 29 else 0.035
        count = rng.binomial(n, rate)
        rows.append([("characteristic", q("aoi_fail")), ("count", str(count)), ("n", str(n)),
                     ("ts", q(ts(START + timedelta(hours=h)))), ("station", q("smt1")),
                     ("lot", q("PCB-%d" % (5120 + (h - 1) // 8)))])
    write_jsonl("p.jsonl", rows)


def np():
    """Helium leak test of gas valves: 80 valves sampled from every lot.

    Known standard: 2.5 % leak (np centre 2). From lot 21 on the valves carry O-rings from a new
    supplier and leak at 5 %: few single lots exceed the upper limit, but a run of lots above the
    centre line does (rule 2, shortened to 7 lots here).
    """
    rng = Rng(707)
    rows = []
    for k in range(1, 36):
        rate = 0.045 if k >= 21 else 0.02
        count = rng.binomial(125, rate)
        rows.append([("characteristic", q("valve_leak")), ("count", str(count)), ("n", "125"),
                     ("ts", q(ts(START + timedelta(hours=2 * k)))), ("station", q("leak2")),
                     ("lot", q("VL-%04d" % (610 + k)))])
    write_jsonl("np.jsonl", rows)


def c():
    """Paint defects (dirt, runs, craters) found on each car body at the paint inspection.

    About 3 defects per body; bodies 1-25 are the Phase I baseline. On bodies 47 to 49 a torn
    booth filter lets dirt in (about 12 defects each).
    """
    rng = Rng(808)
    rows = []
    for b in range(1, 61):
        lam = 12.0 if 47 <= b <= 49 else 3.0
        rows.append(["paint_defects", str(rng.poisson(lam)), "1", ts(START + timedelta(minutes=4 * (b - 1))),
                     "WBA%08d" % (31200 + b), "insp1", "BOOTH-2"])
    write_csv("c.csv", ["Paint defects per car body at inspection station insp1 (n = 1 body)."],
              ["characteristic", "count", "n", "ts", "serial", "station", "machine"], rows)


def u():
    """Flaws found on woven fabric rolls; n is the roll's area in units of 100 m^2.

    Rolls differ in length, so n varies (1.2 to 2.8 units) and the u chart draws limits at each
    roll's n. About 4 flaws per 100 m^2; rolls 1-20 are the Phase I baseline. From roll 31 a worn
    heddle on the loom raises the rate to about 7.
    """
    rng = Rng(929)
    rows = []
    for r in range(1, 46):
        n = round(1.2 + 1.6 * rng.uniform(), 1)
        rate = 7.0 if r >= 31 else 4.0
        count = rng.poisson(rate * n)
        rows.append([("characteristic", q("fabric_flaws")), ("count", str(count)), ("n", "%.1f" % n),
                     ("ts", q(ts(START + timedelta(minutes=45 * (r - 1))))), ("serial", q("RL%05d" % (7700 + r))),
                     ("station", q("insp-weave")), ("machine", q("loom7"))])
    write_jsonl("u.jsonl", rows)


if __name__ == "__main__":
    for make in (individuals, xbar_r, xbar_s, ewma, cusum, p, np, c, u):
        make()
