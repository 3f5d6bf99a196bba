"""Every row of a battle file as arrays: who met whom, the verdict, ``anony`` and flags.

:func:`read_rows` reads a file for :mod:`ratings.io`, which leaves out the named and
flagged rows. pyarrow's CSV, JSON-lines and Parquet readers take the few columns a fit
needs in bulk and they are checked as arrays; only when something is wrong does the
line-numbered Python path run (the shared reader's checks, :mod:`ratings.battlefile`),
to stop at the bad row with its number. A JSON array (which pyarrow does not read)
takes the Python path. pyarrow is imported only inside the functions, so ``import
ratings`` stays numpy + scipy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ratings.battlefile import (
    SCHEMAS,
    BattleFileError,
    decode_record,
    detect_format,
    detect_schema,
    file_columns,
    record_unit,
    records,
    uncell,
)
from ratings.battlerow import (
    BattleRowError,
    arena_winner,
    comparia_winner,
    model_name,
    row_flags,
    truth,
)
from ratings.errors import InvalidInputError
from ratings.outcomes import WINNER_CODES, Outcome


class RowColumns(NamedTuple):
    """Every row of a file, before the named and flagged ones are left out."""

    names: list[str]
    a: NDArray[np.int64]
    b: NDArray[np.int64]
    outcome: NDArray[np.int8]
    anony: NDArray[np.bool_]
    flagged: NDArray[np.bool_]
    schema: str


def _python_rows(path: Path, fmt: str, schema: str) -> RowColumns:
    """The line-numbered path: every row through the shared reader's checks, stopping at
    the first bad one with its line (or row) number."""
    index: dict[str, int] = {}
    a, b, out, anony, flagged = [], [], [], [], []
    unit = record_unit(fmt)
    comparia = schema == "comparia"
    a_key, b_key = ("model_a_name", "model_b_name") if comparia else ("model_a", "model_b")
    for where, raw in records(path, fmt):
        try:
            record = decode_record(raw)
            model_a, model_b = model_name(record, a_key), model_name(record, b_key)
            if model_a == model_b:
                raise BattleRowError(f"{a_key} and {b_key} are the same model")
            winner = comparia_winner(record, model_a, model_b) if comparia else arena_winner(record)
            anony.append(bool(truth(record.get("anony"), "anony", True)))
            flagged.append(bool(row_flags(record)))
        except BattleRowError as exc:
            raise BattleFileError(str(path), f"{unit} {where}", str(exc)) from None
        a.append(index.setdefault(model_a, len(index)))
        b.append(index.setdefault(model_b, len(index)))
        out.append(int(WINNER_CODES[winner]))
    return RowColumns(
        list(index),
        np.array(a, dtype=np.int64),
        np.array(b, dtype=np.int64),
        np.array(out, dtype=np.int8),
        np.array(anony, dtype=bool),
        np.array(flagged, dtype=bool),
        schema,
    )


class _Bad(Exception):
    """The bulk path met something only the line-numbered path can explain."""


def _bulk_table(path: Path, fmt: str, columns: set[str], schema: str) -> Any:
    import pyarrow as pa

    names = (
        ["model_a_name", "model_b_name", "chosen_model_name", "both_equal"]
        if schema == "comparia"
        else ["model_a", "model_b", "winner", "anony"]
    )
    names += ["openai_moderation", "toxic_chat_tag", "flags"]
    # A JSON line may have keys the first line lacks: ask for all (missing = null).
    wanted = names if fmt == "jsonl" else [n for n in names if n in columns]
    if fmt == "parquet":
        import pyarrow.parquet as pq

        # ParquetFile, not read_table: read_table goes through pyarrow.dataset, which
        # imports pandas (0.2 s).
        return pq.ParquetFile(str(path)).read(columns=wanted)
    if fmt == "csv":
        import pyarrow.csv as pcsv

        strings = {n: pa.string() for n in wanted if n not in ("anony", "both_equal")}
        options = pcsv.ConvertOptions(
            include_columns=wanted,
            column_types=strings,
            strings_can_be_null=True,
            true_values=["true", "True", "TRUE", "1"],
            false_values=["false", "False", "FALSE", "0"],
        )
        return pcsv.read_csv(str(path), convert_options=options)
    import pyarrow.json as pjson

    flagged = pa.struct([("flagged", pa.bool_())])
    types = {
        "anony": pa.bool_(),
        "both_equal": pa.bool_(),
        "openai_moderation": flagged,
        "toxic_chat_tag": pa.struct([("roberta-large", flagged), ("t5-large", flagged)]),
        "flags": pa.list_(pa.string()),
    }
    schema_ = pa.schema([(n, types.get(n, pa.string())) for n in wanted])
    parse = pjson.ParseOptions(explicit_schema=schema_, unexpected_field_behavior="ignore")
    return pjson.read_json(str(path), parse_options=parse)


def _numpy(column: Any) -> NDArray[Any]:
    """A pyarrow array of numbers or booleans without nulls as a numpy array.

    Read from the array's data buffer: pyarrow's own ``to_numpy`` (and any compute call
    given a Python scalar) imports pandas, 0.2 s of a command line's start-up.
    """
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if array.null_count:
        raise _Bad
    size, offset, data = len(array), array.offset, array.buffers()[1]
    if pa.types.is_boolean(array.type):
        if data is None:
            return np.zeros(size, dtype=bool)
        bits = np.frombuffer(data, dtype=np.uint8)
        return np.unpackbits(bits, count=offset + size, bitorder="little")[offset:].astype(bool)
    if not pa.types.is_integer(array.type):
        raise _Bad
    kind = "i" if pa.types.is_signed_integer(array.type) else "u"
    dtype = np.dtype(f"{kind}{array.type.bit_width // 8}")
    if data is None:
        return np.zeros(size, dtype=dtype)
    return np.frombuffer(data, dtype=dtype, count=size, offset=offset * dtype.itemsize)


def _true(column: Any, *, null: bool) -> NDArray[np.bool_]:
    """A boolean column as numpy, a null read as ``null``."""
    import pyarrow.compute as pc

    if null:
        return _numpy(pc.or_kleene(column, pc.is_null(column)))
    return _numpy(pc.and_kleene(column, pc.is_valid(column)))


def _flag_column(table: Any, fmt: str) -> NDArray[np.bool_]:
    import pyarrow as pa
    import pyarrow.compute as pc

    flagged = np.zeros(table.num_rows, dtype=bool)
    for name in ("openai_moderation", "toxic_chat_tag", "flags"):
        if name not in table.column_names:
            continue
        column = table.column(name)
        if pa.types.is_string(column.type):  # JSON text in a CSV cell
            if name == "flags":
                hit = pc.match_substring_regex(column, r'^\s*\[\s*"')
            else:
                hit = pc.match_substring_regex(column, r'"flagged"\s*:\s*true')
        elif name == "flags":
            hit = pc.cast(pc.list_value_length(column), pa.bool_())  # a null list stays null
        elif name == "openai_moderation":
            hit = pc.struct_field(column, "flagged")
        else:
            judges = [f.name for f in column.type]
            parts = [pc.struct_field(pc.struct_field(column, k), "flagged") for k in judges]
            if not parts:
                raise _Bad
            hit = parts[0] if len(parts) == 1 else pc.or_kleene(*parts)
        flagged |= _true(hit, null=False)
    return flagged


def _codes(column: Any) -> tuple[list[str], NDArray[np.int64]]:
    """Distinct values and each row's index among them (a null refuses the column)."""
    import pyarrow.compute as pc

    if column.null_count:
        raise _Bad
    encoded = pc.dictionary_encode(column).combine_chunks()
    return encoded.dictionary.to_pylist(), _numpy(encoded.indices).astype(np.int64)


