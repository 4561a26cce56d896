"""The config folders a user hands over (`--config-dir`), read before Hydra composes anything.

Hydra would answer a missing folder with a SearchPathException and a broken YAML file with the
parser's traceback, the first time it happens to open that file. Here every YAML file of the
folder is read once up front (a few milliseconds) and the first bad one is a ConfigError naming
the file, and the line where the parser knows it: no run directory is made, nothing is imported.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from lstm_lab.config.keyspec import ConfigError

# Every flag of Hydra's command line (its argparse parser), the long spelling first.
HYDRA_FLAGS = (
    ("--help", "-h"), ("--hydra-help",), ("--version",), ("--cfg", "-c"), ("--resolve",),
    ("--package", "-p"), ("--run", "-r"), ("--multirun", "-m"), ("--shell-completion", "-sc"),
    ("--config-path", "-cp"), ("--config-name", "-cn"), ("--config-dir", "-cd"),
    ("--experimental-rerun",), ("--info", "-i"),
)  # fmt: skip


def spellings(*longs: str) -> tuple[str, ...]:
    """Every spelling of these flags of Hydra's (named by their long spelling)."""
    return tuple(flag for flags in HYDRA_FLAGS if flags[0] in longs for flag in flags)


# --config-dir, with a separate value or as --config-dir=<folder>.
CONFIG_DIR_FLAGS = spellings("--config-dir")
# Hydra's flags that take no value, which a user may type after some overrides.
BARE_FLAGS = spellings("--multirun", "--run", "--resolve")
# Hydra's flags that take a value (`--cfg job`, `-cd <folder>`; --info's is optional): the word
# after one is no override.
VALUED_FLAGS = spellings(
    "--cfg", "--package", "--config-path", "--config-name", "--config-dir",
    "--experimental-rerun", "--info",
)  # fmt: skip
# Hydra runs one of these per command, and fails on two with a ValueError and its traceback:
# each spelling -> its long one.
MODE_FLAGS = {
    flag: flags[0]
    for flags in HYDRA_FLAGS
    if flags[0] in ("--run", "--multirun", "--cfg", "--info", "--shell-completion")
    for flag in flags
}


def check_flags(argv: list[str]) -> None:
    """`--bogus`: argparse refused it with Hydra's whole usage text; one line here, naming the
    flag and the flags there are. A long flag's unambiguous prefix (`--multi`) and a value
    joined to a flag (`--cfg=job`, `-cjob`) pass, as argparse takes them."""
    longs = [flags[0] for flags in HYDRA_FLAGS]
    every = spellings(*longs)
    value_next = False
    for arg in argv:
        if value_next:
            value_next = False
            continue
        if arg == "--":  # argparse: what follows are overrides
            return
        if not arg.startswith("-"):
            continue
        flag = arg.partition("=")[0]
        if arg.startswith("--"):
            prefixed = [f for f in longs if f.startswith(flag)]
            known = flag if flag in every else prefixed[0] if len(prefixed) == 1 else None
        else:  # `-cjob`: a one-letter flag and its value
            known = flag if flag in every else arg[:2] if arg[:2] in VALUED_FLAGS else None
        if known is None:
            listed = ", ".join("/".join(flags) for flags in HYDRA_FLAGS)
            raise ConfigError(
                flag, f"unknown flag; the flags are {listed} and --verbose; a setting is key=value"
            )
        value_next = arg == known and known in VALUED_FLAGS


def overrides_of(argv: list[str]) -> list[str]:
    """The overrides of a command line: every word that is neither a flag nor a flag's value."""
    found, value_next = [], False
    for arg in argv:
        if value_next:
            value_next = False
        elif arg.startswith("-"):
            value_next = arg in VALUED_FLAGS
        else:
            found.append(arg)
    return found


def check_override_keys(argv: list[str]) -> None:
    """`=3`, `+=3`, `~=3`, `~`: an override without a key, which Hydra's defaults list fails on
    with a ValueError and its traceback (or an AssertionError); refused, naming the word."""
    for arg in overrides_of(argv):
        if re.fullmatch(r"(\+\+|\+|~)?=.*|~|\+\+?", arg, flags=re.S):
            raise ConfigError(
                arg,
                "an override without a key; write key=value, +key=value to add a key, "
                "~key to remove one",
            )


# What `--cfg` prints (Hydra's choices).
CFG_CHOICES = ("job", "hydra", "all")


def flags_first(argv: list[str]) -> list[str]:
    """`a=1 -m b=2,3` as Hydra's parser takes it, `-m a=1 b=2,3`, and `a=1 --cfg job b=2` as
    `--cfg job a=1 b=2`: an argparse positional list ends at the first flag, so the overrides
    after one were refused with its usage text. A flag's value moves with it (`--info`, whose
    value is optional, stays where it is)."""
    flags, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in BARE_FLAGS:
            flags.append(arg)
        elif arg in VALUED_FLAGS and arg not in ("--info", "-i") and i + 1 < len(argv):
            flags += argv[i : i + 2]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return flags + rest


