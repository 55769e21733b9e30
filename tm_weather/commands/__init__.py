"""CLI subcommands, one module each (see `tm_weather.cli`)."""
