"""The registry of exercise types: a new type is one module here and one line below."""
from __future__ import annotations

from .base import GENERATION, GRADING_KINDS, INSTANT, UPLOAD, ExerciseType
from .diffusion import DiffusionType
from .kernel import KernelType
from .mcq import McqType
from .model import ModelType
from .numeric import NumericType
from .output_size import OutputSizeType
from .param_count import ParamCountType
from .short_answer import ShortAnswerType

REGISTRY: dict[str, ExerciseType] = {
    exercise_type.name: exercise_type
    for exercise_type in (
        OutputSizeType(),
        ParamCountType(),
        KernelType(),
        McqType(),
        ModelType(),
        DiffusionType(),
        NumericType(),
        ShortAnswerType(),
    )
}


class UnknownExerciseType(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def get_type(name: str) -> ExerciseType:
    """The registered type called ``name``; ``UnknownExerciseType`` (a KeyError) otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownExerciseType(
            f"unknown exercise type {name!r}; registered types: {', '.join(sorted(REGISTRY))}"
        ) from None




def grading_of(exercise) -> str:
    """How an exercise is graded: ``INSTANT``, ``UPLOAD`` or ``GENERATION``."""
    return get_type(exercise.type).grading


__all__ = ["GENERATION", "GRADING_KINDS", "INSTANT", "REGISTRY", "UPLOAD", "ExerciseType", "UnknownExerciseType",
           "get_type", "grading_of"]