def check_cfg_flag(argv: list[str]) -> None:
    """`--cfg jobb`, `--cfg` at the end: argparse's refusal came with Hydra's whole usage text;
    one line here, naming the flag and its choices. `-m --cfg job` (two of Hydra's modes):
    Hydra's ValueError traceback; one line naming both."""
    modes = {MODE_FLAGS[a.partition("=")[0]] for a in argv if a.partition("=")[0] in MODE_FLAGS}
    if len(modes) > 1:
        first, *others = sorted(modes)
        raise ConfigError(
            first,
            f"cannot go with {', '.join(others)}; give one of --run, --multirun, --cfg, "
            "--info, --shell-completion",
        )
    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=")
        if flag not in ("--cfg", "-c"):
            continue
        if not eq:
            value = argv[i + 1] if i + 1 < len(argv) else ""
        if value not in CFG_CHOICES:
            got = f"got {value!r}" if value else "needs a value"
            raise ConfigError(flag, f"{got}; must be one of {', '.join(CFG_CHOICES)}")


def config_dirs(argv: list[str]) -> list[str]:
    """The folders `argv` gives with --config-dir / -cd."""
    found = []
    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=")
        if flag not in CONFIG_DIR_FLAGS:
            continue
        if eq:
            found.append(value)
        elif i + 1 < len(argv):
            found.append(argv[i + 1])
        else:
            raise ConfigError(flag, "needs a folder: --config-dir <folder of YAML configs>")
    return found


def check_config_dir(folder: str, flag: str = "--config-dir") -> None:
    """A folder of readable YAML mappings; ConfigError naming the folder or the first bad file."""
    path = Path(folder).expanduser()
    if not path.exists():
        raise ConfigError(flag, f"{folder}: no such folder")
    if not path.is_dir():
        raise ConfigError(flag, f"{folder}: not a folder (give the folder that holds the configs)")
    for file in sorted(path.rglob("*.yaml")) + sorted(path.rglob("*.yml")):
        if file.is_file():
            check_config_file(file)


def check_config_file(file: Path) -> None:
    """One config file: UTF-8 text, valid YAML, a mapping (or empty)."""
    try:
        text = file.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(str(file), f"cannot read it ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            str(file),
            f"not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start}); "
            "save it as UTF-8",
        ) from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(str(file), _yaml_problem(error)) from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(
            str(file),
            f"holds a {_kind(loaded)}; a config file holds a mapping of keys to values",
        )


def _yaml_problem(error: yaml.YAMLError) -> str:
    """`line L, column C: <the parser's problem>`, on one line."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error).strip().splitlines()[0]
    context = getattr(error, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    detail = f"{context}, {problem}" if context else problem
    return f"{where}not valid YAML ({' '.join(str(detail).split())})"


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "single string"
    return type(value).__name__


def optional_groups(config_dir: Path) -> set[str]:
    """The groups the commands' primary configs list as `optional` (experiment, sweep, ...)."""
    found = set()
    for primary in config_dir.glob("*.yaml"):
        found.update(re.findall(r"^\s*-\s*optional\s+(\w+)\s*:", primary.read_text(), re.M))
    return found


def check_optional_choices(argv: list[str], folders: list[Path]) -> None:
    """`experiment=<option>` (and the other optional groups): an option no folder holds would be
    skipped by Hydra without a word (the group is optional), and the run would train the
    default experiment instead; refused here, with the options there are."""
    groups = optional_groups(folders[0])
    for arg in argv:
        name, eq, value = arg.lstrip("+").partition("=")
        if not eq or name not in groups or not re.fullmatch(r"[\w.-]+(,[\w.-]+)*", value):
            continue
        available = sorted(
            {f.stem for folder in folders for f in (folder / name).glob("*.yaml") if f.is_file()}
        )
        for choice in value.split(","):
            if choice not in available and choice != "null":
                raise ConfigError(
                    name, f"got '{choice}'; the options are: {', '.join(available) or 'none'}"
                )


def check_null_groups(argv: list[str], folders: list[Path]) -> None:
    """`callbacks=null` (any group): Hydra's override parser hands null on as None and fails on
    it with a traceback; refused here, with the override that leaves a group out."""
    from lstm_lab.config.schema import OPTIONS  # the groups whose options it states

    groups = {d.name for folder in folders if folder.is_dir() for d in folder.iterdir()}
    for arg in argv:
        name, eq, value = arg.lstrip("+").partition("=")
        is_group = name in groups or name in OPTIONS or "/" in name  # hydra/launcher
        if eq and is_group and value.strip() == "null":
            files = {f.stem for folder in folders for f in (folder / name).glob("*.yaml")}
            options = sorted(files | set(OPTIONS.get(name, ())))
            raise ConfigError(
                name,
                f"got null; ~{name} leaves the group out"
                + (f", {name}=<option> chooses one of {', '.join(options)}" if options else ""),
            )


