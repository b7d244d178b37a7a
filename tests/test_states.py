"""One state vocabulary: every state, failure kind and event kind is a member of ``mpflow.states``, and
no module outside it compares a state against a string literal."""

from __future__ import annotations

import ast
from pathlib import Path

from mpflow.states import EventKind, FailureKind, JobState, ModelStatus, StageState

REPO = Path(__file__).resolve().parents[1]
CODE = [p for folder in ("mpflow", "flows", "tasks", "blocks", "deployments") for p in (REPO / folder).rglob("*.py")
        if "migrations" not in p.parts and p.name != "states.py"]
STATE_WORDS = {m.value for enum in (JobState, FailureKind, StageState, ModelStatus, EventKind) for m in enum}


def _literals(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [v for e in node.elts for v in _literals(e)]
    return []


def test_no_state_is_spelt_as_a_string_outside_the_states_module():
    found = []
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                words = [w for side in (node.left, *node.comparators) for w in _literals(side) if w in STATE_WORDS]
                if words:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    assert found == []


def test_the_members_are_their_values_in_the_database_and_in_text():
    assert JobState.PD == "PD" and f"{JobState.UNKNOWN}" == "?" and str(StageState.DONE) == "done"
    assert {s.value for s in JobState} == {"SUBMITTING", "NS", "PD", "R", "D", "F", "?"}
    for kind in ("not_submitted", "stale_inputs", "cancelled_by_mpflow", "submit_refused"):
        assert FailureKind(kind)
