"""Layers defined by an evalscript in the configuration: inline or a file relative to it,
translated when the configuration loads, errors naming the layer, file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from gateway.config import GatewayConfig, load_config
from tests.support.configs import portable_default_config

SCRIPT = """//VERSION=3
function setup() { return { input: ["B04", "B08"], output: { bands: 1 } }; }
function evaluatePixel(s) { return [index(s.B08, s.B04)]; }
"""


def _config(tmp_path: Path, *layers: dict) -> Path:
    """The default configuration with ``layers`` added, written in ``tmp_path``."""
    raw = portable_default_config()
    raw["layers"] = [layer for layer in raw["layers"] if "evalscript" not in layer]
    raw.pop("instances", None)  # the sample instance names a script layer
    raw["layers"] += list(layers)
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _layer(**fields) -> dict:
    return {"name": "SCRIPTED", "title": "Scripted", "collection": "sentinel-2-l2a", **fields}


def test_default_configuration_has_script_layers():
    config = load_config()
    ramp = config.layer("NDVI_RAMP")
    assert ramp is not None and ramp.evalscript_file == "evalscripts/ndvi_ramp.js"
    assert ramp.expression == "B04;B08"  # the bands it reads
    assert ramp.script() is not None and ramp.script().map_output == (4, "AUTO")
    assert config.layer("TRUE_COLOR_GAIN").expression == "B02;B03;B04"


def test_inline_and_file_scripts(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "ndvi.js").write_text(SCRIPT)
    config = load_config(
        _config(
            tmp_path,
            _layer(evalscript=SCRIPT),
            _layer(name="FROM_FILE", evalscript="scripts/ndvi.js"),
        )
    )
    inline, from_file = config.layer("SCRIPTED"), config.layer("FROM_FILE")
    assert inline.script().digest == from_file.script().digest
    assert from_file.evalscript_file == "scripts/ndvi.js" and inline.evalscript_file is None


@pytest.mark.parametrize(
    ("layer", "files", "message"),
    [
        (
            _layer(evalscript="//VERSION=3\nfunction setup() {\n  return {;\n}"),
            {},
            "layer SCRIPTED: Evalscript: syntax error: Unexpected token ; (line 3, column 11)",
        ),
        (
            _layer(evalscript="bad.js"),
            {"bad.js": "//VERSION=3\nfunction setup() {}\n"},
            "layer SCRIPTED (bad.js): Evalscript:",
        ),
        (_layer(evalscript="missing.js"), {}, "layer SCRIPTED: evalscript file 'missing.js'"),
        (_layer(evalscript=SCRIPT, expression="B04"), {}, "not both"),
        (_layer(), {}, "give an expression or an evalscript"),
        (_layer(evalscript=SCRIPT, cloud_mask=True), {}, "no overview or cloud_mask"),
        (_layer(evalscript=SCRIPT.replace("B08", "B99")), {}, "reads 'B99'"),
    ],
    ids=["syntax", "file", "missing file", "both", "neither", "cloud mask", "unknown band"],
)
def test_bad_script_layers_fail_at_load(tmp_path, layer, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises((ValidationError, ValueError)) as raised:
        load_config(_config(tmp_path, layer))
    assert message in str(raised.value)


def test_a_dumped_configuration_with_script_layers_validates_again():
    """A script layer's dump carries the bands it reads as its expression: validating it
    again gives the same layer (tests and tools edit configurations that way)."""
    config = load_config()
    again = GatewayConfig.model_validate(config.model_dump())
    assert again.layer("NDVI_RAMP").expression == config.layer("NDVI_RAMP").expression
    data = config.model_dump()
    ramp = next(layer for layer in data["layers"] if layer["name"] == "NDVI_RAMP")
    ramp["expression"] = "B04"  # not the script's bands: both given
    with pytest.raises(ValidationError, match="not both"):
        GatewayConfig.model_validate(data)
