"""How the command line spells what library messages name: parameters as flags, steps as
commands (:func:`~neurongraph.errors.arg`, :func:`~neurongraph.errors.step`).

The CLI's error lines and notes, and the HTML report (whose reader runs the commands it shows),
pass library text through :func:`for_command_line`. Light: no heavy imports.
"""

from __future__ import annotations

from neurongraph.errors import render_args

__all__ = ["FLAGS", "command", "flag", "for_command_line"]

#: Library parameters whose flag is not ``--`` and the parameter's name in kebab-case.
FLAGS = {
    "k": "-k",
    "location": "--store",
    "n_random": "--random-sets",
    "n_shuffles": "--shuffles",
    "out_dir": "--out",
    "random_state": "--seed",
    "shuffle_methods": "--shuffle-method",
    "spectral_method": "--method",
    "spectral_methods": "--method",
}


def flag(param: str) -> str:
    """The command-line flag of a library parameter named in a message.

    Examples
    --------
    >>> flag("trust_pickle"), flag("n_random")
    ('--trust-pickle', '--random-sets')
    """
    return FLAGS.get(param, "--" + param.replace("_", "-"))


def command(step: str) -> str:
    """The command of a workflow step named in a message.

    Examples
    --------
    >>> command("activations")
    '`neurongraph activations`'
    """
    return f"`neurongraph {step}`"


def for_command_line(text: str) -> str:
    """Library text with its parameters spelled as flags and its steps as commands.

    Examples
    --------
    >>> for_command_line("use `n_random=` 100 or more")
    'use --random-sets 100 or more'
    """
    return render_args(text, flag, command)
