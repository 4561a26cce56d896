"""The model summary a run prints before training, without FLOPs it did not count.

Lightning's `RichModelSummary` always shows a FLOPs column and a "Total FLOPs" line. It counts
them only with a forward pass of the module's `example_input_array` under torch's FLOP
counter, and lstm-lab's module has none: that pass would cost every fit a forward, and the
counter does not see oneDNN's LSTM kernel, so it would show the head's FLOPs alone. Every run
printed "FLOPs 0" instead, which reads as a network that computes nothing.

ModelTable prints Lightning's summary as it is wherever FLOPs were counted (a network of a
user's own with an `example_input_array`), and otherwise the same table and totals without
the FLOPs.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import RichModelSummary
from lightning.pytorch.utilities.model_summary import (
    get_formatted_model_size,
    get_human_readable_count,
)


class ModelTable(RichModelSummary):
    """Lightning's `RichModelSummary`, leaving out the FLOPs where none were counted."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        if total_flops:
            RichModelSummary.summarize(
                summary_data,
                total_parameters,
                trainable_parameters,
                model_size,
                total_training_modes,
                total_flops,
                **summarize_kwargs,
            )
            return
        from rich import get_console
        from rich.table import Table

        columns = [(name, values) for name, values in summary_data if name != "FLOPs"]
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        for name, _ in columns:
            left = name in ("Name", "Type", "Mode")
            style = "dim" if name == " " else ""
            table.add_column(name, justify="left" if left else "right", style=style)
        for row in zip(*(values for _, values in columns), strict=True):
            table.add_row(*row)
        console = get_console()
        console.print(table)
        totals = Table.grid(expand=True)
        for label, value in (
            ("Trainable params", get_human_readable_count(int(trainable_parameters))),
            (
                "Non-trainable params",
                get_human_readable_count(int(total_parameters - trainable_parameters)),
            ),
            ("Total params", get_human_readable_count(int(total_parameters))),
            ("Total estimated model params size (MB)", get_formatted_model_size(model_size)),
            ("Modules in train mode", total_training_modes["train"]),
            ("Modules in eval mode", total_training_modes["eval"]),
        ):
            totals.add_row(f"[bold]{label}[/]: {value}")
        console.print(totals)
