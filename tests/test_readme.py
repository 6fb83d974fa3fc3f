"""Every code block of README.md, run as written.

- ```python blocks: each runs verbatim on its own, in a fresh namespace (the README presents
  every block as a self-contained example: each has its imports). An expression statement with
  a trailing comment that states its value (``basis.array.shape  # (88, 8, 8, 5, 5): ...``)
  must evaluate to that value; a comment ending in ``...)`` states a prefix of the value's repr.
- ```bash blocks: every command (continuation lines joined) must match one rule of `COMMANDS`:
  either it runs here (cheap and safe) and must succeed, or it is skipped for the reason given
  there. A command that matches no rule fails the test, so a new README command gets classified.
- Blocks without a language are program output and are not run. Any other language fails.
"""

import ast
import io
import os
import pathlib
import re
import subprocess
import sys
import tokenize

import pytest

README = pathlib.Path(__file__).parents[1] / "README.md"

# (pattern over a whole command, None to run it here, or the reason it is not run)
COMMANDS = [
    (r"equijax-train --help", None),
    (r"make demo", "creates .venv, installs equijax and trains a C4 CNN for 10 epochs (about 2 minutes)"),
    (r"make test", "installs the test extras and runs this whole suite (CI's entry point)"),
    (r"equijax-train .*--epochs \d+.*", "trains a model (minutes to hours, or downloads MNIST-rot)"),
    (r"pip install .*", "needs the network and changes the installed packages"),
]


def readme_blocks():
    """[(language, line of the opening fence, code)] for every fenced block of README.md."""
    blocks, lines = [], README.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.fullmatch(r"```(\S*)\s*", lines[i])
        if m:
            j = next(k for k in range(i + 1, len(lines)) if lines[k].startswith("```"))
            blocks.append((m.group(1), i + 1, "\n".join(lines[i + 1 : j]) + "\n"))
            i = j
        i += 1
    return blocks


def shell_commands(code: str) -> list[str]:
    """The commands of a bash block: comments dropped, continuation lines joined."""
    commands, current = [], ""
    for line in code.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line.startswith("#") or not line:
            continue
        current += line
        if current.endswith("\\"):
            current = current[:-1].rstrip() + " "
            continue
        commands.append(re.sub(r"\s+", " ", current))
        current = ""
    assert not current, f"unfinished command {current!r}"
    return commands


def classify(command: str):
    """The rule of `COMMANDS` matching `command`: (True, None) to run it, (False, reason)."""
    found = [(reason is None, reason) for pattern, reason in COMMANDS if re.fullmatch(pattern, command)]
    assert found, f"README command {command!r} matches no rule of COMMANDS: run it here or say why not"
    return found[0]


BLOCKS = readme_blocks()
PYTHON = [(line, code) for lang, line, code in BLOCKS if lang == "python"]
BASH = [(line, cmd) for lang, line, code in BLOCKS if lang == "bash" for cmd in shell_commands(code)]


def trailing_comments(code: str) -> dict[int, str]:
    """{line number: comment text} for the comments that end a line of code."""
    out, last_code_line = {}, None
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT and tok.start[0] == last_code_line:
            out[tok.start[0]] = tok.string[1:].strip()
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT):
            last_code_line = tok.end[0]
    return out


def stated_value(comment: str):
    """The value a comment states, as (exact repr or None, repr prefix or None)."""
    claim = comment.split(": ", 1)[0].strip()
    if claim.endswith("...)"):
        return None, claim[: -len("...)")]
    try:
        return repr(ast.literal_eval(claim)), None
    except (ValueError, SyntaxError):
        return None, None  # prose, not a value


def run_python_block(code: str, filename: str) -> dict:
    """Run `code` statement by statement in a fresh namespace, checking stated values."""
    namespace = {"__name__": "__readme__"}
    comments = trailing_comments(code)
    for stmt in ast.parse(code, filename).body:
        if isinstance(stmt, ast.Expr):
            value = eval(compile(ast.Expression(stmt.value), filename, "eval"), namespace)
            exact, prefix = stated_value(comments.get(stmt.end_lineno, ""))
            if exact is not None:
                assert repr(value) == exact, f"{filename}:{stmt.lineno}: {repr(value)} != {exact} (stated)"
            if prefix is not None:
                assert repr(value).startswith(prefix), f"{filename}:{stmt.lineno}: {value!r} (stated {prefix}...)"
        else:
            exec(compile(ast.Module([stmt], []), filename, "exec"), namespace)
    return namespace


def test_readme_has_blocks_of_known_kinds():
    assert len(PYTHON) >= 3 and BASH
    assert {lang for lang, _, _ in BLOCKS} <= {"python", "bash", ""}, "a README block of unknown language"
    for _, command in BASH:
        classify(command)  # every command is run here or skipped for a stated reason


@pytest.mark.parametrize("line, code", PYTHON, ids=[f"line{line}" for line, _ in PYTHON])
def test_python_block_runs_verbatim(line, code):
    run_python_block(code, f"README.md:{line}")


BASH_IDS = [f"line{line}-{i}:{cmd[:40]}" for i, (line, cmd) in enumerate(BASH)]


@pytest.mark.parametrize("line, command", BASH, ids=BASH_IDS)
def test_shell_command(line, command):
    run, reason = classify(command)
    if not run:
        pytest.skip(f"README.md:{line} `{command}`: {reason}")
    bin_dir = pathlib.Path(sys.executable).parent  # the venv's console scripts (equijax-train)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", JAX_PLATFORMS="cpu")
    out = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, (command, out.stderr[-2000:])
    assert out.stdout.strip(), command


def test_stated_values_are_checked():
    # the checker itself: a wrong stated value fails, prose comments are not values
    run_python_block("x = (1, 2)\nx  # (1, 2): fine\n", "t")
    with pytest.raises(AssertionError, match="stated"):
        run_python_block("x = (1, 2)\nx  # (1, 3): wrong\n", "t")
    with pytest.raises(AssertionError, match="stated"):
        run_python_block("x = 'abc'\nrepr(x)[1:]  # abd...)\n", "t")
    run_python_block("x = 3\nx  # any leading batch axes\n", "t")
