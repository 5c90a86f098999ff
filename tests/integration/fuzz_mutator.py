#!/usr/bin/env python3
"""Deterministic generator of good and mutated ("bad") ingest frames for characteristic "bore".

Every frame is (bytes, expected, category); expected is "good" or "bad".

Good frames (serials unique within a run, so accepted frames can be counted):
  good.measurement  {"characteristic":"bore","value":<finite>,"ts":<epoch ms>,"serial":"S<seed>-<i>","station":"st1".."st3"}
  good.unit         {"unit":"U<seed>-<i>","station":"st1".."st3","ts":<epoch ms>}
  ts is integer epoch milliseconds in the last --span-ms (default 5 min) before --base-ms, increasing
  with the frame index (strictly while --count <= --span-ms).

Bad frames: one defect each, otherwise a good measurement (same ts, a station, a serial
"X<seed>-<i>" that never collides with a good one). Categories: see CATEGORIES below. Every one is
a frame a correct engine rejects (each is counted as exactly one reject).

Output:
  --out-frames FILE  every frame, each as a 4-byte big-endian length then its bytes
  --jsonl FILE       the same frames, one per line, for a file source; frames that cannot be one
                     line are left out (any '\\n' byte would cut it into several lines, each read as a
                     message; a blank line - empty or only spaces, tabs, CRs - is skipped by the
                     reader; a trailing '\\r' is stripped by the reader)
  --out-expect FILE  JSON summary: {"frames","good","bad","by_category":{cat: n},"good_by_kind":{...}}
                     for the --out-frames stream (every frame generated), and with --jsonl also
                     "jsonl": {same keys for the lines written, "skipped_by_category"}
  --out-index FILE   optional: one line per frame "index expected category serial"
  --only CAT,...     optional: generate bad frames of these categories only (still mixed with good)
  --good-fraction F  optional, default 0.5

Usage: fuzz_mutator.py --seed 1 --count 20000 --base-ms 1795680000000 --max-bytes 65536 \\
         --out-frames f.bin --out-expect f.json [--jsonl f.jsonl]
Stdlib only; the same arguments give the same bytes.
"""
import argparse
import json
import random
import struct
import sys

CHARACTERISTIC = "bore"
STATIONS = ("st1", "st2", "st3")
NEST_DEPTH = 10000

# Invalid UTF-8 sequences put inside a string field (station or serial).
BAD_UTF8 = {
    "utf8_latin1": b"Pr\xe4ge1",            # Latin-1 'Präge1'
    "utf8_gbk": b"\xc9\xcf\xba\xa3",        # GBK for 上海
    "utf8_lone_continuation": b"st\x80\xbf1",
    "utf8_overlong": b"st\xc0\xaf1",         # overlong '/'
    "utf8_surrogate": b"st\xed\xa0\x801",    # U+D800 encoded as UTF-8
    "utf8_truncated_seq": b"st1\xe2\x82",    # 3-byte sequence cut before the closing quote
    "utf8_beyond_max": b"st\xf4\x90\x80\x801",  # > U+10FFFF
}

# Timestamps a correct engine must refuse (far outside any plausible event time).
BAD_TS = {
    "ts_int64_max": b"9223372036854775807",
    "ts_1e16": b"10000000000000000",
    "ts_negative": b"-1",
    "ts_year_9999": b"253402300799999",
    "ts_1975": b"157766400000",
    "ts_text_year_9999": b'"9999-12-31T23:59:59Z"',
    "ts_text_1975": b'"1975-01-01T00:00:00Z"',
}

CATEGORIES = (
    ["truncated_json", "oversize", "value_nan", "value_infinity", "value_neg_infinity",
     "value_string", "value_1e999", "value_neg_1e999", "deep_nesting_field", "deep_nesting_frame",
     "duplicate_key", "unknown_characteristic", "missing_value", "empty_frame", "binary_garbage",
     "json_array"]
    + sorted(BAD_UTF8) + sorted(BAD_TS))


def _q(s):
    return json.dumps(s).encode()


