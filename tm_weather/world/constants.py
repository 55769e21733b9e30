"""Every physical term of the benchmark world and its size, in one place (the table in docs/world.md).

Three kinds of numbers: `fitted` on the real ERA5 fixture (`tm_weather.world.era5_fit`, frozen here and checked
by the tests), `literature` (with the reference), and `assumed` (a choice of the world, said so).
Units: K, m, km, hours, degrees.
"""

from __future__ import annotations

from tm_weather.world.era5_fit import Era5Fit

#: Fitted on tests/data/era5/era5_t2m_uk_2019-03-01_21.grib by `fit_era5` (tests check it still gives these).
ERA5_FIT = Era5Fit(
    mean_lat=54.0,
    mean_t2m=280.6096,
    march_mid_doy=70.0,
    warming_rate=0.05922,
    annual_amplitude=4.542,
    diurnal_shape=(
        -0.3053, -0.3459, -0.3785, -0.3945, -0.3982, -0.3952, -0.3936, -0.3663, -0.2317, -0.0125, 0.2057, 0.3786,
        0.5085, 0.5806, 0.6018, 0.5647, 0.4721, 0.3326, 0.1575, 0.0252, -0.0548, -0.1276, -0.1865, -0.2368,
    ),
    land_diurnal_range=3.2446,
    sea_diurnal_range=0.8894,
    ar1_daily=0.4062,
    sd_daily=1.4015,
    corr_length_km=763.7,
)

# --- climate (seasonal and latitudinal) ----------------------------------------------------------------------
#: literature: zonal-mean annual T2M at the equator, about 27 C (e.g. Legates and Willmott 1990).
EQUATOR_ANNUAL_MEAN_K = 300.0
#: The ERA5 fit's longitude (deg E), where the continentality factor is 1.
FIT_LON = -4.0
#: assumed: the annual half-range grows by this fraction of the fitted one per degree east of `FIT_LON` (maritime
#: to continental Europe; gives about 8 K at Berlin and 12 K at Moscow, close to their climatologies).
CONTINENTALITY_PER_DEG = 0.045
#: assumed: bounds of the diurnal-range factor (noon sun height relative to the fit's, mid-March at 54 N).
DIURNAL_FACTOR_RANGE = (0.3, 2.5)

# --- terrain ---------------------------------------------------------------------------------------------------
#: literature: ICAO standard atmosphere lapse rate, K per m.
LAPSE_RATE = -0.0065
#: assumed: terrain = base + large-scale (what GFS resolves) + small-scale relief, m; amplitude ~ wavelength.
TERRAIN_BASE_M = 350.0
TERRAIN_LARGE = dict(sd=300.0, wavelength_km=(40.0, 600.0), hurst=1.0)
TERRAIN_SMALL = dict(sd=70.0, wavelength_km=(0.2, 30.0), hurst=1.0)

# --- land cover (classes of the real LULC tiles: ESRI 10 m renumbered 1-9) -----------------------------------
WATER, TREES, FLOODED, CROPS, BUILT, BARE, SNOW, CLOUDS, RANGELAND = 1, 2, 3, 4, 5, 6, 7, 8, 9
#: Classes drawn from the landscape (snow is laid over them by temperature; clouds never: the world is clear).
STATIC_CLASSES = (WATER, TREES, FLOODED, CROPS, BUILT, BARE, RANGELAND)
#: assumed: class shares of the landscape at 36 N and at 68 N (linear in latitude between), same order.
CLASS_SHARES_36N = (0.08, 0.15, 0.01, 0.30, 0.15, 0.06, 0.25)
CLASS_SHARES_68N = (0.15, 0.50, 0.05, 0.08, 0.08, 0.02, 0.12)
#: assumed: land-cover patches have wavelengths 500 m .. 40 km; sd of each class's random field (log-share units).
COVER_FIELD = dict(sd=2.0, wavelength_km=(0.8, 80.0))
#: fitted: water damps the diurnal cycle to this fraction (ERA5 sea / land diurnal range).
WATER_DIURNAL_RATIO = ERA5_FIT.water_damping
#: literature: water's heat capacity delays its seasonal cycle by about a month (lake surface temperatures lag air
#: temperatures by weeks to months); assumed: air over water follows the lagged cycle by this weight.
WATER_LAG_DAYS = 30.0
WATER_LAG_WEIGHT = 0.5
#: literature: nocturnal urban heat island of a few K, largest on clear nights in large cities (Oke 1982, QJRMS
#: 108:1-24); K at the night-time peak.
URBAN_NIGHT_K = 3.0
#: literature: forest cooler by day, warmer by night, about 1 K (Lee et al. 2011, Nature 479:384-387); K at peaks.
FOREST_DAY_K = -1.0
FOREST_NIGHT_K = 0.5
#: literature: snow cover depresses T2M by several K (Mote 2008, J. Appl. Meteor. Climatol. 47:2008-2022); K.
SNOW_K = -3.0
#: assumed: snow lies where the day's climate temperature plus a patchy field (sd, K) is below freezing.
SNOW_THRESHOLD_K = 273.15
SNOW_FIELD = dict(sd=1.5, wavelength_km=(0.3, 20.0))

# --- weather ---------------------------------------------------------------------------------------------------
#: fitted: synoptic anomalies, AR(1) per day (ERA5_FIT.ar1_daily, sd_daily) at 00Z nodes, linear in between,
#: with the spatial scale corr_length_km; this many waves (x2, cos and sin).
SYNOPTIC_WAVES = 24
#: assumed: unresolved noise of a 2.5 km truth cell (K, AR(1) over hours with this correlation), and the error of a
#: station report (K, white).
CELL_NOISE_K = 0.3
CELL_NOISE_AR1 = 0.8
STATION_NOISE_K = 0.2

# --- GFS ---------------------------------------------------------------------------------------------------------
GFS_RESOLUTION_DEG = 0.25
GFS_CYCLES = (0, 6, 12, 18)
GFS_LEADS = tuple(range(13))
#: assumed, order of GFS's 2 m temperature verification: error sd (K) = analysis + growth * lead (hours),
#: spatially smooth (wavelengths in km), AR(1) over lead hours with this correlation.
GFS_ERROR_ANALYSIS_K = 0.6
GFS_ERROR_GROWTH_K_PER_H = 0.1
GFS_ERROR_FIELD_KM = (300.0, 1500.0)
GFS_ERROR_LEAD_AR1 = 0.9
#: Sub-samples per 0.25 deg GFS cell side used to give GFS its grid-scale land cover, snow and orography.
GFS_SUBSAMPLES = 6

# --- truth grid ---------------------------------------------------------------------------------------------------
#: NOAA-URMA-like 2.5 km truth: a lat/lon grid at this spacing (deg) around each tile; sub-samples per cell side.
TRUTH_RESOLUTION_DEG = 0.025
TRUTH_SUBSAMPLES = 8
