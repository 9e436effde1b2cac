"""Rep-by-rep judging against movement standards, and movement recognition, from 2-D poses.

    standards.yaml  the built-in standards (9 default movements + wall-ball), user-extendable
    standards.py    the file's pydantic models, ``load_standards``, ``Standards``
    body.py         named points per side, hidden where not seen; torso length (the unit)
    conditions.py   a condition's margin per frame; a clause decided on a rep window
    judge.py        ``judge_reps``: one ``RepVerdict`` per rep
    recognise.py    ``recognise_movement``: zero-shot from the standards' signatures
    verdict.py      ``Check``, ``RepVerdict``, ``MovementGuess``

No TensorFlow, and no counter: reps come in as ``core.metrics.Rep`` (docs/judging.md).
"""
from movinet_crossfit.judging.judge import judge_reps
from movinet_crossfit.judging.recognise import recognise_movement
from movinet_crossfit.judging.standards import MovementStandard, Standards, load_standards
from movinet_crossfit.judging.verdict import Check, MovementGuess, RepVerdict

__all__ = ["Check", "MovementGuess", "MovementStandard", "RepVerdict", "Standards", "judge_reps", "load_standards",
           "recognise_movement"]
