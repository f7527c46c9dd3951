"""The objective registry: what ``--task`` trains is one registered :class:`Objective`.

An objective module (``gan_cls``, ``scene_gan``, ``diverse_gan``, ``supervised``)
declares, in one place, everything the commands need to know about it:

- ``hyper``: a dataclass of its hyperparameters with their defaults; the
  ``--flags`` of ``python -m tfav.train``, the keys of a ``--config`` file and
  the KerasTuner search space are derived from its fields (:func:`hyper_field`);
- ``build``: ``(BuildContext) -> compiled keras.Model``;
- optional hooks, each ``None`` when the objective has nothing to add:

  ``condition_encoder(task, hyper, resources) -> (encoder, notes)``
      the frozen network that encodes the condition (``notes``: entries for
      ``config.json``);
  ``dataset_options(task, hyper, resources) -> dict``
      extra keyword arguments of ``tasks.make_dataset`` (e.g. wrong-pair weights);
  ``prepare(model, train_ds, log)``
      runs once on a new model before the first epoch (fit statistics, pretrain a
      helper network);
  ``extra_metrics(model, validation, seed) -> dict``
      final measurements only this objective has (``tfav.evaluate``);
  ``extra_metric_names``
      their names, which ``tfav.tune`` may optimise.

A module registers itself with :func:`register` at import; ``tfav.objectives``
imports the built-in ones, so loading a saved model needs no import list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tfav.errors import ConfigError


def hyper_field(default, help: str, *, tune: tuple | None = None, choices=None,
                task_default: str | None = None, low=None, high=None, low_open=False):
    """A hyperparameter: its default, its ``--flag`` help and its search space.

    Args:
        default: The default; ``None`` with ``task_default`` means "the task's".
        help: One line for ``--help``.
        tune: KerasTuner space: ``("float", low, high, sampling, step)``,
            ``("choice", [values])`` or ``("boolean",)``; ``None``: not searched.
        choices: The allowed values of a string option.
        task_default: The ``tasks.Task`` attribute that holds the default when
            ``default`` is ``None`` (e.g. ``"learning_rate"``).
        low, high, low_open: The range a ``--flag`` accepts (``low_open``: ``> low``).
    """
    return dataclasses.field(default=default, metadata={
        "help": help, "tune": tune, "choices": choices, "task_default": task_default,
        "range": (low, high, low_open)})


def default_of(f: dataclasses.Field, task):
    """The value a field takes for ``task`` when nobody sets it."""
    if f.default is None and f.metadata.get("task_default"):
        return getattr(task, f.metadata["task_default"])
    return f.default


def task_defaults(task, hyper=None) -> dict:
    """``task.default_hyper`` as a dict, with the given ``hyper`` values (a dict of
    overrides or ``None``) over it: the hyperparameters of a run that names no
    ``--recipe``."""
    return {**dict(getattr(task, "default_hyper", ())), **(hyper or {})}


def resolved(hyper, name: str, task):
    """``hyper.<name>``, or the task's default for it when it is ``None``."""
    value = getattr(hyper, name)
    if value is None:
        f = next(f for f in dataclasses.fields(hyper) if f.name == name)
        return default_of(f, task)
    return value


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What a builder gets: the task, the data's class count, the hyperparameters,
    the frozen condition encoder (or ``None``), the image side, the seed and what the
    objective's ``dataset_options`` gave the pipeline."""

    task: Any
    num_classes: int
    hyper: Any
    encoder: Any = None
    image_size: int = 64
    seed: int = 0
    dataset_options: dict = dataclasses.field(default_factory=dict)

    @property
    def learning_rate(self) -> float:
        return getattr(self.hyper, "learning_rate", None) or self.task.learning_rate

    @property
    def base_filters(self) -> int:
        return getattr(self.hyper, "base_filters", None) or self.task.base_filters

    @property
    def g_steps(self) -> int:
        return getattr(self.hyper, "g_steps", None) or self.task.g_steps


@dataclasses.dataclass(frozen=True)
class Objective:
    """One trainable objective; see the module docstring for the hooks."""

    name: str
    hyper: type
    build: Callable[[BuildContext], Any]
    condition_encoder: Callable | None = None
    dataset_options: Callable | None = None
    prepare: Callable | None = None
    extra_metrics: Callable | None = None
    extra_metric_names: tuple[str, ...] = ()

    def make_hyper(self, values: dict | None = None, *, source: str = "option"):
        """The hyperparameter dataclass from ``values``; a key this objective has no
        field for is a one-line :class:`ConfigError` naming ``source``."""
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(self.hyper)}
        unknown = sorted(set(values) - known)
        if unknown:
            flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
            raise ConfigError(f"{source} {flags}: not a hyperparameter of the {self.name} "
                              f"objective (its: {', '.join(sorted(known))})")
        return self.hyper(**values)


_OBJECTIVES: dict[str, Objective] = {}


def register(objective: Objective) -> Objective:
    """Add ``objective`` (a module calls this at import; registering again replaces)."""
    if not dataclasses.is_dataclass(objective.hyper):
        raise TypeError(f"{objective.name}: hyper must be a dataclass")
    _OBJECTIVES[objective.name] = objective
    return objective


def get(name: str) -> Objective:
    if name not in _OBJECTIVES:
        raise ConfigError(f"unknown objective '{name}' (known: {', '.join(_OBJECTIVES)})")
    return _OBJECTIVES[name]


def all_objectives() -> list[Objective]:
    return list(_OBJECTIVES.values())


def hyper_fields() -> dict[str, dataclasses.Field]:
    """Every hyperparameter of every registered objective, by name (first one wins:
    objectives sharing a name share its meaning)."""
    fields: dict[str, dataclasses.Field] = {}
    for objective in _OBJECTIVES.values():
        for f in dataclasses.fields(objective.hyper):
            fields.setdefault(f.name, f)
    return fields


def field_type(f: dataclasses.Field) -> str:
    """``"float"``, ``"int"``, ``"bool"`` or ``"str"`` (optional or not)."""
    text = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return text.split(" | ")[0]
