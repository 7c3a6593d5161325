#!/usr/bin/env python3
"""Writes tests/LowBit.Tests/Models/Fixtures/wordpiece-*.json: Hugging Face BertTokenizer's ids (its algorithm, ported to
Python as ../shared/peers/minilm/minilm_ref.py ports it, with Python's unicodedata as the Unicode oracle) for the test
vocabulary (wordpiece-vocab.txt, CRLF line ends as the packaged bert vocab.txt has) and the corpus (wordpiece-corpus.txt),
uncased (lower case + strip accents) and cased.

  python3 tools/make_wordpiece_fixture.py
"""
import json
import os
import sys
import unicodedata

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "LowBit.Tests", "Models", "Fixtures")


def is_ws(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_control(c):
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def is_punct(c):
    cp = ord(c)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or unicodedata.category(c).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic(text, lower):
    text = "".join(" " if is_ws(c) else c for c in text if not (ord(c) == 0 or ord(c) == 0xFFFD or is_control(c)))
    text = "".join(f" {c} " if is_cjk(ord(c)) else c for c in text)
    text = unicodedata.normalize("NFC", text)
    out = []
    for tok in text.split():
        if lower:
            tok = tok.lower()
            tok = "".join(c for c in unicodedata.normalize("NFD", tok) if unicodedata.category(c) != "Mn")
        cur = []
        for c in tok:
            if is_punct(c):
                if cur:
                    out.append("".join(cur))
                    cur = []
                out.append(c)
            else:
                cur.append(c)
        if cur:
            out.append("".join(cur))
    return out


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            s = word[start:end] if start == 0 else "##" + word[start:end]
            if s in vocab:
                cur = s
                break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        pieces.append(cur)
        start = end
    return pieces


def unescape(line):
    """The corpus's escapes, as the llama peer's: \\n \\r \\t \\\\ and \\u{HEX}."""
    out, i = [], 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            n = line[i + 1]
            if n in "nrt\\":
                out.append({"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}[n])
                i += 2
                continue
            if n == "u" and line[i + 2:i + 3] == "{":
                end = line.index("}", i)
                out.append(chr(int(line[i + 3:end], 16)))
                i = end + 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


def main():
    with open(os.path.join(here, "wordpiece-vocab.txt"), encoding="utf-8", newline="") as f:
        tokens = [t.rstrip("\r\n") for t in f.read().split("\n") if t != ""]
    vocab = {t: i for i, t in enumerate(tokens)}
    with open(os.path.join(here, "wordpiece-corpus.txt"), encoding="utf-8") as f:
        lines = [unescape(l.rstrip("\n")) for l in f]
    for name, lower in (("uncased", True), ("cased", False)):
        ids = [[vocab["[CLS]"]] + [vocab[p] for w in basic(l, lower) for p in wordpiece(w, vocab)] + [vocab["[SEP]"]] for l in lines]
        json.dump({"source": f"Hugging Face BertTokenizer's algorithm in Python {sys.version.split()[0]}, Unicode {unicodedata.unidata_version}",
                   "lower_case": lower, "lines": lines, "ids": ids},
                  open(os.path.join(here, f"wordpiece-{name}.json"), "w", encoding="utf-8"), ensure_ascii=False, separators=(",", ":"))


main()
