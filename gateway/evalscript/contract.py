"""What ``setup()`` returns, as a typed description: input bands and units, outputs, mosaicking."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.evalscript.errors import EvalscriptError, SetupNotSupported
from gateway.evalscript.expr import Expr
from gateway.evalscript.values import UNDEFINED, Array, Object, Str, Value

SAMPLE_TYPES = ("AUTO", "UINT8", "UINT16", "FLOAT32", "INT8", "INT16")
UNITS = ("REFLECTANCE", "DN")
MOSAICKING = ("SIMPLE", "ORBIT", "TILE")
DATA_MASK = "dataMask"
MAX_OUTPUT_BANDS = 64

Fail = Callable[[str], EvalscriptError]


@dataclass(frozen=True)
class Output:
    """One output raster: its id, number of bands and sample type."""

    id: str
    bands: int
    sample_type: str


@dataclass(frozen=True)
class Setup:
    """The script's inputs (band -> unit; dataMask has unit ''), outputs and mosaicking."""

    units: Mapping[str, str]
    outputs: tuple[Output, ...]
    mosaicking: str = "SIMPLE"
    # Sentinel Hub's harmonizeValues (true unless an input object says false): negative
    # values read 0; DN are 10000 x reflectance. False: negative reflectance is kept and DN
    # are the source files' own (baseline 04.00 and later: + 1000).
    harmonize: bool = True

    @property
    def bands(self) -> tuple[str, ...]:
        """The input bands, without dataMask."""
        return tuple(b for b in self.units if b != DATA_MASK)

    def output(self, id_: str) -> Output | None:
        return next((o for o in self.outputs if o.id == id_), None)


def parse_setup(value: Value, where: tuple[int | None, int | None]) -> Setup:
    """The typed description of setup()'s result (``where``: setup's line and column)."""

    def fail(message: str) -> EvalscriptError:
        return EvalscriptError(f"setup(): {message}", *where)

    if not isinstance(value, Object):
        raise fail("must return an object")
    mosaicking = _text(value.props.get("mosaicking", Str("SIMPLE")), "mosaicking", fail).upper()
    if mosaicking not in MOSAICKING:
        raise SetupNotSupported(f"mosaicking {mosaicking} (only {', '.join(MOSAICKING)})", *where)
    given = value.props.get("input", UNDEFINED)
    units = _inputs(given, fail)
    outputs = _outputs(value.props.get("output", UNDEFINED), fail)
    return Setup(units, outputs, mosaicking, harmonize=_harmonize(given, fail))


def _harmonize(value: Value, fail: Fail) -> bool:
    """False when an input object has ``harmonizeValues: false``."""
    items = value.items if isinstance(value, Array) else [value]
    for item in items:
        if isinstance(item, Object) and "harmonizeValues" in item.props:
            flag = item.props["harmonizeValues"]
            if not (isinstance(flag, Expr) and flag.constant and isinstance(flag.value, bool)):
                raise fail("'harmonizeValues' must be true or false")
            if not flag.value:
                return False
    return True


def _text(value: Value, what: str, fail: Fail) -> str:
    if not isinstance(value, Str):
        raise fail(f"'{what}' must be a string")
    return value.value


def _inputs(value: Value, fail: Fail) -> dict[str, str]:
    if isinstance(value, Object):
        value = Array([value])
    if not isinstance(value, Array) or not value.items:
        raise fail("'input' must be a list of bands or of input objects")
    units: dict[str, str] = {}
    for item in value.items:
        if isinstance(item, Str):
            units[item.value] = "" if item.value == DATA_MASK else "REFLECTANCE"
            continue
        if not isinstance(item, Object):
            raise fail("an input must be a band name or an object")
        if "datasource" in item.props:
            raise SetupNotSupported("data fusion inputs (datasource)")
        bands = item.props.get("bands", UNDEFINED)
        if not isinstance(bands, Array) or not all(isinstance(b, Str) for b in bands.items):
            raise fail("an input object's 'bands' must be a list of band names")
        names = [b.value for b in bands.items if isinstance(b, Str)]
        given = item.props.get("units", Str("REFLECTANCE"))
        unit_list = (
            [_text(u, "units", fail) for u in given.items]
            if isinstance(given, Array)
            else [_text(given, "units", fail)] * len(names)
        )
        if len(unit_list) != len(names):
            raise fail("'units' must name one unit per band")
        for name, unit in zip(names, unit_list, strict=True):
            if name == DATA_MASK:
                units[name] = ""
                continue
            if unit.upper() not in UNITS:
                raise SetupNotSupported(f"the unit '{unit}' (only REFLECTANCE and DN)")
            units[name] = unit.upper()
    return units


def _outputs(value: Value, fail: Fail) -> tuple[Output, ...]:
    if isinstance(value, Object):
        value = Array([value])
    if not isinstance(value, Array) or not value.items:
        raise fail("'output' must be an output object or a list of them")
    outputs: list[Output] = []
    for item in value.items:
        if not isinstance(item, Object):
            raise fail("an output must be an object")
        id_ = _text(item.props.get("id", Str("default")), "id", fail)
        bands = item.props.get("bands", UNDEFINED)
        if not (
            isinstance(bands, Expr)
            and bands.constant
            and float(bands.value if bands.value is not None else 0).is_integer()
        ):
            raise fail(f"output '{id_}' needs a whole number of 'bands'")
        count = int(bands.value or 0)
        if not 1 <= count <= MAX_OUTPUT_BANDS:
            raise fail(f"output '{id_}' has {count} bands; 1 to {MAX_OUTPUT_BANDS} are allowed")
        sample_type = _text(item.props.get("sampleType", Str("AUTO")), "sampleType", fail).upper()
        if sample_type not in SAMPLE_TYPES:
            raise fail(f"unknown sampleType '{sample_type}'")
        if any(o.id == id_ for o in outputs):
            raise fail(f"two outputs have the id '{id_}'")
        outputs.append(Output(id_, count, sample_type))
    return tuple(outputs)
