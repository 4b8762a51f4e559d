"""Self-hosting economics: money, memory, GPUs, throughput and break-even, each
checked against arithmetic done by hand (written out in the comments)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.selfhost.economics import (
    Mix,
    blended_per_million,
    break_even_tokens,
    compare_apis,
    monthly_cost,
    output_tokens_per_month,
    usd_per_million_output,
)
from llmtally.selfhost.plan import NoFitError, Query, plan
from llmtally.selfhost.schema import InstanceSpec
from llmtally.selfhost.sizing import Fit, ModelShape, fit_on, gpus_needed, memory_need
from llmtally.selfhost.tables import (
    DATA_DIR,
    SelfHostError,
    UnknownNameError,
    load_instances,
    load_models,
)
from llmtally.selfhost.throughput import decode_throughput

AT = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)  # gpt-4o: $2.50 in / $10 out per 1M

# A 70B model shaped like Llama 3.1 70B: 80 layers, 8 KV heads of 128 dims, so
# 2 x 8 x 128 = 2,048 cached values per layer per token.
LLAMA70 = ModelShape("llama70", Decimal("70e9"), 80, 2048)


@pytest.fixture(scope="module")
def instances():
    return load_instances()


@pytest.fixture(scope="module")
def models():
    return load_models()


@pytest.fixture(scope="module")
def catalog():
    return Catalog.load()


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMTALLY_PRICES", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["selfhost", *args])

    return invoke


def _instance(**changes: object) -> InstanceSpec:
    base: dict[str, object] = {
        "cloud": "aws",
        "name": "test.1gpu",
        "gpu": "X",
        "gpu_count": 1,
        "gpu_memory_gb": "80",
        "memory_bandwidth_gbps": "2000",
        "usd_per_hour": "2",
        "region": "us-east-1",
        "effective": "2026-01-01",
        "source": "https://example.com/prices",
    }
    return InstanceSpec.model_validate(base | changes)


# --- money ---------------------------------------------------------------------


def test_38_dollars_an_hour_around_the_clock_is_27360_a_month() -> None:
    # 38 x 720 h = 27,360
    assert monthly_cost(Decimal("38")) == Decimal("27360")
    assert monthly_cost(Decimal("38"), Decimal("730")) == Decimal("27740")


def test_the_catalog_sagemaker_p4d_month_comes_from_its_own_rate(instances) -> None:
    inst = instances.find("ml.p4d.24xlarge")
    assert inst.usd_per_hour == Decimal("37.688")
    # 37.688 x 720 = 27,135.36: the classic "$38/hour, ~$27,360/month" at list price
    assert monthly_cost(inst.usd_per_hour) == Decimal("27135.36")
    assert monthly_cost(instances.find("p4d.24xlarge").usd_per_hour) == Decimal("21.957642") * 720


def test_cost_per_million_output_tokens_at_a_utilization() -> None:
    # $2/hour, 100 tokens/s, busy half the time: 100 x 3,600 x 0.5 = 180,000 tokens an
    # hour paid for, so $2 / 180,000 x 1M = $11.11...
    assert usd_per_million_output(Decimal(2), Decimal(100), Decimal("0.5")) == (
        Decimal(2) / Decimal(180_000) * 1_000_000
    )
    # a month: 100 x 3,600 x 720 x 0.5 = 129,600,000 output tokens
    assert output_tokens_per_month(Decimal(100), Decimal(720), Decimal("0.5")) == 129_600_000


def test_break_even_with_an_api_at_a_3_to_1_mix(catalog) -> None:
    # $2.50 in / $10 out, 3:1 -> (3 x 2.50 + 1 x 10) / 4 = $4.375 per 1M tokens blended
    blended = blended_per_million(Decimal("2.50"), Decimal("10"), Mix())
    assert blended == Decimal("4.375")
    # $27,360 a month / $4.375 per 1M = 6,253.71...M tokens a month
    tokens = break_even_tokens(Decimal(27360), blended)
    assert tokens == Decimal(27360) / Decimal("4.375") * 1_000_000
    assert 6_253_714_285 < tokens < 6_253_714_286
    # the same through the price catalog: gpt-4o as of 2025-01-01; an instance that
    # serves 10B tokens a month flat out must be busy 62.5...% of it to break even
    (row,) = compare_apis(
        catalog, ["gpt-4o"], Decimal(27360), Decimal(10) ** 10, Decimal("0.5"), Mix(), AT
    )
    assert (row.provider, row.model, row.blended_per_1m) == ("openai", "gpt-4o", blended)
    assert row.break_even_tokens == tokens
    assert row.break_even_utilization == tokens / Decimal(10) ** 10
    # at 50% busy it serves 5B tokens: $21,875 at the API, less than $27,360
    assert row.api_cost_at_volume == Decimal(21875)
    assert row.self_host_cheaper is False


def test_the_mix_is_parsed_and_checked() -> None:
    assert Mix.parse("1:1").total_per_output == 2
    for bad in ("3", "a:b", "1:0", "-1:1"):
        with pytest.raises(SelfHostError, match="mix"):
            Mix.parse(bad)


# --- memory and GPUs -----------------------------------------------------------


def test_weights_by_quantization_and_kv_cache_by_hand() -> None:
    # weights: 70e9 params x 2 / 1 / 0.5 bytes = 140 / 70 / 35 GB
    # KV: 80 layers x 2,048 values x 2 bytes = 327,680 bytes per token;
    #     x 8,192 tokens x 16 sequences (131,072 tokens) = 42,949,672,960 bytes
    kv = Decimal("42.94967296")
    for quant, weights in (("fp16", 140), ("int8", 70), ("int4", 35)):
        need = memory_need(LLAMA70, quant, 8192, 16)
        assert need.weights_gb == weights
        assert need.kv_cache_gb == kv
        # overhead 10% of the weights
        assert need.overhead_gb == Decimal(weights) / 10
        assert need.total_gb == weights + kv + Decimal(weights) / 10
    assert memory_need(LLAMA70, "fp16", 8192, 16).total_gb == Decimal("196.94967296")


def test_latent_attention_caches_one_latent_per_layer(models) -> None:
    shape = ModelShape.from_spec(models.find("deepseek-v3"))
    # 61 layers x 576 values x 2 bytes = 70,272 bytes per token
    assert shape.kv_bytes_per_token == 70_272
    assert shape.active == Decimal("37e9")


def test_gpus_needed_with_headroom_and_replicas(instances) -> None:
    # fp16: 196.95 GB over 40 GB GPUs filled to 90% (36 GB): 5.47 -> 6 GPUs; 6 does not
    # divide 8, so one replica takes all 8 GPUs of a p4d
    p4d = instances.find("p4d.24xlarge")
    fp16 = memory_need(LLAMA70, "fp16", 8192, 16)
    assert gpus_needed(fp16.total_gb, Decimal(40)) == 6
    assert fit_on(p4d, fp16) == Fit(gpus_needed=6, gpus_per_replica=8, replicas=1)
    # int4: 35 + 42.95 + 3.5 = 81.45 GB -> 2.26 -> 3 GPUs -> 4, so 2 replicas
    int4 = memory_need(LLAMA70, "int4", 8192, 16)
    assert fit_on(p4d, int4) == Fit(gpus_needed=3, gpus_per_replica=4, replicas=2)
    # exactly full is still one GPU: 36 GB on a 40 GB GPU
    assert gpus_needed(Decimal(36), Decimal(40)) == 1
    assert gpus_needed(Decimal("36.0001"), Decimal(40)) == 2
    # 196.95 GB does not fit on one 80 GB GPU
    assert fit_on(_instance(), fp16) is None


# --- throughput ----------------------------------------------------------------


def test_decode_throughput_from_memory_bandwidth() -> None:
    # 7B at int8 = 7 GB of weights; 32 layers x 2,048 values x 2 bytes = 131,072 bytes
    # per token x 1,000 tokens = 0.131072 GB of KV for one sequence.
    # One step reads 7.131072 GB at 2,000 GB/s x 0.6 = 1,200 GB/s: 5.94 ms, so
    # 1,200 / 7.131072 = 168.28 tokens/s. Compute: 2 x 7e9 FLOPs / (312e12 x 0.4)
    # = 0.11 ms, far below: memory bound.
    model = ModelShape("m7", Decimal("7e9"), 32, 2048)
    inst = _instance()
    need = memory_need(model, "int8", 1000, 1)
    speed = decode_throughput(model, "int8", need, inst, Decimal(312), Fit(1, 1, 1), 1)
    assert speed.bound == "memory"
    assert speed.per_sequence == Decimal(1200) / Decimal("7.131072")
    assert speed.per_instance == speed.per_sequence
    assert 168 < speed.per_sequence < 169


def test_batching_is_capped_by_compute() -> None:
    # 256 sequences of 1 token: memory 7 + 256 x 131,072 B = 7.0336 GB / 1,200 GB/s
    # = 5.86 ms; compute 2 x 7e9 x 256 / (312e12 x 0.4) = 28.72 ms: compute bound,
    # 256 / 0.02872 s = 1.248e14 / 1.4e10 = 8,914.29 tokens/s
    model = ModelShape("m7", Decimal("7e9"), 32, 2048)
    need = memory_need(model, "int8", 1, 256)
    speed = decode_throughput(model, "int8", need, _instance(), Decimal(312), Fit(1, 1, 1), 256)
    assert speed.bound == "compute"
    expected = Decimal("1.248e14") / Decimal("1.4e10")
    assert abs(speed.per_instance - expected) < Decimal("1e-20")


def test_moe_reads_only_active_parameters() -> None:
    dense = ModelShape("dense", Decimal("46.7e9"), 32, 2048)
    moe = ModelShape("moe", Decimal("46.7e9"), 32, 2048, active_params=Decimal("12.9e9"))
    need = memory_need(dense, "int4", 1024, 1)
    assert need == memory_need(moe, "int4", 1024, 1)  # all experts stay in memory
    inst = _instance()
    a = decode_throughput(dense, "int4", need, inst, Decimal(312), Fit(1, 1, 1), 1)
    b = decode_throughput(moe, "int4", need, inst, Decimal(312), Fit(1, 1, 1), 1)
    # step bytes: 23.35 + 0.134 GB dense vs 6.45 + 0.134 GB active
    kv = Decimal("0.134217728")
    assert a.per_sequence is not None and b.per_sequence is not None
    ratio = (Decimal("23.35") + kv) / (Decimal("6.45") + kv)
    assert abs(b.per_sequence / a.per_sequence - ratio) < Decimal("1e-20")


# --- the whole question ----------------------------------------------------------


def test_plan_on_a_chosen_instance_by_hand(instances, models, catalog) -> None:
    query = Query(
        model="llama-3.1-70b",
        params=Decimal("70e9"),
        quants=("int4",),
        instance="p4d.24xlarge",
        compare=("gpt-4o",),
        at=AT,
    )
    (row,) = plan(query, instances, models, catalog).rows
    assert row.need.total_gb == Decimal("81.44967296")
    assert row.fit == Fit(3, 4, 2)
    # each replica: 4 A100s x 1,555 GB/s x 0.6 = 3,732 GB/s over 35 + 42.95 GB a step;
    # 2 replicas x 16 sequences: 32 x 3,732 / 77.94967296 = 1,532.08 tokens/s
    assert row.throughput is not None and row.throughput.bound == "memory"
    expected = Decimal(32) * Decimal(3732) / Decimal("77.94967296")
    assert abs(row.throughput.per_instance - expected) < Decimal("1e-20")
    # $21.957642 x 720 h = $15,809.50224 a month
    assert row.monthly_cost == Decimal("15809.50224")
    assert row.usd_per_1m_output == usd_per_million_output(
        Decimal("21.957642"), row.throughput.per_instance, Decimal("0.5")
    )
    (api,) = row.comparisons
    assert api.break_even_tokens == Decimal("15809.50224") / Decimal("4.375") * 1_000_000


def test_the_cheapest_fitting_instance_is_chosen(instances, models, catalog) -> None:
    query = Query(model="llama-3.1-8b", quants=("int4",), context=4096, concurrency=4)
    (row,) = plan(query, instances, models, catalog).rows
    assert row.instance is not None
    fitting = [i for i in instances.instances if fit_on(i, row.need) is not None]
    assert row.instance.usd_per_hour == min(i.usd_per_hour for i in fitting)
    gcp = plan(
        Query(model="llama-3.1-8b", quants=("int4",), cloud="gcp"), instances, models, catalog
    )
    assert gcp.rows[0].instance is not None and gcp.rows[0].instance.cloud == "gcp"


def test_a_measured_rate_replaces_the_estimate(instances, models, catalog) -> None:
    query = Query(
        model="llama-3.1-70b",
        quants=("int8",),
        instance="ml.p4d.24xlarge",
        tokens_per_second=Decimal(1000),
        utilization=Decimal(1),
        compare=(),
    )
    (row,) = plan(query, instances, models, catalog).rows
    assert row.throughput is not None and row.throughput.bound == "measured"
    # $37.688 / (1,000 x 3,600) x 1M = $10.468...
    assert row.usd_per_1m_output == Decimal("37.688") / Decimal(3_600_000) * 1_000_000


def test_cli_json_shows_what_quantization_changes(run) -> None:
    result = run(
        "--model", "llama-3.1-70b", "--params", "70e9", "--instance", "p4d.24xlarge",
        "--quant", "all", "--compare", "gpt-4o", "--at", "2025-01-01", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    rows = {r["quant"]: r for r in out["rows"]}
    assert [rows[q]["memory_gb"]["weights"] for q in ("fp16", "int8", "int4")] == [
        "140.00",
        "70.00",
        "35.00",
    ]
    assert rows["fp16"]["memory_gb"]["kv_cache"] == "42.95"
    assert [rows[q]["gpus_per_replica"] for q in ("fp16", "int8", "int4")] == [8, 4, 4]
    assert rows["fp16"]["monthly_cost"] == "15809.50"
    cost = [Decimal(rows[q]["usd_per_1m_output"]) for q in ("fp16", "int8", "int4")]
    assert cost[0] > cost[1] > cost[2]
    busy = [Decimal(rows[q]["break_even"][0]["break_even_utilization"]) for q in rows]
    assert busy == sorted(busy, reverse=True)
    assert rows["int4"]["break_even"][0]["blended_per_1m"] == "4.375000"
    # 15,809.50224 / 4.375 x 1M = 3,613,600,512 tokens a month
    assert rows["int4"]["break_even"][0]["break_even_tokens_per_month"] == 3_613_600_512
    assert out["assumptions"]


def test_cli_table_and_instances_listing(run) -> None:
    result = run("--model", "mixtral-8x7b", "--cloud", "aws", "--quant", "int4")
    assert result.exit_code == 0, result.output
    assert "Break-even with APIs" in result.stdout and "int4" in result.stdout
    listing = run("instances", "--gpu", "A100", "--json")
    assert listing.exit_code == 0, listing.output
    rows = json.loads(listing.stdout)
    assert rows and all("A100" in r["gpu"] for r in rows)
    sagemaker = next(r for r in rows if r["name"] == "ml.p4d.24xlarge")
    assert sagemaker["usd_per_hour"] == "37.688" and sagemaker["service"] == "sagemaker"
    assert "ml.p4d.24xlarge" in run("instances", "--cloud", "aws").stdout


# --- bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"concurrency": -1}, "concurrency must be at least 1, got -1"),
        ({"context": 0}, "context must be at least 1"),
        ({"utilization": Decimal("1.5")}, r"utilization .* in \(0, 1\], got 1.5"),
        ({"utilization": Decimal(0)}, r"in \(0, 1\], got 0"),
        ({"utilization": Decimal("-0.2")}, r"in \(0, 1\], got -0.2"),
        ({"params": Decimal("-7e9")}, "params must be positive"),
        ({"hours_per_month": Decimal(800)}, "hours per month"),
        ({"quants": ("fp8",)}, "quantization must be one of"),
        ({"instance": "p4d.24xlarge", "cloud": "aws"}, "not both"),
    ],
)
def test_bad_questions_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(SelfHostError, match=message):
        Query(model="llama-3.1-8b", **changes)


def test_bad_input_on_the_command_line(run) -> None:
    for args, message in (
        (("--concurrency", "-4"), "concurrency must be at least 1, got -4"),
        (("--utilization", "1.5"), "got 1.5"),
        (("--utilization", "0"), "got 0"),
        (("--params", "lots"), "--params: not a number"),
        (("--quant", "fp8"), "--quant"),
    ):
        result = run("--model", "llama-3.1-8b", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)


def test_unknown_model_and_instance_list_near_names(run, instances, models) -> None:
    with pytest.raises(UnknownNameError) as model_err:
        models.find("lama-3.1-70b")
    assert "llama-3.1-70b" in model_err.value.near
    with pytest.raises(UnknownNameError) as inst_err:
        instances.find("p4d.24xlarg")
    assert "p4d.24xlarge" in inst_err.value.near
    result = run("--model", "llama-3.1-70b", "--instance", "p5.48xlage")
    assert result.exit_code == 1
    assert "unknown instance 'p5.48xlage'" in result.stderr and "p5.48xlarge" in result.stderr
    result = run("--model", "qwen-2.5-72b")
    assert result.exit_code == 1 and "qwen2.5-72b" in result.stderr
    assert "unknown cloud 'oracle'" in run("--model", "mistral-7b", "--cloud", "oracle").stderr


def test_a_model_that_fits_nowhere_says_how_much_it_needs(instances, models, catalog) -> None:
    # 405.9e9 x 2 = 811.8 GB + KV 126 x 2,048 x 2 bytes x 131,072 tokens = 67.6 GB
    # + overhead 81.2 GB = 960.6 GB; the largest instances hold 8 x 80 = 640 GB
    query = Query(model="llama-3.1-405b", quants=("fp16",))
    with pytest.raises(NoFitError) as err:
        plan(query, instances, models, catalog)
    text = str(err.value)
    assert "needs 960.6 GB" in text and "640 GB" in text and "576 GB usable" in text
    # int8 (405.9 + 67.6 + 40.6 = 514.1 GB) and int4 fit in 576 GB usable, so 'all'
    # answers with the rows that fit and says why fp16 does not
    rows = plan(Query(model="llama-3.1-405b"), instances, models, catalog).rows
    assert [r.reason is None for r in rows] == [False, True, True]
    assert rows[0].reason is not None and "needs 960.6 GB" in rows[0].reason


def test_a_model_that_fits_not_on_the_chosen_instance(run) -> None:
    result = run("--model", "llama-3.1-70b", "--instance", "g5.xlarge", "--quant", "fp16")
    assert result.exit_code == 1
    assert "needs 198.3 GB" in result.stderr and "g5.xlarge, has 1 x 24 GB" in result.stderr


def test_context_beyond_the_model_window(instances, models, catalog) -> None:
    with pytest.raises(SelfHostError, match="at most 8,192 tokens"):
        plan(Query(model="gemma-2-9b", context=16384), instances, models, catalog)


def test_a_custom_model_needs_its_shape(instances, models, catalog) -> None:
    with pytest.raises(SelfHostError, match="--layers, --kv-heads and --head-dim"):
        plan(Query(params=Decimal("13e9")), instances, models, catalog)
    custom = Query(params=Decimal("13e9"), layers=40, kv_heads=8, head_dim=128, quants=("int8",))
    assert plan(custom, instances, models, catalog).model.kv_values == 2048


def _bad_file(tmp_path: Path, old: str, new: str) -> Path:
    text = (DATA_DIR / "instances.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "instances.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("    gpu_count: 8\n", "    gpu_cout: 8\n", "instances.0.gpu_cout", "Extra inputs"),
        ("    gpu_count: 8\n", "    gpu_count: -8\n", "instances.0.gpu_count", "greater than"),
        (
            'usd_per_hour: "21.957642"',
            'usd_per_hour: "cheap"',
            "instances.0.usd_per_hour",
            "decimal",
        ),
        ("effective: 2025-06-01", "effective: someday", "instances.0.effective", "date"),
    ],
)
def test_a_data_file_with_a_wrong_field_names_file_field_and_reason(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    path = _bad_file(tmp_path, old, new)
    with pytest.raises(SelfHostError) as err:
        load_instances(path)
    text = str(err.value)
    assert str(path) in text and f": {field}: " in text and reason in text


def test_a_data_file_that_contradicts_its_gpu_table(tmp_path: Path, run) -> None:
    path = _bad_file(tmp_path, '    gpu_memory_gb: "40"\n', '    gpu_memory_gb: "48"\n')
    with pytest.raises(SelfHostError, match=r"instances.0.gpu_memory_gb: 48 disagrees"):
        load_instances(path)
    result = run("instances", "--instances-file", str(path))
    assert result.exit_code == 2 and "gpus.A100-40GB.memory_gb 40" in result.stderr


# --- the data files ----------------------------------------------------------------


def test_every_instance_has_a_date_a_source_and_consistent_gpus(instances) -> None:
    assert {i.cloud for i in instances.instances} == {"aws", "gcp", "azure"}
    names = [i.name.lower() for i in instances.instances]
    assert len(names) == len(set(names))
    for inst in instances.instances:
        gpu = instances.spec.gpus[inst.gpu]
        assert inst.effective <= instances.spec.checked, inst.name
        assert inst.source.startswith("https://"), inst.name
        assert (inst.gpu_memory_gb, inst.memory_bandwidth_gbps) == (
            gpu.memory_gb,
            gpu.memory_bandwidth_gbps,
        ), inst.name
        assert inst.gpu_count in (1, 2, 4, 8), inst.name
        # the GPU model named in the instance is the one its memory says
        assert str(gpu.memory_gb) in inst.gpu or inst.gpu in ("A10G", "A10", "L4"), inst.name
        # a secondary or unconfirmed figure says so
        assert inst.note is None or len(inst.note) > 20, inst.name


def test_the_catalog_holds_the_instances_the_issue_names(instances) -> None:
    expected = {
        "ml.p4d.24xlarge": ("A100-40GB", 8),
        "p4d.24xlarge": ("A100-40GB", 8),
        "p4de.24xlarge": ("A100-80GB", 8),
        "p5.48xlarge": ("H100-80GB", 8),
        "g5.xlarge": ("A10G", 1),
        "g5.12xlarge": ("A10G", 4),
        "g5.48xlarge": ("A10G", 8),
        "g6.xlarge": ("L4", 1),
        "g6.12xlarge": ("L4", 4),
        "a2-highgpu-1g": ("A100-40GB", 1),
        "a2-highgpu-8g": ("A100-40GB", 8),
        "a2-ultragpu-8g": ("A100-80GB", 8),
        "a3-highgpu-8g": ("H100-80GB", 8),
        "g2-standard-4": ("L4", 1),
        "g2-standard-48": ("L4", 4),
        "Standard_NC24ads_A100_v4": ("A100-80GB-PCIe", 1),
        "Standard_NC96ads_A100_v4": ("A100-80GB-PCIe", 4),
        "Standard_ND96asr_v4": ("A100-40GB", 8),
        "Standard_ND96isr_H100_v5": ("H100-80GB", 8),
        "Standard_NV36ads_A10_v5": ("A10", 1),
    }
    for name, (gpu, count) in expected.items():
        inst = instances.find(name)
        assert (inst.gpu, inst.gpu_count) == (gpu, count), name


def test_every_model_has_a_source_and_a_kv_shape(models) -> None:
    for spec in models.models:
        shape = ModelShape.from_spec(spec)
        assert spec.source.startswith("https://huggingface.co/"), spec.id
        assert shape.kv_bytes_per_token > 0 and shape.active <= shape.params, spec.id
    moe = {m.id for m in models.models if m.active_params is not None}
    assert moe == {"mixtral-8x7b", "deepseek-v3", "gpt-oss-20b", "gpt-oss-120b"}
    assert models.find("meta-llama/Llama-3.1-70B-Instruct").id == "llama-3.1-70b"
    # Llama 3.1 70B: 80 x (2 x 8 x 128) x 2 bytes = 327,680 bytes per token
    assert ModelShape.from_spec(models.find("llama-3.1-70b")).kv_bytes_per_token == 327_680


def test_the_data_files_ship_with_the_package() -> None:
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"selfhost/data/*.yaml"' in pyproject
    assert {p.name for p in DATA_DIR.glob("*.yaml")} == {"instances.yaml", "models.yaml"}
