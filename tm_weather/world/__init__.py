"""The benchmark world: a synthetic, self-consistent dataset in the real file formats (issue 3, docs/world.md).

One concern per module: `constants` (every physical term and its size), `era5_fit` (the numbers fitted on the
real ERA5 fixture), `fields` (random fields of place and time), `physics` (T2M as a sum of terms), `landscape`
(terrain, land cover, snow), `sentinel2` (tiles from real spectra), `gfs` (GRIB2 in Herbie's cache), `truth`
(2.5 km netCDF analyses, ISD reports), `layout` and `presets` (where, when, how big), `report` (variance shares
and the baseline's RMSE), `build` (all of it into a folder, with the catalog).
"""