def _bulk_rows(path: Path, fmt: str, columns: set[str], schema: str) -> RowColumns:
    import pyarrow as pa

    try:
        table = _bulk_table(path, fmt, columns, schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise _Bad from exc
    comparia = schema == "comparia"
    a_names, a = _codes(table.column("model_a_name" if comparia else "model_a"))
    b_names, b = _codes(table.column("model_b_name" if comparia else "model_b"))
    if fmt == "csv":  # names the export guarded against spreadsheets: '=...
        a_names, b_names = [uncell(n) for n in a_names], [uncell(n) for n in b_names]
    if any(not n.strip() or n != n.strip() for n in a_names + b_names):
        raise _Bad
    index = {n: k for k, n in enumerate(dict.fromkeys(a_names + b_names))}
    a = np.array([index[n] for n in a_names], dtype=np.int64)[a]
    b = np.array([index[n] for n in b_names], dtype=np.int64)[b]
    if (a == b).any():
        raise _Bad
    if comparia:
        both = table.column("both_equal") if "both_equal" in columns else None
        tie = (
            _true(both, null=False) if both is not None and pa.types.is_boolean(both.type) else None
        )
        if both is not None and tie is None:
            raise _Bad
        chosen = table.column("chosen_model_name").to_pylist()
        if fmt == "csv":
            chosen = [uncell(n) if n else n for n in chosen]
        names = list(index)
        outcome = np.empty(a.size, dtype=np.int8)
        for k, (name, x, y) in enumerate(zip(chosen, a.tolist(), b.tolist(), strict=True)):
            if tie is not None and tie[k]:
                outcome[k] = Outcome.TIE
            elif name == names[x]:
                outcome[k] = Outcome.A_WINS
            elif name == names[y]:
                outcome[k] = Outcome.B_WINS
            else:
                raise _Bad
    else:
        values, codes = _codes(table.column("winner"))
        lookup = [WINNER_CODES.get(v) for v in values]
        if any(c is None for c in lookup):
            raise _Bad
        outcome = np.array(lookup, dtype=np.int8)[codes]
    anony = np.ones(a.size, dtype=bool)
    if "anony" in table.column_names:
        column = table.column("anony")
        if not pa.types.is_boolean(column.type):
            raise _Bad
        anony = _true(column, null=True)
    return RowColumns(list(index), a, b, outcome, anony, _flag_column(table, fmt), schema)


def read_rows(path: str | Path, schema: str | None) -> RowColumns:
    file = Path(path)
    fmt = detect_format(file)
    columns = file_columns(file, fmt)
    if schema is None:  # a file without rows has no layout; it is read as empty
        schema = detect_schema(columns) if columns else "fastchat"
    elif schema not in SCHEMAS:
        raise InvalidInputError(f"unknown schema {schema!r} (use {', '.join(SCHEMAS)})")
    if fmt != "json":
        try:
            return _bulk_rows(file, fmt, columns, schema)
        except (_Bad, KeyError):
            pass
    return _python_rows(file, fmt, schema)
