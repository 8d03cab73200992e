"""Text data for token models: the built-in text task, text files, and word tokenisation.

Two specs read text (see :func:`~neurongraph.model.datasets.load_dataset`):

``text-task``
    A small labelled task generated in code: ``TEXT_TASK_PER_CLASS`` short sentences for each of
    the topics in :data:`TOPICS` (animals, food, weather, sport), each naming one of its
    topic's nouns and verbs among words shared by every topic, so the label is decided by the
    words. Deterministic for a ``random_state``; split 80/20 stratified.
``text:FILE``
    One example per line (blank lines skipped). Every line ``label<TAB>text`` with an integer
    label gives a classification task; lines without a tab are unlabelled (label 0, one class).

A text dataset keeps its texts (:attr:`~neurongraph.model.datasets.Dataset.texts`) and comes
encoded with the built-in word vocabulary (:data:`WORDS`: padding, unknown, then the text
task's words; lower-cased words, anything else splits them), padded with :data:`PAD_ID` to its
longest text. A model with its own tokenizer encodes the texts again
(:meth:`~neurongraph.model.hf.TokenInput.encode`). Padding positions are what
:attr:`~neurongraph.model.datasets.Dataset.pad_token` marks.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from neurongraph.errors import IngestError

__all__ = [
    "MAX_TEXT_POSITIONS",
    "PAD_ID",
    "TEXT_PREFIX",
    "TEXT_TASK",
    "TEXT_TASK_PER_CLASS",
    "TOPICS",
    "UNK_ID",
    "WORDS",
    "encode_words",
    "read_text_file",
    "text_task",
]

TEXT_TASK = "text-task"
TEXT_PREFIX = "text:"
#: Sentences per topic of the built-in text task.
TEXT_TASK_PER_CLASS = 100
#: At most this many word positions when a text file is encoded with the built-in words.
MAX_TEXT_POSITIONS = 128
#: Each topic of the text task: its nouns and its verbs.
TOPICS = {
    "animals": (
        ("cat", "dog", "horse", "bird", "fox", "rabbit", "cow", "mouse"),
        ("sleeps", "runs", "barks", "hides"),
    ),
    "food": (
        ("bread", "soup", "cheese", "apple", "rice", "cake", "pasta", "salad"),
        ("tastes", "cooks", "bakes", "smells"),
    ),
    "weather": (
        ("rain", "snow", "wind", "storm", "sun", "fog", "cloud", "frost"),
        ("falls", "blows", "clears", "arrives"),
    ),
    "sport": (
        ("team", "match", "goal", "player", "race", "coach", "ball", "score"),
        ("wins", "loses", "scores", "trains"),
    ),
}
#: Words every topic's sentences draw from.
DETERMINERS = ("the", "a", "this", "that", "every", "one")
ADJECTIVES = ("big", "small", "old", "new", "quiet", "quick", "odd", "fine", "warm", "cold")
ENDINGS = ("today", "again", "at night", "in the morning", "now", "slowly", "here", "there")
PAD, UNK = "[PAD]", "[UNK]"
#: The built-in word vocabulary: padding, unknown, then every word of the text task, sorted.
WORDS = (
    PAD,
    UNK,
    *sorted(
        {
            *DETERMINERS,
            *ADJECTIVES,
            *(w for ending in ENDINGS for w in ending.split()),
            *(w for nouns, verbs in TOPICS.values() for w in (*nouns, *verbs)),
        }
    ),
)
PAD_ID = WORDS.index(PAD)
UNK_ID = WORDS.index(UNK)
_INDEX = {word: i for i, word in enumerate(WORDS)}
_WORD = re.compile(r"[a-z0-9]+")
_TAB = "\t"


def text_task(random_state: int) -> tuple[list[str], np.ndarray]:
    """The built-in text task's sentences and labels (index into :data:`TOPICS`), in class
    order, ``TEXT_TASK_PER_CLASS`` per class.

    Examples
    --------
    >>> texts, labels = text_task(0)
    >>> len(texts), sorted(set(labels.tolist())), texts[0].split()[2] in TOPICS["animals"][0]
    (400, [0, 1, 2, 3], True)
    """
    rng = np.random.default_rng(random_state)
    texts: list[str] = []
    labels: list[int] = []
    for label, (nouns, verbs) in enumerate(TOPICS.values()):
        for _ in range(TEXT_TASK_PER_CLASS):
            words = (
                DETERMINERS[rng.integers(len(DETERMINERS))],
                ADJECTIVES[rng.integers(len(ADJECTIVES))],
                nouns[rng.integers(len(nouns))],
                verbs[rng.integers(len(verbs))],
                ENDINGS[rng.integers(len(ENDINGS))],
            )
            texts.append(" ".join(words))
            labels.append(label)
    return texts, np.asarray(labels, dtype=np.int64)


def read_text_file(path: Path) -> tuple[list[str], np.ndarray]:
    """The examples of a text file and their labels (see the module docstring).

    Raises
    ------
    IngestError
        A missing or unreadable file, one without text, labels that are not non-negative
        integers, or a file that labels some lines and not others.
    """
    if not path.is_file():
        raise IngestError(f"text file not found: {path}; check the path")
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise IngestError(f"cannot read {path} as UTF-8 text: {err}") from err
    if not lines:
        raise IngestError(f"{path} holds no text; give one example per line")
    labelled = [_TAB in line for line in lines]
    if not any(labelled):
        return [line.strip() for line in lines], np.zeros(len(lines), dtype=np.int64)
    if not all(labelled):
        first = labelled.index(False) + 1
        raise IngestError(
            f"{path}: line {first} has no label but others do; give every line as "
            "label<TAB>text, or none"
        )
    texts, labels = [], []
    for number, line in enumerate(lines, start=1):
        label, text = line.split(_TAB, 1)
        if not label.strip().isdigit():
            raise IngestError(
                f"{path}: line {number} has label {label!r}; labels are non-negative integers "
                "(label<TAB>text)"
            )
        texts.append(text.strip())
        labels.append(int(label))
    return texts, np.asarray(labels, dtype=np.int64)


def words_of(text: str) -> list[str]:
    """The words of a text as the built-in vocabulary splits them (lower-cased)."""
    return _WORD.findall(text.lower())


def encode_words(texts: list[str] | np.ndarray, positions: int | None = None) -> np.ndarray:
    """Texts as ids of the built-in word vocabulary, ``(n, positions)`` int64: unknown words
    ``UNK_ID``, padded with ``PAD_ID`` at the end, cut after ``positions`` words (default: the
    longest text's, at most ``MAX_TEXT_POSITIONS``).

    Examples
    --------
    >>> ids = encode_words(["the cat sleeps", "a zebra"])
    >>> [[WORDS[i] for i in row] for row in ids.tolist()]
    [['the', 'cat', 'sleeps'], ['a', '[UNK]', '[PAD]']]
    """
    split = [words_of(str(text)) for text in texts]
    if positions is None:
        positions = min(max((len(words) for words in split), default=1), MAX_TEXT_POSITIONS)
    ids = np.full((len(split), max(positions, 1)), PAD_ID, dtype=np.int64)
    for row, words in enumerate(split):
        kept = words[:positions]
        ids[row, : len(kept)] = [_INDEX.get(word, UNK_ID) for word in kept]
    return ids
