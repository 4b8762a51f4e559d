"""``llmtally advise verify`` as a library call: sample the feature's recorded
prompts, replay them through each candidate model as a lab run, judge each
answer, and price the move.

Steps, everything checkable checked before any call: the feature's calls in the
period and the sample (:mod:`llmtally.advisor.verify_sample`); the candidates
routed through the gateway config and priced in the catalog; the user's checks
compiled; then an experiment (``experiment.yaml`` and ``replays.jsonl``) written to
``$LLMTALLY_HOME/verify/<feature>-<time>/`` and run by the lab like any other
(``llmtally.lab.session.run_experiment``, a new run each time), so the replays
go through a gateway into the ledger, under ``--max-usd``, and show in
``llmtally lab show``. The prompt is ``{system}`` / ``{user}`` of each row;
the agreement check reads ``{recorded}`` and ``{agreement_min}``.

With ``--effort`` (:mod:`llmtally.advisor.verify_effort`) every candidate is
asked at that reasoning effort or thinking budget, named ``MODEL@EFFORT`` in the
run, and without the recorded temperature (a thinking model takes its own: the
Messages API refuses any but 1 with thinking, OpenAI's reasoning models refuse
one); on Anthropic the default answer room is added above the thinking budget.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from llmtally.advisor.verify import Verification, run_name, verification_of
from llmtally.advisor.verify_agree import AGREEMENT_CHECK, MIN_COLUMN, RECORDED_COLUMN
from llmtally.advisor.verify_effort import Effort, labelled
from llmtally.advisor.verify_sample import Sample, feature_calls, known_features, read_sample
from llmtally.advisor.verify_saving import Repricing, month_factor, reprice
from llmtally.catalog import Catalog
from llmtally.gateway.config import GatewayConfig, RouteError
from llmtally.lab.checks import compile_checks
from llmtally.lab.plan import ANTHROPIC_MIN_THINKING, THINKING_BUDGET
from llmtally.lab.runner import Progress
from llmtally.lab.spec import CHECK_KINDS, CheckSpec, Experiment, ExperimentError, ModelSpec, Source
from llmtally.lab.store import LabStore
from llmtally.ledger import Store

__all__ = [
    "AGREEMENT_FUNCTION",
    "Candidate",
    "VerifyError",
    "VerifyReport",
    "VerifyRequest",
    "candidates",
    "check_specs",
    "verify_feature",
]

AGREEMENT_FUNCTION = "llmtally.advisor.verify_agree:agreement"
MAX_TOKENS_FLOOR = 64
MAX_TOKENS_CAP = 16_384
_FEATURE_MAX = 120 - len(run_name(""))
_LABEL_MAX = 80  # a lab model's label  # a lab run's name is at most 120 characters


class VerifyError(ValueError):
    """What is wrong with a verification, before any call is made."""


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    feature: str
    models: tuple[str, ...]
    since: dt.datetime
    until: dt.datetime
    sample: int = 20
    checks: tuple[CheckSpec, ...] = ()
    agreement_min: Decimal = Decimal("0.6")
    max_tokens: int | None = None  # None: twice the sample's longest recorded answer
    max_usd: Decimal | None = None
    config: Path | None = None
    database_url: str | None = None
    effort: Effort | None = None  # every candidate asked at this effort (``MODEL@EFFORT``)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A candidate model, as the gateway routes it and the catalog prices it."""

    model: str
    provider: str  # the catalog provider
    catalog_model: str  # the name the catalog knows it by (the upstream's)
    anthropic: bool  # an Anthropic Messages upstream (temperature 0 to 1)
    kind: str = "openai"  # the upstream's wire: openai, anthropic or gemini

    def name(self, effort: Effort | None) -> str:
        """Its name in the run: the model, or ``MODEL@EFFORT``."""
        return self.model if effort is None else labelled(self.model, effort)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    feature: str
    since: dt.datetime
    until: dt.datetime
    calls: int  # the feature's successful calls in the period
    with_bodies: int  # of them with a whole stored request and answer
    picked: int
    skipped: Mapping[str, int]  # reason -> sampled calls that could not be replayed
    verification: Verification
    agreement_min: Decimal  # the word-F1 threshold asked for
    repricing: Mapping[str, Repricing] = field(default_factory=dict)  # by candidate
    effort: Effort | None = None  # asked of every candidate
    experiment: Path | None = None
    stop_reason: str | None = None


