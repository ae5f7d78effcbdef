"""Hypothesis strategies shared by the property tests: any JSON value, mutated payloads."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)


def mutate(data: st.DataObject, payload: Any) -> Any:
    """A copy of ``payload`` with one value somewhere inside replaced by any JSON or deleted."""
    payload = copy.deepcopy(payload)
    node = payload
    for _ in range(data.draw(st.integers(1, 5))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
            action = data.draw(st.sampled_from(["replace", "delete", "descend"]))
            if action == "replace":
                node[key] = data.draw(json_values)
                break
            if action == "delete":
                del node[key]
                break
            node = node[key]
        elif isinstance(node, list) and node:
            node = node[data.draw(st.integers(0, len(node) - 1))]
        else:
            break
    return payload
