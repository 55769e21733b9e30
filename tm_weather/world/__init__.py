"""The benchmark world: a synthetic, self-consistent global dataset in the real file formats (issues 3 and 12,
docs/world.md).

One concern per module: `anchors` (real places the regions sit at), `constants` (every physical term and its
size), `era5_fit` (the numbers fitted on the real ERA5 fixture), `fields` (random fields of place and time),
`physics` (T2M as a sum of terms), `landscape` (terrain, land cover, snow; the surface of truth and GFS cells),
`sentinel2` (scenes from real spectra, clouds, SCL), `gfs` (GRIB2 in Herbie's cache), `truth` (40 m netCDF on the
tile's grid, ISD reports), `layout` and `presets` (where, when, how big), `report` (variance shares and
baselines), `build` (all of it into a folder, with the catalog), `cache` (a world built once per user), `figure`
(the docs figure). The climate itself is ERA5's monthly climatology (`tm_weather.climatology`).
"""