def check_specs(texts: Sequence[str], file: Path | None) -> tuple[CheckSpec, ...]:
    """The checks of ``--check SPEC`` (each a YAML mapping in the lab's syntax, e.g.
    ``'contains: refund'``) and ``--checks FILE`` (a YAML list, or ``checks:`` of
    one), compiled once to find a bad one now; file references made absolute."""
    specs: list[CheckSpec] = []
    if file is not None:
        specs += _file_checks(file)
    for text in texts:
        specs += _compiled(Source(Path("--check"), text), [_loaded(text, "--check")])
    names = [spec.name for spec in specs]
    if AGREEMENT_CHECK in names:
        raise VerifyError(
            f"the check name {AGREEMENT_CHECK!r} is kept for the agreement with the recorded "
            "answer: name the check otherwise"
        )
    return tuple(specs)


def _loaded(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise VerifyError(f"{where} {text!r}: not YAML: {exc}") from None


def _file_checks(path: Path) -> list[CheckSpec]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise VerifyError(f"--checks {path}: cannot read it ({reason})") from None
    data = _loaded(text, f"--checks {path}:")
    items = data.get("checks") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise VerifyError(f"--checks {path}: a list of checks, or a mapping with `checks:`")
    return _compiled(Source(path, text), items)


def _compiled(source: Source, items: list[Any]) -> list[CheckSpec]:
    """``items`` validated as checks and compiled (a bad regex, schema or function
    found now), with their Python files and schema files as absolute paths."""
    one = source.path == Path("--check")  # one --check, else a --checks file
    what = f"--check {source.text!r}" if one else f"--checks {source.path}"
    data = {"prompts": [{"id": "p", "user": "u"}], "models": [{"model": "m"}], "checks": items}
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as exc:
        reasons = "; ".join(_reason(error, one) for error in exc.errors())
        kinds = ", ".join(CHECK_KINDS)
        raise VerifyError(
            f"{what}: {reasons} (a check has one of {kinds}; name and ignore_case optional)"
        ) from None
    try:
        compile_checks(experiment, source)
    except ExperimentError as exc:
        reason = re.sub(r"^--check:\d+: checks\.\d+\.", "", str(exc)) if one else str(exc)
        raise VerifyError(f"{what}: {reason}") from None
    return [_absolute(spec, source.folder) for spec in experiment.checks]


def _reason(error: Any, one: bool) -> str:
    """A pydantic error as ``field: message`` (a --check's own fields, without
    ``checks.0.``)."""
    loc = [str(part) for part in error["loc"]][2 if one else 0 :]
    return f"{'.'.join(loc)}: {error['msg']}" if loc else str(error["msg"])


def _absolute(spec: CheckSpec, folder: Path) -> CheckSpec:
    update: dict[str, Any] = {}
    if spec.python is not None:
        where, _, function = spec.python.rpartition(":")
        if where.endswith(".py"):
            update["python"] = f"{(folder / where).resolve()}:{function}"
    if isinstance(spec.json_schema, str):
        update["json_schema"] = str((folder / spec.json_schema).resolve())
    return spec.model_copy(update=update) if update else spec


def candidates(models: Sequence[str], config: GatewayConfig, catalog: Catalog) -> list[Candidate]:
    """Each model routed, priced and with its API key now; VerifyError names one that
    is not. A model on a machine of your own (``usd_per_hour``) needs no catalog price
    to be replayed: its saving is then unknown (no call can be re-priced)."""
    found: list[Candidate] = []
    for model in models:
        try:
            route, upstream = config.route(model)
        except RouteError as exc:
            raise VerifyError(f"unknown model {model!r}: {exc}") from None
        env = upstream.api_key_env
        if env and not os.environ.get(env):
            raise VerifyError(
                f"{model} goes to upstream {route.upstream!r}, which reads its API key from "
                f"${env}, and that variable is not set"
            )
        name = route.upstream_model(model)
        try:
            catalog.price_at(upstream.price_provider, name, dt.datetime.now(dt.UTC))
        except (LookupError, ValueError) as exc:
            if upstream.usd_per_hour is None:  # a machine of your own runs without one
                said = str(exc)
                message = said if said.startswith("unknown model") else f"{model!r}: {said}"
                raise VerifyError(message) from None
        anthropic = upstream.kind == "anthropic"
        found.append(Candidate(model, upstream.price_provider, name, anthropic, upstream.kind))
    return found


def _thinking(candidate: Candidate, effort: Effort | None) -> int | None:
    """The thinking tokens the effort asks of an Anthropic candidate (None: none)."""
    if effort is None or not candidate.anthropic:
        return None
    if effort.budget is not None:
        return effort.budget
    return max(THINKING_BUDGET[effort.level or "low"], ANTHROPIC_MIN_THINKING)


def check_effort(request: VerifyRequest, targets: Sequence[Candidate]) -> None:
    """What a candidate's API would refuse of ``--effort``, refused before any call."""
    effort = request.effort
    if effort is None:
        return
    for target in targets:
        if len(target.name(effort)) > _LABEL_MAX:
            raise VerifyError(f"{target.name(effort)!r}: a name of up to {_LABEL_MAX} characters")
        if effort.budget is not None and target.kind == "openai":
            raise VerifyError(
                f"--effort {effort.text}: {target.model} takes a reasoning effort "
                "(--effort minimal, low, medium or high), not a thinking budget"
            )
        budget = _thinking(target, effort)
        if budget is not None and budget < ANTHROPIC_MIN_THINKING:
            raise VerifyError(
                f"--effort {effort.text}: {target.model} thinks with a budget of at least "
                f"{ANTHROPIC_MIN_THINKING} tokens"
            )
        if budget is not None and request.max_tokens is not None and request.max_tokens <= budget:
            raise VerifyError(
                f"--max-tokens {request.max_tokens}: {target.model} counts its thinking "
                f"({budget} tokens) within max_tokens: give more than {budget}"
            )


def _sample(store: Store, request: VerifyRequest) -> Sample:
    sample = read_sample(store, request.feature, request.since, request.until, request.sample)
    window = f"from {request.since:%Y-%m-%d %H:%M} to {request.until:%Y-%m-%d %H:%M} UTC"
    if not sample.calls:
        known = known_features(store, request.since, request.until)
        seen = f" (features with calls then: {', '.join(known)})" if known else ""
        raise VerifyError(
            f"unknown feature {request.feature!r}: no successful calls {window}{seen}"
        )
    if not sample.with_bodies:
        raise VerifyError(
            f"feature {request.feature!r} has {sample.calls:,} calls {window}, none with a "
            "whole stored request and answer to replay (the gateway stores them with "
            "`record_bodies: true`, its default, whole up to `body_limit_bytes`)"
        )
    if not sample.replays:
        reasons = "; ".join(f"{n} with {why}" for why, n in sample.skipped.items())
        raise VerifyError(f"none of the {sample.picked} sampled calls can be replayed: {reasons}")
    return sample


def _max_tokens(request: VerifyRequest, sample: Sample) -> int:
    if request.max_tokens is not None:
        return request.max_tokens
    longest = max(replay.output_tokens for replay in sample.replays)
    return min(MAX_TOKENS_CAP, max(MAX_TOKENS_FLOOR, 2 * longest))


def _folder(feature: str) -> Path:
    from llmtally.config import data_home

    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", feature).strip("-")[:60] or "feature"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return data_home() / "verify" / f"{slug}-{stamp}"


def _model_spec(
    candidate: Candidate,
    temperature: float | None,
    max_tokens: int,
    effort: Effort | None = None,
    explicit: bool = False,
) -> ModelSpec:
    if temperature is not None and candidate.anthropic:
        temperature = min(temperature, 1.0)  # the Messages API takes 0 to 1
    if effort is None:
        return ModelSpec(model=candidate.model, temperature=temperature, max_tokens=max_tokens)
    budget = _thinking(candidate, effort)
    if budget is not None and not explicit:
        max_tokens += budget  # the answer's room above the thinking budget
    return ModelSpec(
        model=candidate.model,
        label=candidate.name(effort),
        max_tokens=max_tokens,
        reasoning_effort=effort.level,  # one of EFFORT_LEVELS (parse_effort)
        thinking_budget=effort.budget,
    )


def write_experiment(
    request: VerifyRequest, sample: Sample, targets: Sequence[Candidate], folder: Path
) -> Path:
    """The lab experiment of the replays (``experiment.yaml`` beside ``replays.jsonl``)."""
    folder.mkdir(parents=True, exist_ok=True)
    threshold = str(request.agreement_min)
    with (folder / "replays.jsonl").open("w", encoding="utf-8") as out:
        for replay in sample.replays:
            row = {
                "call_id": replay.call_id,
                "system": replay.system or "",
                "user": replay.user,
                RECORDED_COLUMN: replay.recorded,
                MIN_COLUMN: threshold,
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    temperature, max_tokens = _temperature_of(sample), _max_tokens(request, sample)
    agreement = {"name": AGREEMENT_CHECK, "python": AGREEMENT_FUNCTION}
    experiment = {
        "name": run_name(request.feature),
        "description": (
            f"llmtally advise verify: {len(sample.replays)} recorded prompts of feature "
            f"{request.feature!r}, agreement: word F1 >= {threshold}"
        ),
        "prompts": [{"id": "recorded", "system": "{system}", "user": "{user}"}],
        "dataset": "replays.jsonl",
        "models": [
            _model_spec(
                t, temperature, max_tokens, request.effort, request.max_tokens is not None
            ).model_dump(mode="json", exclude_none=True)
            for t in targets
        ],
        "checks": [
            *(s.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
              for s in request.checks),
            agreement,
        ],
    }  # fmt: skip
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False, allow_unicode=True))
    return path