class Mutator:
    def __init__(self, seed, count, base_ms, max_bytes, span_ms=300000, good_fraction=0.5, only=None):
        self.rng = random.Random(seed)
        self.seed = seed
        self.count = count
        self.base_ms = base_ms
        self.max_bytes = max_bytes
        self.span_ms = span_ms
        self.good_fraction = good_fraction
        self.categories = list(only) if only else list(CATEGORIES)
        for c in self.categories:
            if c not in CATEGORIES:
                raise ValueError("unknown category %r (known: %s)" % (c, ", ".join(CATEGORIES)))

    def ts(self, i):
        # Increasing with i, inside [base - span, base).
        return self.base_ms - self.span_ms + (i * self.span_ms) // max(self.count, 1)

    def value(self):
        return round(74 + self.rng.gauss(0, 0.01), 5)

    def fields(self, i, serial, value=None, ts=None, station=None, characteristic=None):
        """A measurement's members as (key, raw JSON bytes), in wire order."""
        return [
            (b"characteristic", _q(characteristic or CHARACTERISTIC)),
            (b"value", value if value is not None else repr(self.value()).encode()),
            (b"ts", ts if ts is not None else str(self.ts(i)).encode()),
            (b"serial", _q(serial)),
            (b"station", station if station is not None else _q(self.rng.choice(STATIONS))),
        ]

    @staticmethod
    def obj(members):
        return b"{" + b",".join(b'"' + k + b'":' + v for k, v in members) + b"}"

    def good(self, i):
        if self.rng.random() < 0.15:
            serial = "U%d-%08d" % (self.seed, i)
            frame = self.obj([(b"unit", _q(serial)), (b"station", _q(self.rng.choice(STATIONS))),
                              (b"ts", str(self.ts(i)).encode())])
            return frame, "good", "good.unit", serial
        serial = "S%d-%08d" % (self.seed, i)
        return self.obj(self.fields(i, serial)), "good", "good.measurement", serial

    def bad(self, i, cat):
        serial = "X%d-%08d" % (self.seed, i)
        f = self.fields(i, serial)
        if cat == "truncated_json":
            full = self.obj(f)
            frame = full[:self.rng.randrange(1, len(full))]  # any proper prefix of an object
        elif cat == "oversize":
            # Valid JSON apart from its size: max+1 .. max+8192 bytes, below libzmq's own 2*max cut.
            target = self.max_bytes + 1 + self.rng.randrange(0, min(8192, self.max_bytes - 1))
            head = self.obj(f)[:-1] + b',"pad":"'
            frame = head + b"x" * max(0, target - len(head) - 2) + b'"}'
        elif cat == "value_nan":
            frame = self.obj(self.fields(i, serial, value=b"NaN"))
        elif cat == "value_infinity":
            frame = self.obj(self.fields(i, serial, value=b"Infinity"))
        elif cat == "value_neg_infinity":
            frame = self.obj(self.fields(i, serial, value=b"-Infinity"))
        elif cat == "value_string":
            frame = self.obj(self.fields(i, serial, value=b'"abc"'))
        elif cat == "value_1e999":
            frame = self.obj(self.fields(i, serial, value=b"1e999"))
        elif cat == "value_neg_1e999":
            frame = self.obj(self.fields(i, serial, value=b"-1e999"))
        elif cat == "deep_nesting_field":
            frame = self.obj(f + [(b"extra", b"[" * NEST_DEPTH + b"]" * NEST_DEPTH)])
        elif cat == "deep_nesting_frame":
            frame = b"[" * NEST_DEPTH + b"]" * NEST_DEPTH
        elif cat == "duplicate_key":
            frame = self.obj([(b"characteristic", _q("nope"))] + f)
        elif cat == "unknown_characteristic":
            frame = self.obj(self.fields(i, serial, characteristic="nope"))
        elif cat == "missing_value":
            frame = self.obj([m for m in f if m[0] != b"value"])
        elif cat == "empty_frame":
            frame = b""
        elif cat == "binary_garbage":
            n = self.rng.randrange(1, 257)
            # First byte 0x80-0xFF: never whitespace nor the start of a JSON value.
            frame = bytes([self.rng.randrange(0x80, 0x100)]) + bytes(self.rng.randrange(256) for _ in range(n - 1))
        elif cat == "json_array":
            frame = b"[" + self.obj(f) + b"]"
        elif cat in BAD_UTF8:
            raw = b'"' + BAD_UTF8[cat] + b'"'
            if self.rng.random() < 0.5:
                frame = self.obj(self.fields(i, serial, station=raw))
            else:  # in serial: the frame then carries no marker serial
                frame = self.obj([(k, raw if k == b"serial" else v) for k, v in f])
        elif cat in BAD_TS:
            frame = self.obj(self.fields(i, serial, ts=BAD_TS[cat]))
        else:
            raise ValueError(cat)
        return frame, "bad", cat, serial

    def frames(self):
        for i in range(self.count):
            if self.rng.random() < self.good_fraction:
                yield self.good(i)
            else:
                yield self.bad(i, self.rng.choice(self.categories))


