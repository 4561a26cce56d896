"""model.steps_per_call: several optimizer steps per Lightning batch make the same training as
one step per batch (same weights, learning rates, curves and step counts), and it falls back
to one step per batch where Lightning must see every step."""

from __future__ import annotations

import pytest
import torch

from helpers import QUICK, read_metrics, run, run_dirs, train
from lstm_lab.config import validate
from lstm_lab.data.datamodule import BatchGroups, TensorBatches
from lstm_lab.pipeline import build_series
from lstm_lab.training.run import build_datamodule, build_module, build_trainer
from lstm_lab.training.strategies import steps_per_call

# The lr probe wraps optimizer.step after the scheduler has wrapped it, which torch remarks on.
pytestmark = pytest.mark.filterwarnings("ignore:Seems like `optimizer.step")

# 300 points -> 195 training windows -> 13 batches of 16 per epoch.
TINY = ["data.series.n_points=300", "data.series.t_end=30", "~callbacks.progress_bar"]


def fit(compose_train, tmp_path, *overrides: str, built: dict | None = None):
    """Fit in this process; returns the trainer, the module and the lr of every optimizer step
    (`built` gets the module before fitting, for a fit that raises)."""
    cfg = compose_train(*TINY, f"paths.run_dir={tmp_path}", *overrides)
    plain = validate(cfg)
    torch.manual_seed(0)
    datamodule = build_datamodule(cfg, plain, build_series(plain))
    module = build_module(plain, cfg, datamodule.n_features, datamodule.scaler)
    lrs: list[float] = []
    configure = module.configure_optimizers

    def configure_and_record():
        built = configure()
        optimizer = built["optimizer"] if isinstance(built, dict) else built
        step = optimizer.step

        def recorded_step(*args, **kwargs):
            out = step(*args, **kwargs)
            lrs.append(optimizer.param_groups[0]["lr"])
            return out

        optimizer.step = recorded_step
        return built

    module.configure_optimizers = configure_and_record
    if built is not None:
        built["module"] = module
    trainer = build_trainer(cfg, plain, enable_model_summary=False)
    trainer.fit(module, datamodule=datamodule)
    return trainer, module, lrs


@pytest.mark.parametrize("scheduler", ["onecycle", "cosine", "plateau", "none"])
def test_grouped_steps_train_exactly_like_one_step_per_batch(compose_train, tmp_path, scheduler):
    run = ["trainer.max_epochs=3", f"scheduler={scheduler}"]
    if scheduler == "plateau":
        # no epoch counts as an improvement, so the lr is cut after every epoch but the first
        run += ["scheduler.patience=0", "+scheduler.threshold=0.999"]
    one, one_module, one_lrs = fit(compose_train, tmp_path / "1", *run, "model.steps_per_call=1")
    grouped, module, lrs = fit(compose_train, tmp_path / "5", *run, "model.steps_per_call=5")
    assert one_module.automatic_optimization and not module.automatic_optimization
    assert grouped.global_step == one.global_step == 3 * 13
    assert len(lrs) == 39 and lrs == one_lrs  # every step, with the same learning rate
    if scheduler != "none":
        assert len(set(lrs)) > 1, "the schedule never moved the learning rate"
    for key, value in one_module.state_dict().items():
        assert torch.equal(module.state_dict()[key], value), key
    assert one.callback_metrics.keys() == grouped.callback_metrics.keys()
    for key, value in one.callback_metrics.items():
        if key == "run/time_to_first_step_s":
            continue
        assert torch.equal(grouped.callback_metrics[key], value), key