def _temperature_of(sample: Sample) -> float | None:
    """The temperature every sampled request asked for, when they agree (else None:
    the provider's default)."""
    seen = {replay.temperature for replay in sample.replays}
    return seen.pop() if len(seen) == 1 else None


def verify_feature(request: VerifyRequest, catalog: Catalog, progress: Progress) -> VerifyReport:
    """Sample, replay and judge; raises VerifyError (or the lab's errors) when it cannot."""
    from llmtally.gateway.serve import resolve_config
    from llmtally.lab.session import LabOptions, run_experiment
    from llmtally.ledger import open_store

    if len(request.feature) > _FEATURE_MAX:
        raise VerifyError(f"a feature name of up to {_FEATURE_MAX} characters, please")
    config, _ = resolve_config(request.config)
    targets = candidates(request.models, config, catalog)
    check_effort(request, targets)
    with open_store(request.database_url) as store:
        sample = _sample(store, request)
        every = feature_calls(store, request.feature, request.since, request.until)
        wanted = [(t.name(request.effort), t.provider, t.catalog_model) for t in targets]
        priced = reprice(every, catalog, wanted, month_factor(request.since, request.until))
    path = write_experiment(request, sample, targets, _folder(request.feature))
    options = LabOptions(
        config=request.config,
        database_url=request.database_url,
        max_usd=request.max_usd,
        new=True,
    )
    outcome = run_experiment(path, options, progress, catalog)
    with open_store(request.database_url) as store:
        verification = verification_of(LabStore(store), outcome.run.id)
    return VerifyReport(
        feature=request.feature,
        since=request.since,
        until=request.until,
        calls=sample.calls,
        with_bodies=sample.with_bodies,
        picked=sample.picked,
        skipped=sample.skipped,
        verification=verification,
        agreement_min=request.agreement_min,
        repricing=priced,
        experiment=path,
        stop_reason=outcome.run.stop_reason,
        effort=request.effort,
    )
