#!/usr/bin/env python3
"""Breaks C# lines longer than the limit (.editorconfig's max_line_length, 150) at the places a person would:
doc and line comments at a word; code after a comma inside brackets (continuation aligned to the bracket), before
&&, ||, ??, +, or after =>; long string literals split into a concatenation at a space. Only whitespace outside string
literals changes, except in the last case, so the compiler checks the result. Lines it cannot break are listed.

  python3 tools/wrap_long_lines.py FILE.cs ...
"""
import re
import sys

LIMIT = 150


def scan(line):
    """Per character: 'code', 'hole' (inside an interpolation), 'string' or 'comment'; the bracket stack (positions of open
    brackets) before it; and, for string characters, where their literal starts (its opening quote)."""
    kinds, stacks, owners = [], [], []
    stack, i, n = [], 0, len(line)
    mode = "code"          # code | str | vstr | istr | hole | char | comment
    interp = []            # stack of (kind, brace depth) for interpolated strings
    starts = []            # opening quote of each open literal
    while i < n:
        c = line[i]
        kinds.append("comment" if mode == "comment" else "code" if mode == "code" else "hole" if mode == "hole" else "string")
        stacks.append(list(stack))
        owners.append(starts[0] if len(starts) == 1 else -1)  # -1: code, or a literal nested in another's hole
        if mode == "comment":
            pass
        elif mode in ("code", "hole"):
            if c == "/" and i + 1 < n and line[i + 1] == "/":
                mode = "comment"
                kinds[-1] = "comment"
            elif c == '"':
                verbatim = i > 0 and line[i - 1] == "@" or i > 1 and line[i - 2:i] in ("$@", "@$")
                dollar = i > 0 and line[i - 1] == "$" or i > 1 and line[i - 2:i] in ("$@", "@$")
                if dollar:
                    interp.append((mode, "v" if verbatim else "r"))
                    mode = "istr"
                else:
                    interp.append((mode, None))
                    mode = "vstr" if verbatim else "str"
                starts.append(i)
                kinds[-1] = "string"
                owners[-1] = starts[0] if len(starts) == 1 else -1
            elif c == "'":
                mode = "char"
                kinds[-1] = "string"
            elif c in "([{":
                if mode == "hole" and c == "{":
                    stack.append(("{", i))
                else:
                    stack.append((c, i))
            elif c in ")]}":
                if mode == "hole" and c == "}" and (not stack or stack[-1][0] != "{"):
                    mode = "istr"
                    kinds[-1] = "string"
                elif stack:
                    stack.pop()
        elif mode == "str":
            if c == "\\":
                kinds.append("string"); stacks.append(list(stack)); owners.append(owners[-1]); i += 1
            elif c == '"':
                mode = interp.pop()[0]
                starts.pop()
        elif mode == "vstr":
            if c == '"':
                if i + 1 < n and line[i + 1] == '"':
                    kinds.append("string"); stacks.append(list(stack)); owners.append(owners[-1]); i += 1
                else:
                    mode = interp.pop()[0]
                    starts.pop()
        elif mode == "istr":
            if c == "\\" and interp[-1][1] == "r":
                kinds.append("string"); stacks.append(list(stack)); owners.append(owners[-1]); i += 1
            elif c == "{":
                if i + 1 < n and line[i + 1] == "{":
                    kinds.append("string"); stacks.append(list(stack)); owners.append(owners[-1]); i += 1
                else:
                    mode = "hole"
            elif c == '"':
                mode = interp.pop()[0]
                starts.pop()
        elif mode == "char":
            if c == "\\":
                kinds.append("string"); stacks.append(list(stack)); owners.append(owners[-1]); i += 1
            elif c == "'":
                mode = "code"
        i += 1
    return kinds, stacks, owners


def wrap_comment(line):
    m = re.match(r"^(\s*)(///?)\s?(.*)$", line)
    indent, slashes, text = m.group(1), m.group(2), m.group(3)
    prefix = f"{indent}{slashes} "
    # words: split at spaces outside <...> tags, so a <paramref name="x"/> stays on one line
    words, word, inside = [], "", False
    for c in text:
        if c == "<":
            inside = True
        elif c == ">":
            inside = False
        if c == " " and not inside:
            words.append(word)
            word = ""
        else:
            word += c
    words.append(word)
    out, cur = [], ""
    for w in words:
        if cur and len(prefix) + len(cur) + 1 + len(w) > LIMIT:
            out.append(prefix + cur)
            cur = w
        else:
            cur = (cur + " " + w) if cur else w
    out.append(prefix + cur)
    return out


def string_split(line, kinds, owners):
    """Splits the last string literal crossing the limit at a space: "abc def" -> "abc " + "def" (not verbatim, not in a hole)."""
    for cut in range(LIMIT - 3, 40, -1):
        if line[cut] != " " or kinds[cut] != "string" or line[cut - 1] == "\\":
            continue
        start = owners[cut]
        prefix = line[max(0, start - 2):start]
        if "@" in prefix or start < 0:
            continue
        # only a literal that is not nested in another one's hole, and whose opening quote is the outermost
        dollar = prefix.endswith("$")
        indent = len(line) - len(line.lstrip())
        first = line[:cut + 1] + '" +'
        rest = " " * (indent + 4) + ("$" if dollar else "") + '"' + line[cut + 1:]
        if len(first) <= LIMIT:
            return [first, rest]
    return None


def wrap_code(line):
    kinds, stacks, owners = scan(line)
    indent = len(line) - len(line.lstrip())
    best = None
    for i in range(min(len(line), LIMIT) - 1, indent + 10, -1):
        if kinds[i] != "code":
            continue
        # after ", ": inside brackets continue aligned with the innermost open bracket, else (declarations) indented
        if line[i] == "," and i + 1 < len(line) and line[i + 1] == " ":
            col = stacks[i][-1][1] + 1 if stacks[i] else indent + 4
            cont = line[i + 2:]
            if col + len(cont) > LIMIT and col > indent + 8:
                col = indent + 4
            best = (line[:i + 1], " " * col + cont)
            break
        # before a binary operator, or after =>
        for op in (" && ", " || ", " ?? ", " + ", " => ", " or ", " where ", " ? ", " : "):
            if line.startswith(op, i) and all(k == "code" for k in kinds[i:i + len(op)]):
                if op == " : " and " ? " not in line[:i]:
                    continue  # a named argument or base list, not a conditional
                if op == " => ":
                    best = (line[:i + 3], " " * (indent + 4) + line[i + 4:])
                else:
                    best = (line[:i], " " * (indent + 4) + line[i + 1:])
                break
        if best:
            break
    if best and len(best[0]) <= LIMIT and best[0].strip():
        return list(best)
    return string_split(line, kinds, owners)


def wrap(line, depth=0):
    if len(line) <= LIMIT or depth > 20:
        return [line]
    if re.match(r"^\s*//", line):
        pieces = wrap_comment(line)
    else:
        pieces = wrap_code(line)
        if pieces is None:
            return [line]
    out = []
    for p in pieces:
        out.extend(wrap(p.rstrip(), depth + 1))
    return out


def main():
    left = []
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        lines = text.split("\n")
        out, in_code = [], False
        for line in lines:
            if "<code>" in line:
                in_code = True
            if in_code or len(line) <= LIMIT:
                out.append(line)
            else:
                out.extend(wrap(line))
            if "</code>" in line:
                in_code = False
        new = "\n".join(out)
        if new != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(new)
        left += [f"{path}:{n + 1}" for n, l in enumerate(out) if len(l) > LIMIT]
    for l in left:
        print("still long:", l)


main()
