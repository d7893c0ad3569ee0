"""The graders are honest: they pass the solution, fail the stub and reject
plausible wrong answers.

For every exercise notebook:
- the answers in the solution source pass every check cell;
- the committed learner notebook is the generated one (not stale), keeps
  no solution, and each of its check cells fails on the stub;
- every grader of the chapter rejects each of its mutants (wrong answers,
  `MUTANTS` in tests/mutants/chNN.py), through one of its cases rather than
  by crashing, and has at least three of them;
- every grader accepts each of its alternatives (right answers written
  another way, `ALTERNATIVES` in the same file), and has at least one.
"""

import importlib

import pytest

from exercises.generate import learner_version
from exercises.grading import GRADERS, TaskFailed
from exercises.notebooks import (
    cells_tagged,
    learner_notebook,
    load_answers,
    read,
    solution_notebooks,
)

SOLUTIONS = solution_notebooks()
ids = [path.name for path in SOLUTIONS]


def check_sources(path):
    return [cell.source for cell in cells_tagged(read(path), "check")]


def test_every_chapter_has_exercises():
    chapters = {path.name[:2] for path in SOLUTIONS}
    assert {"00", "01"} <= chapters


@pytest.mark.parametrize("solution", SOLUTIONS, ids=ids)
def test_three_to_five_tasks(solution):
    assert 3 <= len(check_sources(solution)) <= 5


@pytest.mark.parametrize("solution", SOLUTIONS, ids=ids)
def test_solution_passes_every_check(solution, capsys):
    namespace = load_answers(solution)
    for source in check_sources(solution):
        exec(source, namespace)
    assert capsys.readouterr().out.count("✓") == len(check_sources(solution))


@pytest.mark.parametrize("solution", SOLUTIONS, ids=ids)
def test_learner_notebook_is_generated_and_current(solution):
    learner = learner_notebook(solution)
    assert learner.exists(), f"missing {learner.name}: run `make exercises`"
    assert learner.read_text(encoding="utf-8") == learner_version(solution), (
        f"{learner.name} is stale: run `make exercises`"
    )
    text = learner.read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text


@pytest.mark.parametrize("solution", SOLUTIONS, ids=ids)
def test_stub_fails_every_check(solution):
    learner = learner_notebook(solution)
    namespace = load_answers(learner)
    for source in check_sources(learner):
        with pytest.raises(TaskFailed, match="not written yet"):
            exec(source, namespace)


def chapter_graders(number):
    module = f"exercises.graders.ch{number}"
    importlib.import_module(module)
    return {
        name.rsplit(".", 1)[1]: check
        for name, check in GRADERS.items()
        if name.startswith(module + ".")
    }


def answers(number, table):
    return getattr(importlib.import_module(f"tests.mutants.ch{number}"), table, {})


def graded_answers(table):
    """(check name, answer) for every answer in `table` of every chapter, as pytest params."""
    return [
        pytest.param(number, name, answer, id=f"ch{number}.{name}.{answer.__name__}")
        for number in [path.name[:2] for path in SOLUTIONS]
        for name, listed in answers(number, table).items()
        for answer in listed
    ]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=ids)
def test_every_grader_has_mutants_and_alternatives(solution):
    number = solution.name[:2]
    graders = set(chapter_graders(number))
    for table, least in (("MUTANTS", 3), ("ALTERNATIVES", 1)):
        listed = answers(number, table)
        assert set(listed) == graders, f"every grader needs {table}, and each of them a grader"
        for name in graders:
            assert len(listed[name]) >= least, f"{name} needs at least {least} {table}"


@pytest.mark.parametrize(("number", "name", "mutant"), graded_answers("MUTANTS"))
def test_every_grader_rejects_its_mutants(number, name, mutant):
    with pytest.raises(TaskFailed) as failure:
        chapter_graders(number)[name](mutant)
    assert " failed: " in str(failure.value), f"the grader crashed instead:\n{failure.value}"


@pytest.mark.parametrize(("number", "name", "alternative"), graded_answers("ALTERNATIVES"))
def test_every_grader_accepts_its_alternatives(number, name, alternative, capsys):
    chapter_graders(number)[name](alternative)
    assert capsys.readouterr().out.startswith("✓")
