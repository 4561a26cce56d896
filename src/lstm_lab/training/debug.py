"""What the debugging presets (configs/debug/: fast_dev_run, overfit, profiler) cannot be
combined with, refused before training in one line naming both keys.

`debug=fast_dev_run` (trainer.fast_dev_run) runs one batch of each loop with Lightning's
counters reset, and saves no checkpoint: it cannot continue a checkpoint's training
(`ckpt_path`), and leaves nothing for `resume=`, lstm-eval or lstm-predict. The presets
otherwise work in window and stateful mode and in sweeps (docs/combinations.md, "Debug
presets"); a resumed run keeps its saved config, so `resume=` with a preset is refused as any
other override is. Imports neither torch nor Lightning.
"""

from __future__ import annotations

from lstm_lab.config import ConfigError


def check_debug(plain: dict) -> None:
    """Refuse a debugging setting that the rest of the run's config defeats."""
    trainer = plain.get("trainer") or {}
    if trainer.get("fast_dev_run") and plain.get("ckpt_path"):
        raise ConfigError(
            "ckpt_path",
            "got a checkpoint with trainer.fast_dev_run=true (debug=fast_dev_run), which "
            "runs one batch and saves nothing; drop one of them",
        )
