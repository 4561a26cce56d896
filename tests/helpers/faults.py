"""Fault injection for the reliability tests, added to a run as an extra callback:

    PYTHONPATH=tests/helpers LSTM_LAB_FAULT=SIGKILL@1:3 \
        lstm-train +callbacks.fault._target_=faults.SignalFromEnv

sends the named signal to the run's own process after training batch 3 of epoch 1. Without
LSTM_LAB_FAULT the callback does nothing, so a run with it and a run without it train alike.
`CRASH@1:3` raises `Crash` there instead: a kill, for a run inside the test process (nothing
is saved on the way out); `ERROR@1:3` raises a RuntimeError there: a bug that surfaces mid-run.
`TEST-ERROR@0:0` raises a RuntimeError as the test pass starts (epoch and batch unused): a
bug after training; `TEST-SIGINT@0:0` and `TEST-SIGTERM@0:0` send the run's own process that
signal there: a Ctrl-C or SIGTERM after training (before lstm-lab's handler for the test is
set, so Lightning's meets a SIGTERM); `TEST-BATCH-SIGTERM@0:3` sends SIGTERM at test batch 3.
`PARENT-SIGTERM@1:3` sends SIGTERM to the parent process instead: a parallel sweep's own
process, from one of its jobs (as a scheduler would signal the sweep).
"""

from __future__ import annotations

import os
import signal

import lightning as L


class Crash(BaseException):
    """The run died here (as if killed). A BaseException, as a kill is: the run's handlers of
    errors (which mark a failed run in metrics.json) do not see it."""


class SignalFromEnv(L.Callback):
    def __init__(self) -> None:
        spec = os.environ.get("LSTM_LAB_FAULT")
        self.fault = None
        if spec:
            name, at = spec.split("@")
            epoch, batch = at.split(":")
            self.fault = (getattr(signal, name, name), int(epoch), int(batch))

    def on_test_start(self, trainer, pl_module) -> None:
        if self.fault and self.fault[0] == "TEST-ERROR":
            raise RuntimeError("injected as the test pass starts")
        if self.fault and self.fault[0] in ("TEST-SIGINT", "TEST-SIGTERM"):
            os.kill(os.getpid(), getattr(signal, self.fault[0].removeprefix("TEST-")))

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.fault and self.fault[0] == "TEST-BATCH-SIGTERM" and batch_idx == self.fault[2]:
            os.kill(os.getpid(), signal.SIGTERM)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if (
            self.fault
            and not str(self.fault[0]).startswith("TEST-")
            and (trainer.current_epoch, batch_idx) == self.fault[1:]
        ):
            if self.fault[0] == "CRASH":
                raise Crash(f"crashed at epoch {trainer.current_epoch}, batch {batch_idx}")
            if self.fault[0] == "ERROR":
                raise RuntimeError(f"injected at epoch {trainer.current_epoch}, batch {batch_idx}")
            if self.fault[0] == "PARENT-SIGTERM":
                os.kill(os.getppid(), signal.SIGTERM)
                return
            os.kill(os.getpid(), self.fault[0])
