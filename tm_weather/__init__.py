"""tm-weather: weather (GFS, ERA5, NOAA truth) for TerraMind-style multimodal Earth-observation models.

Import order matters here: the ecCodes wheel (eccodeslib) and pyproj's wheel each bundle their own copy of
native libraries; loading eccodes before pyproj corrupts the heap and crashes the interpreter at exit
("double free or corruption"). Importing pyproj first is the documented, tested work-around
(tests/test_imports.py), so every entry point imports this package before eccodes.
"""

import pyproj  # noqa: F401  (must precede any eccodes import; see the module docstring)

__version__ = "0.1.0"


def __getattr__(name: str):
    """`tm_weather.generate` (`tm_weather.api.generate`), imported on first use: `import tm_weather` stays light
    (no torch)."""
    if name == "generate":
        from tm_weather.api import generate

        return generate
    raise AttributeError(f"module 'tm_weather' has no attribute {name!r}")
