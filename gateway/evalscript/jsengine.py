"""The JavaScript-engine fallback: a script the translator cannot translate runs in embedded V8
(mini-racer), one call per tile over whole typed arrays, within a time and a memory limit.

V8 alone has no I/O: no ``require``, ``fetch``, ``process`` or file access. Each call gets a
fresh context (helpers, runner, script), so nothing is kept between tiles or requests. The
inputs are written straight into a ``Float64Array`` of the context (its buffer, seen from
Python as a writable memoryview); evaluatePixel runs once per pixel inside V8; the outputs
come back as one ``Float64Array``, converted to their sample types as translated outputs are.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from py_mini_racer import (
    JSEvalException,
    JSOOMException,
    JSParseException,
    JSTimeoutException,
    MiniRacer,
)

from gateway.errors import LimitExceeded
from gateway.evalscript.contract import Output, Setup, parse_setup
from gateway.evalscript.errors import LOCATOR, EvalscriptError
from gateway.evalscript.expr import const
from gateway.evalscript.samples import convert
from gateway.evalscript.values import Array, Object, Str, Value

# Runs evaluatePixel over the arrays of __gateway.input: per scene, its valid flags then each
# input as evaluatePixel reads it (pixels values each); SIMPLE gives one sample per pixel,
# ORBIT/TILE a list of them.
RUNNER = r"""
globalThis.__gateway = {
  alloc(count) { this.input = new Float64Array(count); return this.input.buffer; },
  run(spec) {
    const input = this.input, n = spec.pixels, multi = spec.scenes >= 0;
    const scenes = multi ? spec.scenes : 1, per = (spec.inputs.length + 1) * n;
    const width = spec.outputs.reduce((a, o) => a + o[1], 0);
    const out = new Float64Array(width * n);
    const meta = { normalizationFactor: 1 / spec.dnFactor };
    spec.scenes_arg = spec.described === null ? {} : spec.described;
    const sampleOf = (s, p) => {
      const base = s * per, sample = {};
      spec.inputs.forEach((band, i) => { sample[band] = input[base + (i + 1) * n + p]; });
      return sample;
    };
    for (let p = 0; p < n; p++) {
      const samples = multi ? Array.from({ length: scenes }, (_, s) => sampleOf(s, p))
                            : sampleOf(0, p);
      const value = evaluatePixel(samples, spec.scenes_arg, meta, {}, { userData: {} });
      let offset = 0;
      for (const [id, bands] of spec.outputs) {
        const values = Array.isArray(value) ? value : value === undefined ? undefined : value[id];
        for (let k = 0; k < bands; k++) {
          out[(offset + k) * n + p] = values === undefined ? NaN : +values[k];
        }
        offset += bands;
      }
    }
    this.output = out;  // kept: Python reads the buffer's memory after the call returns
    return out.buffer;
  },
  // preProcessScenes over the acquisitions: the positions of those it keeps
  keep(collections, from, to) {
    const list = collections.scenes.orbits || collections.scenes.tiles;
    if (typeof preProcessScenes !== "function") return JSON.stringify(list.map((_, i) => i));
    list.forEach((item, i) => { Object.defineProperty(item, "__position", { value: i }); });
    Object.assign(collections, { from: new Date(from), to: new Date(to) });
    const found = preProcessScenes(collections) || collections;
    const kept = (found.scenes || {}).orbits || (found.scenes || {}).tiles || [];
    return JSON.stringify(kept.map(item => item.__position === undefined
      ? list.findIndex(x => x.dateFrom === item.dateFrom && x.date === item.date)
      : item.__position));
  },
};
"""
# V8 through mini-racer crashes the process (a segfault in libmini_racer) when contexts in two
# threads hit their time limits at once: one context at a time in a process. A context cut
# short is closed once V8 has ended the call it cut (a call queued after it returns only
# then); if that takes longer than this, the context is kept, never freed under V8.
IDLE_WAIT_MS = 30_000
_ONE_AT_A_TIME = threading.Lock()
_stuck: list[Any] = []  # contexts V8 never handed back
_WHERE = re.compile(r"<anonymous>:(\d+):(\d+)")
_FIRST_LINE = re.compile(r"<anonymous>:(\d+)")


@cache
def helpers() -> str:
    """Sentinel Hub's helper functions (sentinelhub.js)."""
    return resources.files("gateway.evalscript").joinpath("sentinelhub.js").read_text("utf-8")


@dataclass(frozen=True)
class JsLimits:
    """Each call (the script's setup, or one tile) gets at most ``ms`` and ``memory`` bytes."""

    ms: int = 5000
    memory: int = 256 << 20


