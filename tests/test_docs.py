"""The docs tell the truth: what they cite exists, the tour is real output.

Citations, as the docs write them:

- a file by its path from the project folder: ``docs/api.txt``,
  ``etc/relstorage.conf``, ``tests/servers.py`` (paths under ``docs/``,
  ``etc/``, ``myproject/``, ``tests/``, ``bench/``, ``.ci/``, or a top-level
  file such as ``production.ini``);
- a heading by file and title: ``docs/scaling.txt, "Several server
  processes"`` (the title may wrap over lines, in .ini comments too);
- a heading of the same file: ``section "What makes the updates exact"``;
- a test by its name: ``test_each_process_pushes_for_its_own_commits_only``.

They are read in README.txt and docs/*.txt, and in the comments of
development.ini, production.ini and etc/*.
"""
import glob
import os
import re
import shutil
import subprocess

import pytest

from .servers import Server, free_port

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Files other work adds; cited already.  Remove an entry once its file
#: exists (test_pending_files_are_still_missing says when).
PENDING = {}

TOP_LEVEL = r"README\.txt|development\.ini|production\.ini|setup\.py|setup\.cfg|MANIFEST\.in"
PATH = re.compile(
    r"(?<![\w/.$-])("
    r"(?:docs|etc|myproject|tests|bench|\.ci)/[\w.@/-]*"
    r"|(?:" + TOP_LEVEL + r")(?![\w.-]))")
HEADING_CITATION = re.compile(r'(README\.txt|docs/[\w-]+\.txt),\s+"([^"]+)"')
SECTION_CITATION = re.compile(r'\bsection\s+"([^"]+)"')
TEST_NAME = re.compile(r"``(test_\w+)``")
UNDERLINE = re.compile(r"^([=\-~^])\1+$")


def read(relpath):
    with open(os.path.join(HERE, relpath), encoding="utf-8") as f:
        return f.read()


def comments(text):
    """The comment lines of an .ini or ZConfig file, without their ``#``."""
    return "\n".join(line.strip()[1:] for line in text.splitlines()
                     if line.strip().startswith("#"))


def citing_files():
    """{relative path: the text in it that may cite}."""
    docs = ["README.txt"] + sorted(
        os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "docs", "*.txt")))
    texts = {path: read(path) for path in docs}
    configs = ["development.ini", "production.ini"] + sorted(
        os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "etc", "*")))
    texts.update({path: comments(read(path)) for path in configs})
    return texts


def headings(text):
    """The section titles of a reStructuredText-ish file."""
    lines = text.splitlines()
    found = []
    for title, under in zip(lines, lines[1:]):
        title = title.rstrip()
        if (title and not title[0].isspace() and UNDERLINE.match(under)
                and len(under) >= len(title)):
            found.append(" ".join(title.split()))
    return found


def flat(text):
    return " ".join(text.split())


def missing_citations(texts, exists, titles_of, test_names):
    """Return one line per citation in texts that names nothing.

    ``texts``: {path: text}; ``exists(path)``; ``titles_of(path)``: the
    headings of a doc; ``test_names``: the test functions there are.
    """
    problems = []
    for source, text in texts.items():
        for match in PATH.finditer(text):
            path = match.group(1).rstrip(".,:;)")
            if path in PENDING:
                continue
            if not exists(path):
                problems.append(f"{source}: no file {path}")
        text = flat(text)
        for match in HEADING_CITATION.finditer(text):
            path, title = match.groups()
            if path in PENDING and not exists(path):
                continue
            if not exists(path):
                problems.append(f"{source}: no file {path}")
            elif title not in titles_of(path):
                problems.append(f'{source}: no heading "{title}" in {path}')
        for match in SECTION_CITATION.finditer(text):
            if match.group(1) not in titles_of(source):
                problems.append(
                    f'{source}: no heading "{match.group(1)}" in it')
        for name in TEST_NAME.findall(text):
            if name not in test_names:
                problems.append(f"{source}: no test {name}")
    return problems


