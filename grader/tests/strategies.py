"""Hypothesis strategies shared by the grader tests."""
from __future__ import annotations

from hypothesis import strategies as st

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["12", " 3.5 ", "abc", "", "1e999", "-1e999", "nan", "inf", "1/9", "0,5",
                       "3 600 000", "1_000", "−3", "1/0", "+7", ".5", "1e3", "٣"])
)

json_like = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
