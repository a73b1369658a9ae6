"""The negative control of the escape kit: the same attack code, against the same targets, run
in a plain subprocess of the same user instead of the jail (``driver.py --no-jail``), as a root
worker and as an unprivileged one. Each attack must succeed there: so a blocked attack in
test_escape_kit.py is the jail's doing, never an attack that could not have worked anyway."""
from __future__ import annotations

import pytest

from tests.sandbox.attacks import ATTACKS

ESCAPES = sorted(set(ATTACKS) - {"claim_a_score"})  # a forged result is the parent's business


@pytest.mark.parametrize("name", ESCAPES)
def test_the_attack_succeeds_without_the_jail(control_report, name):
    mode, data = control_report
    entry = data["attacks"][name]
    if name == "leave_a_process":
        assert entry["orphans"], (mode, entry)  # the sleeper outlived the job (then killed)
    else:
        assert entry["attack"]["escaped"] is True, (mode, entry["attack"])
    if name == "write_outside":
        assert entry["written_outside"], (mode, entry)
    if name == "udp_socket":
        assert entry["udp_received"] == "x", (mode, entry)
    if name == "unix_socket":
        assert entry["unix_accepted"] is True, (mode, entry)


def test_the_control_covers_every_escape():
    assert set(ESCAPES) | {"claim_a_score"} == set(ATTACKS)