@pytest.mark.parametrize("steps", [1, 16])
def test_a_plateau_steps_in_the_epochs_that_validate(compose_train, tmp_path, steps):
    """With `+trainer.check_val_every_n_epoch=2`, `+scheduler.frequency=2` steps a plateau on
    val/loss after epochs 2, 4, 6 (without it the run is refused: docs/errors.md); no epoch
    counts as an improvement, so the first cut comes after epoch 4."""
    _, _, lrs = fit(
        compose_train,
        tmp_path,
        "scheduler=plateau",
        "scheduler.patience=0",
        "+scheduler.threshold=0.999",
        "+scheduler.frequency=2",
        "+trainer.check_val_every_n_epoch=2",
        "trainer.max_epochs=6",
        f"model.steps_per_call={steps}",
    )
    assert len(lrs) == 6 * 13
    assert set(lrs[: 4 * 13]) == {lrs[0]} and set(lrs[4 * 13 :]) == {lrs[0] * 0.5}


def test_max_steps_stops_inside_a_group(compose_train, tmp_path):
    trainer, module, lrs = fit(
        compose_train, tmp_path, "model.steps_per_call=4", "+trainer.max_steps=6"
    )
    assert trainer.global_step == 6 and len(lrs) == 6
    # OneCycleLR was sized for the 6 steps the fit makes, so it ends at its minimum.
    assert lrs[-1] == min(lrs)


def test_grouped_steps_stop_before_a_non_finite_loss_reaches_the_weights(compose_train, tmp_path):
    from lstm_lab.models.nonfinite import NonFiniteLoss

    built: dict = {}
    with pytest.raises(NonFiniteLoss, match="loss became"):
        # SGD at lr 10 under the one-cycle schedule overflows within the first epochs
        fit(
            compose_train,
            tmp_path,
            "model.steps_per_call=4",
            "optimizer=sgd",
            "optimizer.lr=10",
            "trainer.max_epochs=4",
            built=built,
        )
    assert all(torch.isfinite(p).all() for p in built["module"].parameters())


@pytest.mark.parametrize(
    "overrides,expected",
    [
        ([], 16),
        (["model.steps_per_call=3"], 3),
        (["model.stateful=true"], 1),
        (["+trainer.gradient_clip_val=1.0"], 1),
        (["+trainer.accumulate_grad_batches=2"], 1),
        (["trainer.precision=16-mixed"], 1),
        (["trainer.precision=bf16-mixed"], 16),
        (["trainer=ddp", "trainer.accelerator=cpu"], 1),
        (["trainer.devices=2"], 1),
        (["+trainer.strategy=ddp_spawn", "trainer.devices=1"], 1),
        (["+trainer.strategy=single_device"], 16),
        (["+trainer.val_check_interval=5"], 1),
        (["+trainer.val_check_interval=1.0"], 16),
        (["+trainer.limit_train_batches=3"], 1),
        (["+trainer.overfit_batches=3"], 1),
    ],
)
def test_steps_per_call_applies_only_where_lightning_need_not_see_every_step(
    compose_train, overrides, expected
):
    assert steps_per_call(validate(compose_train(*overrides))) == expected


def test_val_check_interval_counts_batches_not_groups(compose_train, tmp_path):
    """`+trainer.val_check_interval=5` validates every 5 batches (13 an epoch here); counted in
    groups of 16 it failed after the run had started ("must be less than or equal to the
    number of the training batches (1)")."""
    trainer, module, lrs = fit(
        compose_train, tmp_path, "+trainer.val_check_interval=5", "trainer.max_epochs=1"
    )
    assert (trainer.val_check_batch, trainer.global_step, len(lrs)) == (5, 13, 13)
    assert "val/loss" in trainer.callback_metrics


def test_steps_per_call_must_be_a_positive_integer(compose_train):
    from lstm_lab.config import ConfigError

    with pytest.raises(ConfigError, match=r"model.steps_per_call: .*integer >= 1"):
        validate(compose_train("model.steps_per_call=0"))