def generate(seed, count, base_ms, max_bytes, **kw):
    """Yields (frame_bytes, expected, category, serial)."""
    return Mutator(seed, count, base_ms, max_bytes, **kw).frames()


def jsonl_ok(frame):
    return b"\n" not in frame and frame.strip(b" \t\r") != b"" and not frame.endswith(b"\r")


class Tally:
    def __init__(self):
        self.good = self.bad = 0
        self.by_category = {}
        self.good_by_kind = {"measurement": 0, "unit": 0}

    def add(self, expected, cat):
        if expected == "good":
            self.good += 1
            self.good_by_kind[cat.split(".", 1)[1]] += 1
        else:
            self.bad += 1
            self.by_category[cat] = self.by_category.get(cat, 0) + 1

    def dict(self):
        return {"frames": self.good + self.bad, "good": self.good, "bad": self.bad,
                "by_category": dict(sorted(self.by_category.items())), "good_by_kind": self.good_by_kind}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int)
    ap.add_argument("--count", type=int)
    ap.add_argument("--base-ms", type=int, help="good ts lie in the --span-ms before this")
    ap.add_argument("--span-ms", type=int, default=300000)
    ap.add_argument("--max-bytes", type=int, default=65536, help="engine.max_message_bytes")
    ap.add_argument("--good-fraction", type=float, default=0.5)
    ap.add_argument("--only", default="", help="comma-separated bad categories")
    ap.add_argument("--out-frames")
    ap.add_argument("--out-expect")
    ap.add_argument("--out-index")
    ap.add_argument("--jsonl")
    ap.add_argument("--list-categories", action="store_true")
    a = ap.parse_args(argv)
    if a.list_categories:
        print("\n".join(CATEGORIES))
        return 0
    for name in ("seed", "count", "base_ms"):
        if getattr(a, name) is None:
            ap.error("--%s is required" % name.replace("_", "-"))
    if not (a.out_frames or a.jsonl):
        ap.error("give --out-frames and/or --jsonl")
    if a.max_bytes < 64:
        ap.error("--max-bytes must be >= 64")
    only = [c for c in a.only.split(",") if c]
    m = Mutator(a.seed, a.count, a.base_ms, a.max_bytes, span_ms=a.span_ms, good_fraction=a.good_fraction,
                only=only)
    out = open(a.out_frames, "wb") if a.out_frames else None
    jl = open(a.jsonl, "wb") if a.jsonl else None
    idx = open(a.out_index, "w") if a.out_index else None
    every, lines, skipped = Tally(), Tally(), {}
    for i, (frame, expected, cat, serial) in enumerate(m.frames()):
        every.add(expected, cat)
        if out:
            out.write(struct.pack(">I", len(frame)))
            out.write(frame)
        if jl:
            if jsonl_ok(frame):
                jl.write(frame + b"\n")
                lines.add(expected, cat)
            else:
                skipped[cat] = skipped.get(cat, 0) + 1
        if idx:
            idx.write("%d %s %s %s\n" % (i, expected, cat, serial))
    for f in (out, jl, idx):
        if f:
            f.close()
    summary = every.dict()
    if jl:
        summary["jsonl"] = dict(lines.dict(), skipped_by_category=dict(sorted(skipped.items())))
    text = json.dumps(summary, indent=1, sort_keys=False)
    if a.out_expect:
        with open(a.out_expect, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