JS_LIMITS = JsLimits()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JsProgramme:
    """A script run by the JavaScript engine; ``reason``: why it was not translated."""

    text: str
    limits: JsLimits
    reason: str

    def setup(self) -> Setup:
        """setup()'s description, as V8 computes it."""
        with _context(self.text, self.limits) as ctx:
            found = _guard(lambda: ctx.execute("setup()", timeout=self.limits.ms), self.limits)
        return parse_setup(_value(found), (None, None))

    def run(
        self,
        setup: Setup,
        bands: Mapping[str, np.ndarray],
        valid: np.ndarray,
        dn_factor: float,
        outputs: tuple[Output, ...],
        scenes: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        """Each of ``outputs`` (n_bands, h, w) in its sample type; ``bands``: every input
        (dataMask too) as evaluatePixel reads it; ``bands``/``valid`` are (h, w), or
        (scenes, h, w) for ORBIT/TILE (``scenes``: evaluatePixel's argument)."""
        multi = setup.mosaicking != "SIMPLE"
        stack = valid if multi else valid[None]
        shape = stack.shape[1:]
        pixels = int(np.prod(shape))
        names = list(setup.units)
        with _context(self.text, self.limits) as ctx:
            count = len(stack) * (len(names) + 1) * pixels
            buffer = _guard(lambda: ctx.eval(f"__gateway.alloc({count})"), self.limits)
            view = np.frombuffer(buffer, dtype=np.float64).reshape(len(stack), -1, pixels)
            for s in range(len(stack)):
                view[s, 0] = stack[s].reshape(-1)
                for i, band in enumerate(names):
                    values = bands[band][s] if multi else bands[band]
                    view[s, i + 1] = np.asarray(values, dtype=np.float64).reshape(-1)
            spec = {
                "pixels": pixels,
                "scenes": len(stack) if multi else -1,
                "inputs": names,
                "outputs": [[o.id, o.bands] for o in outputs],
                "dnFactor": dn_factor,
                "described": dict(scenes) if scenes is not None else None,
            }
            call = f"__gateway.run({json.dumps(spec)})"
            result = _guard(lambda: ctx.eval(call, timeout=self.limits.ms), self.limits)
            values = np.frombuffer(result, dtype=np.float64).copy()
        values = values.reshape(-1, *shape)
        results, start = {}, 0
        for output in outputs:
            results[output.id] = convert(values[start : start + output.bands], output.sample_type)
            start += output.bands
        return results


def kept_scenes(
    text: str, limits: JsLimits, collections: Mapping[str, Any], start: float, end: float
) -> list[int]:
    """The positions of the acquisitions the script's ``preProcessScenes(collections)``
    keeps (``collections``: ``{scenes: {orbits | tiles}}``; ``start``/``end``: the request's
    period, ms since 1970)."""
    with _context(text, limits) as ctx:
        call = f"__gateway.keep({json.dumps(dict(collections))}, {start}, {end})"
        found = _guard(lambda: ctx.eval(call, timeout=limits.ms), limits)
    positions = json.loads(found) if isinstance(found, str) else []
    count = len(next(iter(dict(collections["scenes"]).values()), []))
    return [int(p) for p in positions if isinstance(p, int) and 0 <= p < count]


class _context:
    """A fresh V8 context with the helpers, the runner and the script, closed after use;
    the process's only one while it is open (``_ONE_AT_A_TIME``)."""

    def __init__(self, text: str, limits: JsLimits) -> None:
        _ONE_AT_A_TIME.acquire()
        try:
            self.ctx = MiniRacer()
        except BaseException:
            _ONE_AT_A_TIME.release()
            raise
        try:
            self.ctx.set_hard_memory_limit(limits.memory)
            for source in (helpers(), RUNNER, text):
                _guard(lambda s=source: self.ctx.eval(s, timeout=limits.ms), limits)
        except BaseException as exc:
            self.close(cut_short=isinstance(exc, LimitExceeded))
            raise

    def __enter__(self) -> MiniRacer:
        return self.ctx

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.close(cut_short=kind is not None and issubclass(kind, LimitExceeded))

    def close(self, *, cut_short: bool) -> None:
        """Close the context (one cut short by a limit once V8 has ended the call it cut:
        freeing it before crashes the process), then let the next one open."""
        try:
            if cut_short and not _idle(self.ctx):
                _stuck.append(self.ctx)
                log.warning("a JavaScript context cut short did not stop: kept (%d)", len(_stuck))
            else:
                self.ctx.close()
        finally:
            _ONE_AT_A_TIME.release()


def _idle(ctx: MiniRacer) -> bool:
    """Whether a trivial call on ``ctx`` returns (V8 runs a context's calls in turn)."""
    try:
        ctx.eval("0", timeout=IDLE_WAIT_MS)
    except Exception:
        return False
    return True


def _guard(call: Any, limits: JsLimits) -> Any:
    """``call()``, with V8's errors as the evalscript's: limits as LimitExceeded, the script's
    errors as EvalscriptError with its line and column."""
    try:
        return call()
    except JSTimeoutException:
        raise LimitExceeded(
            f"Evalscript: the script ran longer than {limits.ms} ms", locator=LOCATOR
        ) from None
    except JSOOMException:
        raise LimitExceeded(
            f"Evalscript: the script needs more than {limits.memory >> 20} MB", locator=LOCATOR
        ) from None
    except JSParseException as exc:
        raise _script_error("syntax error", str(exc)) from None
    except JSEvalException as exc:
        raise _script_error("error while running", str(exc)) from None


def _script_error(kind: str, text: str) -> EvalscriptError:
    """The error's message (``TypeError: ...``) and, if V8 gives it, its line and column."""
    lines = [line for line in text.splitlines() if line.strip()]
    message = next((ln for ln in lines if re.match(r"^\w*(Error|Exception)\b", ln)), lines[-1:])
    message = message if isinstance(message, str) else "".join(message)
    where = _WHERE.search(text)
    if where:
        line, column = int(where.group(1)), int(where.group(2))
    else:
        first = _FIRST_LINE.search(text)
        line, column = (int(first.group(1)), 1) if first else (None, None)  # type: ignore[assignment]
    return EvalscriptError(f"{kind}: {message.strip()[:160]}", line, column)


def _value(found: Any) -> Value:
    """setup()'s JSON result as the translator's values (for parse_setup)."""
    if isinstance(found, dict):
        return Object({str(k): _value(v) for k, v in found.items()})
    if isinstance(found, list):
        return Array([_value(v) for v in found])
    if isinstance(found, str):
        return Str(found)
    if isinstance(found, bool):
        return const(found)
    if isinstance(found, int | float):
        return const(float(found))
    return Object()