def test_batch_groups_cover_the_epoch_and_resume_at_a_group():
    x, y = torch.arange(50.0).reshape(50, 1, 1), torch.arange(50.0).reshape(50, 1)
    groups = BatchGroups(TensorBatches(x, y, batch_size=4, shuffle=True, seed=1), size=3)
    assert (len(groups), groups.steps) == (5, 13)  # 13 batches of 4 (the last one of 2)
    epoch0 = list(groups)
    assert [len(g) for g in epoch0] == [3, 3, 3, 3, 1]
    seen = torch.cat([xb.flatten() for group in epoch0 for xb, _ in group])
    assert sorted(seen.tolist()) == x.flatten().tolist()

    epoch1 = list(groups)
    again = BatchGroups(TensorBatches(x, y, batch_size=4, shuffle=True, seed=1), size=3)
    again.load_state_dict({"epoch": 1, "start": 2})  # resumed after 2 groups of epoch 1
    rest = list(again)
    assert len(rest) == 3 and again.epoch == 2
    for got, want in zip(rest, epoch1[2:], strict=True):
        assert all(torch.equal(a[0], b[0]) for a, b in zip(got, want, strict=True))


def one_gather_per_batch(batches: TensorBatches) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The batches of TensorBatches' next epoch, each gathered on its own (as it did before
    gathering a group at once): batch b is positions b * global_batch + rank + k * world_size."""
    n, size, ws = len(batches.x), batches.global_batch, batches.world_size
    order = torch.arange(n)
    if batches.shuffle:
        gen = torch.Generator().manual_seed(batches.seed * 100_003 + batches.epoch)
        order = torch.randperm(n, generator=gen)
    shards = [order[b * size + batches.rank : (b + 1) * size : ws] for b in range(len(batches))]
    return [(batches.x[i], batches.y[i]) for i in shards[batches.start :]]


@pytest.mark.parametrize(
    "n,batch_size,world_size", [(50, 4, 1), (50, 4, 2), (23, 3, 3), (25, 4, 3), (7, 8, 1)]
)
@pytest.mark.parametrize("shuffle", [True, False])
def test_a_group_gathered_at_once_holds_the_batches_gathered_one_by_one(
    n, batch_size, world_size, shuffle
):
    x = torch.randn(n, 5, 2)
    y = torch.arange(float(n)).reshape(n, 1)
    for rank in range(world_size):
        for start in (0, 1):
            for count in (1, 2, 3, 16):
                batches = TensorBatches(x, y, batch_size, shuffle, 7, rank, world_size)
                batches.load_state_dict({"epoch": 3, "start": start})
                want = one_gather_per_batch(batches)
                got = [batch for group in batches.groups(count) for batch in group]
                assert len(got) == len(want) == len(batches) - start
                for (gx, gy), (wx, wy) in zip(got, want, strict=True):
                    assert torch.equal(gx, wx) and torch.equal(gy, wy)
                assert (batches.epoch, batches.start) == (4, 0)


@pytest.mark.slow
def test_a_new_run_from_a_checkpoint_continues_its_steps_or_is_refused(tmp_path):
    first = train(tmp_path, *QUICK, "model.steps_per_call=4")  # 2 epochs of 13 steps
    last = first / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["steps_per_call"] == 4
    longer = [*QUICK, "trainer.max_epochs=3", f"ckpt_path={last}"]

    def refused(*args: str) -> str:
        before = run_dirs(tmp_path)
        proc = run(*args, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert run_dirs(tmp_path) == before, "a refused run must leave no run directory"
        return proc.stderr.strip().splitlines()[-1]

    assert refused(*longer, "model.steps_per_call=1").endswith(
        f"model.steps_per_call: got 1, but {last} was written with 4 optimizer step(s) per "
        "batch; continue from it with model.steps_per_call=4"
    )
    # The one-cycle schedule restored from the checkpoint ends at step 26, this run at 39.
    assert refused(*longer, "model.steps_per_call=4").endswith(
        "ckpt_path: the checkpoint's OneCycleLR spans 26 optimizer steps and this run's would "
        "span 39; continue it to the same end (trainer.max_epochs), or use scheduler=none"
    )

    # Without a schedule the new run continues at the checkpoint's learning rate.
    continued = read_metrics(train(tmp_path, *longer, "model.steps_per_call=4", "scheduler=none"))
    assert continued["status"] == "completed"
    assert (continued["epochs"], continued["global_step"]) == (3, 3 * 13)