def holds_a_run(folder: Path) -> bool:
    """A folder a run has written to: its config, checkpoints or metrics."""
    return any((folder / name).exists() for name in (".hydra", "checkpoints", "metrics.json"))


def one_of_several() -> bool:
    """A process started beside others of the same command, which share its run directory and
    may write to it first: the copies Lightning's `ddp` starts for ranks 1, 2, ... (their
    command line names rank 0's directory), torchrun's and SLURM's tasks."""
    env = os.environ
    return "LOCAL_RANK" in env or "RANK" in env or env.get("SLURM_NTASKS", "1") not in ("", "1")


def check_run_dirs(argv: list[str]) -> None:
    """`paths.run_dir=<dir>` on lstm-train's command line: the run would write its checkpoints,
    curves and metrics there while Hydra kept its config (.hydra/) and log in a directory of its
    own, so neither lstm-eval nor `resume=` would find a run in either; refused, with the keys
    that choose where a run goes (the directories those name: `check_chosen_dirs`)."""
    for arg in argv:
        name, _, value = arg.lstrip("+~").partition("=")
        if name == "paths.run_dir":
            raise ConfigError(
                name,
                f"got {value!r}; the run's directory is the one Hydra keeps its config and log "
                "in, set hydra.run.dir=<dir> instead (hydra.sweep.dir=<dir> for a sweep), or "
                "paths.output_root=<dir> for the folder runs go under",
            )


def check_chosen_dirs(cfg: DictConfig, mode: str) -> None:
    """The directory lstm-train's composed config puts a run (`mode` "run": hydra.run.dir) or a
    sweep ("sweep": hydra.sweep.dir) in, where it is one of the user's choosing, on the command
    line or fixed in a config file (lstm-lab's default claims a new directory each time,
    records/rundirs.py). A run directory that holds a run already: Hydra would write its config
    over that run's, and the new run its checkpoints, metrics and curves; refused, naming
    `resume=` for continuing it (a config with `resume` set is left to resume's own checks: a
    resumed run's directory is its own). A sweep directory that holds a sweep: its runs are
    kept (each job claims its own directory) but the new sweep's would sit among them, and
    Hydra would write its multirun.yaml over the first one's; refused. A process started
    beside others of the command (`one_of_several`) shares its directory and is never refused."""
    key = f"hydra.{mode}.dir"
    chosen = OmegaConf.to_container(cfg.hydra[mode], resolve=False).get("dir")
    if chosen is None or "${lstm_lab." in str(chosen) or one_of_several():
        return
    if mode == "run" and cfg.get("resume") is not None:
        return
    try:
        value = str(OmegaConf.select(cfg, key, throw_on_resolution_failure=True))
    except Exception:  # an interpolation of the job's (${hydra:job.name}): Hydra's to resolve
        return
    folder = Path(value).expanduser()
    if mode == "run" and holds_a_run(folder):
        raise ConfigError(
            key,
            f"{value} holds a run already, whose files a new run would write over; choose "
            f"a new directory, or continue that run with resume={value}",
        )
    if mode == "sweep" and (folder / "multirun.yaml").exists():
        raise ConfigError(
            key,
            f"{value} holds a sweep already, whose multirun.yaml a new sweep would write "
            "over and whose runs it would mix with its own; choose a new directory",
        )


def check_command_line(argv: list[str], config_dir: str | Path, train: bool = True) -> None:
    """Every override of a command line has a key and every flag is Hydra's; every
    --config-dir, the optional groups it chooses and, for lstm-train (`train`),
    `paths.run_dir` (see above)."""
    check_override_keys(argv)
    check_flags(argv)
    check_cfg_flag(argv)
    folders = config_dirs(argv)
    for folder in folders:
        check_config_dir(folder)
    searched = [Path(config_dir), *(Path(f).expanduser() for f in folders)]
    check_null_groups(argv, searched)
    check_optional_choices(argv, searched)
    if train:
        check_run_dirs(argv)


def interpolation_source(message: str, folders: list[str], config_dir: str | Path) -> str | None:
    """`<file>: line <n>` of the config that writes the interpolation an OmegaConf message says
    does not resolve (`Interpolation key 'model.width' not found`): the first config file, in
    the user's config `folders` and then `config_dir`, with `${model.width` on a line.
    None when the message is of another kind or no file has it."""
    found = re.search(r"Interpolation key '([^']+)' not found", message)
    if found is None:
        return None
    needle = "${" + found.group(1)
    for folder in [*folders, str(config_dir)]:
        for file in sorted(Path(folder).expanduser().rglob("*.yaml")):
            lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
            for number, line in enumerate(lines, 1):
                if needle in line:
                    return f"{file.as_posix()}: line {number}"
    return None
