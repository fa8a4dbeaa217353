"""Sentinel Hub evalscripts (V3), translated into vectorised numexpr programmes.

``compile_evalscript(text)`` parses the script (esprima), evaluates ``setup()`` statically and
translates ``evaluatePixel()`` into per-pixel expressions over whole arrays; the resulting
``Evalscript.evaluate(bands, valid)`` gives every output raster in its sample type.
"""

from gateway.evalscript.contract import Output, Setup
from gateway.evalscript.errors import EvalscriptError, NotSupported, TranslationLimit
from gateway.evalscript.script import Evalscript, Raster, compile_evalscript

__all__ = [
    "Evalscript",
    "EvalscriptError",
    "NotSupported",
    "Output",
    "Raster",
    "Setup",
    "TranslationLimit",
    "compile_evalscript",
]
