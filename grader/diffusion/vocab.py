"""French captions of fruits in colours, the tokenizer, and the checks a prompt must pass.

A caption is « fruit couleur » with the colour agreeing with the fruit's gender (« pomme
verte », « citron vert »). The tokenizer is forgiving where it costs nothing: it ignores case,
accents, the articles « un/une » and the wrong agreement (« banane vert » is « banane verte »),
because each colour word maps to one token whatever its gender. A word outside the vocabulary
is an error that names it and suggests the closest known word: the model would otherwise
quietly draw something unrelated.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from grader.result import AnswerError, I18nText, i18n

# (French word, grammatical gender, English name)
FRUITS: list[tuple[str, str, str]] = [
    ("pomme", "f", "apple"), ("banane", "f", "banana"), ("poire", "f", "pear"),
    ("citron", "m", "lemon"), ("cerise", "f", "cherry"), ("raisin", "m", "grapes"),
]
# (masculine, feminine, English name, hue in [0, 1))
COLOURS: list[tuple[str, str, str, float]] = [
    ("rouge", "rouge", "red", 0.0), ("vert", "verte", "green", 0.30),
    ("jaune", "jaune", "yellow", 0.15), ("violet", "violette", "purple", 0.78),
    ("orange", "orange", "orange", 0.075),
]
FRUIT_WORDS = [fruit for fruit, _, _ in FRUITS]
# Pairs never shown to the diffusion model while it trains: do the words compose?
HELD_OUT: frozenset[tuple[int, int]] = frozenset({(2, 0), (5, 4)})  # poire rouge, raisin orange

PAD, NULL, UNK = 0, 1, 2
SPECIAL = ["<pad>", "<vide>", "<inconnu>"]
# One token per fruit, one per colour (both genders), then the words that carry no meaning.
TOKENS = SPECIAL + FRUIT_WORDS + [masc for masc, _, _, _ in COLOURS]
_IGNORED = {"un", "une", "des", "le", "la", "les", "de", "d"}
MAX_TOKENS = 4
MAX_PROMPT_CHARS = 80


def _fold(word: str) -> str:
    """Lower case, without accents (« Pômme » → « pomme »)."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_WORD_TOKEN: dict[str, int] = {}
for _index, _fruit in enumerate(FRUIT_WORDS):
    _WORD_TOKEN[_fold(_fruit)] = len(SPECIAL) + _index
    _WORD_TOKEN[_fold(_fruit) + "s"] = len(SPECIAL) + _index  # « cerises », « raisins »
for _index, (_masc, _fem, _, _) in enumerate(COLOURS):
    for _form in (_masc, _fem, _masc + "s", _fem + "s"):
        _WORD_TOKEN[_fold(_form)] = len(SPECIAL) + len(FRUITS) + _index

VOCABULARY: list[str] = FRUIT_WORDS + sorted(
    {form for masc, fem, _, _ in COLOURS for form in (masc, fem)})


def caption(fruit: int, colour: int) -> str:
    """The French caption of a pair, with agreement: ``caption(1, 1)`` is « banane verte »."""
    word, gender, _ = FRUITS[fruit]
    masc, fem, _, _ = COLOURS[colour]
    return f"{word} {fem if gender == 'f' else masc}"


def caption_en(fruit: int, colour: int) -> str:
    return f"{COLOURS[colour][2]} {FRUITS[fruit][2]}"


def all_pairs() -> list[tuple[int, int]]:
    return [(f, c) for f in range(len(FRUITS)) for c in range(len(COLOURS))]


def seen_pairs() -> list[tuple[int, int]]:
    return [pair for pair in all_pairs() if pair not in HELD_OUT]


class PromptError(AnswerError):
    """A prompt the model cannot take; ``message`` says why in French and English."""


@dataclass(frozen=True)
class Prompt:
    """A checked prompt: its text, its token ids (padded), and the pair it names, if any."""

    text: str
    tokens: tuple[int, ...]
    fruit: int | None
    colour: int | None


def _unknown(word: str) -> I18nText:
    close = difflib.get_close_matches(_fold(word), VOCABULARY, n=1, cutoff=0.6)
    known = ", ".join(VOCABULARY)
    if close:
        return i18n(f"Le modèle ne connaît pas le mot « {word} ». Vouliez-vous dire « {close[0]} » ? "
                    f"Mots connus : {known}.",
                    f"The model does not know the word “{word}”. Did you mean “{close[0]}”? "
                    f"Known words: {known}.")
    return i18n(f"Le modèle ne connaît pas le mot « {word} ». Mots connus : {known}.",
                f"The model does not know the word “{word}”. Known words: {known}.")


def parse_prompt(text: object) -> Prompt:
    """Check and tokenise a prompt; raise ``PromptError`` with a clear message if it is unusable.

    The empty prompt is refused here (it would give an unconditional sample, which the lab
    does not offer). At most one fruit and one colour: the model was trained on exactly that.
    """
    if not isinstance(text, str):
        raise PromptError(i18n("Le texte doit être une chaîne de caractères.",
                               "The prompt must be a string."))
    text = " ".join(text.split())
    if not text:
        raise PromptError(i18n("Écrivez un texte, par exemple « pomme rouge ».",
                               "Write a prompt, for example “pomme rouge”."))
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptError(i18n(
            f"Le texte est trop long ({len(text)} caractères, au plus {MAX_PROMPT_CHARS}).",
            f"The prompt is too long ({len(text)} characters, at most {MAX_PROMPT_CHARS})."))
    words = [w for w in re.split(r"[\s,.;:!?'’\"«»()-]+", text) if w]
    tokens: list[int] = []
    fruit = colour = None
    for word in words:
        folded = _fold(word)
        if folded in _IGNORED:
            continue
        token = _WORD_TOKEN.get(folded)
        if token is None:
            raise PromptError(_unknown(word))
        index = token - len(SPECIAL)
        if index < len(FRUITS):
            if fruit is not None and fruit != index:
                raise PromptError(i18n("Un seul fruit par image.", "One fruit per image."))
            fruit = index
        else:
            if colour is not None and colour != index - len(FRUITS):
                raise PromptError(i18n("Une seule couleur par image.", "One colour per image."))
            colour = index - len(FRUITS)
        if token not in tokens:
            tokens.append(token)
    if not tokens:
        raise PromptError(i18n("Le texte ne contient aucun mot que le modèle connaît. "
                               f"Mots connus : {', '.join(VOCABULARY)}.",
                               "The prompt holds no word the model knows. "
                               f"Known words: {', '.join(VOCABULARY)}."))
    return Prompt(text=text, tokens=tuple(tokens + [PAD] * (MAX_TOKENS - len(tokens))),
                  fruit=fruit, colour=colour)


def encode_pairs(fruits: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Token ids (n, MAX_TOKENS) for training pairs, in caption order (fruit, then colour)."""
    n = len(fruits)
    tokens = np.zeros((n, MAX_TOKENS), dtype=np.int32)
    tokens[:, 0] = len(SPECIAL) + np.asarray(fruits)
    tokens[:, 1] = len(SPECIAL) + len(FRUITS) + np.asarray(colours)
    return tokens


def null_tokens(n: int) -> np.ndarray:
    """The empty caption, for classifier-free guidance."""
    tokens = np.zeros((n, MAX_TOKENS), dtype=np.int32)
    tokens[:, 0] = NULL
    return tokens