def defined_test_names():
    names = set()
    for path in glob.glob(os.path.join(HERE, "tests", "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as f:
            names.update(re.findall(r"^\s*def (test_\w+)\(", f.read(), re.M))
    return names


def repository_checker():
    def exists(path):
        return os.path.exists(os.path.join(HERE, path))

    def titles_of(path):
        return headings(read(path))

    return exists, titles_of


def test_every_cited_file_heading_and_test_exists():
    exists, titles_of = repository_checker()
    problems = missing_citations(citing_files(), exists, titles_of,
                                 defined_test_names())
    assert problems == []


def test_the_ini_files_cite_their_docs():
    """production.ini's pointers are citations the check above reads."""
    texts = citing_files()
    assert HEADING_CITATION.search(flat(texts["production.ini"]))
    assert "docs/admin.txt" in texts["development.ini"]


def test_the_checker_reports_a_missing_file_heading_and_test():
    texts = {
        "README.txt": 'See docs/nothing.txt and docs/api.txt, "No such\n'
                      'heading", and docs/api.txt, "Errors".',
        "docs/api.txt": 'Errors\n------\n\nsection "Errors", section "Gone"; '
                        "``test_that_is_not_there``",
        "production.ini": '\n'.join(comments('# see docs/api.txt, "Not\n'
                                             '# there"\nkey = docs/x.txt').splitlines()),
    }
    exists = {"README.txt", "docs/api.txt", "production.ini"}.__contains__

    def titles_of(path):
        return headings(texts[path])

    assert missing_citations(texts, exists, titles_of, set()) == [
        "README.txt: no file docs/nothing.txt",
        'README.txt: no heading "No such heading" in docs/api.txt',
        'docs/api.txt: no heading "Gone" in it',
        "docs/api.txt: no test test_that_is_not_there",
        'production.ini: no heading "Not there" in docs/api.txt',
    ]


def test_pending_files_are_still_missing():
    """Once a pending file exists, its citations are checked like any."""
    for path, what in PENDING.items():
        assert not os.path.exists(os.path.join(HERE, path)), (
            f"{path} ({what}) exists now: remove it from PENDING")


def test_readme_lists_every_doc():
    readme = read("README.txt")
    for path in glob.glob(os.path.join(HERE, "docs", "*.txt")):
        assert os.path.relpath(path, HERE) in readme


def test_readme_is_short():
    assert len(read("README.txt").splitlines()) < 400


def test_no_heading_appears_twice_in_one_doc():
    for path in citing_files():
        if path.endswith(".txt"):
            titles = headings(read(path))
            assert len(titles) == len(set(titles)), path


# The tour ---------------------------------------------------------------

def section(text, title):
    """The body of the section with that title, up to the next heading."""
    lines = text.splitlines()
    for i, (line, under) in enumerate(zip(lines, lines[1:])):
        if line == title and UNDERLINE.match(under):
            body = []
            for j in range(i + 2, len(lines)):
                if j + 1 < len(lines) and lines[j] and UNDERLINE.match(lines[j + 1]):
                    break
                body.append(lines[j])
            return body
    raise AssertionError(f"no section {title!r}")


def transcript(lines):
    """[(command, [output line, ...])] of the ``    $ `` lines."""
    steps = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("    $ "):
            i += 1
            continue
        command = line[6:]
        i += 1
        while command.endswith("\\"):
            command = command[:-1] + " " + lines[i].strip()
            i += 1
        output = []
        while i < len(lines) and not lines[i].startswith("    $ ") and (
                lines[i].startswith("    ") or not lines[i]):
            output.append(lines[i][4:])
            i += 1
        while output and not output[-1]:
            output.pop()
        steps.append((command, output))
    return steps


DATE = re.compile(r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$")
#: An id the server made (myproject/logs.py): a prefix of its own, a count.
REQUEST_ID = re.compile(r"^[0-9a-f]{8}-\d+$")


def compare_response(command, shown, got):
    """Assert curl's output ``got`` is what the README shows for command."""
    if " -si " not in f" {command} " and " -i " not in f" {command} ":
        assert got.strip() == "\n".join(shown).strip(), command
        return
    head, _, body = got.replace("\r\n", "\n").partition("\n\n")
    status, *header_lines = head.split("\n")
    shown_head, shown_body = shown, []
    if "" in shown:
        k = shown.index("")
        shown_head, shown_body = shown[:k], shown[k + 1:]
    assert status == shown_head[0], command
    sent = dict(line.split(": ", 1) for line in header_lines)
    told = dict(line.split(": ", 1) for line in shown_head[1:])
    assert sorted(sent) == sorted(told), (command, sent)
    for name, value in told.items():
        if name == "Date":
            assert DATE.match(sent[name]), (command, sent[name])
        elif name == "X-Request-Id":
            assert REQUEST_ID.match(sent[name]), (command, sent[name])
        else:
            assert sent[name] == value, (command, name)
    assert body.strip() == "\n".join(shown_body).strip(), command


@pytest.fixture
def project_copy(tmp_path):
    """development.ini in a fresh folder, listening on a free port."""
    port = free_port()
    text = read("development.ini")
    assert "listen = localhost:6543\n" in text
    with open(tmp_path / "development.ini", "w") as f:
        f.write(text.replace("listen = localhost:6543\n",
                             f"listen = 127.0.0.1:{port}\n"))
    return tmp_path, port


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_readme_tour_is_what_a_live_server_answers(project_copy):
    folder, port = project_copy
    ini = str(folder / "development.ini")
    steps = transcript(section(read("README.txt"), "A tour"))
    curls = [command for command, _ in steps if command.startswith("curl ")]
    assert len(curls) >= 8
    env = dict(os.environ)
    server = None
    try:
        for command, shown in steps:
            assign = re.fullmatch(
                r"(\w+)=\$\(myproject-admin development\.ini (.+)\)", command)
            if assign:
                assert shown == [], command
                env[assign.group(1)] = subprocess.run(
                    ["bash", "-c", command[len(assign.group(1)) + 3:-1]],
                    env=env, cwd=folder, capture_output=True, text=True,
                    timeout=60, check=True).stdout.strip()
            elif command == "pserve development.ini &":
                assert shown == [], command
                server = Server(ini, port).start()
            elif command == "kill %1":
                assert shown == [], command
                server.stop()
                server = None
            elif command.startswith("curl "):
                # The README's command as it is, through bash; curl connects
                # to the test server for localhost:6543, so URL and Host are
                # the README's.
                script = ('curl() { command curl --connect-to '
                          f'localhost:6543:127.0.0.1:{port} "$@"; }}; '
                          + command)
                got = subprocess.run(
                    ["bash", "-c", script], env=env, cwd=folder,
                    capture_output=True, text=True, timeout=30, check=True,
                ).stdout
                compare_response(command, shown, got)
            else:
                raise AssertionError(f"the tour runs a command this test "
                                     f"does not know: {command}")
    finally:
        if server is not None:
            server.stop()
